"""The two HTTP request paths answer alike: the fast JSON POST path (FastJSONPost, taken by the
app for a JSON POST, directly or through the router) and the Strawberry view (IvenGraphQL,
called here as an ASGI app of its own). Every request shape goes through each path twice —
cold, and again once the prepared-document cache holds the document — and must get the same
status, content type, body (request ids aside) and x-request-id header presence."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from iven_gql.config import Settings
from tests.conftest import RunningServer
from tests.support import GraphQLClient

JSON = {"content-type": "application/json"}
REQUEST_ID = re.compile(rb'"requestId":"[0-9a-f]{16}"')


@dataclass(frozen=True)
class Shape:
    name: str
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    method: str = "POST"
    params: dict[str, str] | None = None
    chunked: bool = False  # sent without Content-Length


def post(name: str, body: Any, **headers: str) -> Shape:
    return Shape(name, json.dumps(body).encode(), {**JSON, **headers})


def raw(name: str, content: bytes, content_type: str | None = "application/json") -> Shape:
    return Shape(name, content, {"content-type": content_type} if content_type else {})


def request_shapes(settings: Settings) -> list[Shape]:
    two = "query A { __typename } query B { me { id } }"
    big_document = "{ __typename }" + " " * (settings.max_document_bytes + 1)
    # fewer characters than the limit, more bytes: the limit counts bytes
    wide_document = "{ __typename } # " + "é" * (settings.max_document_bytes // 2 + 100)
    big_body = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * 100}})
    big_body = big_body.replace("x" * 100, "x" * (settings.max_request_bytes + 1))
    aliases = " ".join(f"a{i}: __typename" for i in range(settings.max_aliases + 1))
    deep = "{ me { " * (settings.max_depth + 2) + "}" * (settings.max_depth + 2)
    deep_json = b"[" * settings.max_json_depth + b"]" * settings.max_json_depth
    return [
        post("query", {"query": "{ __typename }"}),
        post("query with null fields", {"query": "{ __typename }", "variables": None}),
        post(
            "variables",
            {"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": "x"}},
        ),
        post("missing variable", {"query": "query($id: ID!) { node(id: $id) { id } }"}),
        post(
            "variable of the wrong type",
            {"query": "query($n: ID!) { node(id: $n) { id } }", "variables": {"n": {"a": 1}}},
        ),
        post("operationName A", {"query": two, "operationName": "A"}),
        post("operationName B", {"query": two, "operationName": "B"}),
        post("unknown operationName", {"query": two, "operationName": "C"}),
        post("no operationName among two", {"query": two}),
        post("extensions", {"query": "{ __typename }", "extensions": {"a": 1}}),
        post("mutation over POST", {"query": "mutation { logout { ok } }"}),
        post("subscription over POST", {"query": "subscription { sessionStatus }"}),
        post("batch", [{"query": "{ __typename }"}, {"query": "{ __typename }"}]),
        post("empty batch", []),
        raw("wrong content type", b'{"query": "{ __typename }"}', "text/plain"),
        raw("form content type", b"query=%7B__typename%7D", "application/x-www-form-urlencoded"),
        raw("no content type", b'{"query": "{ __typename }"}', None),
        raw("charset", b'{"query": "{ __typename }"}', "application/json; charset=utf-8"),
        raw("media type in capitals", b'{"query": "{ __typename }"}', "Application/JSON"),
        raw("oversized body", big_body.encode()),
        Shape("oversized body, chunked", big_body.encode(), chunked=True),
        post("oversized document", {"query": big_document}),
        post("document over the limit in bytes only", {"query": wide_document}),
        raw("malformed JSON", b"{not json"),
        raw(
            "JSON nested too deep",
            b'{"query": "{ __typename }", "variables": {"v": %s}}' % deep_json,
        ),
        raw("JSON nested past the decoder", b"[" * 100_000 + b"]" * 100_000),
        raw("lone surrogate", b'{"query": "{ __typename }", "variables": {"v": "\\ud800"}}'),
        raw(
            "lone surrogate in UTF-16",
            '{"query": "{ __typename }", "variables": {"v": "\\ud800"}}'.encode("utf-16"),
        ),
        raw("surrogate pair", b'{"query": "{ __typename }", "variables": {"v": "\\ud83d\\ude00"}}'),
        raw("not UTF-8", b'{"query": "\xff\xfe"}'),
        raw("empty body", b""),
        raw("string body", b'"a string"'),
        raw("number body", b"5"),
        raw("null body", b"null"),
        post("no query", {}),
        post("null query", {"query": None}),
        post("empty query", {"query": ""}),
        post("variables only", {"variables": {}}),
        post("query not a string", {"query": 5}),
        post("variables not an object", {"query": "{ __typename }", "variables": [1]}),
        post("operationName not a string", {"query": "{ __typename }", "operationName": 3}),
        post("extensions not an object", {"query": "{ __typename }", "extensions": "x"}),
        post("syntax error", {"query": "{ me { "}),
        post("validation error", {"query": "{ me { nosuchfield } }"}),
        post("too many aliases", {"query": "{ " + aliases + " }"}),
        post("too deep", {"query": deep}),
        post("too many tokens", {"query": "{" + " me{id}" * (settings.max_tokens // 4 + 10) + "}"}),
        post("introspection", {"query": "{ __schema { queryType { name } } }"}),
    ]


def auth_shapes(token: str) -> list[Shape]:
    me = {"query": "query Who { me { id } }"}
    forms = {
        "no authorization": None,
        "Bearer token": f"Bearer {token}",
        "bearer token, lower case": f"bearer {token}",
        "Bearer token, spaced": f"Bearer   {token}",
        "Bearer alone": "Bearer",
        "Basic": "Basic dXNlcjpwYXNz",
        "Bearer garbage": "Bearer not-a-token",
        "empty": "",
    }
    return [
        post(f"authorization: {name}", me, **({} if value is None else {"authorization": value}))
        for name, value in forms.items()
    ]


# --- the paths -------------------------------------------------------------------------------


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), 65536):
        yield content[start : start + 65536]


async def send(client: httpx.AsyncClient, shape: Shape, **extra: str) -> httpx.Response:
    headers = {**shape.headers, **extra}
    if shape.method == "GET":
        return await client.get("/graphql", params=shape.params, headers=headers)
    content: Any = _chunks(shape.content) if shape.chunked else shape.content
    return await client.request("POST", "/graphql", content=content, headers=headers)


def answer(response: httpx.Response) -> tuple[int, str, bytes, bool]:
    """What must be the same on every path."""
    return (
        response.status_code,
        response.headers.get("content-type", ""),
        REQUEST_ID.sub(b'"requestId":"-"', response.content),
        "x-request-id" in response.headers,
    )


Path = Callable[[Shape], Any]


@pytest.fixture
async def paths(http: httpx.AsyncClient, server: RunningServer) -> AsyncIterator[dict[str, Path]]:
    view = server.app.view
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=view), base_url="http://iven.test", timeout=20
    ) as to_view:
        yield {
            # no Origin: IvenApp hands the request to FastJSONPost before the middleware
            "fast": lambda shape: send(http, shape),
            # with an Origin (no CORS configured): through the router to FastJSONPost.__call__
            "fast, routed": lambda shape: send(http, shape, origin="https://elsewhere.example"),
            "view": lambda shape: send(to_view, shape),
        }


async def answers_per_path(
    server: RunningServer, paths: dict[str, Path], shape: Shape
) -> dict[str, list[tuple[int, str, bytes, bool]]]:
    prepared = server.app.view.executor.prepared
    found = {}
    for name, path in paths.items():
        prepared.clear()  # each path sees the document cold, then prepared
        found[name] = [answer(await path(shape)), answer(await path(shape))]
    return found


def differences(shape: Shape, found: dict[str, list[tuple[int, str, bytes, bool]]]) -> list[str]:
    first = found["view"][0]
    return [
        f"{shape.name}: {name} (send {n + 1}) {got!r:.300} != view {first!r:.300}"
        for name, answers in found.items()
        for n, got in enumerate(answers)
        if got != first
    ]


async def test_every_request_shape_gets_the_same_answer_on_both_paths(server, settings, paths):
    found = [
        difference
        for shape in request_shapes(settings)
        for difference in differences(shape, await answers_per_path(server, paths, shape))
    ]
    assert not found, "\n".join(found)


# Parity alone would hold if both paths were wrong alike: what some shapes must get.
EXPECTED_STATUS = {
    "query": 200,
    "mutation over POST": 200,
    "subscription over POST": 400,
    "batch": 400,
    "wrong content type": 400,
    "oversized body": 413,
    "oversized body, chunked": 413,
    "oversized document": 413,
    "document over the limit in bytes only": 413,
    "malformed JSON": 400,
    "JSON nested too deep": 400,
    "JSON nested past the decoder": 400,
    "lone surrogate": 400,
    "lone surrogate in UTF-16": 400,
    "surrogate pair": 200,
    "not UTF-8": 400,
    "string body": 400,
    "no query": 400,
    "unknown operationName": 400,
    "no operationName among two": 200,  # a GraphQL error: which operation to run?
    "query not a string": 400,
    "validation error": 200,
}


# The code of each refusal (the JSON error shape, iven_gql/transport.py); BAD_REQUEST otherwise.
EXPECTED_CODE = {
    "subscription over POST": "SUBSCRIPTION_TRANSPORT",
    "wrong content type": "UNSUPPORTED_MEDIA_TYPE",
    "oversized body": "PAYLOAD_TOO_LARGE",
    "oversized body, chunked": "PAYLOAD_TOO_LARGE",
    "oversized document": "PAYLOAD_TOO_LARGE",
    "document over the limit in bytes only": "PAYLOAD_TOO_LARGE",
    "lone surrogate": "BAD_USER_INPUT",
    "lone surrogate in UTF-16": "BAD_USER_INPUT",
}


async def test_request_shapes_get_the_expected_status(http, settings):
    for shape in request_shapes(settings):
        if shape.name in EXPECTED_STATUS:
            response = await send(http, shape)
            assert response.status_code == EXPECTED_STATUS[shape.name], shape.name
            if response.status_code != 200:
                assert "x-request-id" not in response.headers  # refused before any operation
                assert response.headers["content-type"] == "application/json"
                [error] = response.json()["errors"]  # the GraphQL error shape, with a code
                code = EXPECTED_CODE.get(shape.name, "BAD_REQUEST")
                assert error["message"] and error["extensions"] == {"code": code}, shape.name


async def test_authorization_header_forms_get_the_same_answer(server, paths, accounts):
    user = await accounts.user()
    found = [
        difference
        for shape in auth_shapes(user["token"])
        for difference in differences(shape, await answers_per_path(server, paths, shape))
    ]
    assert not found, "\n".join(found)


async def test_masked_internal_errors_are_the_same(server, paths, accounts, monkeypatch):
    user = await accounts.user()
    import resolvers.accounts as uc  # noqa: PLC0415  patched for this test only

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SELECT secret FROM users")

    monkeypatch.setattr(uc, "account_activity", broken)
    shape = post(
        "internal error",
        {"query": "{ myAccountActivity { edges { cursor } } }"},
        authorization=f"Bearer {user['token']}",
    )
    found = await answers_per_path(server, paths, shape)
    assert not differences(shape, found)
    assert b"INTERNAL_SERVER_ERROR" in found["view"][0][2] and b"SELECT" not in found["view"][0][2]


async def test_get_requests_go_to_the_view_and_agree_with_post(http, api: GraphQLClient, server):
    """GET never takes the fast path; a query answers as it does over POST, a mutation is
    refused whichever way the view is reached."""
    view = server.app.view
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=view), base_url="http://iven.test"
    ) as to_view:
        for query in ("{ __typename }", "{ me { nosuchfield } }", '{ node(id: "x") { id } }'):
            by_get = Shape("GET", method="GET", params={"query": query}, headers={})
            via_app, direct = await send(http, by_get), await send(to_view, by_get)
            by_post = await api.post({"query": query})
            assert answer(via_app) == answer(direct) == answer(by_post), query
        mutation = Shape(
            "GET mutation", method="GET", params={"query": "mutation { logout { ok } }"}, headers={}
        )
        refused = [answer(await send(http, mutation)), answer(await send(to_view, mutation))]
        assert refused[0] == refused[1] and refused[0][0] in (400, 405)
