"""The per-request context every schema resolver gets as `info.context` (typed: `Info`): who
asks (viewer), from where (client), the request's loaders, and the app's deps."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import strawberry
from starlette.requests import Request
from starlette.websockets import WebSocket

from resolvers.core.deps import ClientInfo, Deps, Viewer
from resolvers.core.errors import Unauthenticated
from resolvers.loaders import Loaders
from resolvers.sessions import TokenRejected, guard


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass
class Context:
    deps: Deps
    request: Request | WebSocket
    response: Any
    client: ClientInfo
    request_id: str = field(default_factory=lambda: f"{random.getrandbits(64):016x}")
    viewer: Viewer | None = None
    auth_error: str | None = None
    connection_params: dict[str, Any] | None = None
    operation_name: str | None = None
    _loaders: Loaders | None = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.deps, self.viewer)
        return self._loaders

    async def authenticate(self, authorization: str | None) -> None:
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
        viewer = self.viewer_or_none()
        if viewer is None:
            raise Unauthenticated()
        return viewer

    async def close_socket(self, code: int, reason: str) -> None:
        if isinstance(self.request, WebSocket):
            await self.request.close(code=code, reason=reason)


def client_info(conn: Request | WebSocket) -> ClientInfo:
    ip = conn.client.host if conn.client else ""
    return ClientInfo(ip=ip, user_agent=conn.headers.get("user-agent", "")[:255])


Info = strawberry.Info[Context, None]
