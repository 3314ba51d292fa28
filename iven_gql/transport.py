"""HTTP framing of a GraphQL request, shared by both request paths (the fast JSON POST path and
the Strawberry view): which requests are plain JSON POSTs, reading the body within the limit,
parsing the JSON request (its nesting depth and its Unicode included), the document size limit,
and the shape of a transport error: a JSON body `{"errors": [{"message", "extensions": {"code"}}]}`
with one of the `RefusalCode`s, whatever refused the request.

Every rule lives here once, so the two paths cannot answer the same request differently
(tests/test_request_paths.py sends every request shape through both).
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope
from strawberry.http import GraphQLRequestData

from iven_gql.config import Settings

BODY_TOO_LARGE = "Request body too large"
DOCUMENT_TOO_LARGE = "GraphQL document too large"
HEADERS_TOO_LARGE = "Request headers too large"
JSON_TOO_DEEP = "The request body is nested too deeply"
INVALID_UNICODE = "The request contains invalid Unicode (a lone surrogate)"
SUBSCRIPTION_TRANSPORT = (
    "Subscriptions are served over WebSocket (graphql-transport-ws) or Server-Sent Events "
    "(POST with Accept: text/event-stream) at /graphql, not as one JSON answer."
)


class RefusalCode(enum.StrEnum):
    """`extensions.code` of a request refused before any operation ran. HTTP framing, not a
    domain's payload codes (those are the *ErrorCode enums of resolvers/): never in the schema."""

    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    CSRF_HEADER_REQUIRED = "CSRF_HEADER_REQUIRED"
    SUBSCRIPTION_TRANSPORT = "SUBSCRIPTION_TRANSPORT"
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class TransportError(HTTPException):
    """An HTTPException that names its code (Strawberry's own refusals get one by status)."""

    def __init__(self, status_code: int, reason: str, code: RefusalCode) -> None:
        super().__init__(status_code, reason)
        self.code = code


CODE_BY_STATUS = {
    400: RefusalCode.BAD_REQUEST,
    404: RefusalCode.NOT_FOUND,
    405: RefusalCode.METHOD_NOT_ALLOWED,
    413: RefusalCode.PAYLOAD_TOO_LARGE,
    415: RefusalCode.UNSUPPORTED_MEDIA_TYPE,
    431: RefusalCode.HEADERS_TOO_LARGE,
    500: RefusalCode.INTERNAL_SERVER_ERROR,
}
# Strawberry raises a plain HTTPException(400, …) for these
CODE_BY_REASON = {"Unsupported content type": RefusalCode.UNSUPPORTED_MEDIA_TYPE}

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
                raise TransportError(413, BODY_TOO_LARGE, RefusalCode.PAYLOAD_TOO_LARGE)
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
                raise TransportError(413, BODY_TOO_LARGE, RefusalCode.PAYLOAD_TOO_LARGE)
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
        raise TransportError(413, DOCUMENT_TOO_LARGE, RefusalCode.PAYLOAD_TOO_LARGE)


# A lone surrogate can only come as a JSON escape (as raw bytes it is not UTF-8): the parsed
# value is searched only when the body holds one such escape, paired or not.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
SURROGATE = re.compile("[\ud800-\udfff]")


def nesting_depth(value: Any, limit: int) -> int:
    """How deep `value` nests lists and objects, counted without recursion and only up to
    `limit + 1` (enough to refuse it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string anywhere in `value` (keys included) holds a surrogate code point: a
    pair decodes to one character, so what is left is a lone one."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode_json(body: bytes | str, max_depth: int) -> Any:
    """JSON from a request (body, multipart `operations`, GET variables), refused with 400 when
    malformed, nested deeper than `max_depth`, or holding invalid Unicode. The decoder's own
    recursion guard stops a pathological nesting long before the stack is at risk."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise TransportError(400, JSON_TOO_DEEP, RefusalCode.BAD_REQUEST) from None
    except (ValueError, UnicodeDecodeError):
        raise TransportError(
            400, "Unable to parse request body as JSON", RefusalCode.BAD_REQUEST
        ) from None
    if isinstance(body, str):
        raw, searched = body.encode("utf-8", "surrogatepass"), True
    else:
        # json.loads also takes UTF-16/32 (a BOM or a NUL byte up front): searched as a whole
        raw, searched = body, not body[:1].isascii() or b"\0" in body[:4]
    # a nesting needs one bracket per level: few brackets, no walk
    if raw.count(b"[") + raw.count(b"{") > max_depth and nesting_depth(data, max_depth) > max_depth:
        raise TransportError(400, JSON_TOO_DEEP, RefusalCode.BAD_REQUEST)
    if (searched or SURROGATE_ESCAPE.search(raw)) and has_lone_surrogate(data):
        raise TransportError(400, INVALID_UNICODE, RefusalCode.BAD_USER_INPUT)
    return data


def parse_json_request(
    body: bytes, max_document_bytes: int, max_json_depth: int
) -> GraphQLRequestData:
    """One GraphQL request from a JSON body; batches are refused."""
    data = decode_json(body, max_json_depth)
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


def error_code(error: HTTPException) -> RefusalCode:
    code = getattr(error, "code", None)
    if isinstance(code, RefusalCode):
        return code
    found = CODE_BY_REASON.get(error.reason)
    return found or CODE_BY_STATUS.get(error.status_code, RefusalCode.BAD_REQUEST)


def error_body(message: str, code: RefusalCode) -> bytes:
    errors = [{"message": message, "extensions": {"code": code.value}}]
    return json.dumps({"errors": errors}, separators=(",", ":")).encode()


def error_response(error: HTTPException) -> Response:
    """A request refused before any operation ran: the GraphQL error shape, so that clients can
    show it, with a stable code and no details."""
    headers = {"allow": "GET, POST"} if error.status_code == 405 else None
    return Response(
        error_body(error.reason, error_code(error)),
        status_code=error.status_code,
        media_type="application/json",
        headers=headers,
    )
