"""What every bench shares: servers as processes, the stores they run on, environments, seeding
through the API, load generation (wrk or an asyncio client) and the printed report.

A bench script is a scenario: it parses its options, prepares its stores with `Services` (or
`documents_url` for the in-process ones), starts `Server`s, seeds through `Api` /
`register_user`, measures with `measure` (HTTP load) or its own client loop, and prints with
`print_header` / `print_results` and the percentile helpers. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from stores.mongo import EmbeddedListener

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
WARMUP_S = 2
DEFAULT_MYSQL_URL = os.environ.get("IVEN_BENCH_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306")


class BenchAbort(Exception):
    """A condition that makes the measurement meaningless: reported, then exit 1."""


# --------------------------------------------------------------------------- data


@dataclass
class Target:
    key: str  # what the scenario calls it (plain, iven, cached...)
    label: str
    loop: str
    url: str
    body: bytes
    headers: dict[str, str]
    expect: str  # substring every good response body contains


@dataclass
class Result:
    key: str
    label: str
    loop: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int = 0
    socket_errors: int = 0
    bad: int = 0
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- HTTP helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_post(
    url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0
) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def graphql(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One blocking GraphQL request; any error aborts the bench."""
    payload = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, raw = http_post(url, payload, headers or {}, timeout=30.0)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BenchAbort(
            f"POST {url} answered {status} with a non-JSON body: {raw[:500]!r}"
        ) from None
    if status != 200 or doc.get("errors"):
        raise BenchAbort(f"POST {url} answered {status}: {json.dumps(doc)[:1000]}")
    return dict(doc["data"])


class Api:
    """Async GraphQL client for seeding and scenario requests (httpx), at most `concurrency`
    requests in flight; `requests` counts them."""

    def __init__(self, url: str, concurrency: int | None = None, label: str = "api") -> None:
        self.url = url
        self.label = label
        self.client = httpx.AsyncClient(timeout=60)
        self.sem = asyncio.Semaphore(concurrency or 1_000_000)
        self.requests = 0

    async def gql(
        self,
        query: str,
        variables: dict[str, Any],
        token: str | None = None,
        key: str | None = None,
    ) -> Any:
        """The answer's data (or its `key` payload); errors, top-level or in the payload, abort."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.sem:
            resp = await self.client.post(
                self.url, json={"query": query, "variables": variables}, headers=headers
            )
        self.requests += 1
        try:
            doc = resp.json()
        except ValueError:
            raise BenchAbort(
                f"{self.label}: HTTP {resp.status_code}, non-JSON answer: {resp.text[:1000]}"
            ) from None
        if resp.status_code != 200 or doc.get("errors"):
            raise BenchAbort(
                f"{self.label}: HTTP {resp.status_code}: {json.dumps(doc)[:1500]}\n"
                f"query: {query.strip()[:300]}\nvariables: {variables}"
            )
        data = doc["data"]
        if key is not None:
            data = data[key]
            if data.get("errors"):
                raise BenchAbort(f"{self.label}: {key} failed: {data['errors']}\n{variables}")
        return data

    async def aclose(self) -> None:
        await self.client.aclose()


# --------------------------------------------------------------------------- accounts


def read_code(outbox: Path, address: str, timeout: float = 20.0) -> str:
    """The confirmation code of the newest mail to `address` in the server's outbox."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address not in str(msg.get("To", "")):
                continue
            part = msg.get_body(preferencelist=("plain",)) or msg
            match = re.search(r"code is (\d{6})", part.get_content())  # type: ignore[union-attr]
            if match:
                return match.group(1)
        time.sleep(0.2)
    raise BenchAbort(
        f"no confirmation mail for {address} in {outbox} after {timeout:.0f} s "
        f"(files: {[p.name for p in outbox.glob('*')] if outbox.exists() else 'none'})"
    )


REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
  user { id } errors { field code message } } }"""
CONFIRM = """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
  accessToken errors { code message } } }"""


@dataclass
class NewUser:
    username: str
    email: str
    password: str
    first_name: str
    last_name: str


async def register_user(
    api: Api, outbox: Path, user: NewUser, lock: asyncio.Lock | None = None
) -> str:
    """`register`, the code from the outbox, `confirmEmail`: the new user's access token.
    With `lock`, one registration at a time (concurrent ones deadlocked on MariaDB)."""
    async with lock or contextlib.nullcontext():
        await api.gql(
            REGISTER,
            {
                "input": {
                    "username": user.username,
                    "email": user.email,
                    "password": user.password,
                    "firstName": user.first_name,
                    "lastName": user.last_name,
                }
            },
            key="register",
        )
    code = await asyncio.to_thread(read_code, outbox, user.email)
    auth = await api.gql(
        CONFIRM, {"input": {"email": user.email, "code": code}}, key="confirmEmail"
    )
    if not auth["accessToken"]:
        raise BenchAbort(f"{api.label}: no access token for {user.email}: {auth}")
    return str(auth["accessToken"])


async def seed_event_with_members(
    api: Api, outbox: Path, users: int, prefix: str, password: str
) -> tuple[str, list[str]]:
    """`users` registered users (one at a time) and one event of user 0 that all joined as
    participants: the event id and the users' tokens."""
    suffix = secrets.token_hex(3)
    tokens = []
    for i in range(users):
        user = NewUser(
            f"{prefix}_{suffix}_{i}",
            f"{prefix}-{suffix}-{i}@example.com",
            password,
            prefix.capitalize(),
            f"User {i}",
        )
        tokens.append(await register_user(api, outbox, user))
    created = await api.gql(
        """mutation($input: CreateEventInput!) { createEvent(input: $input) {
      event { id } errors { code field message } } }""",
        {
            "input": {
                "title": f"{prefix.capitalize()} bench",
                "startsAt": "2031-06-01T10:00:00+00:00",
                "endsAt": "2031-06-02T10:00:00+00:00",
                "currency": "EUR",
                "timezone": "UTC",
            }
        },
        tokens[0],
        "createEvent",
    )
    event_id = str(created["event"]["id"])
    link = await api.gql(
        """mutation($input: CreateInviteLinkInput!) { createInviteLink(
      input: $input) { token errors { code } } }""",
        {"input": {"eventId": event_id, "role": "PARTICIPANT"}},
        tokens[0],
        "createInviteLink",
    )
    for token in tokens[1:]:
        await api.gql(
            """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
          participant { id } errors { code } } }""",
            {"t": link["token"]},
            token,
            "joinWithInviteLink",
        )
    return event_id, tokens


# --------------------------------------------------------------------------- servers


class Server:
    """A server process (its own session, output to a log file), stopped with SIGINT."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            text_lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(text_lines[-lines:])

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchAbort(
                f"{self.name} exited with code {self.proc.returncode} before "
                f"answering.\ncommand: {' '.join(self.argv)}\n"
                f"--- output ({self.log_path}) ---\n{self.log_tail()}"
            )

    def wait_ready(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
        """Ready when any HTTP answer comes back (uvicorn binds after the lifespan started)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                http_post(url, body, headers, timeout=2.0)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.2)
        raise BenchAbort(
            f"{self.name} did not answer within {timeout:.0f} s.\n"
            f"--- output ({self.log_path}) ---\n{self.log_tail()}"
        )

    def wait_port(self, port: int, timeout: float = 30.0) -> None:
        """Ready when the port accepts a connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise BenchAbort(
            f"{self.name} is not listening on {port} after {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this script created for it
            proc.wait(timeout=5)


def iven_command() -> list[str]:
    beside = Path(PY).with_name("iven-gql")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("iven-gql")
    return [found] if found else [PY, "-m", "iven_gql.cli"]


def iven_server(
    name: str, port: int, env: dict[str, str], cwd: Path, log_path: Path, *options: str
) -> Server:
    """`iven-gql serve` on 127.0.0.1:port (one worker), with extra `options`."""
    argv = [*iven_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *options]
    return Server(name, argv, env, cwd, log_path)


def baseline_server(module: str, port: int, log_path: Path) -> Server:
    """bench/<module>.py's `app` under uvicorn: one worker, asyncio, httptools."""
    argv = [
        *(PY, "-m", "uvicorn", f"bench.{module}:app"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--loop", "asyncio", "--http", "httptools", "--no-access-log"),
        *("--log-level", "warning"),
    ]
    return Server(module, argv, dict(os.environ), ROOT, log_path)


def briskdb_listener(port: int, data: Path, cwd: Path, log_path: Path) -> Server:
    """A standalone briskdb MongoDB listener (`iven-gql briskdb`)."""
    argv = [*iven_command(), "briskdb", "--host", "127.0.0.1", "--port", str(port)]
    return Server("briskdb listener", [*argv, "--data", str(data)], dict(os.environ), cwd, log_path)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- stores


def sql_url(base: str, database: str) -> str:
    head, _, query = base.partition("?")
    url = f"{head.rstrip('/')}/{database}"
    return f"{url}?{query}" if query else url


def recreate_database(base_url: str, name: str, create: bool = True) -> None:
    """Drops the database `name` on the server `base_url`, then creates it (unless not `create`)."""

    async def run() -> None:
        engine = create_async_engine(base_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                if create:
                    await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except Exception as exc:  # reported, not a traceback
        raise BenchAbort(
            f"cannot {'re' if create else 'drop '}create database {name!r} on "
            f"{base_url}: {type(exc).__name__}: {exc}"
        ) from exc


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        raise BenchAbort(f"cannot flush Redis {url}: {exc}") from exc
    finally:
        client.close()


@dataclass
class Services:
    """The stores of `iven-gql serve` processes: a fresh MySQL database, a flushed Redis db and
    a briskdb listener on a free port. `open()` prepares them, `close()` stops the listener and
    (unless `keep`) drops the database and, with `flush_after`, flushes Redis again."""

    name: str  # the bench's name, for messages
    mysql_url: str
    database: str
    redis_url: str
    tmp: Path
    pool_size: int = 4
    flush_after: bool = True
    listener: Server | None = None
    mongo_port: int = 0
    database_made: bool = False

    @property
    def database_url(self) -> str:
        return sql_url(self.mysql_url, self.database)

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/?maxPoolSize={self.pool_size}"

    def open(self) -> None:
        recreate_database(self.mysql_url, self.database)
        self.database_made = True
        flush_redis(self.redis_url)
        self.mongo_port = free_port()
        self.listener = briskdb_listener(
            self.mongo_port, self.tmp / "briskdb", self.tmp, self.tmp / "briskdb.log"
        )
        self.listener.start()
        self.listener.wait_port(self.mongo_port)

    def env(self, var_dir: Path | None = None, **settings: str) -> dict[str, str]:
        """The server's environment: this one's, on these stores, mails to the outbox (no
        SMTP), migrations on start; `settings` are more IVEN_ variables (without the prefix)."""
        var = var_dir or self.tmp / "var"
        env = dict(os.environ)
        env.pop("IVEN_SMTP_URL", None)  # codes are read from the outbox
        env.update(
            {
                "IVEN_DATABASE_URL": self.database_url,
                "IVEN_REDIS_URL": self.redis_url,
                "IVEN_MONGODB_URL": self.mongodb_url,
                "IVEN_VAR_DIR": str(var),
                "IVEN_UPLOADS_DIR": str(self.tmp / "uploads"),
                "IVEN_RUN_MIGRATIONS_ON_START": "true",
            }
        )
        env.update({f"IVEN_{key}": value for key, value in settings.items()})
        var.mkdir(parents=True, exist_ok=True)
        (self.tmp / "uploads").mkdir(exist_ok=True)
        return env

    def close(self, keep: bool) -> None:
        if self.listener is not None:
            self.listener.stop()
        if keep or not self.database_made:
            return
        cleanups: list[Callable[[], None]] = [
            lambda: recreate_database(self.mysql_url, self.database, create=False)
        ]
        if self.flush_after:
            cleanups.append(lambda: flush_redis(self.redis_url))
        for cleanup in cleanups:
            try:
                cleanup()
            except BenchAbort as exc:
                print(f"{self.name}: {exc}", file=sys.stderr)


def add_store_options(p: argparse.ArgumentParser, database: str, redis_db: int) -> None:
    """--mysql-url, --database, --redis-url (defaults from IVEN_BENCH_MYSQL_URL/_REDIS_URL)."""
    redis_url = os.environ.get("IVEN_BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}")
    p.add_argument(
        "--mysql-url",
        default=DEFAULT_MYSQL_URL,
        help="server URL without a database (mysql+aiomysql://root@127.0.0.1:3306)",
    )
    p.add_argument("--database", default=database, help=f"database to (re)create ({database})")
    p.add_argument(
        "--redis-url",
        default=redis_url,
        help=f"Redis database, flushed first (redis://127.0.0.1:6379/{redis_db})",
    )


@contextlib.contextmanager
def documents_url(url: str | None, data: Path, pool_size: int | None = None) -> Iterator[str]:
    """`url`, or an embedded briskdb listener in this process for the time of the block."""
    if url is not None:
        yield url
        return
    listener = (
        EmbeddedListener.start(data)
        if pool_size is None
        else EmbeddedListener.start(data, pool_size=pool_size)
    )
    try:
        yield listener.url
    finally:
        listener.close()


def work_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --------------------------------------------------------------------------- server's log


def operation_lines(log_path: Path, offset: int) -> list[dict[str, Any]]:
    """The server's JSON `operation` log lines (logger iven.graphql) written after `offset`."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read().decode(errors="replace")
    except OSError:
        return []
    lines = []
    for line in chunk.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "iven.graphql" and entry.get("msg") == "operation":
            lines.append(entry)
    return lines


def logged_post(
    target: Target, log_path: Path, operation: str
) -> tuple[int, bytes, dict[str, Any] | None]:
    """One request; its answer and the server's operation log line for it (None if none came)."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    status, raw = http_post(target.url, target.body, target.headers, timeout=30)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        found = [e for e in operation_lines(log_path, offset) if e.get("operation") == operation]
        if found:
            return status, raw, found[-1]
        time.sleep(0.05)
    return status, raw, None


def server_errors(log_path: Path, limit: int = 3, tail: int = 900) -> str:
    """The last error entries of the server's JSON log (exception tails), for an abort message."""
    entries = []
    try:
        content = log_path.read_text(errors="replace")
    except OSError:
        return ""
    for line in content.splitlines():
        if line.startswith("{") and '"level": "error"' in line:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            exc = entry.get("exc", "")
            entries.append(
                f"[{entry.get('request_id', '-')}] {entry.get('msg')}: ...{exc[-tail:]}"
                if exc
                else line[:tail]
            )
    return "\n".join(entries[-limit:])


def with_server_errors(exc: BenchAbort, log_path: Path) -> BenchAbort:
    errors = server_errors(log_path)
    return BenchAbort(
        f"{exc}\n--- server errors ({log_path}) ---\n{errors}" if errors else str(exc)
    )


# --------------------------------------------------------------------------- load: wrk


def lua_string(value: str) -> str:
    level = "="
    while f"]{level}]" in value:
        level += "="
    return f"[{level}[{value}]{level}]"


def wrk_script(target: Target) -> str:
    headers = "\n".join(
        f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}"
        for k, v in {"Content-Type": "application/json", **target.headers}.items()
    )
    return f"""
wrk.method = "POST"
wrk.body = {lua_string(target.body.decode())}
{headers}
local expect = {lua_string(target.expect)}
local threads = {{}}
bad = 0
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d non2xx=%d " ..
    "connect=%d read=%d write=%d timeout=%d bad=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout, b))
end
"""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS[unit]


def _parse_done_line(line: str, target: Target) -> Result:
    f = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
    seconds = f["duration_us"] / 1e6
    res = Result(
        target.key,
        target.label,
        target.loop,
        f["requests"],
        seconds,
        f["requests"] / seconds if seconds else 0.0,
        f["p50_us"] / 1e3,
        f["p99_us"] / 1e3,
        f["max_us"] / 1e3,
        f["non2xx"],
        f["connect"] + f["read"] + f["write"] + f["timeout"],
        f["bad"],
    )
    if f["timeout"]:
        res.notes.append(f"{f['timeout']} timeouts")
    return res


def parse_wrk(out: str, target: Target) -> Result:
    m = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
    if m:
        return _parse_done_line(m.group(1), target)
    # No done() line: read wrk's own report.
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\b", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b", out, re.MULTILINE)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not (rps and p50 and p99 and total):
        raise BenchAbort(f"cannot read wrk's output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        target.key,
        target.label,
        target.loop,
        int(total.group(1)),
        _ms(total.group(2), total.group(3)) / 1e3,
        float(rps.group(1)),
        _ms(*p50.groups()),
        _ms(*p99.groups()),
        float("nan"),
        int(non2xx.group(1)) if non2xx else 0,
        sum(int(x) for x in sock.groups()) if sock else 0,
        -1,
    )


def run_wrk(target: Target, duration: int, connections: int, tmp: Path) -> tuple[Result, str]:
    script = tmp / f"{target.key}-{target.loop}.lua"
    script.write_text(wrk_script(target))
    threads = max(1, min(2, connections))

    def wrk(seconds: int) -> str:
        argv = [
            *("wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"),
            *("--timeout", "10s", "-s", str(script), target.url),
        ]
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        if proc.returncode != 0 or proc.stderr.strip():
            raise BenchAbort(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    wrk(WARMUP_S)
    out = wrk(duration)
    return parse_wrk(out, target), out


# --------------------------------------------------------------------------- load: asyncio


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest rank (the load generators' percentiles)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def pct(values: list[float], p: float) -> float:
    """Rounded linear index over the sorted values (the chat and media benches' percentiles)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class _Conn:
    """One HTTP/1.1 keep-alive connection on asyncio streams (httpx's pool is the bottleneck
    at this rate: it measured ~250 req/s against a server wrk drives at ~14,000)."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def roundtrip(self) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        body = await self._body(fields)
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    async def _body(self, fields: dict[str, str]) -> bytes:
        assert self.reader is not None
        if "content-length" in fields:
            return await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            return b"".join(c[:-2] for c in chunks)
        body = await self.reader.read()
        self.close()
        return body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


_CLIENT_ERRORS = (
    OSError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    TimeoutError,
    ValueError,
    IndexError,
)


@dataclass
class _Phase:
    latencies: list[float] = field(default_factory=list)
    non2xx: int = 0
    errors: int = 0
    bad: int = 0
    elapsed: float = 0.0


async def _load_phase(conns: list[_Conn], expect: bytes, seconds: float) -> _Phase:
    phase = _Phase()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(conn: _Conn) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(conn.roundtrip(), 10.0)
            except _CLIENT_ERRORS:
                phase.errors += 1
                conn.close()
                continue
            phase.latencies.append(time.perf_counter() - t0)
            if not 200 <= status < 400:
                phase.non2xx += 1
            if status != 200 or expect not in body:
                phase.bad += 1

    await asyncio.gather(*(worker(c) for c in conns))
    phase.elapsed = time.perf_counter() - start
    return phase


def _raw_request(target: Target, host: str, port: int) -> bytes:
    headers = {
        "Host": f"{host}:{port}",
        "Content-Type": "application/json",
        "Content-Length": str(len(target.body)),
        **target.headers,
    }
    path = urlsplit(target.url).path or "/"
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode("latin-1") + target.body


async def _python_load(target: Target, duration: float, connections: int) -> Result:
    parts = urlsplit(target.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = _raw_request(target, host, port)
    conns = [_Conn(host, port, request) for _ in range(connections)]
    try:
        await _load_phase(conns, target.expect.encode(), WARMUP_S)
        phase = await _load_phase(conns, target.expect.encode(), duration)
    finally:
        for conn in conns:
            conn.close()
    ms = sorted(x * 1e3 for x in phase.latencies)
    return Result(
        target.key,
        target.label,
        target.loop,
        len(ms),
        phase.elapsed,
        len(ms) / phase.elapsed,
        percentile(ms, 50),
        percentile(ms, 99),
        ms[-1] if ms else float("nan"),
        phase.non2xx,
        phase.errors,
        phase.bad,
    )


def run_python(target: Target, duration: int, connections: int) -> Result:
    try:
        # the generator's own loop: the faster the client, the fairer the numbers
        import uvloop  # noqa: PLC0415  optional (the bench extra): asyncio's loop otherwise
    except ImportError:
        return asyncio.run(_python_load(target, duration, connections))
    return uvloop.run(_python_load(target, duration, connections))


# --------------------------------------------------------------------------- measuring


def add_load_options(p: argparse.ArgumentParser) -> None:
    """--duration, --connections, --generator."""
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    p.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if on PATH (auto), or the asyncio one",
    )


def choose_generator(args: argparse.Namespace, name: str) -> str:
    """Sets args.generator_used (wrk or python) and describes it."""
    wrk_path = shutil.which("wrk")
    if args.generator == "wrk" and wrk_path is None:
        sys.exit(f"{name}: --generator wrk but wrk is not on PATH (apt-get install -y wrk)")
    args.generator_used = "wrk" if (args.generator != "python" and wrk_path) else "python"
    if args.generator_used == "wrk":
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        first = (version.stdout + version.stderr).strip().splitlines()
        return (
            f"{first[0] if first else 'wrk'} (-t{max(1, min(2, args.connections))} "
            f"-c{args.connections} --latency, Lua POST script)"
        )
    return (
        f"python asyncio HTTP/1.1 client ({args.connections} keep-alive "
        f"connections, in this process; slower than wrk, so lower numbers)"
        f"{'' if args.generator == 'python' else ' - wrk not on PATH'}"
    )


def _check_before_load(target: Target) -> None:
    status, raw = http_post(target.url, target.body, target.headers)
    if status != 200 or target.expect.encode() not in raw:
        raise BenchAbort(
            f"{target.label}: unexpected answer before measuring: HTTP {status} {raw[:1000]!r}"
        )


def measure(
    server: Server,
    target: Target,
    args: argparse.Namespace,
    tmp: Path,
    prepare: Callable[[Target], None] | None = None,
    ready_timeout: float = 30.0,
) -> Result:
    """Starts `server`, waits for it, runs `prepare(target)` (seeding, token, expected answer),
    checks one answer, loads it (warm-up, then --duration s) and stops it."""
    print(f"  {target.label} [{target.loop}] ...", end="", flush=True)
    server.start()
    try:
        server.wait_ready(target.url, target.body, target.headers, ready_timeout)
        if prepare is not None:
            prepare(target)
        _check_before_load(target)
        if args.generator_used == "wrk":
            result, out = run_wrk(target, args.duration, args.connections, tmp)
            (tmp / f"wrk-{target.key}-{target.loop}.txt").write_text(out)
        else:
            result = run_python(target, args.duration, args.connections)
        if server.proc is not None and server.proc.poll() is not None:
            result.notes.append(f"server exited ({server.proc.returncode})")
    finally:
        server.stop()
    errors = result.non_2xx + result.socket_errors + max(result.bad, 0)
    print(f" {result.rps:,.0f} req/s" + (f"  ({errors} errors/bad)" if errors else ""))
    return result


# --------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def print_header(
    generator_info: str,
    args: argparse.Namespace,
    notes: list[str],
    servers: str = "one uvicorn worker per server, one server at a time",
) -> None:
    print()
    print(
        f"generator: {generator_info}; warm-up {WARMUP_S} s; measured {args.duration} s; "
        f"{args.connections} connections"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; {servers}"
    )
    for note in notes:
        print(f"note: {note}")
    print()


@dataclass
class Columns:
    """The results table's layout: widths, and whether it has the loop and a body size."""

    label: int = 34
    rps: int = 10
    bad: int = 6
    loop: bool = True
    body_sizes: dict[str, int] | None = None  # key -> answer size in bytes


def print_results(results: list[Result], columns: Columns) -> None:
    head = (
        f"{'target':<{columns.label}} "
        + (f"{'loop':<8} " if columns.loop else "")
        + f"{'req/s':>{columns.rps}} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'non-2xx':>8} {'sock err':>8} {'bad':>{columns.bad}}"
        + (f" {'body B':>7}" if columns.body_sizes is not None else "")
    )
    print(head)
    print("-" * len(head))
    for r in results:
        line = (
            f"{r.label:<{columns.label}} "
            + (f"{r.loop:<8} " if columns.loop else "")
            + f"{r.rps:>{columns.rps},.0f} {fmt(r.p50_ms):>8} {fmt(r.p99_ms):>8} "
            f"{fmt(r.max_ms, 1):>8} {r.non_2xx:>8} {r.socket_errors:>8} "
            f"{(r.bad if r.bad >= 0 else '-')!s:>{columns.bad}}"
            + (f" {columns.body_sizes.get(r.key, 0):>7}" if columns.body_sizes is not None else "")
        )
        print(line + (f"  {'; '.join(r.notes)}" if r.notes else ""))


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio >= target else "FAIL"
