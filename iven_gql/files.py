"""HTTP around files: serving signed media/avatar URLs, and guarding multipart uploads.

Served files carry the content type found at upload, `nosniff`, a sandboxing CSP (a file can
never run as a page of this origin), a Content-Disposition with a cleaned name, and private
caching until the link expires; Starlette's FileResponse answers Range requests (video seeking).
Their resource policy is `same-site`, or `cross-origin` once IVEN_CORS_ORIGINS names other
origins, so that their pages can show them (`<img>`, `<video>`); a `fetch()` from those origins
gets the CORS headers of iven_gql/origins.py. The URL itself stays the capability: signed for one
viewer, short-lived.

Multipart requests (GraphQL multipart request spec) must carry a non-simple header
(`x-iven-csrf` or `Apollo-Require-Preflight`): a browser form from another site cannot set one
without a CORS preflight, which only the configured origins pass. Their body is counted while it
is read and refused with 413 past the per-request limit, whatever Content-Length says.
"""

from __future__ import annotations

import logging
from typing import Any

from cross_web import HTTPException
from graphql import OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from iven_gql import transport
from iven_gql.config import Settings
from resolvers import media_links as media_uc
from resolvers.core.deps import Deps

log = logging.getLogger("iven.files")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cross-origin-resource-policy": "same-site",
    "referrer-policy": "no-referrer",
}
CSRF_HEADERS = (b"x-iven-csrf", b"apollo-require-preflight")


def security_headers(settings: Settings) -> dict[str, str]:
    if not settings.cors_origins:
        return SECURITY_HEADERS
    return {**SECURITY_HEADERS, "cross-origin-resource-policy": "cross-origin"}


def _served(found: media_uc.ServedFile, security: dict[str, str]) -> Response:
    headers = {**security, "cache-control": f"private, max-age={max(0, found.max_age)}"}
    return FileResponse(
        found.path,
        media_type=found.media_type,
        headers=headers,
        filename=found.download_name,
        content_disposition_type="inline" if found.inline else "attachment",
    )


async def _serve(request: Request, lookup: Any) -> Response:
    deps: Deps = request.app.state.deps
    security = security_headers(request.app.state.resources.settings)
    try:
        return _served(await lookup(deps), security)
    except media_uc.LinkRefused as refused:
        return PlainTextResponse(refused.message, status_code=refused.status, headers=security)


async def media_file(request: Request) -> Response:
    params = request.path_params
    return await _serve(
        request,
        lambda deps: media_uc.media_file(
            deps, params["media_id"], params["variant"], dict(request.query_params)
        ),
    )


async def avatar_file(request: Request) -> Response:
    params = request.path_params
    return await _serve(
        request,
        lambda deps: media_uc.avatar_file(
            deps, params["key"], params["size"], dict(request.query_params)
        ),
    )


# --- multipart uploads -------------------------------------------------------------------------


async def guarded_upload(app: Any, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    """Runs a multipart request through `app` with the CSRF header required and the body
    limited to `limit` (the transport rules, at the upload limit)."""
    headers = dict(scope["headers"])
    if not any(headers.get(name, b"").strip() for name in CSRF_HEADERS):
        refused = transport.TransportError(
            400,
            "Multipart requests need an x-iven-csrf or Apollo-Require-Preflight header.",
            transport.RefusalCode.CSRF_HEADER_REQUIRED,
        )
        await transport.error_response(refused)(scope, receive, send)
        return
    started = False

    async def tracked_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        transport.check_declared_length(scope, limit)
        await app(scope, transport.counted_receive(receive, limit), tracked_send)
    except HTTPException as refused:
        # raised while the body was read, through whatever the app was doing then
        if refused.status_code != 413 or started:
            raise
        await transport.error_response(refused)(scope, receive, send)


def _uploads_in(value: Any) -> list[Any]:
    """The uploaded files placed in a request's variables, once per place they are mapped to."""
    if isinstance(value, UploadFile):
        return [value]
    if isinstance(value, dict):
        return [u for v in value.values() for u in _uploads_in(v)]
    if isinstance(value, list):
        return [u for v in value for u in _uploads_in(v)]
    return []


def upload_mapping_error(variables: Any) -> str | None:
    """Why a multipart request's file map is refused (None: fine): one part mapped to several
    variables would be read, hashed and decoded once per place, by threads racing on the same
    file object. (How many files a mutation takes is its own rule: TOO_MANY_FILES.)"""
    uploads = _uploads_in(variables)
    if len({id(u) for u in uploads}) != len(uploads):
        return "Each file part of a multipart request maps to exactly one variable."
    return None


def upload_operation_error(
    query: str | None, operation_name: str | None, allowed: frozenset[str]
) -> str | None:
    """Why a multipart request is refused (None: it is a mutation of upload fields only)."""
    if not query:
        return "No GraphQL query found in the request"
    try:
        document = parse(query)
    except GraphQLError:
        return None  # reported by the normal execution as a syntax error
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    if len(chosen) != 1:
        return None  # the normal execution reports it
    operation = chosen[0]
    fields = {
        getattr(s, "name", None) and s.name.value  # type: ignore[attr-defined]
        for s in operation.selection_set.selections
    }
    if operation.operation is not OperationType.MUTATION or not fields <= (
        allowed | {"__typename"}
    ):
        return (
            "Multipart requests are accepted for file uploads only: "
            + ", ".join(sorted(allowed))
            + "."
        )
    return None
