"""The hostile corpus (issue 15): every attack seen, as a request that is refused with its code,
stores nothing, and leaves the server answering a `{ __typename }` probe right after.

Runs on both backend sets. Sections, one per concern, so each grows on its own:
cost and validation; transport, secrets and readiness; visibility and abuse; text, sign-in and
uploads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import time
import types
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import websockets
from sqlmodel import func, select
from strawberry.relay import to_base64
from websockets.typing import Subprotocol

from iven_gql.config import Settings
from iven_gql.extensions import build_extensions
from resolvers import accounts as accounts_uc
from resolvers import imaging
from resolvers import media as media_uc
from resolvers.accounts import login_delay_s
from resolvers.core.background import drain_background, in_background
from schema import build_schema
from schema.events import Event
from stores import events as event_store
from stores import redis as redis_store
from stores.accounts import User
from stores.accounts import User as UserRow
from stores.files import MEDIA
from stores.mail import SUBJECT_MAX, Mail, Mailer
from stores.redis import create_client
from tests import media_samples as samples
from tests.conftest import RunningServer
from tests.factories import crew, pk
from tests.support import GraphQLClient, assert_error, assert_payload_error
from tests.support.chat import POLL_OF, SEND_POLL, VOTE
from tests.support.graphql import answer_without_cost
from tests.support.media import served_path

TRANSPORT_WS = Subprotocol("graphql-transport-ws")


async def assert_still_serving(api: GraphQLClient) -> None:
    """The probe every hostile test ends with: the server still answers at once."""
    result: dict[str, Any] = await api.execute("{ __typename }")
    assert result["data"] == {"__typename": "Query"} and not result.get("errors")


# ---------------------------------------------------------------------------------------------
# Cost and validation: fragment fan-out, introspection, aliases x nodes, caches, suggestions
# ---------------------------------------------------------------------------------------------


def fan_out(levels: int, on: str = "Query", operation: str = "query") -> str:
    """Attack 1: each fragment spreads the next one twice, 2^levels paths (1.6 KB at 40)."""
    spreads = " ".join(
        f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{operation} {{ ...F0 }} {spreads} fragment F{levels} on {on} {{ __typename }}"


def assert_too_complex(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    error = assert_error(result, "QUERY_TOO_COMPLEX")
    assert error["extensions"]["limit"] == settings.max_query_cost
    assert isinstance(error["extensions"]["cost"], int)
    assert not result.get("data")
    return error


# 25 levels: seconds when the pass walks every path (a broken fix fails, it does not hang)
FAN_OUT = fan_out(25)


async def test_fragment_fan_out_is_refused_before_validation_over_http(api, settings):
    for _ in range(2):  # cold, then from the cache of checked documents
        started = time.perf_counter()
        error = assert_too_complex(await api.execute(FAN_OUT), settings)
        assert error["extensions"]["cost"] > settings.max_query_cost
        assert time.perf_counter() - started < 5  # on a busy machine; linear: milliseconds
    await assert_still_serving(api)


async def test_fragment_fan_out_is_refused_over_websocket(api, settings):
    async with api.ws({}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(FAN_OUT)
        message = await ws.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert_too_complex({"errors": errors}, settings)
    await assert_still_serving(api)


async def test_a_refused_mutation_stores_nothing(api, accounts, settings):
    user = await accounts.user()
    create = (
        '{ title: "x", startsAt: "2030-06-01T12:00:00Z", '
        'endsAt: "2030-06-01T13:00:00Z", currency: "EUR", timezone: "UTC" }'
    )
    aliases = " ".join(
        f"e{i}: createEvent(input: {create}) {{ event {{ id }} }}"
        for i in range(settings.max_aliases + 1)
    )
    assert_too_complex(
        await api.execute(f"mutation {{ {aliases} }}", token=user["token"]), settings
    )
    mine = await api.execute("{ myEvents { edges { node { id } } } }", token=user["token"])
    assert mine["data"]["myEvents"]["edges"] == []
    await assert_still_serving(api)


INTROSPECTION_COPY = (
    "a{i}: __schema {{ types {{ name fields {{ name args {{ name type {{ ...T }} }} "
    "type {{ ...T }} }} }} }}"
)
TYPE_REF = (
    "fragment T on __Type { kind name ofType { kind name "
    "ofType { kind name ofType { kind name } } } }"
)


async def test_introspection_is_priced_and_its_amplification_refused(api, settings):
    """Attack 2: 10 aliased copies of a deep `__schema` (the depth limiter skipped `__` fields)."""
    one = await api.post({"query": "{ " + INTROSPECTION_COPY.format(i=0) + " } " + TYPE_REF})
    cost = one.json()["extensions"]["cost"]
    assert one.json()["data"]["a0"]["types"] and 1000 < cost["requested"] <= cost["limit"]
    copies = " ".join(INTROSPECTION_COPY.format(i=i) for i in range(10))
    error = assert_too_complex(await api.execute("{ " + copies + " } " + TYPE_REF), settings)
    assert error["extensions"]["cost"] >= 10 * cost["requested"]
    await assert_still_serving(api)


def formatted(result: Any) -> dict[str, Any]:
    return {"errors": [e.formatted for e in result.errors or ()]}


async def test_introspection_and_suggestions_are_off_unless_enabled(api):
    """Attacks 2 and 16: production answers no introspection and suggests no field, argument,
    type or enum value; `introspection` turns both on."""
    production = Settings(
        env="production",
        jwt_secret="p" * 40,
        mongodb_url="mongodb://db",
        redis_url="redis://cache",
        database_url="mysql+aiomysql://db/iven",
        public_url="https://api.example.com",
    )
    assert not production.introspection_enabled
    assert production.model_copy(update={"introspection": True}).introspection_enabled
    closed = build_schema(build_extensions(production), disable_field_suggestions=True)
    assert_error(
        formatted(await closed.execute("{ __schema { types { name } } }")),
        "GRAPHQL_VALIDATION_FAILED",
    )
    guesses = [
        "{ me { usernam } }",  # field
        "{ myEvents(firs: 1) { edges { cursor } } }",  # argument
        "query($id: IDD!) { node(id: $id) { id } }",  # type
        "{ ...on Quer { __typename } }",  # type condition
    ]
    opened = build_schema(build_extensions(Settings()))
    for query in guesses:
        hidden = formatted(await closed.execute(query))
        assert hidden["errors"] and "Did you mean" not in str(hidden), hidden
        assert "Did you mean" in str(formatted(await opened.execute(query))), query
    await assert_still_serving(api)


async def test_aliases_times_nodes_is_refused(api, accounts, events, settings, monkeypatch):
    """Attack 4: 30 aliases x `nodes(ids: [the same event x100])` with lists under each."""
    owner = await accounts.user()
    event = await events.create(owner["token"])
    ids = [event["id"]] * 100
    selection = "... on Event { id title participants { edges { node { id } } } }"
    aliases = " ".join(f"a{i}: nodes(ids: $ids) {{ {selection} }}" for i in range(30))
    attack = "query($ids: [ID!]!) { " + aliases + " }"
    refused = await api.execute(attack, {"ids": ids}, token=owner["token"])
    assert_too_complex(refused, settings)

    loaded: list[list[str]] = []
    original = Event.resolve_nodes.__func__  # type: ignore[attr-defined]

    async def counted(cls: Any, *, info: Any, node_ids: list[str], required: bool = False) -> Any:
        loaded.append(list(node_ids))
        return await original(cls, info=info, node_ids=node_ids, required=required)

    monkeypatch.setattr(Event, "resolve_nodes", classmethod(counted))
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    one = await api.execute(nodes, {"ids": ids}, token=owner["token"])
    assert one["data"]["nodes"] == [{"id": event["id"]}] * 100
    assert loaded == [[loaded[0][0]]]  # the repeated id loaded once

    too_many = await api.execute(nodes, {"ids": [*ids, event["id"]]}, token=owner["token"])
    assert_error(too_many, "BAD_USER_INPUT")
    await assert_still_serving(api)


async def test_unique_documents_do_not_pin_memory(api, server: RunningServer, settings):
    """Attack 5: every unique document was kept (1,024 parsed and 1,024 validated, no byte
    bound); the checked documents stay within entries and bytes."""
    documents = server.app.view.executor.prepared.rules.documents
    for n in range(40):
        # about 1,300 tokens each (a parsed one weighs ~600 KB), unique by their aliases
        aliases = " ".join(f"f{n}_{i}: __typename" for i in range(settings.max_aliases))
        result = await api.execute("{ " + aliases + " me { id } " * 300 + "}")
        assert result.get("errors") or result.get("data")
        assert documents.bytes <= settings.document_cache_bytes
        assert len(documents) <= settings.document_cache_entries
    await assert_still_serving(api)


async def test_duplicate_fields_are_refused_before_the_quadratic_rule(api, accounts, settings):
    """Attack 5: `{ me { id id id … } }` cost graphql-core's overlap rule up to 1.3 s."""
    user = await accounts.user()
    for count in (settings.max_repeated_fields + 1, 1990):
        started = time.perf_counter()
        result = await api.execute("{ me { " + "id " * count + "} }", token=user["token"])
        assert_too_complex(result, settings)
        assert time.perf_counter() - started < 5
    fine = await api.execute("{ me { id id } }", token=user["token"])
    assert fine["data"]["me"] == {"id": user["id"]}
    await assert_still_serving(api)


async def fresh_budgets(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets count per fixed minute: a test whose requests straddle the end of a minute
    would start over in the next one, so the budgets' clock (stores/redis.py) stands still;
    and what earlier requests spent may have reached Redis already (a slow machine syncs it)."""
    frozen = time.time()
    monkeypatch.setattr(redis_store, "time", types.SimpleNamespace(time=lambda: frozen))
    redis = server.deps.redis
    await redis.delete(*[k async for k in redis.scan_iter(match="*:cost:*")] or ["none"])


async def test_a_spent_cost_budget_is_rate_limited(api, accounts, server, monkeypatch):
    """The viewer's cost budget of the minute: spent → RATE_LIMITED with retryAfterSeconds,
    on both request paths (the fast path refuses through the standard one)."""
    user = await accounts.user()
    me = "{ me { id username } }"  # costs 3
    assert (await api.execute(me, token=user["token"]))["data"]["me"]
    rules = server.app.view.executor.prepared.rules
    assert rules.budget is not None
    monkeypatch.setattr(rules.budget, "budget", 3 * 5)
    await fresh_budgets(server, monkeypatch)
    rules.budget.clear()
    try:
        answers = [await api.execute(me, token=user["token"]) for _ in range(8)]
        assert all(a["data"]["me"] for a in answers[:5])
        for refused in answers[5:]:
            error = assert_error(refused, "RATE_LIMITED")
            assert 1 <= error["extensions"]["retryAfterSeconds"] <= 60
            assert refused.get("data") is None
        other = await accounts.user()  # another viewer's budget is its own
        assert (await api.execute(me, token=other["token"]))["data"]["me"]
    finally:
        rules.budget.clear()
    await assert_still_serving(api)


async def test_a_flood_of_new_documents_is_rate_limited_before_parsing(
    api, accounts, server, monkeypatch
):
    """Attack 5, the tail: each document not seen before costs a parse whatever its cost turns
    out to be. Its length is charged to the client's allowance of new document bytes per
    minute before parsing; spent → RATE_LIMITED (retryAfterSeconds), while documents already
    seen stay free, for that client too, and other clients keep their own allowance."""
    user = await accounts.user()
    known = "{ me { id username } }"
    assert (await api.execute(known, token=user["token"]))["data"]["me"]
    rules = server.app.view.executor.prepared.rules

    def unique(n: int) -> str:
        return "{ me { id } " + f"a{n}: me {{ username }}" + " }"

    first = await api.execute(unique(0), token=user["token"])  # makes the allowance exist
    assert first["data"]["a0"] == {"username": user["username"]}
    assert rules.new_documents is not None
    monkeypatch.setattr(rules.new_documents, "budget", 3 * len(unique(1)))
    await fresh_budgets(server, monkeypatch)
    rules.new_documents.clear()
    parsed: list[str] = []
    check = rules.documents._new

    def counted(schema: Any, query: str) -> Any:
        parsed.append(query)
        return check(schema, query)

    monkeypatch.setattr(rules.documents, "_new", counted)
    try:
        answers = [await api.execute(unique(n), token=user["token"]) for n in range(1, 7)]
        assert all(a["data"][f"a{n}"] for n, a in enumerate(answers[:3], start=1))
        for refused in answers[3:]:
            error = assert_error(refused, "RATE_LIMITED")
            assert 1 <= error["extensions"]["retryAfterSeconds"] <= 60
            assert refused.get("data") is None
        assert parsed == [unique(n) for n in range(1, 4)]  # the refused ones were never parsed
        assert (await api.execute(known, token=user["token"]))["data"]["me"]  # seen: free
        other = await accounts.user()  # another client's allowance is its own
        assert (await api.execute(unique(9), token=other["token"]))["data"]["a9"]
    finally:
        rules.new_documents.clear()
    await assert_still_serving(api)


# ---------------------------------------------------------------------------------------------
# Transport, secrets and readiness: body and header limits, JSON depth, JSON refusals,
# development secret, /readyz, HTTP subscriptions, invalid Unicode
# ---------------------------------------------------------------------------------------------


HEAD_TIMEOUT_S = 20.0  # generous: a passing test gets its answer at once
# what the loopback's socket buffers take in before the server's answer comes back
SOCKET_BUFFERS = 8_000_000


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def raw_exchange(
    server: RunningServer, head: bytes, more: Iterable[bytes] = ()
) -> tuple[int, dict[str, str], bytes, int]:
    """Sends `head`, then `more` until the server answers (or stops reading); returns the
    answer and how many bytes of `more` were sent before it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    answer = asyncio.ensure_future(read_response(reader))
    sent = 0
    try:
        writer.write(head)
        await writer.drain()
        for piece in more:
            if answer.done():
                break
            writer.write(piece)
            sent += len(piece)
            await writer.drain()
            await asyncio.sleep(0)  # lets the answer be read as soon as it comes
    except ConnectionError:
        pass  # the server closed the connection after answering
    try:
        status, headers, body = await asyncio.wait_for(answer, HEAD_TIMEOUT_S)
    finally:
        writer.close()
    return status, headers, body, sent


JSON_START = b'{"query":"{ __typename }","variables":{"p":"'
MULTIPART_START = (
    b'--x\r\ncontent-disposition: form-data; name="operations"\r\n\r\n{}\r\n'
    b'--x\r\ncontent-disposition: form-data; name="0"; filename="a.png"\r\n'
    b"content-type: image/png\r\n\r\n"
)


def chunked(total: int, size: int = 65536, start: bytes = JSON_START) -> Iterator[bytes]:
    """An endless-looking chunked body: `start`, then `total` bytes of padding in chunks."""
    yield b"%x\r\n%s\r\n" % (len(start), start)
    piece = b"%x\r\n%s\r\n" % (size, b"x" * size)
    for _ in range(total // size):
        yield piece
    yield b"0\r\n\r\n"


def post_head(content_type: bytes, *extra: bytes) -> bytes:
    lines = [
        b"POST /graphql HTTP/1.1",
        b"host: iven.test",
        b"content-type: " + content_type,
        b"transfer-encoding: chunked",
        *extra,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def assert_refused(body: bytes, code: str) -> dict[str, Any]:
    """A transport refusal: the GraphQL error shape with its code, and nothing else."""
    answer = json.loads(body)
    assert set(answer) == {"errors"}, answer
    [error] = answer["errors"]
    assert error["extensions"]["code"] == code and error["message"], answer
    return error  # type: ignore[no-any-return]


async def user_count(server: RunningServer) -> int:
    async with server.deps.db.reader() as db:
        return int((await db.exec(select(func.count()).select_from(User))).one())


async def test_a_chunked_body_over_the_limit_is_refused_while_read(
    server, settings, api, monkeypatch
):
    """100 MB of chunked JSON: refused with 413 once the limit is passed, on the fast JSON path,
    the routed one, the view's (a streamed answer asked for) and for a multipart upload."""
    limit = settings.max_request_bytes
    paths = {
        "fast": post_head(b"application/json"),
        "routed": post_head(b"application/json", b"origin: https://elsewhere.example"),
        "view": post_head(b"application/json", b"accept: multipart/mixed"),
    }
    for name, head in paths.items():
        status, headers, body, sent = await raw_exchange(server, head, chunked(100_000_000))
        assert status == 413, (name, body)
        assert headers["content-type"].startswith("application/json"), name
        assert_refused(body, "PAYLOAD_TOO_LARGE")
        assert sent < limit + SOCKET_BUFFERS, (name, sent)  # refused long before the end
    monkeypatch.setattr(server.app, "upload_limit", 2_000_000)
    head = post_head(b"multipart/form-data; boundary=x", b"x-iven-csrf: 1")
    more = chunked(100_000_000, start=MULTIPART_START)
    status, headers, body, sent = await raw_exchange(server, head, more)
    assert status == 413 and sent < 2_000_000 + SOCKET_BUFFERS, (status, body, sent)
    assert_refused(body, "PAYLOAD_TOO_LARGE")
    await assert_still_serving(api)


async def test_request_headers_over_the_limit_are_refused_while_read(server, settings, api):
    """A 100 MB header is not read: 431 once the head passes the limit, whether it never ends
    or arrives whole; a head under the limit is served."""
    limit = settings.max_header_bytes
    head = b"GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nhost: iven.test\r\nx-pad: "
    endless = (b"a" * 65536 for _ in range(100_000_000 // 65536))
    status, headers, body, sent = await raw_exchange(server, head, endless)
    assert status == 431 and sent < limit + SOCKET_BUFFERS, (status, sent)
    assert headers["content-type"] == "application/json"
    assert_refused(body, "HEADERS_TOO_LARGE")

    many = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 1000) for i in range(limit // 1000 + 2))
    whole = head.replace(b"x-pad: ", many) + b"\r\n"
    status, _, body, _ = await raw_exchange(server, whole)
    assert status == 431
    assert_refused(body, "HEADERS_TOO_LARGE")

    fits = head + b"a" * (limit // 2) + b"\r\n\r\n"
    status, _, body, _ = await raw_exchange(server, fits)
    assert status == 200
    assert answer_without_cost(json.loads(body)) == {"data": {"__typename": "Query"}}
    await assert_still_serving(api)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_json_nested_too_deep_is_a_400_with_a_json_body(http, api, settings, server):
    """100,000 levels (and one past the limit) in a body, GET variables or multipart
    `operations`: 400 BAD_REQUEST as JSON, never a plain-text 500."""
    deep = settings.max_json_depth
    for levels in (100_000, deep):  # the variables object is one level more
        body = '{"query": "{ __typename }", "variables": {"v": ' + nested(levels) + "}}"
        for headers in ({}, {"origin": "https://elsewhere.example"}):
            response = await http.post(
                "/graphql",
                content=body.encode(),
                headers={"content-type": "application/json", **headers},
            )
            assert response.status_code == 400, (levels, response.text[:200])
            assert_refused(response.content, "BAD_REQUEST")
        # within the URL and header limits, past the decoder's recursion guard
        get_levels = min(levels, 2_000)
        by_get = await http.get(
            "/graphql",
            params={"query": "{ __typename }", "variables": '{"v": ' + nested(get_levels) + "}"},
        )
        assert by_get.status_code == 400
        assert_refused(by_get.content, "BAD_REQUEST")
        operations = (
            '{"query": "mutation { __typename }", "variables": {"v": ' + nested(levels) + "}}"
        )
        upload = await http.post(
            "/graphql",
            data={"operations": operations, "map": "{}"},
            files={"0": ("a.png", b"x", "image/png")},
            headers={"x-iven-csrf": "1"},
        )
        assert upload.status_code == 400
        assert_refused(upload.content, "BAD_REQUEST")
    # a WebSocket message: invalid for graphql-transport-ws, the socket closes with 4400
    async with websockets.connect(
        server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send('{"type": "connection_init", "payload": {"v": ' + nested(100_000) + "}}")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), HEAD_TIMEOUT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    fits = '{"query": "{ __typename }", "variables": {"v": ' + nested(deep - 2) + "}}"
    ok = await http.post("/graphql", content=fits, headers={"content-type": "application/json"})
    assert answer_without_cost(ok.json()) == {"data": {"__typename": "Query"}}
    await assert_still_serving(api)


async def test_every_transport_refusal_has_a_json_body_with_a_code(http, api):
    json_type = {"content-type": "application/json"}
    refusals = {
        "BAD_REQUEST": await http.post("/graphql", content=b"{not json", headers=json_type),
        "UNSUPPORTED_MEDIA_TYPE": await http.post(
            "/graphql",
            content=b'{"query": "{ __typename }"}',
            headers={"content-type": "text/plain"},
        ),
        "METHOD_NOT_ALLOWED": await http.put("/graphql", json={"query": "{ __typename }"}),
        "CSRF_HEADER_REQUIRED": await http.post(
            "/graphql", data={"operations": "{}", "map": "{}"}, files={"0": ("a", b"x")}
        ),
    }
    # malformed JSON, batching, GET mutation: BAD_REQUEST (README "Limits"), each with its message
    refusals["BAD_REQUEST batching"] = await api.post([{"query": "{ __typename }"}] * 2)
    refusals["BAD_REQUEST mutation over GET"] = await http.get(
        "/graphql", params={"query": "mutation { logout { ok } }"}
    )
    refusals["PAYLOAD_TOO_LARGE"] = await http.post(
        "/graphql", content=b"{" + b" " * 2_000_000 + b"}", headers=json_type
    )
    # a preflight from an origin not in IVEN_CORS_ORIGINS (tests/test_cross_origin.py)
    refusals["ORIGIN_NOT_ALLOWED"] = await http.options(
        "/graphql",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    # malformed JSON in GET variables, which the view parses itself
    refusals["BAD_REQUEST over GET"] = await http.get(
        "/graphql", params={"query": "{ __typename }", "variables": "{not json"}
    )
    for case, response in refusals.items():
        assert 400 <= response.status_code < 500, case
        assert response.headers["content-type"] == "application/json", case
        assert_refused(response.content, case.split()[0])
    assert refusals["METHOD_NOT_ALLOWED"].status_code == 405
    assert refusals["METHOD_NOT_ALLOWED"].headers["allow"] == "GET, POST"
    await assert_still_serving(api)


async def test_development_makes_its_own_secret_and_keeps_it(tmp_path, monkeypatch, api):
    """No constant secret: each development server makes one at first start, owner-only, and
    finds it again after a restart; outside development a missing secret refuses to start."""
    monkeypatch.delenv("IVEN_JWT_SECRET", raising=False)
    first = Settings(var_dir=tmp_path / "one", _env_file=None)
    other = Settings(var_dir=tmp_path / "two", _env_file=None)
    assert first.jwt_secret is None
    secret = first.token_secret()
    assert len(secret) >= 32 and secret != other.token_secret()
    path = tmp_path / "one" / "jwt-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    restarted = Settings(var_dir=tmp_path / "one", _env_file=None)
    assert restarted.token_secret() == secret
    with pytest.raises(ValueError, match="IVEN_JWT_SECRET"):
        Settings(
            env="production",
            _env_file=None,
            mongodb_url="mongodb://db/",
            redis_url="redis://r/",
            database_url="mysql+aiomysql://u@h/db",
        )
    await assert_still_serving(api)


async def test_media_urls_signed_with_the_token_key_are_refused(
    api, http, accounts, events, server, settings
):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    response = await api.upload(
        """mutation($input: UploadMediaInput!) { uploadMedia(input: $input) {
          media { urls { original } } errors { code } } }""",
        {"input": {"eventId": c["event"]["id"], "files": [None]}},
        {"variables.input.files.0": ("a.png", samples.png(), "image/png")},
        token=owner["token"],
    )
    assert response.json().get("data"), response.text
    url = served_path(response.json()["data"]["uploadMedia"]["media"][0]["urls"]["original"])
    assert (await http.get(url)).status_code == 200
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    _, _, media_id, variant = parts.path.split("/")
    payload = f"m:{media_id}:{variant}:{query['u']}:{query['f']}:{query['exp']}"
    token_key = settings.jwt_secret.get_secret_value().encode()
    forged = hmac.new(token_key, f"file-url:{payload}".encode(), hashlib.sha256).hexdigest()
    refused = await http.get(url.replace(query["sig"], forged[:32]))
    assert refused.status_code == 403
    await assert_still_serving(api)


async def test_readyz_names_no_url_host_or_port(http, api, server):
    """Anonymous readiness: each store's status only, even when one is down."""

    def assert_no_location(text: str) -> None:
        assert "://" not in text and "127.0.0.1" not in text and "localhost" not in text
        assert str(server.port) not in text
        for backend in server.app.state.resources.backends.values():
            assert backend not in text
        assert not any(ch.isdigit() for ch in text), text  # no port, no address

    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert_no_location(ready.text)
    deps = server.deps
    real = deps.redis
    deps.redis = create_client("redis://127.0.0.1:1/0", timeout=0.5)  # nothing listens there
    try:
        down = await http.get("/readyz")
    finally:
        await deps.redis.aclose()
        deps.redis = real
    assert down.status_code == 503 and down.json()["checks"]["redis"] == {"status": "down"}
    assert_no_location(down.text)
    await assert_still_serving(api)


REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
  user { id } errors { code } } }"""


async def test_a_lone_surrogate_is_bad_user_input_and_stores_nothing(api, http, server):
    before = await user_count(server)
    register = {
        "username": "\ud800x",
        "email": "lone@example.com",
        "password": "correct-horse-9",
        "firstName": "Lone",
        "lastName": "Surrogate",
    }
    # json.dumps writes the lone surrogate as the escape "\ud800", as an attacker would send it
    body = json.dumps({"query": REGISTER, "variables": {"input": register}})
    assert "\\ud800" in body
    for headers in ({}, {"origin": "https://elsewhere.example"}):
        response = await http.post(
            "/graphql", content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 400, response.text
        assert_refused(response.content, "BAD_USER_INPUT")
    raw_literal = json.dumps({"query": '{ node(id: "\ud800") { id } }'})
    response = await http.post(
        "/graphql", content=raw_literal, headers={"content-type": "application/json"}
    )
    assert_refused(response.content, "BAD_USER_INPUT")
    # a GraphQL escape of a lone surrogate is a syntax error of the document
    escaped = await api.execute('{ node(id: "\\ud800") { id } }')
    assert_error(escaped, "GRAPHQL_PARSE_FAILED")
    by_get = await http.get(
        "/graphql",
        params={
            "query": "query($id: ID!) { node(id: $id) { id } }",
            "variables": '{"id": "\\ud800"}',
        },
    )
    assert by_get.status_code == 400
    assert_refused(by_get.content, "BAD_USER_INPUT")
    # over WebSocket: an invalid message, the socket closes with graphql-transport-ws' 4400
    async with websockets.connect(
        server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), HEAD_TIMEOUT_S))["type"] == (
            "connection_ack"
        )
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription { sessionStatus }",
                        "variables": {"x": "\ud800"},
                    },
                }
            )
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), HEAD_TIMEOUT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert await user_count(server) == before
    await assert_still_serving(api)


async def test_subscriptions_over_http_are_refused_with_a_clear_error(http, api, accounts):
    """What GraphiQL and urql's fetchSubscriptions send when not over Server-Sent Events
    (tests/test_sse.py): a clear JSON refusal, never an internal error."""
    user = await accounts.user()
    subscription = {"query": "subscription { sessionStatus(intervalSeconds: 1) }"}
    for accept, status in (("multipart/mixed", 406), ("application/json", 400)):
        for token in (None, user["token"]):
            response = await api.post(subscription, token=token, headers={"accept": accept})
            assert response.status_code == status, (accept, response.text)
            assert response.headers["content-type"] == "application/json"
            assert_refused(response.content, "SUBSCRIPTION_TRANSPORT")
    for accept in ("multipart/mixed", "text/event-stream", "application/json"):
        by_get = await http.get("/graphql", params=subscription, headers={"accept": accept})
        assert by_get.status_code in (400, 405, 406)
        assert_refused(by_get.content, "SUBSCRIPTION_TRANSPORT")
    # queries asked for as a stream are still answered
    streamed = await api.post({"query": "{ __typename }"}, headers={"accept": "multipart/mixed"})
    assert streamed.status_code == 200 and "Query" in streamed.text
    await assert_still_serving(api)


# ---------------------------------------------------------------------------------------------
# Visibility and abuse: guessable ids, User nodes, revoked invitations, oversized ids,
# invitation floods
# ---------------------------------------------------------------------------------------------

EVENT_NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Event {
  title owner { username displayName avatarUrl } } } }"""
USER_NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User {
  username firstName lastName role bio timezone } } }"""
SHARE = "query($id: ID!) { event(id: $id) { shareToken owner { avatarUrl } } }"
BY_SHARE = "query($t: String!) { eventByShareToken(token: $t) { id title owner { username } } }"
BIG = "1234567890123456789012345678901234567890"  # 40 digits: no BIGINT holds it


async def _set_avatar_key(server: Any, user_id: str) -> str:
    """Gives a user a profile picture key at the store level (the URL is all that is tested)."""
    key = secrets.token_hex(16)
    async with server.deps.db.unit_of_work() as db:
        row = await db.get(UserRow, pk(user_id))
        assert row is not None
        row.avatar_key = key
        db.add(row)
    await accounts_uc.users_changed(server.deps, pk(user_id))
    return key


async def test_sequential_event_ids_open_no_unlisted_event(api, accounts, events, server):
    """Attack 6: anonymous `nodes` over Event:1..n listed every UNLISTED event, its owner's
    name and a working avatar URL. By id, an UNLISTED event is now hidden from outsiders like a
    missing one; only its share token (random, 144 bits) opens its public fields."""
    owner, stranger = await accounts.user(), await accounts.user()
    await _set_avatar_key(server, owner["id"])
    unlisted = [await events.create(owner["token"], visibility="UNLISTED") for _ in range(3)]
    private = await events.create(owner["token"])
    top = max(pk(e["id"]) for e in [*unlisted, private])
    # the last 100 ids (at most what `nodes` takes; MySQL keeps counting across tests)
    ids = [to_base64("Event", n) for n in range(max(1, top - 97), top + 3)]
    for token in (None, stranger["token"]):
        result = await api.execute(EVENT_NODES, {"ids": ids}, token=token)
        assert result == {"data": {"nodes": [None] * len(ids)}}, result
        for event in unlisted:
            by_id = await api.execute(SHARE, {"id": event["id"]}, token=token)
            assert by_id == {"data": {"event": None}}
    # the flow that stays: a member shares the token, an outsider opens the public fields
    seen = (await api.execute(SHARE, {"id": unlisted[0]["id"]}, token=owner["token"]))["data"]
    share = seen["event"]["shareToken"]
    assert len(share) >= 24 and share != unlisted[0]["id"]  # 144 random bits, not the id
    others = [
        (await api.execute(SHARE, {"id": e["id"]}, token=owner["token"]))["data"]["event"]
        for e in unlisted[1:]
    ]
    assert len({share, *(o["shareToken"] for o in others)}) == len(unlisted)
    opened = (await api.execute(BY_SHARE, {"t": share}, token=stranger["token"]))["data"]
    assert opened["eventByShareToken"]["id"] == unlisted[0]["id"]
    assert opened["eventByShareToken"]["owner"] == {"username": owner["username"]}
    # the avatar URL names a random key, not the account: no directory of profile pictures
    url = seen["event"]["owner"]["avatarUrl"]
    assert url.startswith(f"{server.deps.settings.public_url}/avatars/")
    assert f"/avatars/{pk(owner['id'])}/" not in url
    assert "k=" not in url
    await assert_still_serving(api)


async def test_a_stranger_cannot_list_accounts_by_id(api, accounts, events):
    """Attack 6: `nodes(ids: [User:1..100])` listed every account (username, names, ADMIN role,
    bio). Now only yourself and people you share an event with (admins: everyone)."""
    admin = await accounts.admin()
    others = [await accounts.user() for _ in range(3)]
    stranger = await accounts.user()
    top = max(pk(u["id"]) for u in [admin, *others, stranger])
    # the last 100 ids (at most what `nodes` takes; MySQL keeps counting across tests)
    ids = [to_base64("User", n) for n in range(max(1, top - 97), top + 3)]
    result = await api.execute(USER_NODES, {"ids": ids}, token=stranger["token"])
    assert "errors" not in result, result
    seen = [n for n in result["data"]["nodes"] if n is not None]
    assert seen == [
        {
            "id": stranger["id"],
            "username": stranger["username"],
            "firstName": "Test",
            "lastName": "User",
            "role": "USER",
            "bio": "",
            "timezone": "UTC",
        }
    ]
    anonymous = await api.execute(USER_NODES, {"ids": ids})
    assert anonymous == {"data": {"nodes": [None] * len(ids)}}
    # sharing an event shows the other, as Participant.user does; the admin sees everyone
    event = await events.create(others[0]["token"])
    await events.add(others[0]["token"], event["id"], stranger)
    again = await api.execute(USER_NODES, {"ids": ids}, token=stranger["token"])
    assert {n["id"] for n in again["data"]["nodes"] if n} == {stranger["id"], others[0]["id"]}
    everyone = await api.execute(USER_NODES, {"ids": ids}, token=admin["token"])
    assert {n["id"] for n in everyone["data"]["nodes"] if n} >= {
        u["id"] for u in [admin, *others, stranger]
    }
    await assert_still_serving(api)


INVITE = """mutation($input: InviteParticipantsInput!) { inviteParticipants(input: $input) {
  invitations { id status } errors { code field message retryAfterSeconds } } }"""
MY_INVITATIONS = """{ myInvitations { id status event { title startsAt participantCount
  owner { username } } } }"""


async def test_a_closed_invitation_shows_no_event(api, accounts, events):
    """Attack 7: after revocation, `myInvitations { event { … } }` showed the PRIVATE event's
    current (renamed, moved) details. A declined or revoked invitation now opens nothing."""
    owner, bob, carol = [await accounts.user() for _ in range(3)]
    event = await events.create(owner["token"], title="Surprise party")
    sent = await api.execute(
        INVITE,
        {
            "input": {
                "eventId": event["id"],
                "invitees": [{"userId": bob["id"]}, {"userId": carol["id"]}],
            }
        },
        token=owner["token"],
    )
    bob_inv, carol_inv = [i["id"] for i in sent["data"]["inviteParticipants"]["invitations"]]
    pending = (await api.execute(MY_INVITATIONS, token=bob["token"]))["data"]["myInvitations"]
    assert pending[0]["event"]["title"] == "Surprise party"  # while pending: public fields
    revoke = """mutation($id: ID!) { revokeInvitation(input: {invitationId: $id}) {
        invitation { status } errors { code } } }"""
    decline = """mutation($id: ID!) { declineInvitation(input: {invitationId: $id}) {
        invitation { status event { title } } errors { code } } }"""
    assert (await api.execute(revoke, {"id": bob_inv}, token=owner["token"]))["data"][
        "revokeInvitation"
    ]["errors"] == []
    declined = (await api.execute(decline, {"id": carol_inv}, token=carol["token"]))["data"]
    assert declined["declineInvitation"] == {
        "invitation": {"status": "DECLINED", "event": None},
        "errors": [],
    }
    update = """mutation($input: UpdateEventInput!) { updateEvent(input: $input) {
        errors { code } } }"""
    moved = {
        "eventId": event["id"],
        "title": "Moved party",
        "startsAt": "2030-07-01T12:00:00Z",
        "endsAt": "2030-07-01T18:00:00Z",
    }
    assert (await api.execute(update, {"input": moved}, token=owner["token"]))["data"][
        "updateEvent"
    ]["errors"] == []
    node = "query($id: ID!) { node(id: $id) { ... on Invitation { status event { title } } } }"
    for person, invitation, status in ((bob, bob_inv, "REVOKED"), (carol, carol_inv, "DECLINED")):
        mine = await api.execute(MY_INVITATIONS, token=person["token"])
        assert mine == {
            "data": {"myInvitations": [{"id": invitation, "status": status, "event": None}]}
        }
        assert "Moved" not in json.dumps(mine)
        by_node = await api.execute(node, {"id": invitation}, token=person["token"])
        assert by_node == {"data": {"node": {"status": status, "event": None}}}
    await assert_still_serving(api)


async def test_invitation_floods_are_rate_limited(api, accounts, events, server, mailbox):
    """Attack 9: 3 aliased `inviteParticipants` x 50 external emails sent 150 mails in one
    second, with a subject the sender wrote. Now invitations are counted per sender and hour
    (mailed ones more tightly: IVEN_RATE_INVITE_EMAIL, 50/3600 by default): the first batch
    goes, the others are RATE_LIMITED with the wait and create nothing; subjects quote only
    the cleaned, capped title."""
    owner = await accounts.user(first_name="Free", last_name="Prize")
    event = await events.create(owner["token"])
    async with server.deps.db.unit_of_work() as db:  # a title the API may refuse, stored anyway
        row = await event_store.lock_event(db, pk(event["id"]))
        assert row is not None
        row.title = "Party\r\nBcc: victim@example.com\x00 " + "x" * 150
        await event_store.save_event(db, row)
    batches = [[{"email": f"spam{b}-{n}@example.com"} for n in range(50)] for b in range(3)]
    aliased = " ".join(
        f"""b{b}: inviteParticipants(input: {{eventId: $e, invitees: $i{b},
            message: "Claim your prize at evil.example"}}) {{
            invitations {{ id }} errors {{ code field retryAfterSeconds }} }}"""
        for b in range(3)
    )
    document = (
        f"mutation($e: ID!, $i0: [InviteeInput!]!, $i1: [InviteeInput!]!, "
        f"$i2: [InviteeInput!]!) {{ {aliased} }}"
    )
    result = await api.execute(
        document,
        {"e": event["id"], "i0": batches[0], "i1": batches[1], "i2": batches[2]},
        token=owner["token"],
    )
    assert "errors" not in result, result
    first, second, third = (result["data"][f"b{b}"] for b in range(3))
    assert first["errors"] == [] and len(first["invitations"]) == 50
    for refused in (second, third):
        assert refused["invitations"] == []
        error = assert_payload_error(refused, "RATE_LIMITED", ["input", "invitees"])
        assert 0 < error["retryAfterSeconds"] <= 3600
    listed = await api.execute(
        "query($id: ID!) { event(id: $id) { invitations { inviteeEmail } } }",
        {"id": event["id"]},
        token=owner["token"],
    )
    stored = {i["inviteeEmail"] for i in listed["data"]["event"]["invitations"]}
    assert stored == {i["email"] for i in batches[0]}  # nothing stored for the refused ones
    await drain_background()
    mailed = [m for m in mailbox.messages if any("spam" in to for to in m["to"])]
    assert {m["to"][0] for m in mailed} == stored  # one mail each, none for the refused
    for mail in mailed:
        subject = str(make_header(decode_header(mail["subject"])))
        assert subject.startswith('Invitation to "Party Bcc: victim@example.com xxx')
        assert len(subject) <= len('Invitation to "" on IVEN') + 60
        assert "\r" not in subject and "\n" not in subject and "\x00" not in subject
        assert "prize" not in subject.lower()  # neither the message nor the sender's name
    await assert_still_serving(api)


NODE = "query($id: ID!) { node(id: $id) { id } }"
NODE_TYPES = (
    "Album Article AuditEntry Event Expense Invitation InviteLink JoinRequest Media "
    "MediaComment Message Notification Participant Session Settlement Task User"
).split()


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


async def test_oversized_numbers_in_ids_are_not_found(api, accounts, events):
    """Attack 12b: a 40-digit number in a global id raised OverflowError (an internal error).
    Ids that fit no signed 64-bit key are missing objects; such cursors are bad input."""
    owner = await accounts.user()
    admin = await accounts.admin()
    event = await events.create(owner["token"])
    for type_name in NODE_TYPES:
        gid = to_base64(type_name, BIG)
        for token in (owner["token"], admin["token"], None):
            one = await api.execute(NODE, {"id": gid}, token=token)
            assert one == {"data": {"node": None}}, (type_name, one)
        many = await api.execute(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": [gid, to_base64(type_name, "-" + BIG)]},
            token=admin["token"],
        )
        assert many == {"data": {"nodes": [None, None]}}, (type_name, many)
    direct = await api.execute(
        "query($id: ID!) { event(id: $id) { id } }", {"id": to_base64("Event", BIG)}
    )
    assert direct == {"data": {"event": None}}
    update = await api.execute(
        """mutation($input: UpdateEventInput!) { updateEvent(input: $input) {
            errors { code } } }""",
        {"input": {"eventId": to_base64("Event", BIG), "title": "x"}},
        token=owner["token"],
    )
    assert_error(update, "NOT_FOUND")
    accept = await api.execute(
        """mutation($id: ID!) { acceptInvitation(input: {invitationId: $id}) {
            errors { code } } }""",
        {"id": to_base64("Invitation", BIG)},
        token=owner["token"],
    )
    assert_error(accept, "NOT_FOUND")
    invite = await api.execute(
        INVITE,
        {"input": {"eventId": event["id"], "invitees": [{"userId": to_base64("User", BIG)}]}},
        token=owner["token"],
    )
    assert_payload_error(invite["data"]["inviteParticipants"], "USER_NOT_FOUND")
    cursors = {
        "{ myEvents(after: $c) { edges { cursor } } }": _cursor("2030-01-01T00:00:00+00:00", BIG),
        "{ articles(after: $c) { edges { cursor } } }": _cursor(
            "2030-01-01T00:00:00+00:00", int(BIG)
        ),
        "{ adminUsers(after: $c) { edges { cursor } } }": _cursor(int(BIG)),
    }
    for selection, cursor in cursors.items():
        answer = await api.execute(
            f"query($c: String!) {selection}", {"c": cursor}, token=admin["token"]
        )
        assert_error(answer, "BAD_USER_INPUT")
    for field in (
        "participants(after: $c) { edges { cursor } }",
        "activity(after: $c) { edges { cursor } }",
    ):
        answer = await api.execute(
            f"query($id: ID!, $c: String!) {{ event(id: $id) {{ {field} }} }}",
            {"id": event["id"], "c": _cursor(int(BIG))},
            token=owner["token"],
        )
        assert_error(answer, "BAD_USER_INPUT")
    await assert_still_serving(api)


# ---------------------------------------------------------------------------------------------
# Text, sign-in and uploads: control characters, lock-out, register, upload amplification
# ---------------------------------------------------------------------------------------------

NEW_EVENT = {
    "title": "Picnic",
    "startsAt": "2030-06-01T12:00:00+02:00",
    "endsAt": "2030-06-01T18:00:00+02:00",
    "currency": "EUR",
    "timezone": "Europe/Paris",
}
NEW_ACCOUNT = {
    "username": "newcomer",
    "email": "newcomer@example.com",
    "password": "correct-horse-9",
    "firstName": "New",
    "lastName": "Comer",
}

SINGLE_LINE_ATTACKS = [
    "Picnic\r\nBcc: victim@example.com",  # header injection through a mail subject
    "Pic\x00nic",  # NUL
    "Pic\x1bnic",  # ESC (terminal escapes in logs)
    "Pic\x7fnic",  # DEL
    "Pic\x85nic",  # C1 NEL
    "Pic\u2028nic",  # line separator
    "cod.exe\u202egnp",  # bidi override
]


async def _payload(
    api: GraphQLClient, token: str | None, mutation: str, data: dict[str, Any], entity: str
) -> dict[str, Any]:
    input_type = mutation[0].upper() + mutation[1:] + "Input"
    result = await api.execute(
        f"""mutation($input: {input_type}!) {{ {mutation}(input: $input) {{
             {entity} {{ id }} errors {{ code field message }} }} }}""",
        {"input": data},
        token=token,
    )
    payload: dict[str, Any] = result["data"][mutation]
    return payload


async def test_control_characters_in_single_line_fields_are_refused(api, accounts, events):
    c = await crew(accounts, events, 2)
    owner = c["people"][0]
    token, event_id = owner["token"], c["event"]["id"]
    payer = c["event"]["viewerParticipation"]["id"]
    for bad in SINGLE_LINE_ATTACKS:
        attempts = [
            ("updateEvent", {"eventId": event_id, "title": bad}, "event", ["input", "title"]),
            (
                "updateEvent",
                {"eventId": event_id, "location": {"name": bad}},
                "event",
                ["input", "location", "name"],
            ),
            ("createEvent", {**NEW_EVENT, "title": bad}, "event", ["input", "title"]),
            ("createTask", {"eventId": event_id, "title": bad}, "task", ["input", "title"]),
            ("createAlbum", {"eventId": event_id, "title": bad}, "album", ["input", "title"]),
            (
                "createExpense",
                {
                    "eventId": event_id,
                    "title": bad,
                    "amount": "12.50",
                    "paidById": payer,
                    "split": {"mode": "EQUAL"},
                },
                "expense",
                ["input", "title"],
            ),
            ("updateProfile", {"firstName": bad}, "user", ["input", "firstName"]),
            ("updateProfile", {"lastName": bad}, "user", ["input", "lastName"]),
        ]
        for mutation, data, entity, field in attempts:
            payload = await _payload(api, token, mutation, data, entity)
            assert payload[entity] is None, (mutation, bad, payload)
            assert_payload_error(payload, "INVALID_INPUT", field)
        registered = await _payload(api, None, "register", {**NEW_ACCOUNT, "lastName": bad}, "user")
        assert_payload_error(registered, "INVALID_INPUT", ["input", "lastName"])
    # nothing stored: the event, its children and the profile are as they were
    state = await api.execute(
        """query($id: ID!) { me { firstName lastName } node(id: $id) { ... on Event {
             title location { name } tasks { edges { node { id } } }
             expenses { edges { node { id } } } albums { title } } } }""",
        {"id": event_id},
        token=token,
    )
    event = state["data"]["node"]
    assert event["title"] == "Picnic" and event["location"] is None
    assert event["tasks"]["edges"] == [] and event["expenses"]["edges"] == []
    assert len(event["albums"]) <= 1  # the default album only
    assert state["data"]["me"] == {"firstName": "Test", "lastName": "User"}
    async with accounts.deps.db.reader() as db:
        assert (await db.exec(select(User).where(User.email == NEW_ACCOUNT["email"]))).all() == []
    await assert_still_serving(api)


async def test_multi_line_fields_keep_newlines_but_refuse_other_controls(api, accounts, events):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    kept = await _payload(
        api, owner["token"], "updateProfile", {"bio": "Line one\r\nLine\ttwo"}, "user"
    )
    assert kept["errors"] == [] and kept["user"] is not None
    for bad in ("a\x00b", "a\x1b[31mb", "a\x85b", "a\u202eb"):
        bio = await _payload(api, owner["token"], "updateProfile", {"bio": bad}, "user")
        assert_payload_error(bio, "INVALID_INPUT", ["input", "bio"])
        description = await _payload(
            api,
            owner["token"],
            "updateEvent",
            {"eventId": event["id"], "description": bad},
            "event",
        )
        assert_payload_error(description, "INVALID_INPUT", ["input", "description"])
    state = await api.execute(
        """query($id: ID!) { me { bio } node(id: $id) { ... on Event { description } } }""",
        {"id": event["id"]},
        token=owner["token"],
    )
    assert state["data"]["me"]["bio"] == "Line one\nLine\ttwo"
    assert state["data"]["node"]["description"] == event["description"]
    await assert_still_serving(api)


async def test_user_text_cannot_break_a_mail_header(api, mailbox, settings, tmp_path):
    """A title with CR/LF once made the invitation mail fail in a task nobody awaited."""
    mailer = Mailer(settings.smtp_url, settings.mail_from, tmp_path)
    subject = "Invitation: Picnic\r\nBcc: victim@example.com\x00" + "x" * 500
    await mailer.send(Mail(to="guest@example.com", subject=subject, body="Hello"))
    mail = await mailbox.wait_for("guest@example.com", "Invitation: Picnic")
    received = str(make_header(decode_header(mail["subject"])))  # unfolded
    assert "\n" not in received and "\r" not in received and "\x00" not in received
    assert received.startswith("Invitation: Picnic Bcc: victim@example.com x")
    assert len(received) <= SUBJECT_MAX
    assert mailbox.to("victim@example.com") == []
    await assert_still_serving(api)


async def test_a_failed_background_task_is_logged_not_lost(api, caplog):
    async def failing_delivery() -> None:
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    with caplog.at_level(logging.ERROR, logger="iven.background"):
        in_background(failing_delivery())
        await drain_background()
    failed = [r for r in caplog.records if r.getMessage() == "background task failed"]
    assert len(failed) == 1 and failed[0].exc_info and "linefeed" in str(failed[0].exc_info[1])
    await assert_still_serving(api)


LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  accessToken errors { code retryAfterSeconds } } }"""


@pytest.mark.parametrize(
    "key",
    ["k" * 100_000, "", "\x00" * 101, "é" * 101],
    ids=["100k-chars", "empty", "nul-run", "multi-byte-over-100"],
)
async def test_hostile_client_mutation_ids_are_refused_and_create_nothing(api, accounts, key):
    """The key is hashed before it reaches a store, and its length is checked first: a huge or
    empty one is INVALID_INPUT and nothing is created (issue 16)."""
    alice = await accounts.user()
    payload = await _payload(
        api, alice["token"], "createEvent", {**NEW_EVENT, "clientMutationId": key}, "event"
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_INPUT", ["input", "clientMutationId"])
    ]
    mine = await api.execute("{ myEvents { edges { node { id } } } }", token=alice["token"])
    assert mine["data"]["myEvents"]["edges"] == []


async def test_a_stranger_cannot_lock_the_owner_out(api, accounts):
    owner = await accounts.user()
    stranger = {"x-forwarded-for": "203.0.113.66"}  # the test server trusts its loopback proxy

    async def login(password: str, headers: dict[str, str]) -> dict[str, Any]:
        result = await api.execute(
            LOGIN, {"input": {"email": owner["email"], "password": password}}, headers=headers
        )
        payload: dict[str, Any] = result["data"]["login"]
        return payload

    codes = [(await login(f"wrong-guess-{i}", stranger))["errors"][0]["code"] for i in range(11)]
    assert codes == ["INVALID_CREDENTIALS"] * 10 + ["RATE_LIMITED"]
    # the stranger's address stays refused, even with the right password
    assert_payload_error(await login(owner["password"], stranger), "RATE_LIMITED")
    # the owner, from their own address, still signs in
    mine = await login(owner["password"], {"x-forwarded-for": "198.51.100.7"})
    assert mine["errors"] == [] and mine["accessToken"]
    await assert_still_serving(api)


async def test_the_lock_out_ceiling_and_delay_grow_with_failures(server):
    """Past the per-account ceiling every address is refused; before it each attempt waits
    longer (the arithmetic, without waiting for it)."""
    deps = server.deps
    after = deps.settings.login_delay_after_failures
    delays = [login_delay_s(deps, n) for n in range(after - 1, after + 20)]
    assert delays[0] == 0 and 0 < delays[1] < delays[2]
    assert delays == sorted(delays) and delays[-1] == deps.settings.login_delay_max_ms / 1000


async def test_register_does_not_tell_whether_an_email_has_an_account(
    api, accounts, mailbox, server
):
    owner = await accounts.user()
    register = """mutation($input: RegisterInput!) { register(input: $input) {
      user { id } errors { code field message } } }"""

    async def attempt(username: str, email: str) -> dict[str, Any]:
        data = {**NEW_ACCOUNT, "username": username, "email": email}
        payload: dict[str, Any] = (await api.execute(register, {"input": data}))["data"]["register"]
        return payload

    fresh = await attempt("newcomer_a", "nobody@example.com")
    taken = await attempt("newcomer_b", owner["email"].upper())
    assert taken == fresh == {"user": None, "errors": []}
    # the owner of the address is told, and nothing was created for it
    mail = await mailbox.wait_for(owner["email"], "tried to create")
    assert "No new account was created" in mail["body"]
    async with server.deps.db.reader() as db:
        rows = (await db.exec(select(User).where(User.email == owner["email"]))).all()
        assert [r.username for r in rows] == [owner["username"]]
        assert (await db.exec(select(User).where(User.username_key == "newcomer_b"))).all() == []
    # a taken username is reported: usernames are public
    assert_payload_error(await attempt(owner["username"], "someone@example.com"), "USERNAME_TAKEN")
    await assert_still_serving(api)


UPLOAD = """mutation($input: UploadMediaInput!) { uploadMedia(input: $input) {
  media { id } errors { code field message } } }"""


async def test_one_upload_part_mapped_to_many_variables_is_refused(api, http, accounts, events):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    paths = [f"variables.input.files.{i}" for i in range(20)]
    response = await http.post(
        "/graphql",
        data={
            "operations": json.dumps(
                {
                    "query": UPLOAD,
                    "variables": {"input": {"eventId": event["id"], "files": [None] * 20}},
                }
            ),
            "map": json.dumps({"0": paths}),
        },
        files={"0": ("a.png", samples.png(), "image/png")},
        headers={"x-iven-csrf": "1", "authorization": f"Bearer {owner['token']}"},
    )
    assert response.status_code == 400, response.text
    assert "exactly one variable" in response.text
    assert media_uc.files(accounts.deps).all_keys(MEDIA) == set()
    await assert_still_serving(api)


async def test_uploads_are_checked_before_any_decoding(api, accounts, events, server, monkeypatch):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    decoded: list[str] = []
    process = imaging.process

    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(str(path))
        return process(path, *args, **kwargs)

    monkeypatch.setattr(imaging, "process", counted)

    async def upload(*contents: bytes) -> dict[str, Any]:
        response = await api.upload(
            UPLOAD,
            {"input": {"eventId": event["id"], "files": [None] * len(contents)}},
            {
                f"variables.input.files.{i}": (f"{i}.png", content, "image/png")
                for i, content in enumerate(contents)
            },
            token=owner["token"],
        )
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()["data"]["uploadMedia"]
        return payload

    photo = samples.png()
    first = await upload(photo, photo)  # the same content twice: decoded once
    assert first["errors"] == [] and first["media"][0]["id"] == first["media"][1]["id"]
    assert len(decoded) == 1
    again = await upload(photo)  # already in the event: not decoded again
    assert again["media"] == first["media"][:1] and len(decoded) == 1
    # over quota: refused before the (hostile) image is decoded
    settings = server.deps.settings
    settings.media_quota_user_bytes, quota = 1, settings.media_quota_user_bytes
    try:
        bomb = await upload(samples.png_pixel_bomb())
    finally:
        settings.media_quota_user_bytes = quota
    assert_payload_error(bomb, "QUOTA_EXCEEDED", ["input", "files"])
    assert bomb["media"] == [] and len(decoded) == 1
    assert len(media_uc.files(server.deps).all_keys(MEDIA)) == 1
    await assert_still_serving(api)


# --- notificationReceived(after:): hostile cursors (issue 16) -----------------------------------

NOTIFICATIONS_AFTER = """subscription($after: String) { notificationReceived(after: $after) {
  cursor notification { id } } }"""


@pytest.mark.parametrize(
    "after",
    [
        "garbage!",
        "A" * 20_000,  # huge
        _cursor("2030-01-01T00:00:00+00:00"),  # one part
        _cursor("2030-01-01T00:00:00+00:00", "not-an-object-id"),
        _cursor("not a time", "0" * 24),
        _cursor(BIG, BIG),
        _cursor(["a", "list"], {"an": "object"}),
        base64.urlsafe_b64encode(b"\xff\xfe\x00garbage").decode(),
    ],
    ids=[
        "garbage",
        "huge",
        "one-part",
        "bad-id",
        "bad-time",
        "numbers",
        "containers",
        "not-utf8",
    ],
)
async def test_a_hostile_notification_cursor_is_bad_user_input(api, accounts, after):
    user = await accounts.user()
    async with api.ws({"authorization": f"Bearer {user['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(NOTIFICATIONS_AFTER, {"after": after})
        message = await ws.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", message
        assert "Traceback" not in json.dumps(message)
    await assert_still_serving(api)


async def test_a_notification_cursor_without_a_time_zone_is_read_as_utc(api, accounts):
    """Not a crash comparing naive and aware times: the stream starts and stays quiet."""
    user = await accounts.user()
    async with api.ws({"authorization": f"Bearer {user['token']}"}) as ws:
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.subscribe(NOTIFICATIONS_AFTER, {"after": _cursor("2030-01-01T00:00:00", "0" * 24)})
        with pytest.raises(TimeoutError):
            raise AssertionError(await ws.receive(timeout=0.5))
    await assert_still_serving(api)


# --- date polls (issue 18) ---------------------------------------------------------------------

DATE_POLL_CREATE = """mutation($input: CreateDatePollInput!) { createDatePoll(input: $input) {
  datePoll { id options { id } } errors { code field } } }"""
DATE_POLL_VOTE = """mutation($input: VoteDatePollInput!) { voteDatePoll(input: $input) {
  datePoll { voterCount } errors { code field retryAfterSeconds } } }"""


def _poll_options(count: int, days: int = 10) -> list[dict[str, str]]:
    start = datetime.now(UTC) + timedelta(days=days)
    return [{"startsAt": (start + timedelta(minutes=i)).isoformat()} for i in range(count)]


async def test_a_date_poll_of_ten_thousand_options_is_refused_and_stores_nothing(
    api, accounts, events
):
    c = await crew(accounts, events, 2)
    organizer = c["people"][1]
    huge = await api.execute(
        DATE_POLL_CREATE,
        {"input": {"eventId": c["event"]["id"], "options": _poll_options(10_000)}},
        token=organizer["token"],
    )
    assert_payload_error(huge["data"]["createDatePoll"], "TOO_MANY_OPTIONS", ["input", "options"])
    seen = await api.execute(
        "query($id: ID!) { event(id: $id) { datePoll { id } } }",
        {"id": c["event"]["id"]},
        token=organizer["token"],
    )
    assert seen["data"]["event"]["datePoll"] is None
    created = await api.execute(
        DATE_POLL_CREATE,
        {"input": {"eventId": c["event"]["id"], "options": _poll_options(2)}},
        token=organizer["token"],
    )
    poll = created["data"]["createDatePoll"]["datePoll"]
    option = poll["options"][0]["id"]
    ballot = [{"optionId": option, "choice": "YES"}] * 10_000
    flood = await api.execute(
        DATE_POLL_VOTE, {"input": {"pollId": poll["id"], "votes": ballot}}, token=organizer["token"]
    )
    assert_payload_error(flood["data"]["voteDatePoll"], "INVALID_INPUT", ["input", "votes"])
    forged = await api.execute(
        DATE_POLL_VOTE,
        {
            "input": {
                "pollId": to_base64("DatePoll", "9" * 40),
                "votes": [{"optionId": to_base64("DatePollOption", "-1"), "choice": "YES"}],
            }
        },
        token=organizer["token"],
    )
    assert_error(forged, "NOT_FOUND")
    await assert_still_serving(api)


async def test_date_poll_votes_fanned_out_by_aliases_are_refused_by_cost(
    api, accounts, events, settings
):
    c = await crew(accounts, events, 2)
    selection = (
        "event(id: $id) { datePoll { options { votes { participant { id displayName "
        "user { id username } } choice } } } }"
    )
    aliases = " ".join(f"a{i}: {selection}" for i in range(40))
    refused = await api.execute(
        "query($id: ID!) { " + aliases + " }",
        {"id": c["event"]["id"]},
        token=c["people"][0]["token"],
    )
    assert_too_complex(refused, settings)


async def test_date_poll_ballots_are_rate_limited(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    voter = c["people"][2]
    created = await api.execute(
        DATE_POLL_CREATE,
        {"input": {"eventId": c["event"]["id"], "options": _poll_options(2)}},
        token=c["people"][1]["token"],
    )
    poll = created["data"]["createDatePoll"]["datePoll"]
    ballot = {
        "pollId": poll["id"],
        "votes": [{"optionId": poll["options"][0]["id"], "choice": "NO"}],
    }
    server.deps.settings.rate_poll_vote = "3/600"
    try:
        answers = [
            (await api.execute(DATE_POLL_VOTE, {"input": ballot}, token=voter["token"]))["data"][
                "voteDatePoll"
            ]
            for _ in range(4)
        ]
    finally:
        server.deps.settings.rate_poll_vote = "60/60"
    assert [a["errors"] for a in answers[:3]] == [[], [], []]
    assert answers[3]["errors"][0]["code"] == "RATE_LIMITED"
    assert answers[3]["errors"][0]["retryAfterSeconds"] > 0


# --- chat polls (issue 18): huge option lists, voter fan-out ------------------------------------

POLL_MESSAGES = """query($id: ID!) { event(id: $id) { messages { edges { node { id } } } } }"""


async def test_a_poll_with_ten_thousand_options_is_refused_before_storing(api, accounts, events):
    c = await crew(accounts, events, 3)
    alice, eid = c["people"][2], c["event"]["id"]
    huge = {"question": "Pick one", "options": [f"option {i}" for i in range(10_000)]}
    result = await api.execute(
        SEND_POLL, {"input": {"eventId": eid, "body": "", "poll": huge}}, token=alice["token"]
    )
    assert "errors" not in result, result
    payload = result["data"]["sendMessage"]
    assert payload["message"] is None
    assert_payload_error(payload, "INVALID_INPUT", ["input", "poll", "options"])
    listed = await api.execute(POLL_MESSAGES, {"id": eid}, token=alice["token"])
    assert listed["data"]["event"]["messages"]["edges"] == []  # nothing stored

    # a vote naming thousands of options: refused whole, the poll unchanged
    sent = await api.execute(
        SEND_POLL,
        {"input": {"eventId": eid, "body": "", "poll": {**huge, "options": ["a", "b"]}}},
        token=alice["token"],
    )
    poll_id = sent["data"]["sendMessage"]["message"]["id"]
    flood = await api.execute(VOTE, {"id": poll_id, "o": ["o1"] * 10_000}, token=alice["token"])
    assert_payload_error(flood["data"]["votePoll"], "INVALID_INPUT", ["input", "optionIds"])
    seen = await api.execute(POLL_OF, {"id": poll_id}, token=alice["token"])
    assert seen["data"]["node"]["poll"]["totalVoters"] == 0
    await assert_still_serving(api)


async def test_alias_fan_out_over_poll_voters_is_refused_by_the_cost_limit(
    api, accounts, events, settings
):
    c = await crew(accounts, events, 3)
    alice, eid = c["people"][2], c["event"]["id"]
    await api.execute(
        SEND_POLL,
        {"input": {"eventId": eid, "body": "", "poll": {"question": "?", "options": ["a", "b"]}}},
        token=alice["token"],
    )
    one = (
        "event(id: $id) { messages(last: 20) { edges { node { poll { options { "
        "voters(first: 10) { username displayName } } } } } } }"
    )
    fine = await api.execute(f"query($id: ID!) {{ {one} }}", {"id": eid}, token=alice["token"])
    assert "errors" not in fine, fine
    assert fine["data"]["event"]["messages"]["edges"][0]["node"]["poll"]["options"][0] == {
        "voters": []
    }

    aliases = " ".join(f"a{i}: {one}" for i in range(30))
    refused = await api.execute(
        f"query($id: ID!) {{ {aliases} }}", {"id": eid}, token=alice["token"]
    )
    assert_too_complex(refused, settings)

    deep = one.replace("last: 20", "last: 100").replace("first: 10", "first: 100")
    assert_too_complex(
        await api.execute(f"query($id: ID!) {{ {deep} }}", {"id": eid}, token=alice["token"]),
        settings,
    )
    too_many = one.replace("first: 10", "first: 101")
    assert_error(
        await api.execute(f"query($id: ID!) {{ {too_many} }}", {"id": eid}, token=alice["token"]),
        "BAD_USER_INPUT",
    )
    await assert_still_serving(api)


# --- setEventCover: hostile ids and files (issue 18) --------------------------------------------

SET_COVER = """mutation($input: SetEventCoverInput!) { setEventCover(input: $input) {
  event { id cover { id } } errors { code field } } }"""


@pytest.mark.parametrize(
    ("media_id", "code"),
    [
        ("garbage!", "BAD_USER_INPUT"),  # not a global id: refused before the resolver
        ("A" * 20_000, "BAD_USER_INPUT"),
        (to_base64("Media", "9" * 400), "MEDIA_NOT_FOUND"),
        (to_base64("Media", "../../etc/passwd"), "MEDIA_NOT_FOUND"),
        (to_base64("User", "1"), "MEDIA_NOT_FOUND"),
        (to_base64("Media", BIG), "MEDIA_NOT_FOUND"),
    ],
    ids=["garbage", "huge", "long-hex", "path", "other-type", "big-number"],
)
async def test_a_hostile_cover_media_id_is_refused_and_changes_nothing(
    api, accounts, events, media_id, code
):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    result = await api.execute(
        SET_COVER, {"input": {"eventId": event["id"], "mediaId": media_id}}, token=owner["token"]
    )
    if code == "BAD_USER_INPUT":
        assert result["data"] is None, result
        assert [e["extensions"]["code"] for e in result["errors"]] == [code]
    else:
        assert "errors" not in result, result
        payload = result["data"]["setEventCover"]
        assert payload["event"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            (code, ["input", "mediaId"])
        ]
    seen = await api.execute(
        "query($id: ID!) { event(id: $id) { cover { id } } }",
        {"id": event["id"]},
        token=owner["token"],
    )
    assert seen["data"]["event"]["cover"] is None
    await assert_still_serving(api)


async def test_a_cover_upload_is_refused_by_its_content_before_decoding(
    api, accounts, events, server, monkeypatch
):
    owner = await accounts.user()
    event = await events.create(owner["token"])
    decoded: list[str] = []
    process = imaging.process

    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(str(path))
        return process(path, *args, **kwargs)

    monkeypatch.setattr(imaging, "process", counted)
    for name, content, declared in (
        ("cover.png", samples.pdf(), "image/png"),  # a PDF that says it is a PNG
        ("cover.png", b"\x89PNG" + b"\x00" * 100, "image/png"),  # a truncated signature
    ):
        response = await api.upload(
            SET_COVER,
            {"input": {"eventId": event["id"], "upload": None}},
            {"variables.input.upload": (name, content, declared)},
            token=owner["token"],
        )
        assert response.status_code == 200, response.text
        payload = response.json()["data"]["setEventCover"]
        assert payload["event"] is None
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("UNSUPPORTED_MEDIA_TYPE", ["input", "upload"])
        ]
    # both a media and an upload: one typed error, nothing read
    response = await api.upload(
        SET_COVER,
        {
            "input": {
                "eventId": event["id"],
                "mediaId": to_base64("Media", "0" * 24),
                "upload": None,
            }
        },
        {"variables.input.upload": ("cover.png", samples.png(), "image/png")},
        token=owner["token"],
    )
    assert [e["code"] for e in response.json()["data"]["setEventCover"]["errors"]] == [
        "INVALID_INPUT"
    ]
    assert decoded == []
    assert media_uc.files(server.deps).all_keys(MEDIA) == set()
    await assert_still_serving(api)
