"""Faults under load (issue 16): kill -9 and restart each store and each server while a bounded
write load runs against two `iven-gql serve` processes, all private to the test (tests/faults/
harness.py): its own MariaDB (one per module, a fresh database per test), Redis and briskdb
listener.

Each scenario asserts: every acknowledged write exists exactly once (in MySQL and through the API);
no duplicate notification or activity entry; every subscriber whose socket stayed open received
every acknowledged chat message, without reconnecting (and the subscriber of a killed server, once
resumed from its last cursor, the rest, without gaps or repeats); a retry with the same key after
the fault returns the first result; both servers take writes again after the fault without being
restarted. Each prints one line for the fault table of the note (`pytest -s`) and writes its
figures to `faults.json` in its tmp dir.

Runs on the services backend set only (IVEN_TEST_BACKEND=services): it needs `mariadbd`,
`mariadb-install-db` and `redis-server` on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.faults.harness import (
    DEADLINE_S,
    INSTALL_DB,
    MARIADBD,
    REDIS_SERVER,
    PrivateBriskDB,
    PrivateMariaDB,
    PrivateRedis,
    Processes,
    ServerProcess,
    run_cli,
    server_env,
    tail,
    until,
)
from tests.faults.load import (
    KINDS,
    Load,
    Subscriber,
    World,
    Write,
    graphql,
    input_fields,
    make_world,
)

BACKEND = os.environ.get("IVEN_TEST_BACKEND", "embedded")

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        BACKEND != "services",
        reason="the fault suite runs on the services backend set (IVEN_TEST_BACKEND=services)",
    ),
    pytest.mark.skipif(
        not all(Path(p).exists() for p in (MARIADBD, INSTALL_DB, REDIS_SERVER)),
        reason="needs mariadbd, mariadb-install-db and redis-server",
    ),
]

PER_KIND = 15  # writes of each kind (createEvent, createTask, sendMessage) per scenario
OUTAGE_MAX_S = 5.0  # the killed process stays down until the load's middle third is done, or this
RECOVERY_DEADLINE_S = 120.0  # a write through each server succeeds within this after the restart
OUTBOX_DEADLINE_S = 120.0  # every outbox row handled after the load (handlers back off to 5 min)
# the subscribers have every acknowledged message: live delivery takes well under a second, so
# this is ample even on a loaded machine, and bounds a scenario whose messages were lost
CATCH_UP_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
async def mariadb() -> AsyncIterator[PrivateMariaDB]:
    processes = Processes()
    db = PrivateMariaDB(processes)
    try:
        await db.install()
        await db.start()
        yield db
    finally:
        await db.close()
        await processes.close()


@dataclass
class Stack:
    mariadb: PrivateMariaDB
    database: str
    redis: PrivateRedis
    briskdb: PrivateBriskDB
    servers: list[ServerProcess]
    root: Path

    def target(self, name: str) -> Any:
        return {
            "mariadb": self.mariadb,
            "redis": self.redis,
            "briskdb": self.briskdb,
            "server-A": self.servers[0],
            "server-B": self.servers[1],
        }[name]

    def logs(self) -> str:
        parts = [f"--- server {s.name}\n{tail(s.process.log, 1500)}" for s in self.servers]
        return "\n".join(parts)


@pytest.fixture
async def stack(mariadb: PrivateMariaDB, tmp_path: Path) -> AsyncIterator[Stack]:
    processes = Processes()
    if not mariadb.process.alive:  # an earlier scenario failed while it was down
        await mariadb.start()
    database = await mariadb.fresh_database()
    try:
        redis = PrivateRedis(processes, tmp_path / "redis")
        briskdb = PrivateBriskDB(processes, tmp_path / "briskdb")
        await asyncio.gather(redis.start(), briskdb.start())
        # two servers, each with a pool of 2 and a monitor: 6 of the listener's 8 connections
        env = server_env(mariadb.url(database), redis.url, briskdb.url(pool=2))
        await run_cli(["migrate"], env, tmp_path / "migrate.log", tmp_path)
        servers = [
            ServerProcess(processes, name, tmp_path / f"server-{name}", env) for name in "AB"
        ]
        await asyncio.gather(*(s.start() for s in servers))
        yield Stack(mariadb, database, redis, briskdb, servers, tmp_path)
    finally:
        await processes.close()
        if mariadb.process.alive:
            engine = mariadb.engine("mysql")
            try:
                async with engine.begin() as conn:
                    await conn.execute(text(f"DROP DATABASE IF EXISTS `{database}`"))
            finally:
                await engine.dispose()
        shutil.rmtree(tmp_path / "briskdb", ignore_errors=True)


# --- reading what the stores and the API hold -------------------------------------------------


async def mysql_counts(stack: Stack, prefix: str) -> dict[str, Counter[str]]:
    engine = stack.mariadb.engine(stack.database)
    found: dict[str, Counter[str]] = {}
    try:
        async with engine.connect() as conn:
            for kind, table in (("event", "events"), ("task", "tasks")):
                rows = await conn.execute(
                    text(f"SELECT title, COUNT(*) FROM {table} WHERE title LIKE :p GROUP BY title"),
                    {"p": f"{prefix}-%"},
                )
                found[kind] = Counter({str(t): int(n) for t, n in rows})
            # a change that may be recorded more than once (a retried send re-records its
            # mentions) names itself in its payload: it counts once
            rows = await conn.execute(text("SELECT id, event_type, payload FROM outbox"))
            changes = {(str(t), json.loads(p or "{}").get("once") or i) for i, t, p in rows}
            found["outbox"] = Counter(t for t, _ in changes)
    finally:
        await engine.dispose()
    return found


async def outbox_pending(stack: Stack) -> int:
    engine = stack.mariadb.engine(stack.database)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT COUNT(*) FROM outbox WHERE handled_at IS NULL"))
            return int(rows.scalar_one())
    finally:
        await engine.dispose()


async def pages(
    http: httpx.AsyncClient, url: str, token: str, query: str, variables: dict[str, Any], path: str
) -> list[dict[str, Any]]:
    """Every node of a connection (`path`: where it is in `data`, dotted), page by page."""
    nodes: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(100):
        result = await graphql(http, url, query, {**variables, "after": after}, token, timeout=60)
        assert not result.get("errors"), result
        connection: Any = result["data"]
        for part in path.split("."):
            connection = connection[part]
        nodes.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError(f"more than 100 pages of {path}")


async def messages_of(http: httpx.AsyncClient, url: str, world: World) -> list[dict[str, Any]]:
    """Every message of the event (history, newest last), page by page backwards."""
    nodes: list[dict[str, Any]] = []
    before: str | None = None
    for _ in range(100):
        result = await graphql(
            http,
            url,
            """query($id: ID!, $before: String) { event(id: $id) {
                 messages(last: 100, before: $before) { edges { node { id body } }
                   pageInfo { hasPreviousPage startCursor } } } }""",
            {"id": world.event_id, "before": before},
            world.alice["token"],
            timeout=60,
        )
        assert not result.get("errors"), result
        connection = result["data"]["event"]["messages"]
        nodes[:0] = [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasPreviousPage"]:
            return nodes
        before = connection["pageInfo"]["startCursor"]
    raise AssertionError("more than 100 pages of messages")


# --- one scenario -----------------------------------------------------------------------------


class Scenario:
    """One fault under the load: set up, inject, settle, then check what the stores, the API and
    the subscribers hold. `failures` collects every broken promise; `figures` the table's row."""

    def __init__(self, stack: Stack, name: str, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.name = name
        self.http = http
        self.servers = stack.servers
        self.target = stack.target(name)
        self.killed_server = (
            self.servers.index(self.target) if self.target in self.servers else None
        )
        self.failures: list[str] = []
        self.subs: list[Subscriber] = []
        self.resumed: Subscriber | None = None
        self.figures: dict[str, Any] = {"scenario": name}

    @property
    def url(self) -> str:
        return self.servers[0].url

    async def set_up(self) -> None:
        self.world = world = await make_world(self.http, self.url, self.servers[0].var_dir)
        task_key = "clientMutationId" in await input_fields(self.http, self.url, "CreateTaskInput")
        if not task_key:
            self.failures.append(
                "CreateTaskInput has no clientMutationId: createTask is sent without a key, its "
                "retries are not idempotent"
            )
        self.subs = [
            Subscriber(f"bob@{s.name}", s.ws_url, world.bob["token"], world.event_id)
            for s in self.servers
        ]
        prefix = f"f{uuid.uuid4().hex[:8]}"
        self.load = Load([s.url for s in self.servers], world, prefix, PER_KIND, task_key)
        await asyncio.gather(*(s.start() for s in self.subs))
        await self.warm_up()

    async def warm_up(self) -> None:
        """Sends a message until every subscriber has one: their subscriptions are then live."""
        deadline = time.monotonic() + DEADLINE_S
        for n in range(10_000):
            result = await graphql(
                self.http,
                self.servers[n % 2].url,
                """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
                     message { id } errors { code } } }""",
                {
                    "input": {
                        "eventId": self.world.event_id,
                        "body": f"warm-up {n}",
                        "clientId": f"w{n}",
                    }
                },
                self.world.alice["token"],
                timeout=60,
            )
            message_id = result["data"]["sendMessage"]["message"]["id"]

            async def everyone(message_id: str = message_id) -> bool:
                return all(s.got(message_id) or s.closed for s in self.subs)

            try:
                await until(everyone, "warm-up", timeout=3)
            except AssertionError:
                assert time.monotonic() < deadline, "the chat subscriptions never went live"
                continue
            assert all(s.open for s in self.subs), [s.closed for s in self.subs]
            return

    async def inject(self) -> None:
        """kill -9 once a third of the writes are acknowledged (others in flight), down until the
        load's middle third is through (or OUTAGE_MAX_S), then a restart on the same port/data."""
        load = self.load
        waiting = asyncio.create_task(load.before_fault.wait())
        await asyncio.wait(
            {self.running, waiting}, timeout=DEADLINE_S, return_when="FIRST_COMPLETED"
        )
        waiting.cancel()
        assert load.before_fault.is_set(), "the load did not get a third of its writes through"
        load.fault_at = fault_at = time.monotonic()
        await self.target.kill9()

        async def outage_over() -> bool:
            return time.monotonic() - fault_at >= OUTAGE_MAX_S or (
                load.during_fault.is_set() and load.attempts_since_fault >= 3
            )

        await until(outage_over, "the outage")
        self.figures["outage_s"] = time.monotonic() - fault_at
        self.figures["restart_s"] = await self.target.start()
        if self.killed_server is not None:
            # its socket died with it: a new one resumes from the last cursor it had
            last = self.subs[self.killed_server]
            self.resumed = Subscriber(
                f"{last.name} resumed", last.ws_url, last.token, last.event_id
            )
            await self.resumed.start(after=last.last_cursor)
        load.restarted_at = time.monotonic()
        load.restarted.set()

    async def recover(self) -> None:
        """A fresh write through each server, neither restarted (the killed one aside)."""
        probes = await asyncio.gather(
            *(self.load.probe(n, RECOVERY_DEADLINE_S) for n in range(len(self.servers)))
        )
        recovery = None if None in probes else max(p or 0.0 for p in probes)
        self.figures["recovery_s"] = recovery
        if recovery is None:
            self.failures.append(
                f"no write went through every server within {RECOVERY_DEADLINE_S:.0f} s of the "
                f"restart ({probes})"
            )

    def streams(self, index: int) -> list[Subscriber]:
        """The streams of the subscriber on server `index`: its own, and the resumed one."""
        if index == self.killed_server and self.resumed is not None:
            return [self.subs[index], self.resumed]
        return [self.subs[index]]

    async def settle(self) -> None:
        """The dispatchers have handled every outbox row; the live subscribers have caught up."""
        stack = self.stack

        async def drained() -> bool:
            return await outbox_pending(stack) == 0

        try:
            await until(drained, "outbox drained", OUTBOX_DEADLINE_S)
        except AssertionError as exc:
            self.failures.append(f"{exc}: {await outbox_pending(stack)} rows still pending")
        acked = [w.first_id for w in self.load.acked("message")]

        async def caught_up() -> bool:
            for index in range(len(self.subs)):
                streams = self.streams(index)
                seen = {m for s in streams for m in s.received}
                if streams[-1].open and not all(m in seen for m in acked):
                    return False
            return True

        with contextlib.suppress(AssertionError):  # what is missing is counted by check()
            await until(caught_up, "subscribers caught up", CATCH_UP_DEADLINE_S)

    async def run(self) -> None:
        await self.set_up()
        self.running = asyncio.create_task(self.load.run())
        try:
            await self.inject()
            await self.recover()
            await asyncio.wait_for(asyncio.shield(self.running), DEADLINE_S)
        finally:
            if not self.running.done():
                self.running.cancel()
        await self.load.replay()
        await self.settle()
        await self.check()

    async def close(self) -> None:
        for sub in [*self.subs, *([self.resumed] if self.resumed else [])]:
            await sub.close()
        if hasattr(self, "load"):
            await self.load.close()

    # --- checks -----------------------------------------------------------------------------

    async def check(self) -> None:
        acked = {kind: self.load.acked(kind) for kind in KINDS}
        self.lost: Counter[str] = Counter()
        self.duplicated: Counter[str] = Counter()
        stored = await mysql_counts(self.stack, self.load.prefix)
        self.check_mysql(stored, acked)
        messages = await self.check_api(acked)
        self.check_retries()
        await self.check_notifications(stored, messages)
        await self.check_activity(acked)
        self.check_subscribers(acked)
        not_acknowledged = [w for w in self.load.writes if not w.first_id]
        if self.load.unsent():
            self.failures.append(
                f"{self.load.unsent()} writes never sent: the load ran out of time"
            )
        for write in not_acknowledged:
            self.failures.append(
                f"{write.kind} {write.key} never acknowledged in {write.attempts} attempts "
                f"({write.errors[-3:]})"
            )
        error_kinds = Counter(e.split(":", 1)[1] for w in self.load.writes for e in w.errors)
        acked_all = self.load.acked()
        self.figures["acknowledged_by_phase"] = dict(Counter(self.load.phase(w) for w in acked_all))
        # acknowledged after at least one failed attempt of the same key: where a first attempt
        # may have taken effect without its answer arriving
        self.figures["retried"] = sum(1 for w in acked_all if w.attempts > 1)
        self.figures.update(
            acknowledged={kind: len(acked[kind]) for kind in KINDS},
            lost=dict(self.lost),
            duplicated=dict(self.duplicated),
            not_acknowledged=len(not_acknowledged),
            errors=sum(error_kinds.values()),
            error_kinds=dict(error_kinds.most_common(8)),
            failures=self.failures,
        )

    def check_mysql(self, stored: dict[str, Counter[str]], acked: dict[str, list[Write]]) -> None:
        """Events and tasks by their title (which holds the key): exactly one row each."""
        for kind in ("event", "task"):
            titles = {w.title for w in acked[kind]}
            for write in acked[kind]:
                if stored[kind][write.title] == 0:
                    self.lost[kind] += 1
                    self.failures.append(f"MySQL: acknowledged {kind} {write.key} is missing")
            for title, n in stored[kind].items():
                if n > 1:
                    self.duplicated[kind] += n - 1
                    known = "" if title in titles else "unacknowledged "
                    self.failures.append(f"MySQL: {known}{kind} {title} stored {n} times")

    async def check_api(self, acked: dict[str, list[Write]]) -> list[dict[str, Any]]:
        """What alice sees: each acknowledged write once, with the id its acknowledgement gave."""
        token, world = self.world.alice["token"], self.world
        mine = await pages(self.http, self.url, token, MY_EVENTS, {}, "myEvents")
        tasks = await pages(
            self.http, self.url, token, TASKS, {"id": world.event_id}, "event.tasks"
        )
        messages = await messages_of(self.http, self.url, world)
        self.figures["task_rows"] = len(tasks)
        listed = {
            "event": [(n["title"], n["id"]) for n in mine],
            "task": [(n["title"], n["id"]) for n in tasks],
            "message": [(n["body"], n["id"]) for n in messages],
        }
        for kind in KINDS:
            seen = Counter(title for title, _ in listed[kind])
            ids = dict(listed[kind])
            for write in acked[kind]:
                n = seen[write.title]
                if kind == "message":  # not in MySQL: counted here
                    self.lost[kind] += n == 0
                    self.duplicated[kind] += max(0, n - 1)
                if n != 1:
                    self.failures.append(f"API: acknowledged {kind} {write.key} listed {n} times")
                elif ids[write.title] != write.first_id:
                    self.failures.append(
                        f"API: {kind} {write.key} is {ids[write.title]}, its acknowledgement "
                        f"said {write.first_id}"
                    )
        return messages

    def check_retries(self) -> None:
        """Every acknowledged write sent again after the fault returned the first result."""
        differing = [w for w in self.load.acked() if any(r != w.first_id for r in w.retry_ids)]
        for write in differing:
            self.failures.append(
                f"the retry of {write.kind} {write.key} returned {write.retry_ids}, the first "
                f"answer {write.first_id}"
            )
        for write in self.load.acked():
            if not write.retry_ids and (write.kind != "task" or self.load.task_key):
                self.failures.append(f"the retry of {write.kind} {write.key} never got an answer")
        self.figures["retries_differing"] = len(differing)

    async def check_notifications(
        self, stored: dict[str, Counter[str]], messages: list[dict[str, Any]]
    ) -> None:
        """bob is told once per task assigned to him and per message mentioning him: the sum of
        the occurrences of his notifications equals the changes in the outbox, never more."""
        notes = await pages(
            self.http, self.url, self.world.bob["token"], NOTIFICATIONS, {}, "notifications"
        )
        got: Counter[str] = Counter()
        for note in notes:
            got[note["type"]] += note["occurrences"]
        expected = {
            "TASK_ASSIGNED": stored["outbox"]["task.created"],
            "MENTIONED": stored["outbox"]["chat.mentioned"],
        }
        duplicated = sum(max(0, got[t] - n) for t, n in expected.items())
        missing = sum(max(0, n - got[t]) for t, n in expected.items())
        if duplicated or missing:
            self.failures.append(f"notifications of bob: {dict(got)}, outbox rows: {expected}")
        mentions = sum(1 for m in messages if f"@{self.world.bob['username']}" in m["body"])
        if expected["MENTIONED"] != mentions:
            missing += max(0, mentions - expected["MENTIONED"])
            self.failures.append(
                f"{mentions} messages mention bob, the outbox has {expected['MENTIONED']} "
                "chat.mentioned rows"
            )
        self.figures["notifications"] = {
            "got": dict(got),
            "expected": expected,
            "duplicated": duplicated,
            "missing": missing,
        }

    async def check_activity(self, acked: dict[str, list[Write]]) -> None:
        """One task.created entry per task of the event, one event.created per event."""
        entries = Counter(
            (a["verb"], a["subjectId"])
            for a in await pages(
                self.http,
                self.url,
                self.world.alice["token"],
                ACTIVITY,
                {"id": self.world.event_id},
                "event.activity",
            )
        )
        duplicates = sum(n - 1 for n in entries.values())
        tasks = sum(1 for verb, _ in entries if verb == "TASK_CREATED")
        if tasks != self.figures["task_rows"]:
            self.failures.append(
                f"activity: {tasks} tasks created for {self.figures['task_rows']} tasks"
            )
        event_ids = [w.first_id for w in acked["event"]]
        for start in range(0, len(event_ids), 50):
            result = await graphql(
                self.http,
                self.url,
                EVENTS_ACTIVITY,
                {"ids": event_ids[start : start + 50]},
                self.world.alice["token"],
                timeout=60,
            )
            assert not result.get("errors"), result
            for node in filter(None, result["data"]["nodes"]):
                verbs = Counter(e["node"]["verb"] for e in node["activity"]["edges"])
                duplicates += max(0, verbs["EVENT_CREATED"] - 1)
                if verbs["EVENT_CREATED"] != 1:
                    self.failures.append(f"activity of event {node['id']}: {dict(verbs)}")
        if duplicates:
            self.failures.append(f"activity: {duplicates} duplicate entries")
        self.figures["activity_duplicates"] = duplicates

    def check_subscribers(self, acked: dict[str, list[Write]]) -> None:
        """Every subscriber got every acknowledged message once, its socket open throughout
        (the killed server's: up to the kill, then resumed from its last cursor)."""
        figures: dict[str, Any] = {}
        for index, sub in enumerate(self.subs):
            streams = self.streams(index)
            received = [m for s in streams for m in s.received]
            missed = [w for w in acked["message"] if w.first_id not in received]
            missing = len(missed)
            repeats = sum(n - 1 for n in Counter(received).values())
            figures[sub.name] = {
                "received": len(received),
                "missing": missing,
                "missing_by_phase": dict(Counter(self.load.phase(w) for w in missed)),
                "repeats": repeats,
                "ended": [s.closed for s in streams],
                "errors": [e for s in streams for e in s.errors],
            }
            if missing:
                self.failures.append(
                    f"{sub.name} missed {missing} acknowledged messages (acknowledged "
                    f"{figures[sub.name]['missing_by_phase']} the fault)"
                )
            if repeats:
                self.failures.append(f"{sub.name} received {repeats} messages twice")
            for stream in streams:
                if stream.closed and not (stream is sub and index == self.killed_server):
                    self.failures.append(f"{stream.name}'s stream ended: {stream.closed}")
        self.figures["subscribers"] = figures


MY_EVENTS = """query($after: String) { myEvents(first: 100, after: $after) {
  edges { node { id title } } pageInfo { hasNextPage endCursor } } }"""
TASKS = """query($id: ID!, $after: String) { event(id: $id) { tasks(first: 100, after: $after) {
  edges { node { id title } } pageInfo { hasNextPage endCursor } } } }"""
NOTIFICATIONS = """query($after: String) { notifications(first: 100, after: $after) {
  edges { node { id type occurrences } } pageInfo { hasNextPage endCursor } } }"""
ACTIVITY = """query($id: ID!, $after: String) { event(id: $id) {
  activity(first: 100, after: $after) { edges { node { verb subjectId } }
  pageInfo { hasNextPage endCursor } } } }"""
EVENTS_ACTIVITY = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on Event { id
  activity(first: 10) { edges { node { verb subjectId } } } } } }"""


def table_line(f: dict[str, Any]) -> str:
    """The scenario's row of the fault table."""
    ack = f.get("acknowledged", {})
    recovery = f.get("recovery_s")
    subscribers = f.get("subscribers", {}).values()
    notes = f.get("notifications", {})
    return (
        f"FAULT {f['scenario']}: acknowledged={sum(ack.values())} "
        f"(events {ack.get('event')}, tasks {ack.get('task')}, messages {ack.get('message')}) "
        f"lost={sum(f.get('lost', {}).values())} "
        f"duplicated={sum(f.get('duplicated', {}).values())} errors={f.get('errors')} "
        f"not-acknowledged={f.get('not_acknowledged')} retried={f.get('retried')} "
        f"retries-differing={f.get('retries_differing')} "
        f"notifications-duplicated={notes.get('duplicated')} "
        f"notifications-missing={notes.get('missing')} "
        f"activity-duplicated={f.get('activity_duplicates')} "
        f"subscriber-missing={sum(s['missing'] for s in subscribers)} "
        f"outage={f.get('outage_s', 0):.1f}s restart={f.get('restart_s', 0):.1f}s "
        f"recovery={'none' if recovery is None else f'{recovery:.1f}s'} "
        f"total={f.get('total_s', 0):.0f}s failures={len(f.get('failures', []))}"
    )


async def fault(stack: Stack, name: str, tmp_path: Path) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient() as http:
        scenario = Scenario(stack, name, http)
        try:
            await scenario.run()
        finally:
            await scenario.close()
    figures = scenario.figures
    figures["total_s"] = time.monotonic() - started
    line = table_line(figures)
    print("\n" + line)
    (tmp_path / "faults.json").write_text(json.dumps(figures, indent=2, default=str))
    failures = scenario.failures
    assert not failures, line + "\n" + "\n".join(failures[:40]) + "\n" + stack.logs()


async def test_mariadb_killed_and_restarted_under_load(stack, tmp_path):
    await fault(stack, "mariadb", tmp_path)


async def test_redis_killed_and_restarted_under_load(stack, tmp_path):
    await fault(stack, "redis", tmp_path)


async def test_document_store_killed_and_restarted_under_load(stack, tmp_path):
    await fault(stack, "briskdb", tmp_path)


async def test_server_a_killed_and_restarted_under_load(stack, tmp_path):
    await fault(stack, "server-A", tmp_path)


async def test_server_b_killed_and_restarted_under_load(stack, tmp_path):
    await fault(stack, "server-B", tmp_path)
