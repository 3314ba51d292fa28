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

Load generation, server handling, the wrk Lua script and its parsing come from bench/harness.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench import inmemory_event_app as mem
from bench.harness import Api, BenchAbort, NewUser, Result, Target

TARGET_RATIO = 0.6  # IVEN event page req/s >= 0.6 x the in-memory page req/s
PAGE_QUERY = """query Page($id: ID!) { event(id: $id) {
  id title description startsAt endsAt status currency viewerRole participantCount
  owner { id username displayName }
  participants(first: 50) { edges { node { id role rsvp displayName user { id username } } } }
  tasks(first: 50) { edges { node {
    id title status dueAt assignees { id displayName } completedBy { id } } } }
  expenses(first: 50) { edges { node {
    id title amount { amount currency } paidBy { id displayName }
    shares { amount { amount } participant { id } } } } }
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
        raise BenchAbort(
            f"{who}: the page answer is not JSON (HTTP {status}): {raw[:1000]!r}"
        ) from None
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


# --------------------------------------------------------------------------- seeding (API)


@dataclass
class Seeded:
    event_id: str
    owner_token: str
    pids: list[str]
    seconds: float
    requests: int
    tokens: list[str] = field(default_factory=list)  # every participant's, owner first


async def seed_users(api: Api, outbox: Path) -> list[str]:
    suffix = secrets.token_hex(3)
    # One registration at a time: concurrent `register` mutations deadlock on MariaDB
    # (1213 on INSERT INTO one_time_secrets after the UPDATE of replace_secret, gap locks).
    lock = asyncio.Lock()
    users = [
        NewUser(
            f"bench_{suffix}_{i:02d}",
            f"bench-{suffix}-{i:02d}@example.com",
            PASSWORD,
            "Bench",
            f"User{i:02d}",
        )
        for i in range(mem.N_PARTICIPANTS)
    ]
    return list(await asyncio.gather(*(harness.register_user(api, outbox, u, lock) for u in users)))


async def create_event(api: Api, owner: str) -> tuple[str, str]:
    """The event's id and its owner's participation id."""
    created = await api.gql(
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
        owner,
        "createEvent",
    )
    return created["event"]["id"], created["event"]["viewerParticipation"]["id"]


async def join_all(api: Api, event_id: str, tokens: list[str]) -> list[str]:
    """Users 1.. join with invite links of their planned roles: their participation ids."""
    roles = mem.roles()
    links: dict[str, str] = {}
    for role in sorted(set(roles) - {"OWNER"}):
        link = await api.gql(
            """mutation($input: CreateInviteLinkInput!) {
              createInviteLink(input: $input) { token errors { code message } } }""",
            {"input": {"eventId": event_id, "role": role}},
            tokens[0],
            "createInviteLink",
        )
        links[role] = link["token"]

    async def join(i: int) -> str:
        joined = await api.gql(
            """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
              participant { id role } errors { code message } } }""",
            {"t": links[roles[i]]},
            tokens[i],
            "joinWithInviteLink",
        )
        if joined["participant"]["role"] != roles[i]:
            raise BenchAbort(f"seeding: user {i} joined as {joined['participant']}")
        return str(joined["participant"]["id"])

    return list(await asyncio.gather(*(join(i) for i in range(1, len(tokens)))))


async def set_rsvps(api: Api, event_id: str, tokens: list[str]) -> None:
    rsvps = ["GOING", "MAYBE", "GOING", "DECLINED"]  # as inmemory_event_app
    await asyncio.gather(
        *(
            api.gql(
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


async def create_task(
    api: Api, event_id: str, tokens: list[str], pids: list[str], spec: dict[str, Any]
) -> None:
    made = await api.gql(
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
        await api.gql(
            """mutation($id: ID!) { completeTask(input: {taskId: $id}) {
              task { status } errors { code message } } }""",
            {"id": made["task"]["id"]},
            tokens[spec["completed_by"]],
            "completeTask",
        )


async def create_expense(
    api: Api, event_id: str, tokens: list[str], pids: list[str], spec: dict[str, Any]
) -> None:
    await api.gql(
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
                    "parts": [{"participantId": pids[m], "value": v} for m, v in spec["parts"]],
                },
            }
        },
        tokens[spec["payer"]],
        "createExpense",
    )


async def seed(url: str, outbox: Path, concurrency: int) -> Seeded:
    """The plan of inmemory_event_app.py, through the GraphQL API."""
    start = time.perf_counter()
    api = Api(url, concurrency, label="seeding")
    try:
        tokens = await seed_users(api, outbox)
        event_id, owner_pid = await create_event(api, tokens[0])
        pids = [owner_pid, *await join_all(api, event_id, tokens)]
        await set_rsvps(api, event_id, tokens)
        await asyncio.gather(
            *(create_task(api, event_id, tokens, pids, s) for s in mem.task_plan())
        )
        await asyncio.gather(
            *(create_expense(api, event_id, tokens, pids, s) for s in mem.expense_plan())
        )
    finally:
        await api.aclose()
    return Seeded(event_id, tokens[0], pids, time.perf_counter() - start, api.requests, tokens)


# --------------------------------------------------------------------------- scenario


@dataclass
class Info:
    notes: list[str] = field(default_factory=list)
    statements: list[tuple[str, Any, Any]] = field(default_factory=list)  # (which, count, ms)
    sizes: dict[str, int] = field(default_factory=dict)


def check_iven_page(t: Target, log_path: Path, info: Info) -> None:
    """Two checked page requests with their SQL statement counts; sets what wrk expects."""
    bodies = []
    event: dict[str, Any] = {}
    for which in ("first request, cold caches", "second request"):
        status, raw, line = harness.logged_post(t, log_path, "Page")
        event = check_page(raw, status, "IVEN")
        bodies.append(raw)
        if line is None:
            info.statements.append((which, "no operation log line found", "-"))
        else:
            info.statements.append((which, line.get("statements"), line.get("duration_ms")))
    info.notes.append(f"IVEN page: {page_summary(event)}")
    info.sizes["iven"] = len(bodies[-1])
    # wrk checks every answer for the tail of a verified one (complete answers only)
    t.expect = bodies[-1][-60:].decode() if bodies[0] == bodies[1] else '"settlementPlan"'


def measure_iven(
    args: argparse.Namespace, tmp: Path, services: harness.Services, info: Info
) -> Result:
    services.open()
    env = services.env(RATE_REGISTER_IP="10000/3600", RATE_LOGIN_IP="10000/900")
    env.setdefault("IVEN_LOG_LEVEL", "INFO")  # the operation line carries the statement count
    info.notes.append(
        f"IVEN stores: {env['IVEN_DATABASE_URL']}, {env['IVEN_REDIS_URL']}, briskdb "
        f"listener {env['IVEN_MONGODB_URL']} (the page reads no documents); "
        f"IVEN_LOG_LEVEL={env['IVEN_LOG_LEVEL']}"
    )
    port = harness.free_port()
    log_path = tmp / f"iven-{args.loop}.log"
    server = harness.iven_server(
        f"iven-gql serve --loop {args.loop}", port, env, tmp, log_path, "--loop", args.loop
    )
    url = f"http://127.0.0.1:{port}/graphql"
    target = Target(
        "iven", "IVEN event page (MariaDB)", args.loop, url, page_body("RXZlbnQ6MA=="), {}, ""
    )

    def prepare(t: Target) -> None:
        outbox = Path(env["IVEN_VAR_DIR"]) / "outbox"
        try:
            seeded = asyncio.run(seed(t.url, outbox, args.seed_concurrency))
        except BenchAbort as exc:
            raise harness.with_server_errors(exc, log_path) from exc
        info.notes.append(
            f"seeded through the API in {seeded.seconds:.1f} s ({seeded.requests} requests)"
        )
        t.body = page_body(seeded.event_id)
        t.headers["Authorization"] = f"Bearer {seeded.owner_token}"
        check_iven_page(t, log_path, info)

    return harness.measure(server, target, args, tmp, prepare, ready_timeout=120.0)


def measure_inmemory(args: argparse.Namespace, tmp: Path, info: Info) -> Result:
    port = harness.free_port()
    target = Target(
        "inmemory",
        "in-memory Strawberry event page",
        "asyncio",
        f"http://127.0.0.1:{port}/graphql",
        page_body(mem.EVENT_ID),
        {"Authorization": "Bearer " + "x" * 180},
        "",
    )

    def prepare(t: Target) -> None:
        status, raw = harness.http_post(t.url, t.body, t.headers)
        event = check_page(raw, status, "in-memory")
        info.notes.append(f"in-memory page: {page_summary(event)}")
        info.sizes["inmemory"] = len(raw)
        t.expect = raw[-60:].decode()

    server = harness.baseline_server("inmemory_event_app", port, tmp / "inmemory.log")
    return harness.measure(server, target, args, tmp, prepare)


def report(
    results: list[Result], args: argparse.Namespace, generator_info: str, info: Info
) -> None:
    harness.print_header(generator_info, args, info.notes)
    columns = harness.Columns(label=36, rps=9, bad=5, body_sizes=info.sizes)
    harness.print_results(results, columns)
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
        print(
            f"ratio IVEN event page / in-memory event page (req/s): {ratio:.2f}x   "
            f"target >= {TARGET_RATIO}x: {harness.verdict(ratio, TARGET_RATIO)}"
        )
    else:
        print("(the ratio needs both `iven` and `inmemory` in --only)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_load_options(p)
    p.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the IVEN server (asyncio); the in-memory app uses asyncio",
    )
    p.add_argument(
        "--only", default="iven,inmemory", help="targets, comma separated: iven,inmemory (both)"
    )
    harness.add_store_options(p, "iven_bench", redis_db=14)
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator_info = harness.choose_generator(args, "bench_event_page")
    tmp = harness.work_dir("iven-bench-page-")
    print(f"bench_event_page: {generator_info}; temporary directory {tmp}")
    results: list[Result] = []
    info = Info()
    services = harness.Services(
        "bench_event_page", args.mysql_url, args.database, args.redis_url, tmp
    )
    failed = False
    try:
        if "iven" in args.only_list:
            results.append(measure_iven(args, tmp, services, info))
        if "inmemory" in args.only_list:
            results.append(measure_inmemory(args, tmp, info))
    except BenchAbort as exc:
        failed = True
        print(f"\nbench_event_page: ABORTED: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        failed = True
        print("\nbench_event_page: interrupted", file=sys.stderr)
    finally:
        services.close(args.keep)
    if results or not failed:
        report(results, args, generator_info, info)
    if failed or args.keep:
        print(
            f"\nlogs{' and wrk outputs' if not failed else ''} kept in {tmp}"
            + (f"; database {args.database} kept" if args.keep and services.database_made else "")
        )
        return 1 if failed else 0
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
