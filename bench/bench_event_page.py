#!/usr/bin/env python
"""The IVEN event page on MariaDB against an in-memory Strawberry app of the same size.

Run on demand (never part of the test suite), from the project's virtualenv, with MariaDB/MySQL
and Redis running:

    python bench/bench_event_page.py [--duration 10] [--connections 32] [--loop asyncio]
                                     [--only iven,inmemory] [--generator auto|wrk|python] [--keep]

What it does, one server at a time, each a uvicorn process with ONE worker:
  1. a fresh database (--database, default iven_bench) on --mysql-url, Redis db of --redis-url
     flushed, a briskdb MongoDB listener (`iven-gql briskdb`) on a free port;
  2. `iven-gql serve --loop L` on those stores (migrations on start, mails to the outbox,
     registration/login rate limits raised for the seeding);
  3. seeds through the GraphQL API: 20 users (register + confirmEmail), one event owned by user 0,
     19 joins with invite links (2 organizers), 20 tasks (1-2 assignees, every third completed),
     20 expenses (EQUAL/SHARES splits over 4-6 participants) - the plan of inmemory_event_app.py;
  4. checks the event page answer (no errors; 20 participants, 20 tasks, 20 expenses), reads the
     SQL statement count of that request from the server's JSON log line (logger iven.graphql),
     then measures the page as user 0 (owner);
  5. measures the same query on bench/inmemory_event_app.py (same shape and sizes, plain objects);
  6. prints req/s, p50, p99 and IVEN / in-memory with an informational PASS/FAIL for >= 0.6
     (exit code 0 either way; 1 if the bench itself could not run), then stops the servers and the
     listener and drops the database (unless --keep).

Load generation, server handling, the wrk Lua script and its parsing come from bench_me.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import inmemory_event_app as mem
from bench.harness import (
    WARMUP_S,
    BenchAbort,
    Result,
    Server,
    Target,
    baseline_server,
    fmt,
    free_port,
    http_post,
    iven_command,
    measure,
    read_code,
)

TARGET_RATIO = 0.6  # IVEN event page req/s >= 0.6 x the in-memory page req/s
PAGE_QUERY = """query Page($id: ID!) { event(id: $id) { id title description startsAt endsAt status currency viewerRole participantCount
  owner { id username displayName }
  participants(first: 50) { edges { node { id role rsvp displayName user { id username } } } }
  tasks(first: 50) { edges { node { id title status dueAt assignees { id displayName } completedBy { id } } } }
  expenses(first: 50) { edges { node { id title amount { amount currency } paidBy { id displayName } shares { amount { amount } participant { id } } } } }
  balances { participant { id } paid { amount } owed { amount } net { amount } }
  settlementPlan { from { id } to { id } amount { amount } } } }"""
EVENT_TITLE = "Bench weekend"
EVENT_DESCRIPTION = "The event page benchmark: 20 participants, tasks and expenses."
PASSWORD = "bench-pass-" + secrets.token_hex(8)


def page_body(event_id: str) -> bytes:
    return json.dumps(
        {"query": PAGE_QUERY, "variables": {"id": event_id}, "operationName": "Page"}
    ).encode()


def check_page(raw: bytes, status: int, who: str) -> dict[str, Any]:
    """The page answer must be complete: no errors and the expected sizes."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BenchAbort(f"{who}: the page answer is not JSON (HTTP {status}): {raw[:1000]!r}")
    event = (doc.get("data") or {}).get("event")
    problems = []
    if status != 200:
        problems.append(f"HTTP {status}")
    if doc.get("errors"):
        problems.append(f"errors: {json.dumps(doc['errors'])[:1500]}")
    if not event:
        problems.append("event is null")
    else:
        sizes = {
            k: len(((event.get(k) or {}).get("edges")) or [])
            for k in ("participants", "tasks", "expenses")
        }
        expected = {
            "participants": mem.N_PARTICIPANTS,
            "tasks": mem.N_TASKS,
            "expenses": mem.N_EXPENSES,
        }
        if sizes != expected:
            problems.append(f"sizes {sizes}, expected {expected}")
        if event.get("participantCount") != mem.N_PARTICIPANTS:
            problems.append(f"participantCount {event.get('participantCount')}")
        if len(event.get("balances") or []) != mem.N_PARTICIPANTS:
            problems.append(f"{len(event.get('balances') or [])} balances")
    if problems:
        raise BenchAbort(
            f"{who}: wrong event page answer: {'; '.join(problems)}\nbody: {raw[:2000]!r}"
        )
    assert isinstance(event, dict)
    return event


def page_summary(event: dict[str, Any]) -> str:
    shares = sum(len(e["node"]["shares"]) for e in event["expenses"]["edges"])
    assignees = sum(len(e["node"]["assignees"]) for e in event["tasks"]["edges"])
    done = sum(1 for e in event["tasks"]["edges"] if e["node"]["status"] != "TODO")
    return (
        f"{len(event['participants']['edges'])} participants, "
        f"{len(event['tasks']['edges'])} tasks ({assignees} assignees, {done} completed), "
        f"{len(event['expenses']['edges'])} expenses ({shares} shares), "
        f"{len(event['balances'])} balances, {len(event['settlementPlan'])} transfers"
    )


# --------------------------------------------------------------------------- services


def sql_url(base: str, database: str) -> str:
    head, _, query = base.partition("?")
    url = f"{head.rstrip('/')}/{database}"
    return f"{url}?{query}" if query else url


def recreate_database(base_url: str, name: str, create: bool = True) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

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
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        raise BenchAbort(f"cannot flush Redis {url}: {exc}") from exc
    finally:
        client.close()


def wait_port(server: Server, port: int, timeout: float = 30.0) -> None:
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchAbort(
                f"{server.name} exited ({server.proc.returncode}):\n{server.log_tail()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise BenchAbort(
        f"{server.name} is not listening on {port} after {timeout:.0f} s:\n{server.log_tail()}"
    )


def iven_env(tmp: Path, args: argparse.Namespace, mongo_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("IVEN_SMTP_URL", None)  # codes are read from the outbox
    env.update(
        {
            "IVEN_DATABASE_URL": sql_url(args.mysql_url, args.database),
            "IVEN_REDIS_URL": args.redis_url,
            "IVEN_MONGODB_URL": f"mongodb://127.0.0.1:{mongo_port}/?maxPoolSize=4",
            "IVEN_VAR_DIR": str(tmp / "var"),
            "IVEN_UPLOADS_DIR": str(tmp / "uploads"),
            "IVEN_RUN_MIGRATIONS_ON_START": "true",
            "IVEN_RATE_REGISTER_IP": "10000/3600",
            "IVEN_RATE_LOGIN_IP": "10000/900",
        }
    )
    env.setdefault("IVEN_LOG_LEVEL", "INFO")  # the operation line carries the statement count
    (tmp / "var").mkdir(parents=True, exist_ok=True)
    (tmp / "uploads").mkdir(exist_ok=True)
    return env


# --------------------------------------------------------------------------- seeding (API)


@dataclass
class Seeded:
    event_id: str
    owner_token: str
    pids: list[str]
    seconds: float
    requests: int


@dataclass
class Seeder:
    url: str
    outbox: Path
    concurrency: int
    requests: int = 0
    client: Any = None
    sem: Any = None
    register_lock: Any = None

    async def gql(
        self,
        query: str,
        variables: dict[str, Any],
        token: str | None = None,
        payload_key: str | None = None,
    ) -> Any:
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
                f"seeding: HTTP {resp.status_code}, non-JSON answer: {resp.text[:1000]}"
            )
        if resp.status_code != 200 or doc.get("errors"):
            raise BenchAbort(
                f"seeding: HTTP {resp.status_code}: {json.dumps(doc)[:1500]}\n"
                f"query: {query.strip()[:300]}\nvariables: {variables}"
            )
        data = doc["data"]
        if payload_key is not None:
            data = data[payload_key]
            if data.get("errors"):
                raise BenchAbort(
                    f"seeding: {payload_key} failed: {data['errors']}\nvariables: {variables}"
                )
        return data

    async def user(self, index: int, suffix: str) -> str:
        username = f"bench_{suffix}_{index:02d}"
        address = f"bench-{suffix}-{index:02d}@example.com"
        # One registration at a time: concurrent `register` mutations deadlock on MariaDB
        # (1213 on INSERT INTO one_time_secrets after the UPDATE of replace_secret, gap locks).
        async with self.register_lock:
            await self.gql(
                """mutation($input: RegisterInput!) { register(input: $input) {
              user { id } errors { field code message } } }""",
                {
                    "input": {
                        "username": username,
                        "email": address,
                        "password": PASSWORD,
                        "firstName": "Bench",
                        "lastName": f"User{index:02d}",
                    }
                },
                payload_key="register",
            )
        code = await asyncio.to_thread(read_code, self.outbox, address)
        auth = await self.gql(
            """mutation($input: ConfirmEmailInput!) { confirmEmail(input: $input) {
              accessToken errors { code message } } }""",
            {"input": {"email": address, "code": code}},
            payload_key="confirmEmail",
        )
        if not auth["accessToken"]:
            raise BenchAbort(f"seeding: no access token for {address}: {auth}")
        return str(auth["accessToken"])

    async def run(self) -> Seeded:
        import httpx

        start = time.perf_counter()
        self.sem = asyncio.Semaphore(self.concurrency)
        self.register_lock = asyncio.Lock()
        suffix = secrets.token_hex(3)
        async with httpx.AsyncClient(timeout=60) as client:
            self.client = client
            tokens = list(
                await asyncio.gather(*(self.user(i, suffix) for i in range(mem.N_PARTICIPANTS)))
            )
            created = await self.gql(
                """mutation($input: CreateEventInput!) { createEvent(input: $input) {
                  event { id viewerParticipation { id } } errors { code field message } } }""",
                {
                    "input": {
                        "title": EVENT_TITLE,
                        "description": EVENT_DESCRIPTION,
                        "startsAt": mem.STARTS_AT,
                        "endsAt": mem.ENDS_AT,
                        "currency": mem.CURRENCY,
                        "timezone": "UTC",
                    }
                },
                tokens[0],
                "createEvent",
            )
            event_id = created["event"]["id"]
            roles = mem.roles()
            links: dict[str, str] = {}
            for role in sorted(set(roles) - {"OWNER"}):
                link = await self.gql(
                    """mutation($input: CreateInviteLinkInput!) {
                      createInviteLink(input: $input) { token errors { code message } } }""",
                    {"input": {"eventId": event_id, "role": role}},
                    tokens[0],
                    "createInviteLink",
                )
                links[role] = link["token"]

            async def join(i: int) -> str:
                joined = await self.gql(
                    """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
                      participant { id role } errors { code message } } }""",
                    {"t": links[roles[i]]},
                    tokens[i],
                    "joinWithInviteLink",
                )
                if joined["participant"]["role"] != roles[i]:
                    raise BenchAbort(f"seeding: user {i} joined as {joined['participant']}")
                return str(joined["participant"]["id"])

            pids = [
                created["event"]["viewerParticipation"]["id"],
                *await asyncio.gather(*(join(i) for i in range(1, len(tokens)))),
            ]

            rsvps = ["GOING", "MAYBE", "GOING", "DECLINED"]  # as inmemory_event_app
            await asyncio.gather(
                *(
                    self.gql(
                        """mutation($input: SetRsvpInput!) { setRsvp(input: $input) {
                      participant { id } errors { code message } } }""",
                        {"input": {"eventId": event_id, "status": rsvps[i % 4]}},
                        tokens[i],
                        "setRsvp",
                    )
                    for i in range(len(tokens))
                    if rsvps[i % 4] != "GOING"
                )
            )

            async def task(spec: dict[str, Any]) -> None:
                made = await self.gql(
                    """mutation($input: CreateTaskInput!) { createTask(input: $input) {
                      task { id } errors { code field message } } }""",
                    {
                        "input": {
                            "eventId": event_id,
                            "title": spec["title"],
                            "dueAt": spec["due_at"],
                            "assigneeIds": [pids[a] for a in spec["assignees"]],
                        }
                    },
                    tokens[spec["creator"]],
                    "createTask",
                )
                if spec["completed_by"] is not None:
                    await self.gql(
                        """mutation($id: ID!) { completeTask(input: {taskId: $id}) {
                          task { status } errors { code message } } }""",
                        {"id": made["task"]["id"]},
                        tokens[spec["completed_by"]],
                        "completeTask",
                    )

            async def expense(spec: dict[str, Any]) -> None:
                await self.gql(
                    """mutation($input: CreateExpenseInput!) { createExpense(input: $input) {
                      expense { id } errors { code field message } } }""",
                    {
                        "input": {
                            "eventId": event_id,
                            "title": spec["title"],
                            "amount": spec["amount"],
                            "paidById": pids[spec["payer"]],
                            "split": {
                                "mode": spec["mode"],
                                "parts": [
                                    {"participantId": pids[m], "value": v} for m, v in spec["parts"]
                                ],
                            },
                        }
                    },
                    tokens[spec["payer"]],
                    "createExpense",
                )

            await asyncio.gather(*(task(s) for s in mem.task_plan()))
            await asyncio.gather(*(expense(s) for s in mem.expense_plan()))
        return Seeded(event_id, tokens[0], pids, time.perf_counter() - start, self.requests)


# --------------------------------------------------------------------------- the server's log


def operation_lines(log_path: Path, offset: int) -> list[dict[str, Any]]:
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


def server_errors(log_path: Path, limit: int = 3, tail: int = 900) -> str:
    """The last error entries of the server's JSON log (exception tails), for an abort message."""
    entries = []
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
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


def one_logged_request(target: Target, log_path: Path) -> tuple[int, bytes, dict[str, Any] | None]:
    """One page request; returns its answer and the server's operation log line for it."""
    offset = log_path.stat().st_size if log_path.exists() else 0
    status, raw = http_post(target.url, target.body, target.headers, timeout=30)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        found = [e for e in operation_lines(log_path, offset) if e.get("operation") == "Page"]
        if found:
            return status, raw, found[-1]
        time.sleep(0.05)
    return status, raw, None


# --------------------------------------------------------------------------- report


@dataclass
class Info:
    notes: list[str] = field(default_factory=list)
    statements: list[tuple[str, Any, Any]] = field(default_factory=list)  # (which, count, ms)
    sizes: dict[str, int] = field(default_factory=dict)


def report(
    results: list[Result], args: argparse.Namespace, generator_info: str, info: Info
) -> None:
    print()
    print(
        f"generator: {generator_info}; warm-up {WARMUP_S} s; measured {args.duration} s; "
        f"{args.connections} connections"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}; one uvicorn worker per server, one server at a time"
    )
    for note in info.notes:
        print(f"note: {note}")
    print()
    head = (
        f"{'target':<36} {'loop':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'non-2xx':>8} {'sock err':>8} {'bad':>5} {'body B':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.label:<36} {r.loop:<8} {r.rps:>9,.0f} {fmt(r.p50_ms):>8} {fmt(r.p99_ms):>8} "
            f"{fmt(r.max_ms, 1):>8} {r.non_2xx:>8} {r.socket_errors:>8} "
            f"{(r.bad if r.bad >= 0 else '-')!s:>5} {info.sizes.get(r.key, 0):>7}"
            + (f"  {'; '.join(r.notes)}" if r.notes else "")
        )
    print()
    for which, count, ms in info.statements:
        print(
            f"IVEN SQL statements for one page request ({which}): {count}"
            f"  (server-side duration {ms} ms)"
        )
    by = {r.key: r for r in results}
    iven, inmem = by.get("iven"), by.get("inmemory")
    if iven is not None and inmem is not None and inmem.rps:
        ratio = iven.rps / inmem.rps
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(
            f"ratio IVEN event page / in-memory event page (req/s): {ratio:.2f}x   "
            f"target >= {TARGET_RATIO}x: {verdict}"
        )
    else:
        print("(the ratio needs both `iven` and `inmemory` in --only)")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per measurement (10)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the IVEN server (asyncio); the in-memory app uses asyncio",
    )
    p.add_argument(
        "--only", default="iven,inmemory", help="targets, comma separated: iven,inmemory (both)"
    )
    p.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if on PATH (auto), or bench_me's asyncio one",
    )
    p.add_argument(
        "--mysql-url",
        default=os.environ.get("IVEN_BENCH_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306"),
        help="server URL without a database (mysql+aiomysql://root@127.0.0.1:3306)",
    )
    p.add_argument("--database", default="iven_bench", help="database to (re)create (iven_bench)")
    p.add_argument(
        "--redis-url",
        default=os.environ.get("IVEN_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="Redis database, flushed first (redis://127.0.0.1:6379/14)",
    )
    p.add_argument(
        "--seed-concurrency", type=int, default=6, help="concurrent API requests while seeding (6)"
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the database, the Redis data and the temporary directory (logs)",
    )
    args = p.parse_args(argv)
    args.only_list = [x.strip() for x in args.only.split(",") if x.strip()]
    for key in args.only_list:
        if key not in ("iven", "inmemory"):
            p.error(f"--only: unknown target {key!r} (choose from iven, inmemory)")
    if args.duration < 1 or args.connections < 1 or args.seed_concurrency < 1:
        p.error("--duration, --connections and --seed-concurrency must be positive")
    return args


def generator(args: argparse.Namespace) -> str:
    wrk_path = shutil.which("wrk")
    if args.generator == "wrk" and wrk_path is None:
        sys.exit("bench_event_page: --generator wrk but wrk is not on PATH")
    args.generator_used = "wrk" if (args.generator != "python" and wrk_path) else "python"
    if args.generator_used == "wrk":
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        first = (out.stdout + out.stderr).strip().splitlines()
        return (
            f"{first[0] if first else 'wrk'} (-t{max(1, min(2, args.connections))} "
            f"-c{args.connections} --latency, Lua POST script)"
        )
    return (
        f"python asyncio HTTP/1.1 client ({args.connections} keep-alive connections, in "
        f"this process; slower than wrk)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator_info = generator(args)
    tmp = Path(tempfile.mkdtemp(prefix="iven-bench-page-"))
    print(f"bench_event_page: {generator_info}; temporary directory {tmp}")
    results: list[Result] = []
    info = Info()
    listener: Server | None = None
    database_made = False
    failed = False
    try:
        if "iven" in args.only_list:
            recreate_database(args.mysql_url, args.database)
            database_made = True
            flush_redis(args.redis_url)
            mongo_port = free_port()
            listener = Server(
                "briskdb listener",
                [
                    *iven_command(),
                    "briskdb",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mongo_port),
                    "--data",
                    str(tmp / "briskdb"),
                ],
                dict(os.environ),
                tmp,
                tmp / "briskdb.log",
            )
            listener.start()
            wait_port(listener, mongo_port)
            env = iven_env(tmp, args, mongo_port)
            info.notes.append(
                f"IVEN stores: {env['IVEN_DATABASE_URL']}, {env['IVEN_REDIS_URL']}, briskdb "
                f"listener {env['IVEN_MONGODB_URL']} (the page reads no documents); "
                f"IVEN_LOG_LEVEL={env['IVEN_LOG_LEVEL']}"
            )
            port = free_port()
            log_path = tmp / f"iven-{args.loop}.log"
            server = Server(
                f"iven-gql serve --loop {args.loop}",
                [
                    *iven_command(),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--loop",
                    args.loop,
                ],
                env,
                tmp,
                log_path,
            )
            target = Target(
                "iven",
                "IVEN event page (MariaDB)",
                args.loop,
                f"http://127.0.0.1:{port}/graphql",
                page_body("RXZlbnQ6MA=="),
                {},
                "",
            )

            def prepare_iven(t: Target) -> None:
                try:
                    seeded = asyncio.run(
                        Seeder(
                            t.url, Path(env["IVEN_VAR_DIR"]) / "outbox", args.seed_concurrency
                        ).run()
                    )
                except BenchAbort as exc:
                    errors = server_errors(log_path)
                    raise BenchAbort(
                        f"{exc}\n--- server errors ({log_path}) ---\n{errors}"
                        if errors
                        else str(exc)
                    ) from exc
                info.notes.append(
                    f"seeded through the API in {seeded.seconds:.1f} s ({seeded.requests} requests)"
                )
                t.body = page_body(seeded.event_id)
                t.headers["Authorization"] = f"Bearer {seeded.owner_token}"
                bodies = []
                for which in ("first request, cold caches", "second request"):
                    status, raw, line = one_logged_request(t, log_path)
                    event = check_page(raw, status, "IVEN")
                    bodies.append(raw)
                    if line is None:
                        info.statements.append((which, "no operation log line found", "-"))
                    else:
                        info.statements.append(
                            (which, line.get("statements"), line.get("duration_ms"))
                        )
                info.notes.append(f"IVEN page: {page_summary(event)}")
                info.sizes["iven"] = len(bodies[-1])
                # wrk checks every answer for the tail of a verified one (complete answers only)
                t.expect = (
                    bodies[-1][-60:].decode() if bodies[0] == bodies[1] else '"settlementPlan"'
                )

            results.append(measure(server, target, args, tmp, prepare_iven, ready_timeout=120.0))
        if "inmemory" in args.only_list:
            port = free_port()
            target = Target(
                "inmemory",
                "in-memory Strawberry event page",
                "asyncio",
                f"http://127.0.0.1:{port}/graphql",
                page_body(mem.EVENT_ID),
                {"Authorization": "Bearer " + "x" * 180},
                "",
            )

            def prepare_memory(t: Target) -> None:
                status, raw = http_post(t.url, t.body, t.headers)
                event = check_page(raw, status, "in-memory")
                info.notes.append(f"in-memory page: {page_summary(event)}")
                info.sizes["inmemory"] = len(raw)
                t.expect = raw[-60:].decode()

            results.append(
                measure(
                    baseline_server("inmemory_event_app", port, tmp / "inmemory.log"),
                    target,
                    args,
                    tmp,
                    prepare_memory,
                )
            )
    except BenchAbort as exc:
        failed = True
        print(f"\nbench_event_page: ABORTED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        failed = True
        print("\nbench_event_page: interrupted", file=sys.stderr)
    finally:
        if listener is not None:
            listener.stop()
        if not args.keep and database_made:
            try:
                recreate_database(args.mysql_url, args.database, create=False)
            except BenchAbort as exc:
                print(f"bench_event_page: {exc}", file=sys.stderr)
            try:
                flush_redis(args.redis_url)
            except BenchAbort as exc:
                print(f"bench_event_page: {exc}", file=sys.stderr)
    if results or not failed:
        report(results, args, generator_info, info)
    if failed or args.keep:
        print(
            f"\nlogs{' and wrk outputs' if not failed else ''} kept in {tmp}"
            + (f"; database {args.database} kept" if args.keep and database_made else "")
        )
        return 1 if failed else 0
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
