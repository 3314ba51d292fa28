"""Backends, a real server (uvicorn on a loopback port), captured mail, clients and factories.

The backend set comes from the environment:
- embedded (default): SQLite + briskdb listener started by the app + in-process Redis;
- services (IVEN_TEST_BACKEND=services): MariaDB/MySQL at IVEN_TEST_MYSQL_URL, Redis at
  IVEN_TEST_REDIS_URL, documents at IVEN_TEST_MONGODB_URL (a briskdb listener in CI).
IVEN_TEST_MONGODB_URL alone switches the document store to that server (e.g. a real MongoDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from iven_gql.app import create_app
from iven_gql.config import Settings
from iven_gql.protocol import server_options
from resolvers import event_content
from resolvers.accounts import user_cache
from resolvers.core.background import drain_background
from resolvers.core.deps import Deps
from tests.factories import Accounts, Events
from tests.support import GraphQLClient, MailBox
from tests.support.stores import store_writes

BACKEND = os.environ.get("IVEN_TEST_BACKEND", "embedded")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_INDEX = int(WORKER.removeprefix("gw") or 0)


def _worker_redis_url(base: str) -> str:
    """The Redis database of this worker: the given one for the first, the ones below it for
    the others (each test empties its worker's database)."""
    head, _, query = base.partition("?")
    root, _, db = head.rstrip("/").rpartition("/")
    if not db.isdigit() or "//" not in root:  # no database in the URL: 15 and below
        root, db = head.rstrip("/"), "15"
    index = int(db) - WORKER_INDEX
    if index < 0:
        raise pytest.UsageError(f"not enough Redis databases below {db} for worker {WORKER}")
    url = f"{root}/{index}"
    return f"{url}?{query}" if query else url


def pytest_report_header(config: pytest.Config) -> str:
    return f"iven backend set: {BACKEND}"


def _worker_mongodb_url(urls: str) -> str:
    """IVEN_TEST_MONGODB_URL is one URL (a real MongoDB serves every worker) or several separated
    by spaces, worker N taking the Nth modulo their number: a briskdb listener accepts only 8
    connections, so CI gives each worker one of its own."""
    choices = urls.split()
    return choices[WORKER_INDEX % len(choices)] if choices else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fresh_mysql_database(base_url: str, name: str) -> str:
    engine = create_async_engine(base_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    await engine.dispose()
    head, _, query = base_url.partition("?")
    url = f"{head.rstrip('/')}/{name}"
    return f"{url}?{query}" if query else url


_drop_later: list[tuple[str, str]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drops the MySQL databases the run created."""

    async def drop() -> None:
        for base, name in _drop_later:
            engine = create_async_engine(base)
            async with engine.begin() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            await engine.dispose()

    if _drop_later:
        asyncio.run(drop())


@pytest.fixture(scope="session")
def mailbox() -> Any:
    box = MailBox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture(scope="session")
async def settings(
    tmp_path_factory: pytest.TempPathFactory, mailbox: MailBox, request: pytest.FixtureRequest
) -> Settings:
    root = tmp_path_factory.mktemp("iven")
    values: dict[str, Any] = {
        "var_dir": root / "var",
        "uploads_dir": root / "uploads",
        "smtp_url": f"smtp://127.0.0.1:{mailbox.port}",
        "public_url": "http://iven.test",
        "jwt_secret": "test-secret-" + uuid.uuid4().hex,
        "mongodb_database": f"iven_test_{WORKER}_{uuid.uuid4().hex[:8]}",
        "rate_register_ip": "1000/3600",
        "rate_login_ip": "1000/900",
        "rate_reset_ip": "1000/3600",
        # every test shares the client address 127.0.0.1 (and user ids come back once emptied)
        "cost_budget_per_minute": 1_000_000_000,
        "new_document_bytes_per_minute": 1_000_000_000,
        # a busy two-core machine can be 5x slower than usual: the default 5 s to reach the stores
        # at start-up (the embedded briskdb listener included) is too short there
        "store_connect_timeout_s": 60.0,
    }
    if BACKEND == "services":
        mysql = os.environ.get("IVEN_TEST_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306")
        # a database of its own per run and worker, dropped at the end (runs may overlap)
        name = f"iven_test_{WORKER}_{os.getpid()}"
        values["database_url"] = await _fresh_mysql_database(mysql, name)
        request.addfinalizer(lambda: _drop_later.append((mysql, name)))
        values["redis_url"] = _worker_redis_url(
            os.environ.get("IVEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        )
        # pub/sub crosses Redis databases: each worker of each run hears only its own broadcasts
        values["redis_channel_namespace"] = f"iven-test-{WORKER}-{os.getpid()}"
    elif BACKEND == "embedded":
        values["database_url"] = f"sqlite+aiosqlite:///{root / 'iven.db'}"
    else:
        raise pytest.UsageError(f"unknown IVEN_TEST_BACKEND={BACKEND!r}")
    mongo = _worker_mongodb_url(os.environ.get("IVEN_TEST_MONGODB_URL", ""))
    if mongo:
        values["mongodb_url"] = mongo
    elif BACKEND == "services":
        raise pytest.UsageError("the services backend set needs IVEN_TEST_MONGODB_URL")
    return Settings(**values)


class RunningServer:
    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/graphql"

    @property
    def deps(self) -> Deps:
        return self.app.state.deps  # type: ignore[no-any-return]


# generous: a loaded two-core machine can be 5x slower than usual (migrations, briskdb start)
SERVER_START_DEADLINE_S = 120.0


class _StartupErrors(logging.Handler):
    """Keeps what uvicorn logs as errors while the server starts (a failed lifespan startup is
    logged there, not raised), so a start-up failure shows its cause."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exit_:  # a failed start-up; a SystemExit would stop the whole event loop
        raise RuntimeError(f"uvicorn exited with status {exit_.code}") from None


async def _wait_started(
    server: uvicorn.Server, task: asyncio.Task[None], errors: _StartupErrors
) -> None:
    deadline = time.monotonic() + SERVER_START_DEADLINE_S
    while not server.started:
        if task.done():
            # a failed lifespan start-up ends serve() with SystemExit; its cause is in the log
            failure = None if task.cancelled() else task.exception()
            raise RuntimeError(
                "the test server stopped during start-up:\n" + "\n".join(errors.lines)
            ) from failure
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(
                f"the test server did not start within {SERVER_START_DEADLINE_S:.0f} s:\n"
                + "\n".join(errors.lines)
            )
        await asyncio.wait({task}, timeout=0.02)


async def start_server(
    settings: Settings,
) -> tuple[RunningServer, uvicorn.Server, asyncio.Task[None]]:
    app = create_app(settings)
    # bound here and handed over: a port picked free and bound later can be taken in between by
    # anything else on a shared machine
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        lifespan="on",
        **server_options(settings),  # the transport limits of `iven-gql serve`
    )
    server = uvicorn.Server(config)
    errors = _StartupErrors()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(errors)
    try:
        task = asyncio.create_task(_serve(server, sock))
        await _wait_started(server, task, errors)
    finally:
        uvicorn_log.removeHandler(errors)
    return RunningServer(app, port), server, task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 15)


@pytest.fixture(scope="session")
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    running, server, task = await start_server(settings)
    yield running
    await stop_server(server, task)


@pytest.fixture(autouse=True)
async def _isolated(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts from empty stores; order never matters."""
    if "server" not in request.fixturenames:
        yield
        return
    running: RunningServer = request.getfixturevalue("server")
    mailbox: MailBox = request.getfixturevalue("mailbox")
    await store_writes.reset(running.deps)
    mailbox.clear()
    yield
    await drain_background()


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        yield client


@pytest.fixture
async def api(http: httpx.AsyncClient, server: RunningServer) -> GraphQLClient:
    return GraphQLClient(http, server.ws_url, server)


@pytest.fixture
def accounts(api: GraphQLClient, mailbox: MailBox, server: RunningServer) -> Accounts:
    return Accounts(api, mailbox, server.deps)


class FakeClock:
    """The server's notion of "now" for time rules (scheduled publication), moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(server: RunningServer) -> Iterator[FakeClock]:
    original = server.deps.clock
    fake = server.deps.clock = FakeClock()
    yield fake
    server.deps.clock = original


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def events(api: GraphQLClient, server: RunningServer) -> Events:
    return Events(api, server.deps)


async def cold_caches(deps: Deps) -> None:
    """Empties the read caches (per-process and Redis), to count statements on the cold path."""
    user_cache(deps)._entries.clear()
    event_content.clear_all(deps)
    keys = [k async for k in deps.redis.scan_iter(match="iven:cache:*")]
    if keys:
        await deps.redis.delete(*keys)
