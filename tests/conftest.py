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
import re
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
from resolvers import accounts as accounts_uc
from resolvers import event_content
from resolvers.accounts import user_cache
from resolvers.background import drain_background
from resolvers.deps import Deps
from tests.support import GraphQLClient, MailBox
from tests.support.stores import store_writes

BACKEND = os.environ.get("IVEN_TEST_BACKEND", "embedded")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def pytest_report_header(config: pytest.Config) -> str:
    return f"iven backend set: {BACKEND}"


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
        # a busy two-core machine can be 5x slower than usual: the default 5 s to reach the stores
        # at start-up (the embedded briskdb listener included) is too short there
        "store_connect_timeout_s": 30.0,
    }
    if BACKEND == "services":
        mysql = os.environ.get("IVEN_TEST_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306")
        # a database of its own per run and worker, dropped at the end (runs may overlap)
        name = f"iven_test_{WORKER}_{os.getpid()}"
        values["database_url"] = await _fresh_mysql_database(mysql, name)
        request.addfinalizer(lambda: _drop_later.append((mysql, name)))
        values["redis_url"] = os.environ.get("IVEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    elif BACKEND == "embedded":
        values["database_url"] = f"sqlite+aiosqlite:///{root / 'iven.db'}"
    else:
        raise pytest.UsageError(f"unknown IVEN_TEST_BACKEND={BACKEND!r}")
    mongo = os.environ.get("IVEN_TEST_MONGODB_URL")
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


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
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
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    errors = _StartupErrors()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(errors)
    try:
        task = asyncio.create_task(_serve(server))
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
    return GraphQLClient(http, server.ws_url)


CODE_RE = re.compile(r"\b(\d{6})\b")


class Accounts:
    """Factories: one line to get a confirmed, signed-in user."""

    def __init__(self, api: GraphQLClient, mailbox: MailBox, deps: Deps) -> None:
        self.api = api
        self.mailbox = mailbox
        self.deps = deps
        self.count = 0

    async def register(
        self,
        username: str | None = None,
        email: str | None = None,
        password: str = "correct-horse-9",
        **extra: Any,
    ) -> dict[str, Any]:
        self.count += 1
        username = username or f"user{self.count}_{uuid.uuid4().hex[:6]}"
        email = email or f"{username}@example.com"
        result = await self.api.execute(
            """mutation($input: RegisterInput!) { register(input: $input) {
                 user { id username } errors { code field message } } }""",
            {
                "input": {
                    "username": username,
                    "email": email,
                    "password": password,
                    "firstName": extra.get("first_name", "Test"),
                    "lastName": extra.get("last_name", "User"),
                }
            },
        )
        payload = result["data"]["register"]
        assert payload["errors"] == [], payload
        return {
            "username": username,
            "email": email.lower(),
            "password": password,
            "id": payload["user"]["id"],
        }

    async def code_for(self, email: str, subject: str = "confirmation code", count: int = 1) -> str:
        mail = await self.mailbox.wait_for(email, subject, count=count)
        match = CODE_RE.search(mail["body"])
        assert match, mail["body"]
        return match.group(1)

    async def confirm(self, email: str) -> dict[str, Any]:
        code = await self.code_for(email)
        result = await self.api.execute(
            """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
                 accessToken refreshToken expiresAt user { id username } errors { code } } }""",
            {"input": {"email": email, "code": code}},
        )
        payload = result["data"]["confirmEmail"]
        assert payload["errors"] == [], payload
        return payload  # type: ignore[no-any-return]

    async def user(self, **kwargs: Any) -> dict[str, Any]:
        """A confirmed user with a signed-in session: ids, credentials and tokens."""
        account = await self.register(**kwargs)
        auth = await self.confirm(account["email"])
        return {**account, "token": auth["accessToken"], "refresh": auth["refreshToken"]}

    async def admin(self, **kwargs: Any) -> dict[str, Any]:
        """A signed-in admin (a confirmed user promoted like `iven-gql create-admin` does)."""
        account = await self.user(**kwargs)
        await accounts_uc.create_admin(
            self.deps, email=account["email"], username=account["username"], password="unused"
        )
        return account

    async def login(self, email: str, password: str, user_agent: str = "pytest") -> dict[str, Any]:
        result = await self.api.execute(
            """mutation($input: LoginInput!) { login(input: $input) {
                 accessToken refreshToken expiresAt user { id }
                 errors { code field message retryAfterSeconds } } }""",
            {"input": {"email": email, "password": password}},
            headers={"user-agent": user_agent},
        )
        return result["data"]["login"]  # type: ignore[no-any-return]


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


EVENT_FIELDS = """id title description startsAt endsAt timezone status visibility capacity currency
  version viewerRole participantCount location { name address latitude longitude }
  owner { id username } viewerParticipation { id role rsvp }"""


class Events:
    """Factories for events and membership, through the API."""

    def __init__(self, api: GraphQLClient) -> None:
        self.api = api

    async def create(self, token: str, **over: Any) -> dict[str, Any]:
        data = {
            "title": "Picnic",
            "startsAt": "2030-06-01T12:00:00+02:00",
            "endsAt": "2030-06-01T18:00:00+02:00",
            "currency": "EUR",
            "timezone": "Europe/Paris",
        }
        data.update(over)
        result = await self.api.execute(
            f"""mutation($input: CreateEventInput!) {{ createEvent(input: $input) {{
                 event {{ {EVENT_FIELDS} }} errors {{ code field message }} }} }}""",
            {"input": data},
            token=token,
        )
        payload = result["data"]["createEvent"]
        assert payload["errors"] == [], payload
        return payload["event"]  # type: ignore[no-any-return]

    async def link(self, token: str, event_id: str, **over: Any) -> str:
        result = await self.api.execute(
            """mutation($input: CreateInviteLinkInput!) { createInviteLink(input: $input) {
                 token errors { code } } }""",
            {"input": {"eventId": event_id, **over}},
            token=token,
        )
        payload = result["data"]["createInviteLink"]
        assert payload["errors"] == [], payload
        return payload["token"]  # type: ignore[no-any-return]

    async def join(self, token: str, link: str) -> dict[str, Any]:
        result = await self.api.execute(
            """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
                 participant { id role state } errors { code } } }""",
            {"t": link},
            token=token,
        )
        return result["data"]["joinWithInviteLink"]  # type: ignore[no-any-return]

    async def add(
        self, owner_token: str, event_id: str, user: dict[str, Any], role: str = "PARTICIPANT"
    ) -> str:
        """Adds `user` to the event with `role`; returns their participant id."""
        link = await self.link(owner_token, event_id, role=role)
        payload = await self.join(user["token"], link)
        assert payload["errors"] == [], payload
        return payload["participant"]["id"]  # type: ignore[no-any-return]


@pytest.fixture
def events(api: GraphQLClient) -> Events:
    return Events(api)


async def cold_caches(deps: Deps) -> None:
    """Empties the read caches (per-process and Redis), to count statements on the cold path."""
    user_cache(deps)._entries.clear()
    event_content.clear_all(deps)
    keys = [k async for k in deps.redis.scan_iter(match="iven:cache:*")]
    if keys:
        await deps.redis.delete(*keys)
