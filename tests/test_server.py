"""The server itself: health, readiness, GraphiQL offline, limits, error masking, schema file."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import subprocess
import sys
import time
import weakref
from pathlib import Path

import httpx
import pytest

import resolvers.accounts as uc
from iven_gql.app import collect_periodically, create_app
from iven_gql.config import Settings
from iven_gql.extensions import build_extensions
from iven_gql.fast_path import FastJSONPost
from iven_gql.logs import JsonFormatter
from iven_gql.resources import Resources, StoreUnavailable
from schema import SDL_PATH, build_schema, export_sdl
from stores.redis import create_client
from tests.support import assert_error
from tests.support.graphql import answer_without_cost
from tests.support.live import until


async def test_healthz_and_readyz(http):
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert set(body["checks"]) == {"sql", "documents", "redis"}
    assert all(c["status"] == "ok" for c in body["checks"].values())


async def test_readyz_reports_a_dependency_down(http, server):
    deps = server.deps
    real = deps.redis
    deps.redis = create_client("redis://127.0.0.1:1/0", timeout=0.5)  # nothing listens there
    try:
        response = await http.get("/readyz")
    finally:
        await deps.redis.aclose()
        deps.redis = real
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["status"] == "down"
    assert checks["sql"]["status"] == "ok" and checks["documents"]["status"] == "ok"


async def test_graphiql_is_served_offline(http):
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "graphiql" in html.lower()
    assert "unpkg.com" not in html and "cdn." not in html and "esm.sh" not in html
    assets = re.findall(r'(?:src|href)="(/graphiql-assets/[^"]+)"', html)
    assert len(assets) >= 4
    for asset in assets:
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100


async def test_get_allows_queries_only(http, accounts):
    response = await http.get("/graphql", params={"query": "{ me { id } }"})
    assert answer_without_cost(response.json()) == {"data": {"me": None}}
    response = await http.get("/graphql", params={"query": "mutation { logout { ok } }"})
    assert response.status_code in (400, 405)


async def test_depth_limit_is_wired():

    shallow = build_schema(build_extensions(Settings(max_depth=2)))
    query = "{ myAccountActivity { edges { node { kind } } } }"
    result = await shallow.execute(query)
    assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
    deep_enough = build_schema(build_extensions(Settings(max_depth=3)))
    result = await deep_enough.execute(query)
    assert not result.errors or "depth" not in result.errors[0].message


async def test_alias_and_token_limits(api, settings):
    assert_error(await api.execute('{ node(id: "x") { id } }'), "BAD_USER_INPUT")

    aliases = " ".join(f"a{i}: __typename" for i in range(settings.max_aliases + 1))
    error = assert_error(await api.execute("{ " + aliases + " }"), "QUERY_TOO_COMPLEX")
    assert "alias" in error["message"].lower()

    many_tokens = "{" + " me{id}" * (settings.max_tokens // 4 + 10) + "}"
    assert len(many_tokens) < settings.max_document_bytes
    assert_error(await api.execute(many_tokens), "GRAPHQL_PARSE_FAILED")


async def test_document_size_and_batching(api, settings):
    huge = "{ __typename }" + " " * (settings.max_document_bytes + 1)
    response = await api.post({"query": huge})
    assert response.status_code == 413
    batch = await api.post([{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert batch.status_code == 400


async def test_syntax_and_validation_errors_have_codes(api):
    assert_error(await api.execute("{ me { "), "GRAPHQL_PARSE_FAILED")
    error = assert_error(await api.execute("{ me { nosuchfield } }"), "GRAPHQL_VALIDATION_FAILED")
    assert "nosuchfield" in error["message"]


async def test_unexpected_errors_are_masked(api, accounts, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="iven.graphql")
    user = await accounts.user()

    async def broken(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM users -- /srv/iven/stores/accounts.py")

    monkeypatch.setattr(uc, "account_activity", broken)
    result = await api.execute("{ myAccountActivity { edges { cursor } } }", token=user["token"])
    error = assert_error(result, "INTERNAL_SERVER_ERROR")
    assert error["message"] == "Internal server error."
    assert "SELECT" not in str(result) and "/srv" not in str(result)
    request_id = error["extensions"]["requestId"]
    assert any(
        getattr(r, "request_id", None) == request_id and r.levelname == "ERROR"
        for r in caplog.records
    )


async def test_operation_log_line(api, accounts, caplog):
    caplog.set_level(logging.INFO, logger="iven.graphql")
    user = await accounts.user()
    caplog.clear()
    await api.execute("query Who { me { id } }", token=user["token"])
    lines = [r for r in caplog.records if r.name == "iven.graphql" and r.msg == "operation"]
    assert lines, caplog.records
    line = lines[-1]
    assert line.operation == "Who"
    assert line.viewer_id is not None and line.duration_ms > 0
    assert len(line.request_id) == 16


async def test_me_costs_one_sql_statement(api, accounts, caplog):
    caplog.set_level(logging.INFO, logger="iven.graphql")
    user = await accounts.user()
    caplog.clear()
    result = await api.execute(
        "query Me { me { id username firstName } a: me { id } }", token=user["token"]
    )
    assert result["data"]["me"]["username"] == user["username"]
    line = [r for r in caplog.records if r.name == "iven.graphql" and r.msg == "operation"][-1]
    assert line.operation == "Me"
    assert line.statements == 1  # the session is checked in Redis; both fields share a loader


async def test_schema_file_is_current():
    assert SDL_PATH.read_text(encoding="utf-8") == export_sdl(), (
        "schema/schema.graphql is stale: "
        "run `iven-gql export-schema --output schema/schema.graphql`"
    )


async def test_start_fails_fast_naming_the_store_without_password(tmp_path):
    settings = Settings(
        database_url="mysql+aiomysql://iven:hunter2@127.0.0.1:1/iven",
        var_dir=tmp_path,
        store_connect_timeout_s=1,
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        await Resources(settings).open()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "127.0.0.1:1" in message and "hunter2" not in message and "***" in message


async def test_start_fails_fast_on_unreachable_mongodb(tmp_path):
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        var_dir=tmp_path,
        mongodb_url="mongodb://app:s3cret@127.0.0.1:1/",
        store_connect_timeout_s=1,
    )
    resources = Resources(settings)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        await resources.open()
    assert time.monotonic() - started < 6
    assert "MongoDB" in str(info.value) and "s3cret" not in str(info.value)
    await resources.deps.db.close() if resources.deps else None


def test_production_refuses_defaults():
    with pytest.raises(ValueError) as info:
        Settings(env="production")
    message = str(info.value)
    assert "IVEN_JWT_SECRET" in message and "IVEN_MONGODB_URL" in message
    ok = Settings(
        env="production",
        jwt_secret="x" * 40,
        mongodb_url="mongodb://db/",
        redis_url="redis://r/",
        database_url="mysql+aiomysql://u@h/db",
        public_url="https://api.example.com",
    )
    assert ok.is_production and not ok.migrate_on_start


async def test_broadcast_delivers_between_clients(server):
    """Two subscribers on the shared Broadcast both receive a publish."""
    deps = server.deps
    async with (
        deps.broadcast.subscribe("iven:test:chan") as q1,
        deps.broadcast.subscribe("iven:test:chan") as q2,
    ):
        await deps.broadcast.publish("iven:test:chan", {"n": 1})
        assert await asyncio.wait_for(q1.get(), 2) == {"n": 1}
        assert await asyncio.wait_for(q2.get(), 2) == {"n": 1}


async def test_field_suggestions_off_in_production():

    dev = build_schema(build_extensions(Settings()))
    prod = build_schema(build_extensions(Settings()), disable_field_suggestions=True)
    query = "{ me { usernam } }"
    dev_errors = (await dev.execute(query)).errors
    prod_errors = (await prod.execute(query)).errors
    assert dev_errors is not None and prod_errors is not None
    assert "Did you mean" in dev_errors[0].message
    assert "Did you mean" not in prod_errors[0].message


async def test_request_id_header(http):
    response = await http.post("/graphql", json={"query": "{ __typename }"})
    assert len(response.headers["x-request-id"]) == 16


def test_json_log_lines():

    record = logging.LogRecord("iven.graphql", logging.INFO, __file__, 1, "operation", None, None)
    record.request_id = "abc"
    record.duration_ms = 1.5
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "operation" and line["request_id"] == "abc"
    assert line["duration_ms"] == 1.5 and line["level"] == "info" and "ts" in line


async def test_cors_allows_configured_origins_only():

    app = create_app(Settings(cors_origins=["https://app.example"]))
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://iven.test"
    ) as client:
        ok = await client.options(
            "/graphql", headers={"origin": "https://app.example", **preflight}
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        evil = await client.options(
            "/graphql", headers={"origin": "https://evil.example", **preflight}
        )
        assert evil.status_code == 403
        assert evil.json()["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
        assert "access-control-allow-origin" not in evil.headers


async def test_malformed_requests_get_400_without_details(http):
    bodies = [
        b"{not json",
        b'"a string"',
        b'{"query": 5}',
        b'{"query": "{ me { id } }", "variables": [1]}',
        b'{"query": "{ __typename }", "operationName": 3}',
    ]
    for body in bodies:
        response = await http.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, body
        assert "Traceback" not in response.text and "/work" not in response.text
    ok = await http.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert answer_without_cost(ok.json()) == {"data": {"__typename": "Query"}}


async def test_post_edge_cases(api):
    subscription = await api.post({"query": "subscription { sessionStatus }"})
    assert subscription.status_code == 400
    missing = await api.post({"variables": {}})
    assert missing.status_code == 400 and "No GraphQL query" in missing.text
    unknown_op = await api.post({"query": "query A { __typename }", "operationName": "B"})
    assert unknown_op.status_code == 400


async def test_repeated_documents_keep_every_rule_and_pick_the_named_operation(api, accounts):
    """The POST path runs documents it validated before without the extension: limits still
    apply every time, named operations are picked, and errors keep their codes."""
    user = await accounts.user()
    many = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }"  # 30 aliases max
    for _ in range(2):  # rejected the second time too (invalid documents are never kept)
        assert_error(await api.execute(many, token=user["token"]), "QUERY_TOO_COMPLEX")
    fewer = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(30)) + " }"
    for _ in range(2):
        assert (await api.execute(fewer, token=user["token"]))["data"]["a29"]["id"] == user["id"]
    two = "query A { me { id } } query B { me { username } }"
    for _ in range(2):
        a = await api.post({"query": two, "operationName": "A"}, token=user["token"])
        b = await api.post({"query": two, "operationName": "B"}, token=user["token"])
        assert answer_without_cost(a.json()) == {"data": {"me": {"id": user["id"]}}}
        assert answer_without_cost(b.json()) == {"data": {"me": {"username": user["username"]}}}
    for _ in range(2):
        anonymous = await api.execute("query Mine { myEvents { edges { node { id } } } }")
        assert_error(anonymous, "UNAUTHENTICATED")


def test_only_requests_without_origin_skip_the_middleware():

    fast = FastJSONPost.__new__(FastJSONPost)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [(b"content-type", b"application/json")],
    }
    assert fast.takes_directly(scope)
    with_origin = {**scope, "headers": [*scope["headers"], (b"origin", b"https://app.example")]}
    assert not fast.takes_directly(with_origin)  # CORS headers come from the middleware
    assert not fast.takes_directly({**scope, "path": "/healthz"})
    assert not fast.takes_directly({**scope, "method": "GET"})


PASSWORD_CHECKS = """
import asyncio, sys
from pathlib import Path
from iven_gql.app import tune_malloc
from iven_gql.auth import Passwords

def rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

async def main():
    tuned = tune_malloc() if sys.argv[1] == "tuned" else True
    passwords = Passwords(2, 19 * 1024, 1)
    stored = await passwords.hash("correct horse")
    before = rss_kb()
    for _ in range(2):  # the default executor's threads (6 on two cores) each check at once
        await asyncio.gather(*(passwords.verify(stored, "battery") for _ in range(6)))
    print(tuned, (rss_kb() - before) // 1024)

asyncio.run(main())
"""


def test_password_checks_give_their_memory_back():
    """Each argon2 check uses a 19 MiB buffer on a worker thread; with glibc's default dynamic
    mmap threshold every thread kept one resident (+~20 MB per thread, never released:
    bench/bench_soak.py). The server fixes the threshold at start (tune_malloc)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc: RSS not readable")
    run = subprocess.run(
        [sys.executable, "-c", PASSWORD_CHECKS, "tuned"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    tuned, growth_mb = run.stdout.split()
    if tuned != "True":
        pytest.skip("not glibc: nothing to tune")
    assert int(growth_mb) < 40, run.stdout


class Cycle:
    other: Cycle | None = None


async def test_old_garbage_is_collected_on_a_clock():
    """Cyclic garbage that reached the oldest generation (alive during two collections, as a
    request in flight can be) is collected by the periodic full collection, not only when
    millions of allocations have reached the thresholds."""
    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    gc.collect(1)  # survivors move to the oldest generation
    gone = weakref.ref(a)
    del a, b
    collector = asyncio.create_task(collect_periodically(0.01, full_every=3))

    async def collected() -> bool:
        return gone() is None

    try:
        await until(collected, "the cycle collected")
    finally:
        collector.cancel()
