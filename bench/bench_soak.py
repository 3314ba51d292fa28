#!/usr/bin/env python
"""Soak: memory, latency and outbox lag of two servers under a steady, modest write load.

Run on demand (never part of the test suite), from the project's virtualenv, with MariaDB/MySQL
and Redis running:

    python bench/bench_soak.py [--minutes 30] [--rate 2.5] [--redis-db 7] [--users 6]
                               [--diagnose] [--malloc-arena-max N] [--keep]

What it does:
  1. a fresh database (--database, default iven_bench_soak), Redis db --redis-db flushed (its
     own pub/sub namespace), a briskdb MongoDB listener; two `iven-gql serve` processes (one
     worker each, the outbox dispatcher on in both) sharing them and one JWT secret;
  2. seeds through the API: --users users (register + confirmEmail), one shared event that all
     joined;
  3. a `chatEvents` subscriber per server over WebSocket (graphql-transport-ws) on that event,
     signing in again and resubscribing when its token expires;
  4. for --minutes: --rate writes per second, alternating the servers, drawn from a fixed mix
     (sign-in 10 %, createEvent 10 %, createTask 35 % - 4 in 5 in the user's latest own event,
     1 in 5 in the shared one -, sendMessage 45 % in the shared event), and as many reads (the
     shared event's page and the notifications, in turn); each request is started on its tick (the
     load does not slow down when the servers do) and its answer is checked;
  5. every minute prints each server's RSS (VmRSS of /proc/PID/status), p50/p99 of the minute's
     requests, errors, the outbox lag (age of the oldest unhandled outbox row, read from MySQL)
     and the chat frames the subscribers received;
  6. at the end: RSS growth of each server over the last 2/3 of the run against the target
     (<= 5 MB: PASS/FAIL; exit code 0 either way, 1 when the bench itself could not run).

--diagnose starts the servers under tracemalloc (this script re-runs itself as a wrapper
around `iven-gql serve`): every minute each server appends to diag<k>.txt in the work directory
the top allocation differences by line since the first minute and since the previous one, and
the object counts by type that grew. tracemalloc slows the servers and costs memory of its own:
RSS figures of a diagnosed run are not the verdict's. --malloc-arena-max sets MALLOC_ARENA_MAX
for the servers (fewer glibc arenas: tells allocator fragmentation from growth).

The document store is the briskdb stand-in (its process is not measured; its latency says
nothing about MongoDB).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import json
import os
import random
import secrets
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from bench import harness
from bench.harness import Api, BenchAbort, Server, pct

PASSWORD = "soak-pass-" + secrets.token_hex(8)
TARGET_MB = 5.0
MIX = (("signIn", 10), ("createEvent", 10), ("createTask", 35), ("sendMessage", 45))
TOKEN_MAX_AGE_S = 600.0  # access tokens live 15 minutes: sign in again before

LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
  accessToken errors { code message } } }"""
CREATE_EVENT = """mutation($input: CreateEventInput!) { createEvent(input: $input) {
  event { id } errors { code field message } } }"""
CREATE_TASK = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id } errors { code field message } } }"""
SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  message { id } errors { code message } } }"""
PAGE = """query SoakPage($id: ID!) { event(id: $id) {
  id title description startsAt endsAt status currency viewerRole participantCount
  owner { id displayName }
  participants(first: 20) { edges { node { id role rsvp displayName } } }
  tasks(first: 20) { edges { node { id title status dueAt assignees { id displayName } } } }
  balances { participant { id } net { amount } } } }"""
NOTIFICATIONS = """query SoakNotifications { unreadNotificationCount
  notifications(first: 20) { edges { node { id type title body occurrences targetType } } } }"""
SUBSCRIPTION = """subscription($id: ID!) { chatEvents(eventId: $id) { __typename
  ... on MessageAdded { message { id body author { displayName } } } } }"""


# --------------------------------------------------------------------------- diagnostic wrapper


def type_counts() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def by_line() -> dict[str, tuple[int, int]]:
    """Traced memory per allocating line (size, count), without this module's own."""
    if not tracemalloc.is_tracing():
        return {}
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    )
    return {
        f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}": (stat.size, stat.count)
        for stat in snap.statistics("lineno")
    }


def rss_split() -> str:
    """Anonymous (heap) and file-backed (code, libraries paged in as first used) RSS."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return ", ".join(
        f"{name} {int(fields.get(name, '0 kB').split()[0]) / 1024:.1f} MB"
        for name in ("RssAnon", "RssFile")
    )


def malloc_info() -> str:
    """glibc's view: bytes in use, free but kept in the heaps, mmapped (fragmentation shows
    as free-kept growing while in-use does not)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return "no glibc"

    class MallInfo2(ctypes.Structure):
        _fields_ = [  # noqa: RUF012 - ctypes' layout
            (name, ctypes.c_size_t)
            for name in (
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
            ).split()
        ]

    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return (
        f"malloc in use {info.uordblks / 1e6:.1f} MB, free kept {info.fordblks / 1e6:.1f} MB, "
        f"mmapped {info.hblkhd / 1e6:.1f} MB"
    )


def diff_lines(
    now: dict[str, tuple[int, int]], base: dict[str, tuple[int, int]], top: int
) -> list[str]:
    deltas = []
    for line, (size, count) in now.items():
        old_size, old_count = base.get(line, (0, 0))
        deltas.append((size - old_size, count - old_count, line, size))
    for line, (old_size, old_count) in base.items():
        if line not in now:
            deltas.append((-old_size, -old_count, line, 0))
    deltas.sort(key=lambda d: -abs(d[0]))
    return [f"  {d:+10,d} B {c:+7d}  now {s:>10,d} B  {line}" for d, c, line, s in deltas[:top]]


def diagnose_loop(out: Path, interval: float) -> None:
    """In the server's process: every `interval` s, tracemalloc differences and object counts."""
    first: dict[str, tuple[int, int]] = {}
    last: dict[str, tuple[int, int]] = {}
    first_types = last_types = collections.Counter[str]()
    minute = 0
    while True:
        time.sleep(interval)
        minute += 1
        types = type_counts()
        lines_now = by_line()
        total = sum(size for size, _ in lines_now.values())
        lines = [
            f"=== {minute} x {interval:g} s: {rss_split()}; traced {total / 1e6:.2f} MB; "
            f"{malloc_info()}; "
            f"Python blocks {sys.getallocatedblocks()}; threads {threading.active_count()}; "
            f"gc objects {sum(types.values())}"
        ]
        if minute > 1:
            for label, base, base_types in (
                ("since the first", first, first_types),
                ("since the last", last, last_types),
            ):
                lines.append(f"--- top {label}")
                lines += diff_lines(lines_now, base, 25)
                grown = (types - base_types).most_common(25)
                lines.append(f"--- object types grown {label}: {grown}")
        else:
            first, first_types = lines_now, types
        last, last_types = lines_now, types
        lines.append(f"gc counts {gc.get_count()} stats {gc.get_stats()}")
        if os.environ.get("SOAK_DIAG_COLLECT") == "1":  # the experiment: is it garbage?
            t0 = time.perf_counter()
            found = gc.collect()
            lines.append(
                f"gc.collect(): {found} unreachable in {(time.perf_counter() - t0) * 1000:.1f} ms;"
                f" Python blocks now {sys.getallocatedblocks()}"
            )
        with open(out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


def serve_traced(diag: str, interval: float, argv: list[str]) -> int:
    """`iven-gql <argv>` with the diagnostic thread writing to `diag` (tracemalloc on with
    SOAK_DIAGNOSE=trace)."""
    from iven_gql import cli  # noqa: PLC0415 - the server's code, only in the wrapper

    if os.environ.get("SOAK_DIAGNOSE") == "trace":
        tracemalloc.start()
    threading.Thread(target=diagnose_loop, args=(Path(diag), interval), daemon=True).start()
    return cli.main(argv)


# --------------------------------------------------------------------------- the load


@dataclass
class Stats:
    """What one minute's requests gave."""

    latencies: list[float] = field(default_factory=list)
    by_op: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    skipped: int = 0


@dataclass
class Soak:
    args: argparse.Namespace
    urls: list[str]
    outbox: Path
    apis: list[Api]
    emails: list[str] = field(default_factory=list)
    tokens: list[tuple[str, float]] = field(default_factory=list)
    event_id: str = ""
    own_events: dict[int, str] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    in_flight: int = 0
    frames: list[int] = field(default_factory=lambda: [0, 0])
    resubscribed: list[int] = field(default_factory=lambda: [0, 0])
    sent_count: int = 0
    error_samples: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(16))
    mix: tuple[tuple[str, int], ...] = MIX

    async def seed(self) -> None:
        suffix = secrets.token_hex(3)
        for i in range(self.args.users):
            email = f"soak-{suffix}-{i}@example.com"
            user = harness.NewUser(f"soak_{suffix}_{i}", email, PASSWORD, "Soak", f"User {i}")
            token = await harness.register_user(self.apis[0], self.outbox, user)
            self.emails.append(email)
            self.tokens.append((token, time.monotonic()))
        created = await self.apis[0].gql(
            CREATE_EVENT, {"input": event_input("Soak weekend")}, self.tokens[0][0], "createEvent"
        )
        self.event_id = str(created["event"]["id"])
        link = await self.apis[0].gql(
            """mutation($input: CreateInviteLinkInput!) { createInviteLink(input: $input) {
          token errors { code } } }""",
            {"input": {"eventId": self.event_id, "role": "PARTICIPANT"}},
            self.tokens[0][0],
            "createInviteLink",
        )
        for token, _ in self.tokens[1:]:
            await self.apis[1].gql(
                """mutation($t: String!) { joinWithInviteLink(input: {token: $t}) {
              participant { id } errors { code } } }""",
                {"t": link["token"]},
                token,
                "joinWithInviteLink",
            )

    async def sign_in(self, user: int, server: int) -> str:
        found = await self.apis[server].gql(
            LOGIN, {"input": {"email": self.emails[user], "password": PASSWORD}}, None, "login"
        )
        token = str(found["accessToken"])
        self.tokens[user] = (token, time.monotonic())
        return token

    async def token(self, user: int, server: int) -> str:
        token, issued = self.tokens[user]
        if time.monotonic() - issued > TOKEN_MAX_AGE_S:
            return await self.sign_in(user, server)
        return token

    async def write(self, op: str, server: int) -> None:
        user = self.rng.randrange(len(self.emails))
        api = self.apis[server]
        if op == "signIn":
            await self.sign_in(user, server)
            return
        token = await self.token(user, server)
        if op == "createEvent":
            n = self.sent_count
            created = await api.gql(
                CREATE_EVENT, {"input": event_input(f"Soak event {n}")}, token, "createEvent"
            )
            self.own_events[user] = str(created["event"]["id"])
        elif op == "createTask":
            # mostly in the user's latest own event, sometimes in the shared one (whose page
            # is read: it grows by ~10 tasks a minute, not 50)
            event = self.own_events.get(user) if self.rng.random() < 0.8 else None
            await api.gql(
                CREATE_TASK,
                {"input": {"eventId": event or self.event_id, "title": f"task {self.sent_count}"}},
                token,
                "createTask",
            )
        else:
            await api.gql(
                SEND,
                {"input": {"eventId": self.event_id, "body": f"soak message {self.sent_count}"}},
                token,
                "sendMessage",
            )

    async def read(self, op: str, server: int) -> None:
        user = self.rng.randrange(len(self.emails))
        token = await self.token(user, server)
        if op == "eventPage":
            found = await self.apis[server].gql(PAGE, {"id": self.event_id}, token)
            if not found.get("event"):
                raise BenchAbort(f"the event page answered no event: {found}")
        else:
            await self.apis[server].gql(NOTIFICATIONS, {}, token)

    async def timed(self, op: str, server: int, coro: Any) -> None:
        stats = self.stats
        self.in_flight += 1
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(coro, 60)
        except (BenchAbort, OSError, TimeoutError, ValueError) as exc:
            stats.errors[op] += 1
            self.note_error(f"{op} on server {server + 1}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - httpx and the like: counted, not fatal
            stats.errors[op] += 1
            self.note_error(f"{op} on server {server + 1}: {exc!r}")
            return
        finally:
            self.in_flight -= 1
        ms = (time.perf_counter() - t0) * 1000
        stats.latencies.append(ms)
        stats.by_op[op].append(ms)

    async def drive(self, until: float, tasks: set[asyncio.Task[None]]) -> None:
        """--rate writes/s and as many reads, each started on its tick, until `until`."""
        ops = [op for op, weight in self.mix for _ in range(weight)]
        interval = 1.0 / self.args.rate
        next_at = time.monotonic()
        n = 0
        while next_at < until:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            if self.in_flight >= self.args.max_in_flight:
                self.stats.skipped += 2
                continue
            server = n % 2
            op = self.rng.choice(ops)
            reading = "eventPage" if n % 4 < 2 else "notifications"  # both, on both servers
            self.sent_count += 1
            n += 1
            for coro in (
                self.timed(op, server, self.write(op, server)),
                self.timed(reading, 1 - server, self.read(reading, 1 - server)),
            ):
                task = asyncio.ensure_future(coro)
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def subscriber(self, server: int, stop: asyncio.Event) -> None:
        """One chatEvents socket on `server`, signing in again when it is closed (an expired
        token closes it with 4401)."""
        user = server  # users 0 and 1
        first = True
        while not stop.is_set():
            token = self.tokens[user][0] if first else await self.sign_in(user, server)
            if not first:
                self.resubscribed[server] += 1
            first = False
            try:
                await self.listen(server, token, stop)
            except asyncio.CancelledError:
                raise
            except websockets.ConnectionClosed:
                pass
            except Exception as exc:  # noqa: BLE001 - counted, then reconnect
                self.stats.errors["chatEvents"] += 1
                self.note_error(f"subscriber {server + 1}: {exc!r}")
                await asyncio.sleep(1)

    async def listen(self, server: int, token: str, stop: asyncio.Event) -> None:
        ws_url = self.urls[server].replace("http://", "ws://")
        async with websockets.connect(
            ws_url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            ping_interval=None,
            open_timeout=60,
        ) as ws:
            init = {"authorization": f"Bearer {token}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise BenchAbort(f"no ack: {ack}")
            payload = {"query": SUBSCRIPTION, "variables": {"id": self.event_id}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            closing = asyncio.ensure_future(stop.wait())
            try:
                while not stop.is_set():
                    receiving = asyncio.ensure_future(ws.recv())
                    done, _ = await asyncio.wait(
                        {receiving, closing}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if receiving not in done:
                        receiving.add_done_callback(forget)
                        receiving.cancel()
                        return
                    message = json.loads(receiving.result())
                    if message.get("type") == "next" and not message["payload"].get("errors"):
                        self.frames[server] += 1
                    elif message.get("type") == "ping":
                        await ws.send(json.dumps({"type": "pong"}))
                    else:
                        self.stats.errors["chatEvents"] += 1
                        self.note_error(f"subscriber {server + 1}: {json.dumps(message)[:300]}")
            finally:
                closing.cancel()

    def note_error(self, line: str) -> None:
        if len(self.error_samples) < 20:
            self.error_samples.append(line[:400])


def forget(task: asyncio.Future[Any]) -> None:
    """Retrieves an abandoned task's outcome (a socket closed meanwhile is no error)."""
    if not task.cancelled():
        task.exception()


def parse_mix(spec: str | None) -> tuple[tuple[str, int], ...]:
    if not spec:
        return MIX
    known = {op for op, _ in MIX}
    mix = []
    for part in spec.split(","):
        op, _, weight = part.partition("=")
        if op not in known or not weight.isdigit():
            raise BenchAbort(f"--mix: {part!r} is not one of {sorted(known)}=weight")
        mix.append((op, int(weight)))
    return tuple(mix)


def event_input(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "startsAt": "2031-06-01T10:00:00+00:00",
        "endsAt": "2031-06-02T10:00:00+00:00",
        "currency": "EUR",
        "timezone": "UTC",
        "description": "A soak test event.",
    }


# --------------------------------------------------------------------------- measuring


async def outbox_lag(engine: AsyncEngine) -> tuple[float, int]:
    """Age in seconds of the oldest unhandled outbox row (0 when none) and how many there are."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)), "
                    "COUNT(*) FROM outbox WHERE handled_at IS NULL"
                )
            )
        ).one()
    return (float(row[0]) / 1e6 if row[0] is not None else 0.0), int(row[1])


@dataclass
class Sample:
    minute: int
    rss_kb: list[int]
    requests: int = 0
    errors: int = 0
    p50: float = float("nan")
    p99: float = float("nan")
    lag_s: float = 0.0
    pending: int = 0
    frames: list[int] = field(default_factory=lambda: [0, 0])


def print_sample(s: Sample, skipped: int) -> None:
    rss = "  ".join(f"{kb / 1024:>8.1f}" for kb in s.rss_kb)
    print(
        f"{s.minute:>4}  {rss}  {s.requests:>5} {s.errors:>4} {harness.fmt(s.p50, 1):>8} "
        f"{harness.fmt(s.p99, 1):>8}  {s.lag_s:>7.2f} {s.pending:>5}  "
        f"{s.frames[0]:>5} {s.frames[1]:>5}" + (f"  ({skipped} skipped)" if skipped else ""),
        flush=True,
    )


async def run_soak(
    args: argparse.Namespace, tmp: Path, servers: list[Server], urls: list[str], db_url: str
) -> int:
    apis = [Api(u, label=f"server {k + 1}") for k, u in enumerate(urls)]
    engine = create_async_engine(db_url)
    soak = Soak(args, urls, tmp / "var0" / "outbox", apis, mix=parse_mix(args.mix))
    stop = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    subscribers: list[asyncio.Task[None]] = []
    try:
        await soak.seed()
        subscribers = [asyncio.ensure_future(soak.subscriber(k, stop)) for k in range(2)]
        pids = [s.pid for s in servers]
        print(
            f"\n{args.minutes} minutes, {args.rate:g} writes/s and {args.rate:g} reads/s over two "
            f"servers (pids {pids[0]}, {pids[1]}), {args.users} users, a chatEvents subscriber "
            f"per server"
        )
        print(
            f"mix of writes: {', '.join(f'{op} {w}' for op, w in soak.mix)}; reads: event page, "
            "notifications"
        )
        print(
            f"\n{'min':>4}  {'RSS1 MB':>8}  {'RSS2 MB':>8}  {'reqs':>5} {'err':>4} "
            f"{'p50 ms':>8} {'p99 ms':>8}  {'lag s':>7} {'pend':>5}  {'chat1':>5} {'chat2':>5}"
        )
        samples = [Sample(0, [harness.rss_kb(p) for p in pids])]
        print_sample(samples[0], 0)
        all_latencies: list[float] = []
        by_op: dict[str, list[float]] = collections.defaultdict(list)
        errors: collections.Counter[str] = collections.Counter()
        started = time.monotonic()
        for minute in range(1, args.minutes + 1):
            await soak.drive(started + minute * 60.0, tasks)
            stats, soak.stats = soak.stats, Stats()
            for server in servers:
                if server.proc is not None and server.proc.poll() is not None:
                    raise BenchAbort(f"{server.name} exited:\n{server.log_tail()}")
            lag, pending = await outbox_lag(engine)
            sample = Sample(
                minute,
                [harness.rss_kb(p) for p in pids],
                len(stats.latencies),
                sum(stats.errors.values()),
                pct(stats.latencies, 50),
                pct(stats.latencies, 99),
                lag,
                pending,
                list(soak.frames),
            )
            soak.frames = [0, 0]
            samples.append(sample)
            print_sample(sample, stats.skipped)
            all_latencies += stats.latencies
            for op, values in stats.by_op.items():
                by_op[op] += values
            errors.update(stats.errors)
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        report(args, samples, all_latencies, by_op, errors, soak)
        return 0
    finally:
        stop.set()
        for task in [*subscribers, *tasks]:
            task.cancel()
        await asyncio.gather(*subscribers, *tasks, return_exceptions=True)
        for api in apis:
            await api.aclose()
        await engine.dispose()


def report(
    args: argparse.Namespace,
    samples: list[Sample],
    latencies: list[float],
    by_op: dict[str, list[float]],
    errors: collections.Counter[str],
    soak: Soak,
) -> None:
    print(f"\nrequests: {len(latencies)}, errors: {dict(errors) or 0}")
    print(
        f"  all: p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms"
    )
    for op, values in sorted(by_op.items()):
        print(
            f"  {op:<14} {len(values):>6}  p50 {pct(values, 50):>7.1f} ms  "
            f"p99 {pct(values, 99):>7.1f} ms"
        )
    print(f"subscribers signed in again (expired tokens): {soak.resubscribed}")
    for line in soak.error_samples[:10]:
        print(f"  error: {line}")
    lags = [s.lag_s for s in samples[1:]]
    print(f"outbox lag: max {max(lags, default=0):.2f} s, last {lags[-1] if lags else 0:.2f} s")
    start = samples[len(samples) // 3] if len(samples) > 1 else samples[0]
    end = samples[-1]
    verdicts = []
    for k in range(2):
        growth = (end.rss_kb[k] - start.rss_kb[k]) / 1024
        whole = (end.rss_kb[k] - samples[0].rss_kb[k]) / 1024
        ok = growth <= TARGET_MB
        verdicts.append(ok)
        print(
            f"server {k + 1}: RSS {samples[0].rss_kb[k] / 1024:.1f} -> {end.rss_kb[k] / 1024:.1f} "
            f"MB (+{whole:.1f}); minute {start.minute} -> {end.minute}: {growth:+.1f} MB "
            f"(target <= {TARGET_MB:g} MB): {'PASS' if ok else 'FAIL'}"
        )
    print(f"verdict: {'PASS' if all(verdicts) else 'FAIL'}")


# --------------------------------------------------------------------------- orchestration


def start_servers(
    args: argparse.Namespace, tmp: Path, services: harness.Services, servers: list[Server]
) -> list[str]:
    urls = []
    secret = secrets.token_urlsafe(32)
    namespace = f"soak-{secrets.token_hex(4)}"  # pub/sub is not scoped by the db number
    for k in range(2):
        env = services.env(
            tmp / f"var{k}",
            RUN_MIGRATIONS_ON_START="true" if k == 0 else "false",
            REDIS_CHANNEL_NAMESPACE=namespace,
            JWT_SECRET=secret,
            DISPATCHER="true",
            RATE_REGISTER_IP="10000/3600",
            RATE_LOGIN_IP="100000/900",
            RATE_LOGIN_ACCOUNT="100000/900",
            RATE_CHAT_SEND="100000/10",
            LOG_LEVEL=args.log_level,
        )
        env["SOAK_DIAG_INTERVAL"] = str(args.diagnose_interval)
        env["SOAK_DIAGNOSE"] = args.diagnose or ""
        if args.diagnose_collect and k == 1:
            env["SOAK_DIAG_COLLECT"] = "1"
        if args.malloc_arena_max:
            env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
        port = harness.free_port()
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        if args.diagnose:
            argv = [harness.PY, __file__, "--serve-traced", str(tmp / f"diag{k}.txt"), "--", *serve]
            server = Server(f"iven{k}", argv, env, tmp, tmp / f"server{k}.log")
        else:
            server = harness.iven_server(f"iven{k}", port, env, tmp, tmp / f"server{k}.log")
        server.start()
        servers.append(server)
        server.wait_port(port, 120)
        urls.append(f"http://127.0.0.1:{port}/graphql")
    return urls


async def orchestrate(args: argparse.Namespace, tmp: Path) -> int:
    redis_url = f"{args.redis_url.rstrip('/')}/{args.redis_db}"
    services = harness.Services("bench_soak", args.mysql_url, args.database, redis_url, tmp, 4)
    servers: list[Server] = []
    try:
        await asyncio.to_thread(services.open)
        urls = await asyncio.to_thread(start_servers, args, tmp, services, servers)
        return await run_soak(args, tmp, servers, urls, services.database_url)
    finally:
        for server in servers:
            server.stop()
        await asyncio.to_thread(services.close, args.keep)
        if args.diagnose:
            print(f"diagnostics: {tmp}/diag0.txt, {tmp}/diag1.txt")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=int, default=30)
    p.add_argument("--rate", type=float, default=2.5, help="writes per second (2.5)")
    p.add_argument("--users", type=int, default=6)
    p.add_argument("--max-in-flight", type=int, default=50, help=argparse.SUPPRESS)
    p.add_argument(
        "--mysql-url",
        default=harness.DEFAULT_MYSQL_URL,
        help="server URL without a database (mysql+aiomysql://root@127.0.0.1:3306)",
    )
    p.add_argument("--database", default="iven_bench_soak")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="without a db number")
    p.add_argument("--redis-db", type=int, default=7, help="Redis db, flushed first (7)")
    p.add_argument("--log-level", default="WARNING", help="the servers' IVEN_LOG_LEVEL")
    p.add_argument(
        "--diagnose",
        nargs="?",
        const="malloc",
        choices=("malloc", "trace"),
        help="per minute in diag<k>.txt: glibc malloc figures and object counts (malloc), "
        "and tracemalloc differences by line (trace)",
    )
    p.add_argument(
        "--diagnose-collect",
        action="store_true",
        help="with --diagnose: the second server runs a full gc.collect() after each report",
    )
    p.add_argument("--mix", help="writes and weights, e.g. signIn=10,createTask=90")
    p.add_argument("--diagnose-interval", type=float, default=60.0, help=argparse.SUPPRESS)
    p.add_argument("--malloc-arena-max", type=int, default=0)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--serve-traced", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--serve-traced":
        # wrapper: --serve-traced DIAG [--interval S] -- serve ...
        rest = argv[argv.index("--") + 1 :]
        return serve_traced(argv[1], float(os.environ.get("SOAK_DIAG_INTERVAL", "60")), rest)
    args = parse_args(argv)
    tmp = harness.work_dir("iven-bench-soak-")
    try:
        return asyncio.run(orchestrate(args, tmp))
    except BenchAbort as exc:
        print(f"bench aborted: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"(work directory: {tmp})")


if __name__ == "__main__":
    sys.exit(main())
