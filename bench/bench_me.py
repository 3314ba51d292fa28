#!/usr/bin/env python
"""Throughput and latency of the IVEN `{ me { id username } }` against two baselines.

Run on demand (never part of the test suite), from the project's virtualenv:

    python bench/bench_me.py [--duration 10] [--connections 32] [--loops asyncio,uvloop]
                             [--only plain,strawberry,iven] [--generator auto|wrk|python]

Targets, each a separate uvicorn process with ONE worker, measured one at a time:
  plain       a plain Starlette app, one JSON POST endpoint (bench/plain_app.py), asyncio loop
  strawberry  a default Strawberry app, POST {"query": "{ __typename }"} (bench/strawberry_app.py)
  iven        `iven-gql serve --loop L` for each loop of --loops, POST {"query": "{ me { id username } }"}
              with `Authorization: Bearer <token>` of a user registered by this script

The IVEN server inherits the environment; IVEN_VAR_DIR, IVEN_DATABASE_URL and IVEN_UPLOADS_DIR
default to a temporary directory (embedded stores) when they are not set. It runs in that temporary
directory, so no project `.env` file is read. IVEN_SMTP_URL is removed from its environment: the
confirmation code is read from $IVEN_VAR_DIR/outbox/*.eml.

Load: wrk (-t2 -cN --latency, a Lua script for the POST body and headers) when it is on PATH, else
an asyncio generator in this process (N keep-alive HTTP/1.1 connections on asyncio streams;
httpx.AsyncClient was tried and its pool capped the rate near 250 req/s). A warm-up run
precedes each measurement. Every response is checked (status 200 and an expected substring); the
count of failures is printed as `bad`.
"""

from __future__ import annotations

import argparse
import asyncio
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TARGETS = ("plain", "strawberry", "iven")
LOOPS = ("asyncio", "uvloop")
TARGET_RATIO = 3.5  # IVEN `me` req/s >= 3.5 x default Strawberry `{ __typename }` req/s
WARMUP_S = 2
ME_QUERY = "{ me { id username } }"


class BenchAbort(Exception):
    """A condition that makes the measurement meaningless: reported, then exit 1."""


# --------------------------------------------------------------------------- data


@dataclass
class Target:
    key: str  # plain / strawberry / iven
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
    payload = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, raw = http_post(url, payload, headers or {}, timeout=30.0)
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BenchAbort(f"POST {url} answered {status} with a non-JSON body: {raw[:500]!r}")
    if status != 200 or doc.get("errors"):
        raise BenchAbort(f"POST {url} answered {status}: {json.dumps(doc)[:1000]}")
    return doc["data"]


# --------------------------------------------------------------------------- servers


class Server:
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

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "<no log>"
        return "\n".join(text[-lines:])

    def wait_ready(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
        """Ready when any HTTP answer comes back (uvicorn binds after the lifespan started)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchAbort(
                    f"{self.name} exited with code {self.proc.returncode} before "
                    f"answering.\ncommand: {' '.join(self.argv)}\n"
                    f"--- output ({self.log_path}) ---\n{self.log_tail()}"
                )
            try:
                http_post(url, body, headers, timeout=2.0)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.2)
        raise BenchAbort(
            f"{self.name} did not answer within {timeout:.0f} s.\n"
            f"--- output ({self.log_path}) ---\n{self.log_tail()}"
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


def baseline_server(module: str, port: int, log_path: Path) -> Server:
    argv = [
        PY,
        "-m",
        "uvicorn",
        f"bench.{module}:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "asyncio",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return Server(module, argv, dict(os.environ), ROOT, log_path)


def iven_command() -> list[str]:
    beside = Path(PY).with_name("iven-gql")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("iven-gql")
    return [found] if found else [PY, "-m", "iven_gql.cli"]


def iven_env(tmp: Path) -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ)
    notes = []
    var = tmp / "var"
    var.mkdir(parents=True, exist_ok=True)
    (tmp / "uploads").mkdir(exist_ok=True)
    env.setdefault("IVEN_VAR_DIR", str(var))
    env.setdefault("IVEN_DATABASE_URL", f"sqlite+aiosqlite:///{var / 'iven.db'}")
    env.setdefault("IVEN_UPLOADS_DIR", str(tmp / "uploads"))
    if env.pop("IVEN_SMTP_URL", None):
        notes.append("IVEN_SMTP_URL removed for the bench (code read from the outbox)")
    return env, notes


def outbox_dir(env: dict[str, str], cwd: Path) -> Path:
    var = Path(env.get("IVEN_VAR_DIR", "./var"))
    return (var if var.is_absolute() else cwd / var) / "outbox"


# --------------------------------------------------------------------------- IVEN account


@dataclass
class Account:
    username: str
    email: str
    password: str
    registered: bool = False


def read_code(outbox: Path, address: str, timeout: float = 20.0) -> str:
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


def iven_token(url: str, account: Account, outbox: Path) -> str:
    if not account.registered:
        data = graphql(
            url,
            """
            mutation($input: RegisterInput!) {
              register(input: $input) { user { id } errors { field code message } }
            }""",
            {
                "input": {
                    "username": account.username,
                    "email": account.email,
                    "password": account.password,
                    "firstName": "Bench",
                    "lastName": "Mark",
                }
            },
        )
        if data["register"]["errors"]:
            raise BenchAbort(f"register failed: {data['register']['errors']}")
        code = read_code(outbox, account.email)
        data = graphql(
            url,
            """
            mutation($input: ConfirmEmailInput!) {
              confirmEmail(input: $input) { accessToken errors { code message } }
            }""",
            {"input": {"email": account.email, "code": code}},
        )
        payload = data["confirmEmail"]
        account.registered = True
    else:  # a restarted server (the in-process Redis forgot the sessions): sign in again
        data = graphql(
            url,
            """
            mutation($input: LoginInput!) {
              login(input: $input) { accessToken errors { code message } }
            }""",
            {"input": {"email": account.email, "password": account.password}},
        )
        payload = data["login"]
    if payload["errors"] or not payload["accessToken"]:
        raise BenchAbort(f"no access token: {payload}")
    return str(payload["accessToken"])


def check_me(url: str, token: str, username: str) -> None:
    status, raw = http_post(
        url, json.dumps({"query": ME_QUERY}).encode(), {"Authorization": f"Bearer {token}"}
    )
    try:
        doc = json.loads(raw)
        got = doc["data"]["me"]["username"]
    except (ValueError, KeyError, TypeError):
        raise BenchAbort(f"`me` with the token is wrong: HTTP {status}, body {raw[:1000]!r}")
    if status != 200 or got != username or doc.get("errors"):
        raise BenchAbort(
            f"`me` with the token is wrong: HTTP {status}, body {raw[:1000]!r} "
            f"(expected username {username!r})"
        )


# --------------------------------------------------------------------------- load: wrk


def lua_string(text: str) -> str:
    level = "="
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


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


def parse_wrk(out: str, target: Target) -> Result:
    m = re.search(r"^BENCH (.*)$", out, re.MULTILINE)
    if m:
        f = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
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
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            target.url,
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
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


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
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(c[:-2] for c in chunks)
        else:
            body = await self.reader.read()
            self.close()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _python_load(target: Target, duration: float, connections: int) -> Result:
    from urllib.parse import urlsplit

    parts = urlsplit(target.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = {
        "Host": f"{host}:{port}",
        "Content-Type": "application/json",
        "Content-Length": str(len(target.body)),
        **target.headers,
    }
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode("latin-1") + target.body
    expect = target.expect.encode()
    conns = [_Conn(host, port, request) for _ in range(connections)]

    async def phase(seconds: float) -> tuple[list[float], int, int, int, float]:
        latencies: list[float] = []
        counts = {"non2xx": 0, "errors": 0, "bad": 0}
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(conn: _Conn) -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(conn.roundtrip(), 10.0)
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    TimeoutError,
                    ValueError,
                    IndexError,
                ):
                    counts["errors"] += 1
                    conn.close()
                    continue
                latencies.append(time.perf_counter() - t0)
                if not 200 <= status < 400:
                    counts["non2xx"] += 1
                if status != 200 or expect not in body:
                    counts["bad"] += 1

        await asyncio.gather(*(worker(c) for c in conns))
        return (
            latencies,
            counts["non2xx"],
            counts["errors"],
            counts["bad"],
            time.perf_counter() - start,
        )

    try:
        await phase(WARMUP_S)
        latencies, non2xx, errors, bad, elapsed = await phase(duration)
    finally:
        for conn in conns:
            conn.close()
    latencies.sort()
    ms = [x * 1e3 for x in latencies]
    return Result(
        target.key,
        target.label,
        target.loop,
        len(ms),
        elapsed,
        len(ms) / elapsed,
        percentile(ms, 50),
        percentile(ms, 99),
        ms[-1] if ms else float("nan"),
        non2xx,
        errors,
        bad,
    )


def run_python(target: Target, duration: int, connections: int) -> Result:
    try:
        import uvloop  # the generator's own loop: the faster the client, the fairer the numbers

        return uvloop.run(_python_load(target, duration, connections))
    except ImportError:
        return asyncio.run(_python_load(target, duration, connections))


# --------------------------------------------------------------------------- orchestration


def measure(
    server: Server,
    target: Target,
    args: argparse.Namespace,
    tmp: Path,
    prepare: Any = None,
    ready_timeout: float = 30.0,
) -> Result:
    print(f"  {target.label} [{target.loop}] ...", end="", flush=True)
    server.start()
    try:
        server.wait_ready(target.url, target.body, target.headers, ready_timeout)
        if prepare is not None:
            prepare(target)
        # One checked request before loading the server.
        status, raw = http_post(target.url, target.body, target.headers)
        if status != 200 or target.expect.encode() not in raw:
            raise BenchAbort(
                f"{target.label}: unexpected answer before measuring: HTTP {status} {raw[:1000]!r}"
            )
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


def fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def report(
    results: list[Result], args: argparse.Namespace, generator_info: str, env_notes: list[str]
) -> None:
    print()
    print(
        f"generator: {generator_info}; warm-up {WARMUP_S} s; measured {args.duration} s; "
        f"{args.connections} connections"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
        f"; one uvicorn worker per server, one server at a time"
    )
    for note in env_notes:
        print(f"note: {note}")
    print()
    head = (
        f"{'target':<34} {'loop':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'non-2xx':>8} {'sock err':>8} {'bad':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        line = (
            f"{r.label:<34} {r.loop:<8} {r.rps:>10,.0f} {fmt(r.p50_ms):>8} {fmt(r.p99_ms):>8} "
            f"{fmt(r.max_ms, 1):>8} {r.non_2xx:>8} {r.socket_errors:>8} "
            f"{(r.bad if r.bad >= 0 else '-')!s:>6}"
        )
        print(line + (f"  {'; '.join(r.notes)}" if r.notes else ""))

    by = {(r.key, r.loop): r for r in results}
    plain = by.get(("plain", "asyncio"))
    straw = by.get(("strawberry", "asyncio"))
    print()
    print("ratios (req/s):")
    for loop in args.loop_list:
        me = by.get(("iven", loop))
        if me is None:
            continue
        if straw is not None and straw.rps:
            ratio = me.rps / straw.rps
            verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
            print(
                f"  IVEN me [{loop}] / default Strawberry __typename: {ratio:6.2f}x   "
                f"target >= {TARGET_RATIO}x: {verdict}"
            )
        if plain is not None and plain.rps:
            print(f"  IVEN me [{loop}] / plain Starlette:               {me.rps / plain.rps:6.2f}x")
    if straw is not None and plain is not None and plain.rps:
        print(
            f"  default Strawberry / plain Starlette:                {straw.rps / plain.rps:6.2f}x"
        )
    if straw is None or not any(("iven", loop) in by for loop in args.loop_list):
        print("  (the PASS/FAIL line needs both `strawberry` and `iven` in --only)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    p.add_argument(
        "--loops",
        default="asyncio,uvloop",
        help="event loops for the IVEN server, comma separated (asyncio,uvloop)",
    )
    p.add_argument(
        "--only",
        default=",".join(TARGETS),
        help="targets to run, comma separated: plain,strawberry,iven (all)",
    )
    p.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if on PATH (auto), or the asyncio one",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    args.loop_list = [x.strip() for x in args.loops.split(",") if x.strip()]
    args.only_list = [x.strip() for x in args.only.split(",") if x.strip()]
    for loop in args.loop_list:
        if loop not in LOOPS:
            p.error(f"--loops: unknown loop {loop!r} (choose from {', '.join(LOOPS)})")
    for key in args.only_list:
        if key not in TARGETS:
            p.error(f"--only: unknown target {key!r} (choose from {', '.join(TARGETS)})")
    if args.duration < 1 or args.connections < 1:
        p.error("--duration and --connections must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_path = shutil.which("wrk")
    if args.generator == "wrk" and wrk_path is None:
        sys.exit("bench_me: --generator wrk but wrk is not on PATH (apt-get install -y wrk)")
    args.generator_used = "wrk" if (args.generator != "python" and wrk_path) else "python"
    if args.generator_used == "wrk":
        version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        first = (version.stdout + version.stderr).strip().splitlines()
        generator_info = (
            f"{first[0] if first else 'wrk'} (-t{max(1, min(2, args.connections))} "
            f"-c{args.connections} --latency, Lua POST script)"
        )
    else:
        generator_info = (
            f"python asyncio HTTP/1.1 client ({args.connections} keep-alive "
            f"connections, in this process; slower than wrk, so lower numbers)"
            f"{'' if args.generator == 'python' else ' - wrk not on PATH'}"
        )

    tmp = Path(tempfile.mkdtemp(prefix="iven-bench-"))
    results: list[Result] = []
    env_notes: list[str] = []
    print(f"bench_me: {generator_info}; temporary directory {tmp}")
    try:
        if "plain" in args.only_list:
            port = free_port()
            target = Target(
                "plain",
                "plain Starlette JSON POST",
                "asyncio",
                f"http://127.0.0.1:{port}/graphql",
                b'{"query": "{ ok }"}',
                {},
                '"ok":true',
            )
            results.append(
                measure(baseline_server("plain_app", port, tmp / "plain.log"), target, args, tmp)
            )
        if "strawberry" in args.only_list:
            port = free_port()
            target = Target(
                "strawberry",
                "default Strawberry { __typename }",
                "asyncio",
                f"http://127.0.0.1:{port}/graphql",
                b'{"query": "{ __typename }"}',
                {},
                '"__typename":"Query"',
            )
            results.append(
                measure(
                    baseline_server("strawberry_app", port, tmp / "strawberry.log"),
                    target,
                    args,
                    tmp,
                )
            )
        if "iven" in args.only_list:
            env, notes = iven_env(tmp)
            env_notes += notes
            env_notes.append(
                "IVEN server: "
                + ", ".join(
                    f"{k}={env[k]}" for k in ("IVEN_DATABASE_URL", "IVEN_VAR_DIR") if k in env
                )
                + f", IVEN_MONGODB_URL={'set' if env.get('IVEN_MONGODB_URL') else 'embedded briskdb'}"
                + f", IVEN_REDIS_URL={'set' if env.get('IVEN_REDIS_URL') else 'in-process'}"
                + f", IVEN_LOG_LEVEL={env.get('IVEN_LOG_LEVEL', 'INFO (default)')}"
            )
            suffix = secrets.token_hex(4)
            account = Account(
                f"bench_{suffix}",
                f"bench-{suffix}@example.com",
                f"bench-pass-{secrets.token_hex(8)}",
            )
            outbox = outbox_dir(env, tmp)
            for loop in args.loop_list:
                port = free_port()
                url = f"http://127.0.0.1:{port}/graphql"
                server = Server(
                    f"iven-gql serve --loop {loop}",
                    [
                        *iven_command(),
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--loop",
                        loop,
                    ],
                    env,
                    tmp,
                    tmp / f"iven-{loop}.log",
                )
                target = Target(
                    "iven",
                    "IVEN { me { id username } }",
                    loop,
                    url,
                    json.dumps({"query": ME_QUERY}).encode(),
                    {},
                    f'"username":"{account.username}"',
                )

                def prepare(t: Target, url: str = url) -> None:
                    token = iven_token(url, account, outbox)
                    check_me(url, token, account.username)
                    t.headers["Authorization"] = f"Bearer {token}"

                results.append(measure(server, target, args, tmp, prepare, ready_timeout=90.0))
    except BenchAbort as exc:
        print(f"\nbench_me: ABORTED: {exc}", file=sys.stderr)
        if results:
            report(results, args, generator_info, env_notes)
        print(f"(logs kept in {tmp})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nbench_me: interrupted (logs in {tmp})", file=sys.stderr)
        return 130
    report(results, args, generator_info, env_notes)
    if args.keep:
        print(f"\nlogs and wrk outputs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
