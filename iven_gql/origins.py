"""Browser origins: which pages may use the API, checked the same way for HTTP (CORS) and for
WebSocket handshakes (browsers apply no CORS to WebSockets: the Origin header is the check).

One rule (`OriginPolicy.allows`): a request without an Origin header (a native app, a server-side
client, curl) is allowed; so is a page of the server's own origin (the Host it was sent to, or
IVEN_PUBLIC_URL's origin) and a page of an origin listed in IVEN_CORS_ORIGINS. Nothing else.

Over HTTP an allowed origin gets the CORS headers, a preflight (OPTIONS with
Access-Control-Request-Method) is answered here for every path, and other origins get no CORS
headers (the browser then hides the answer) or, for a preflight, a JSON 403. A WebSocket handshake
from an origin not allowed is refused with 403 before it is accepted (IvenApp).

There is no wildcard: IVEN_CORS_ORIGINS lists origins (config.py refuses `*`), and no response
carries Access-Control-Allow-Credentials — the API uses no cookies (tokens travel in the
Authorization header and in graphql-ws's connection_init), so browsers never need to send any.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.websocket_origin import is_same_origin, normalize_origin

from iven_gql import transport

log = logging.getLogger("iven.app")

ALLOWED_METHODS = "GET, POST"
# what our clients send: the token, JSON bodies, the upload CSRF headers (x-iven-csrf,
# apollo-upload-client's Apollo-Require-Preflight), Apollo Client's client awareness headers,
# and what graphql-sse and multipart subscription clients ask with
ALLOWED_HEADERS = ", ".join(
    (
        "authorization",
        "content-type",
        "accept",
        "x-iven-csrf",
        "apollo-require-preflight",
        "apollographql-client-name",
        "apollographql-client-version",
        "x-graphql-event-stream-token",
        "last-event-id",
        "range",
    )
)
EXPOSED_HEADERS = "x-request-id, content-disposition, content-range, accept-ranges"
PREFLIGHT_MAX_AGE_S = "600"
ORIGIN_NOT_ALLOWED = "This origin is not allowed to use the API (IVEN_CORS_ORIGINS)."


class OriginPolicy:
    def __init__(self, cors_origins: Iterable[str], public_url: str) -> None:
        allowed = {o for o in (normalize_origin(origin) for origin in cors_origins) if o}
        own = normalize_origin(public_url)
        self.listed = frozenset(allowed)
        self.allowed = frozenset(allowed | ({own} if own else set()))

    def allows(self, origin: str | None, host: str | None) -> bool:
        """Whether a page of `origin` may use the API through a request sent to `host`."""
        if origin is None:
            return True
        if is_same_origin(origin, host):
            return True
        return normalize_origin(origin) in self.allowed

    def allows_scope(self, scope: Scope) -> bool:
        origin, host = origin_and_host(scope)
        return self.allows(origin, host)


def origin_and_host(scope: Scope) -> tuple[str | None, str | None]:
    origin = host = None
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    return origin, host


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value  # type: ignore[no-any-return]
    return None


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "access-control-allow-origin": origin,
        "access-control-expose-headers": EXPOSED_HEADERS,
        "vary": "Origin",
    }


def preflight_response(policy: OriginPolicy, scope: Scope, origin: str) -> Response:
    """An allowed origin gets the methods and headers it may use (the browser checks the actual
    request against them); any other a JSON 403 without CORS headers."""
    _, host = origin_and_host(scope)
    if not policy.allows(origin, host):
        refused = transport.TransportError(
            403, ORIGIN_NOT_ALLOWED, transport.RefusalCode.ORIGIN_NOT_ALLOWED
        )
        response = transport.error_response(refused)
        response.headers["vary"] = "Origin"
        return response
    headers = {
        **cors_headers(origin),
        "access-control-allow-methods": ALLOWED_METHODS,
        "access-control-allow-headers": ALLOWED_HEADERS,
        "access-control-max-age": PREFLIGHT_MAX_AGE_S,
    }
    return Response(status_code=200, headers=headers)


class OriginMiddleware:
    """CORS for every HTTP path (/graphql, /media, /avatars), from `OriginPolicy`."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_origin = _header(scope, b"origin")
        if raw_origin is None:
            await self.app(scope, receive, send_varying(send))
            return
        origin = raw_origin.decode("latin-1")
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await preflight_response(self.policy, scope, origin)(scope, receive, send)
            return
        if not self.policy.allows_scope(scope):
            await self.app(scope, receive, send_varying(send))
            return
        added = cors_headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    if name == "vary":
                        headers.add_vary_header(value)
                    else:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)


def send_varying(send: Send) -> Send:
    """An answer without CORS headers still varies by Origin: a browser must not reuse it (say
    an <img> loaded without CORS) for a fetch() from an allowed origin."""

    async def varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)

    return varying
