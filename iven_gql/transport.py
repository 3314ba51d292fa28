"""HTTP framing of a GraphQL request, shared by both request paths (the fast JSON POST path and
the Strawberry view): which requests are plain JSON POSTs, reading the body within the limit,
parsing the JSON request, the document size limit, and the shape of a transport error.

Every rule lives here once, so the two paths cannot answer the same request differently
(tests/test_request_paths.py sends every request shape through both).
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope
from strawberry.http import GraphQLRequestData

from iven_gql.config import Settings

BODY_TOO_LARGE = "Request body too large"
DOCUMENT_TOO_LARGE = "GraphQL document too large"

# Header values stay bytes, as the ASGI scope has them: the fast path reads them before any
# Request object exists, for every request (bench/bench_me.py).


def media_type(content_type: bytes) -> bytes:
    """`application/json; charset=utf-8` -> `application/json` (case-insensitive)."""
    return content_type.split(b";", 1)[0].strip().lower()


def is_plain_json_post(method: str, content_type: bytes, accept: bytes) -> bool:
    """A POST with a JSON body expecting one JSON answer: the request both paths parse here.
    Anything else — and a JSON POST asking for a streamed answer (incremental delivery, SSE) —
    goes through Strawberry's content negotiation."""
    return (
        method == "POST"
        and media_type(content_type) == b"application/json"
        and b"multipart/mixed" not in accept
        and b"text/event-stream" not in accept
    )


def scope_is_plain_json_post(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    content_type = accept = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"accept":
            accept = value
    return is_plain_json_post("POST", content_type, accept)


def is_multipart(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return media_type(value) == b"multipart/form-data"
    return False


def body_limit(settings: Settings, scope: Scope) -> int:
    """Uploads have their own, larger, limit (files.guarded_upload also enforces it)."""
    if is_multipart(scope):
        return settings.media_max_request_bytes
    return settings.max_request_bytes


def check_declared_length(scope: Scope, limit: int) -> bool:
    """Refuses a body whose Content-Length is over `limit` before any of it is read; False
    when the body declares no length (chunked)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            if int(value) > limit:
                raise HTTPException(413, BODY_TOO_LARGE)
            return True
    return False


def counted_receive(receive: Receive, limit: int) -> Receive:
    """`receive`, raising 413 once the body read so far is over `limit`."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, BODY_TOO_LARGE)
        return message

    return counted


def limited_request(scope: Scope, receive: Receive, limit: int) -> Request:
    """A Request whose body cannot exceed `limit` bytes. A declared length is enough: the
    server (h11, httptools) never passes on more than Content-Length says; a chunked body is
    counted while it is read."""
    if check_declared_length(scope, limit):
        return Request(scope, receive)
    return Request(scope, counted_receive(receive, limit))


def check_document_size(query: str | None, limit: int) -> None:
    # A UTF-8 character is at most 4 bytes: a short document needs no encoding to be measured.
    if query is not None and len(query) * 4 > limit and len(query.encode()) > limit:
        raise HTTPException(413, DOCUMENT_TOO_LARGE)


def parse_json_request(body: bytes, max_document_bytes: int) -> GraphQLRequestData:
    """One GraphQL request from a JSON body; batches are refused."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "Unable to parse request body as JSON") from None
    if isinstance(data, list):
        raise HTTPException(400, "Batching is not enabled")
    if not isinstance(data, dict):
        raise HTTPException(400, "The request body must be a JSON object")
    request = request_data(data)
    check_document_size(request.query, max_document_bytes)
    return request


def request_data(data: dict[str, Any]) -> GraphQLRequestData:
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if not isinstance(query, (str, type(None))):
        raise HTTPException(400, "The GraphQL operation's `query` must be a string or null.")
    if not isinstance(variables, (dict, type(None))):
        raise HTTPException(400, "The GraphQL operation's `variables` must be an object.")
    if not isinstance(operation_name, (str, type(None))):
        raise HTTPException(400, "`operationName` must be a string or null.")
    if not isinstance(extensions, (dict, type(None))):
        raise HTTPException(400, "The GraphQL operation's `extensions` must be an object.")
    return GraphQLRequestData(
        query=query, variables=variables, operation_name=operation_name, extensions=extensions
    )


def error_response(error: HTTPException) -> Response:
    """A request refused before any operation ran: plain text, no details."""
    return PlainTextResponse(error.reason, status_code=error.status_code)
