"""The per-request context every schema resolver gets as `info.context` (typed: `Info`): who
asks (viewer), from where (client), the request's loaders, and the app's deps."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.websockets import WebSocket

from resolvers.core.deps import ClientInfo, Deps, Viewer
from resolvers.core.errors import Unauthenticated
from resolvers.loaders import Loaders
from resolvers.sessions import TokenRejected, guard

# The close code of a socket whose session ended (revoked, signed out or token expired): one that
# graphql-ws's client treats as fatal (4401 Unauthorized), so the app refreshes instead of retrying.
SESSION_ENDED_CLOSE_CODE = 4401
SESSION_ENDED = "Session ended: refresh the token (refreshSession), then subscribe again."


def bearer_token(value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value (any case of "Bearer"), else None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass
class Context:
    """One request's (or one socket's) context.

    The viewer comes from the `Authorization` header (HTTP) or `connection_init`'s payload
    (WebSocket): `authenticate` sets `viewer`, or `auth_error` for a malformed or rejected token,
    so that resolvers answer UNAUTHENTICATED (the client should refresh) rather than treat a bad
    token as anonymity. Loaders are per request and scoped to the viewer."""

    deps: Deps  # the app's stores and services (resolvers.core.deps)
    request: Request | WebSocket
    response: Any  # the HTTP response being built (headers, cookies); None on a socket
    client: ClientInfo  # address and user agent, for sessions and rate limits
    request_id: str = field(default_factory=lambda: f"{random.getrandbits(64):016x}")
    viewer: Viewer | None = None  # the signed-in user, None when anonymous
    auth_error: str | None = None  # why the given token was refused (an UNAUTHENTICATED message)
    connection_params: dict[str, Any] | None = None  # a socket's `connection_init` payload
    operation_name: str | None = None
    # set by the WebSocket handler (iven_gql/ws.py): stops the socket's operations, then closes it
    end_socket_session: Callable[[], Awaitable[None]] | None = None
    _loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.deps, self.viewer)
        return self._loaders

    async def authenticate(self, authorization: str | None) -> None:
        """Sets `viewer` from an `Authorization` value, or `auth_error`; no value is anonymous."""
        token = bearer_token(authorization)
        if authorization and token is None:
            self.auth_error = "Malformed Authorization header; use 'Bearer <token>'."
            return
        if token is None:
            return
        try:
            self.viewer = await guard(self.deps).viewer_for(token)
        except TokenRejected as exc:
            self.viewer = None
            self.auth_error = f"Access token rejected: {exc.reason}."

    def viewer_or_none(self) -> Viewer | None:
        """Anonymous is fine, but a bad token is an error (the client should refresh)."""
        if self.auth_error is not None:
            raise Unauthenticated(self.auth_error)
        return self.viewer

    def require_viewer(self) -> Viewer:
        """The signed-in viewer; anonymous or a bad token is UNAUTHENTICATED."""
        viewer = self.viewer_or_none()
        if viewer is None:
            raise Unauthenticated()
        return viewer

    async def end_session(self) -> None:
        """A stream's session was revoked or its token expired. A WebSocket is closed with
        SESSION_ENDED_CLOSE_CODE (the client refreshes its token, then reconnects); any other
        stream (Server-Sent Events) ends with an UNAUTHENTICATED error."""
        if self.end_socket_session is not None:
            await self.end_socket_session()
        elif isinstance(self.request, WebSocket):
            await self.request.close(code=SESSION_ENDED_CLOSE_CODE, reason="Session ended")
        else:
            raise Unauthenticated(SESSION_ENDED)


def client_info(conn: Request | WebSocket) -> ClientInfo:
    """Who connects: the peer address and the user agent (cut to 255 characters)."""
    ip = conn.client.host if conn.client else ""
    return ClientInfo(ip=ip, user_agent=conn.headers.get("user-agent", "")[:255])


Info = strawberry.Info[Context, None]
