"""Domain events: the outbox written with each change, the dispatcher's guarantees (retries,
per-aggregate order, leases, racing dispatchers), the snapshots and the activity feed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from pymongo.errors import AutoReconnect
from sqlmodel import col, func, select, update

from resolvers.dispatcher import Dispatcher, DomainEvent, dispatcher
from resolvers.notifications import notify
from resolvers.projections import HANDLERS, project_activity, rebuild_all
from schema.activity import rendered_details
from stores import notifications as notes
from stores import outbox
from stores import projections as docs
from stores.db import utcnow
from tests.factories import crew
from tests.support import assert_error, drain_outbox
from tests.support.live import until
from tests.support.tasks import CREATE_EXPENSE, CREATE_TASK, expense, step

ACTIVITY = """query($id: ID!, $first: Int, $after: String) { event(id: $id) {
  activity(first: $first, after: $after) {
    edges { cursor node { verb actorName actor { username } subjectType subjectId details } }
    pageInfo { hasNextPage endCursor } } } }"""


def gid(type_name: str, key: object) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


async def outbox_rows(server, **where: Any) -> list[outbox.OutboxEvent]:
    async with server.deps.db.reader() as db:
        stmt = select(outbox.OutboxEvent).order_by(col(outbox.OutboxEvent.id))
        for name, value in where.items():
            stmt = stmt.where(getattr(outbox.OutboxEvent, name) == value)
        return list((await db.exec(stmt)).all())


@contextlib.asynccontextmanager
async def server_dispatcher_paused(server) -> AsyncIterator[None]:
    """The server's own dispatcher would take the rows these tests hand to theirs."""
    running = dispatcher(server.deps)
    assert running is not None
    await running.close()
    try:
        yield
    finally:
        await running.start()


async def emit_test_events(server, aggregates: list[int], per_aggregate: int) -> None:
    async with server.deps.db.unit_of_work() as db:
        for n in range(per_aggregate):
            for agg in aggregates:
                outbox.emit(db, "test.step", "test", agg, json.dumps({"n": n}))


async def test_each_change_writes_its_event_in_the_same_transaction(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    event_pk = pk(c["event"]["id"])
    before = await outbox_rows(server, aggregate_id=event_pk, aggregate_type="event")
    assert [r.event_type for r in before][:3] == [
        "event.created",
        "participant.joined",
        "participant.joined",
    ]
    await api.execute(
        CREATE_TASK, {"input": {"eventId": c["event"]["id"], "title": "Wood"}}, token=alice["token"]
    )
    after = await outbox_rows(server, aggregate_id=event_pk, aggregate_type="event")
    assert after[-1].event_type == "task.created"
    assert after[-1].actor_user_id == pk(alice["id"])
    assert json.loads(after[-1].payload)["title"] == "Wood"


async def test_a_refused_change_writes_no_event(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner = c["people"][0]
    event_pk = pk(c["event"]["id"])
    before = await outbox_rows(server, aggregate_id=event_pk, aggregate_type="event")
    rejected = await api.execute(CREATE_EXPENSE, expense(c, amount="-1.00"), token=owner["token"])
    assert rejected["data"]["createExpense"]["errors"]
    assert len(await outbox_rows(server, aggregate_id=event_pk, aggregate_type="event")) == len(
        before
    )  # rolled back: none


async def tent_and_bread(api, c, server) -> dict[str, Any]:
    """Alice (c's third person) creates and completes a task, the organizer adds an expense;
    returns the task."""
    _, organizer, alice = c["people"]
    eid = c["event"]["id"]
    task: dict[str, Any] = (
        await api.execute(
            CREATE_TASK, {"input": {"eventId": eid, "title": "Tent"}}, token=alice["token"]
        )
    )["data"]["createTask"]["task"]
    await api.execute(step("completeTask"), {"id": task["id"]}, token=alice["token"])
    await api.execute(
        CREATE_EXPENSE, expense(c, amount="9.00", title="Bread"), token=organizer["token"]
    )
    await drain_outbox(server)
    return task


ACTIVITY_VERBS = [
    "EXPENSE_ADDED",
    "TASK_COMPLETED",
    "TASK_CREATED",
    "PARTICIPANT_JOINED",
    "PARTICIPANT_JOINED",
    "EVENT_CREATED",
]  # the owner comes with the event


async def test_activity_feed_tells_what_happened_newest_first(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    task = await tent_and_bread(api, c, server)
    feed = (await api.execute(ACTIVITY, {"id": eid}, token=alice["token"]))["data"]["event"]
    nodes = [e["node"] for e in feed["activity"]["edges"]]
    assert [n["verb"] for n in nodes] == ACTIVITY_VERBS
    assert nodes[0]["actor"]["username"] == organizer["username"]
    assert nodes[0]["details"]["title"] == "Bread" and nodes[0]["subjectType"] == "EXPENSE"
    assert nodes[1]["subjectId"] == task["id"]
    subject = await api.execute(
        "query($id: ID!) { node(id: $id) { ... on Task { title } } }",
        {"id": nodes[1]["subjectId"]},
        token=owner["token"],
    )
    assert subject["data"]["node"] == {"title": "Tent"}


NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on User { username } } }"""


async def test_activity_details_name_objects_by_global_id(api, accounts, events, server):
    """Details carry global ids (camelCase keys) that `node(id:)` resolves to the object named,
    though the stored entries keep the raw keys they were written with."""
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    eid = c["event"]["id"]
    await api.execute(
        CREATE_TASK,
        {"input": {"eventId": eid, "title": "Tent", "assigneeIds": [c["pids"][2]]}},
        token=organizer["token"],
    )
    await api.execute(
        CREATE_EXPENSE, expense(c, amount="9.00", title="Bread"), token=organizer["token"]
    )
    await drain_outbox(server)
    feed = (await api.execute(ACTIVITY, {"id": eid}, token=owner["token"]))["data"]["event"]
    nodes = {n["verb"]: n for n in (e["node"] for e in feed["activity"]["edges"])}
    for node in nodes.values():
        assert all("_" not in k for k in node["details"]), node["details"]
    spent = nodes["EXPENSE_ADDED"]["details"]
    assert spent["paidById"] == c["pids"][0]
    assert sorted(spent["participantIds"]) == sorted(c["pids"])
    assert spent["amount"] == "9.00" and spent["currency"] == c["event"]["currency"]
    assert nodes["TASK_CREATED"]["details"]["assigneeIds"] == [c["pids"][2]]
    joined = next(
        e["node"]
        for e in feed["activity"]["edges"]
        if e["node"]["verb"] == "PARTICIPANT_JOINED" and e["node"]["subjectId"] == c["pids"][2]
    )
    assert joined["details"]["userId"] == alice["id"]

    async def resolved(gid: str) -> dict[str, Any]:
        found = await api.execute(NODE, {"id": gid}, token=owner["token"])
        node: dict[str, Any] = found["data"]["node"]
        return node

    payer = await resolved(spent["paidById"])
    assert payer["__typename"] == "Participant" and payer["id"] == c["pids"][0]
    assignee = await resolved(nodes["TASK_CREATED"]["details"]["assigneeIds"][0])
    assert assignee["__typename"] == "Participant" and assignee["id"] == c["pids"][2]
    assert (await resolved(joined["details"]["userId"]))["username"] == alice["username"]
    stored = await docs.ActivityEntry.find({"event_id": pk(eid), "verb": "expense.added"}).to_list()
    assert stored[0].payload["paid_by_id"] == pk(c["pids"][0])  # the document is unchanged


def test_activity_details_render_every_stored_id_as_a_global_id():
    """Every id key the outbox handlers store, as written by old and new entries alike."""
    stored = {
        "from_id": 4,
        "to_id": 5,
        "completed_by_id": 6,
        "previous_owner_user_id": 7,
        "uploader_user_id": 8,
        "comment_id": "65a1b2c3d4e5f6a7b8c9d0e1",
        "task_id": 12,
        "user_id": None,
        "amount_minor": 305,
        "currency": "EUR",
        "by_admin": True,
    }
    assert rendered_details(stored) == {
        "fromId": gid("Participant", 4),
        "toId": gid("Participant", 5),
        "completedById": gid("Participant", 6),
        "previousOwnerUserId": gid("User", 7),
        "uploaderUserId": gid("User", 8),
        "commentId": gid("MediaComment", "65a1b2c3d4e5f6a7b8c9d0e1"),
        "taskId": gid("Task", 12),
        "userId": None,
        "amount": "3.05",
        "currency": "EUR",
        "byAdmin": True,
    }


async def test_activity_feed_pages(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, eid = c["people"][0], c["event"]["id"]
    await tent_and_bread(api, c, server)
    first = (await api.execute(ACTIVITY, {"id": eid, "first": 3}, token=owner["token"]))["data"][
        "event"
    ]["activity"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await api.execute(
            ACTIVITY,
            {"id": eid, "first": 10, "after": first["pageInfo"]["endCursor"]},
            token=owner["token"],
        )
    )["data"]["event"]["activity"]
    assert [e["node"]["verb"] for e in first["edges"] + rest["edges"]] == ACTIVITY_VERBS


async def test_activity_feed_is_hidden_from_outsiders(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    await tent_and_bread(api, c, server)
    outsider = await accounts.user()
    hidden = await api.execute(ACTIVITY, {"id": c["event"]["id"]}, token=outsider["token"])
    assert hidden["data"]["event"] is None


async def test_activity_feed_refuses_a_bad_cursor(api, accounts, events):
    c = await crew(accounts, events, 3)
    owner, eid = c["people"][0], c["event"]["id"]
    assert_error(
        await api.execute(ACTIVITY, {"id": eid, "after": "bm9wZQ"}, token=owner["token"]),
        "BAD_USER_INPUT",
    )


async def alicia_removed(api, c, server) -> None:
    """Alice (c's third person) renames herself, then the owner removes her."""
    owner, _, alice = c["people"]
    await api.execute(
        """mutation { updateProfile(input: {firstName: "Alicia"}) {
        errors { code } } }""",
        token=alice["token"],
    )
    remove = """mutation($e: ID!, $p: ID!) { removeParticipant(input: {eventId: $e,
        participantId: $p}) { errors { code } } }"""
    await api.execute(remove, {"e": c["event"]["id"], "p": c["pids"][2]}, token=owner["token"])
    await drain_outbox(server)


async def test_snapshots_follow_mysql(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    owner, organizer, alice = c["people"]
    await alicia_removed(api, c, server)
    snapshot = await docs.event_snapshot(pk(c["event"]["id"]))
    assert snapshot is not None and snapshot.title == c["event"]["title"]
    assert {(m.user_id, m.role) for m in snapshot.members} == {
        (pk(owner["id"]), "OWNER"),
        (pk(organizer["id"]), "ORGANIZER"),
    }
    person = await docs.user_snapshot(pk(alice["id"]))
    assert person is not None and person.display_name.startswith("Alicia")


async def test_a_snapshot_from_an_older_source_never_wins(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    alice = c["people"][2]
    await alicia_removed(api, c, server)
    stale = docs.UserSnapshot(
        id=str(pk(alice["id"])),
        user_id=pk(alice["id"]),
        username="old",
        display_name="Old",
        source_version=1,
    )
    assert await docs.put_snapshot(stale) is False  # an older source never wins
    kept = await docs.user_snapshot(pk(alice["id"]))
    assert kept is not None and kept.display_name.startswith("Alicia")


async def test_lost_snapshots_are_rebuilt_from_mysql(api, accounts, events, server):
    c = await crew(accounts, events, 3)
    event_pk = pk(c["event"]["id"])
    await alicia_removed(api, c, server)
    await docs.EventSnapshot.delete_all()
    users, rebuilt = await rebuild_all(server.deps)
    assert rebuilt >= 1 and users >= 3
    again = await docs.event_snapshot(event_pk)
    assert again is not None and {m.role for m in again.members} == {"OWNER", "ORGANIZER"}


async def test_a_failing_handler_is_retried_and_holds_back_its_aggregate_only(server):
    seen: list[tuple[int, int]] = []
    failures = {"left": 2}

    async def flaky(deps: Any, event: DomainEvent) -> None:
        if event.aggregate_id == 1 and event.payload["n"] == 0 and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("handler down")
        seen.append((event.aggregate_id, event.payload["n"]))

    async with server_dispatcher_paused(server):
        await emit_test_events(server, [1, 2], 3)
        worker = Dispatcher(server.deps, [flaky], worker="flaky", retry_base_s=0.05)

        async def all_handled() -> bool:  # retries wait retry_base_s: run until all are in
            await worker.run_once()
            return len(seen) == 6

        await until(all_handled, "all six events handled", interval=0.02)
    assert [n for agg, n in seen if agg == 2] == [0, 1, 2]
    assert [n for agg, n in seen if agg == 1] == [0, 1, 2]  # in order, after the retries
    assert seen.index((2, 2)) < seen.index((1, 0))  # aggregate 2 did not wait for 1
    rows = await outbox_rows(server, aggregate_type="test", aggregate_id=1)
    assert rows[0].attempts == 2 and "handler down" in (rows[0].last_error or "")
    assert all(r.handled_at is not None for r in rows)


async def test_a_dispatcher_that_dies_before_marking_done_lets_another_redo_it(
    api, accounts, events, server
):
    async with server_dispatcher_paused(server):
        c = await crew(accounts, events, 2)
        event_pk = pk(c["event"]["id"])
        # a lease far longer than the test: it runs out when the test says so, not when a
        # loaded machine takes longer than the lease to handle the rows
        dead = Dispatcher(server.deps, HANDLERS, worker="dead", lease_s=3600.0)
        async with server.deps.db.unit_of_work() as db:  # claims and handles, never marks
            rows = await outbox.claim(
                db, dead.worker, 100, dead.lease, server.deps.db.dialect != "sqlite"
            )
        for row in rows:
            for handler in HANDLERS:
                await handler(server.deps, DomainEvent.of(row))
        survivor = Dispatcher(server.deps, HANDLERS, worker="survivor")
        assert await survivor.run_once() == 0  # still leased

        async with server.deps.db.unit_of_work() as db:  # the dead one's lease runs out
            await db.exec(
                update(outbox.OutboxEvent)
                .where(col(outbox.OutboxEvent.claimed_by) == dead.worker)
                .values(claimed_until=utcnow() - timedelta(seconds=1))
            )
        assert await survivor.run_once() > 0  # the survivor claims the rows now
        await survivor.drain()
        async with server.deps.db.unit_of_work() as db:
            assert await outbox.mark_handled(db, [r.id or 0 for r in rows], dead.worker) == 0
    feed = await docs.activity_page(event_pk, first=50, before_seq=None)
    assert [e.verb for e in feed] == [
        "participant.joined",
        "event.created",
    ]  # handled twice, shown once
    async with server.deps.db.reader() as db:
        assert await outbox.pending_count(db) == 0


async def test_two_dispatchers_racing_share_the_work_in_order(server):
    handled_by: dict[int, list[tuple[str, int]]] = {}

    def recorder(name: str) -> Any:
        async def record(deps: Any, event: DomainEvent) -> None:
            handled_by.setdefault(event.aggregate_id, []).append((name, event.payload["n"]))
            await asyncio.sleep(0.002)  # handling takes time: the other one claims meanwhile

        return record

    async with server_dispatcher_paused(server):
        await emit_test_events(server, list(range(1, 13)), 8)
        one = Dispatcher(server.deps, [recorder("one")], worker="one", batch=5)
        two = Dispatcher(server.deps, [recorder("two")], worker="two", batch=5)

        async def work(d: Dispatcher) -> None:
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                if not await d.run_once():
                    async with server.deps.db.reader() as db:
                        if await outbox.pending_count(db) == 0:
                            return
                    await asyncio.sleep(0.01)

        await asyncio.gather(work(one), work(two))
    assert sorted(handled_by) == list(range(1, 13))
    for steps in handled_by.values():
        assert [n for _, n in steps] == list(range(8))  # each once, in order
    assert {name for steps in handled_by.values() for name, _ in steps} == {"one", "two"}
    async with server.deps.db.reader() as db:
        count = (
            await db.exec(
                select(func.count())
                .select_from(outbox.OutboxEvent)
                .where(col(outbox.OutboxEvent.handled_at).is_(None))
            )
        ).one()
    assert count == 0


async def test_handled_rows_are_purged_after_a_week_and_pending_ones_never(server):

    async with server_dispatcher_paused(server):
        await emit_test_events(server, [7], 3)
        rows = await outbox_rows(server, aggregate_type="test", aggregate_id=7)
        async with server.deps.db.unit_of_work() as db:
            await db.exec(
                update(outbox.OutboxEvent)
                .where(col(outbox.OutboxEvent.id).in_([rows[0].id, rows[1].id]))
                .values(handled_at=utcnow() - timedelta(days=8))
            )
            await db.exec(
                update(outbox.OutboxEvent)
                .where(col(outbox.OutboxEvent.id) == rows[1].id)
                .values(handled_at=utcnow())
            )
        async with server.deps.db.unit_of_work() as db:
            assert await outbox.purge_handled(db, utcnow() - timedelta(days=7)) == 1
        left = await outbox_rows(server, aggregate_type="test", aggregate_id=7)
        assert [r.id for r in left] == [rows[1].id, rows[2].id]  # recent and pending stay
        async with server.deps.db.unit_of_work() as db:
            await db.exec(
                update(outbox.OutboxEvent)
                .where(col(outbox.OutboxEvent.aggregate_type) == "test")
                .values(handled_at=utcnow())
            )


async def test_a_batch_that_runs_longer_than_its_lease_keeps_it(server):
    """The lease is renewed while the batch runs: nobody takes its rows meanwhile."""
    entered, go_on = asyncio.Event(), asyncio.Event()
    handled: list[tuple[str, int]] = []

    def slow(name: str) -> Any:
        async def handle(deps: Any, event: DomainEvent) -> None:
            if not entered.is_set():
                entered.set()
                await go_on.wait()
            handled.append((name, event.payload["n"]))

        return handle

    async with server_dispatcher_paused(server):
        await emit_test_events(server, [31], 3)
        first = Dispatcher(server.deps, [slow("first")], worker="first", lease_s=1.0)
        other = Dispatcher(server.deps, [slow("other")], worker="other", lease_s=1.0)
        running = asyncio.create_task(first.run_once())
        await until(lambda: _set(entered), "the first batch running")
        claimed = await outbox_rows(server, aggregate_type="test", aggregate_id=31)
        leased_until = max(r.claimed_until for r in claimed if r.claimed_until is not None)

        async def renewed_past_the_first_lease() -> bool:
            rows = await outbox_rows(server, aggregate_type="test", aggregate_id=31)
            return utcnow() > leased_until and all(
                r.claimed_by == "first" and r.claimed_until and r.claimed_until > utcnow()
                for r in rows
            )

        await until(renewed_past_the_first_lease, "the lease renewed past its first term")
        assert await other.run_once() == 0  # still held: the other takes nothing
        go_on.set()
        assert await running == 3
    assert handled == [("first", 0), ("first", 1), ("first", 2)]
    rows = await outbox_rows(server, aggregate_type="test", aggregate_id=31)
    assert all(r.handled_at is not None and r.claimed_by == "first" for r in rows)


async def _set(event: asyncio.Event) -> bool:
    return event.is_set()


async def test_a_store_down_does_not_grow_the_backoff_of_the_rows(server):
    """A handler failing because a store is unreachable is retried soon, without counting an
    attempt against the row (the outbox drains within seconds once the store is back)."""
    outages = {"left": 3}
    seen: list[int] = []

    async def store_down(deps: Any, event: DomainEvent) -> None:
        if outages["left"]:
            outages["left"] -= 1
            raise AutoReconnect("connection refused")
        seen.append(event.payload["n"])

    async with server_dispatcher_paused(server):
        await emit_test_events(server, [32], 2)
        worker = Dispatcher(server.deps, [store_down], worker="down", retry_base_s=0.05)

        async def all_handled() -> bool:
            await worker.run_once()
            return len(seen) == 2

        await until(all_handled, "both events handled after the outage", interval=0.02)
    assert seen == [0, 1]
    rows = await outbox_rows(server, aggregate_type="test", aggregate_id=32)
    assert [r.attempts for r in rows] == [0, 0]  # the outage was not the rows' fault
    assert "AutoReconnect" in (rows[0].last_error or "")


async def _task_assigned_to_alice(
    api, accounts, events, server
) -> tuple[dict[str, Any], DomainEvent]:
    """A crew (owner, organizer, alice) and the task.created row of a task assigned to alice
    (left unhandled: the caller pauses the dispatcher)."""
    c = await crew(accounts, events, 3)
    await api.execute(
        CREATE_TASK,
        {"input": {"eventId": c["event"]["id"], "title": "Once", "assigneeIds": [c["pids"][2]]}},
        token=c["people"][0]["token"],
    )
    rows = await outbox_rows(server, event_type="task.created", aggregate_id=pk(c["event"]["id"]))
    return c, DomainEvent.of(rows[-1])


async def test_a_row_delivered_twice_at_once_makes_one_notification(api, accounts, events, server):
    """Two dispatchers handling the same row at the same moment (a lease taken over): the
    delivery is a unique key, so one notification, one activity entry."""
    async with server_dispatcher_paused(server):
        c, event = await _task_assigned_to_alice(api, accounts, events, server)
        alice = c["people"][2]
        for _ in range(2):  # twice at once, then once more
            await asyncio.gather(*(h(server.deps, event) for h in (notify, notify)))
            await asyncio.gather(*(project_activity(server.deps, event) for _ in range(2)))
    found = await notes.Notification.find({"user_id": pk(alice["id"])}).to_list()
    assert [(n.type, n.sources, n.occurrences) for n in found] == [("TASK_ASSIGNED", [event.id], 1)]
    feed = await docs.activity_page(pk(c["event"]["id"]), first=50, before_seq=None)
    assert [e.seq for e in feed].count(event.id) == 1


async def test_a_change_recorded_twice_under_one_name_makes_one_notification(
    api, accounts, events, server
):
    """A change that may be recorded again (a retried chat message re-records its mentions)
    names itself in its payload (`once`): two outbox rows, one notification."""
    async with server_dispatcher_paused(server):
        c, recorded = await _task_assigned_to_alice(api, accounts, events, server)
        alice = c["people"][2]
        first = dataclasses.replace(recorded, payload={**recorded.payload, "once": "task:named"})
        again = dataclasses.replace(first, id=first.id + 1_000_000)  # another outbox row
        await notify(server.deps, first)
        await notify(server.deps, again)
    found = await notes.Notification.find({"user_id": pk(alice["id"])}).to_list()
    assert [(n.type, n.occurrences) for n in found] == [("TASK_ASSIGNED", 1)]


async def test_racing_first_snapshots_keep_the_newest(server):
    """Several deliveries write a snapshot that does not exist yet at once: the newest source
    wins whatever the order (an insert that lost the race tries the versioned update again)."""
    user_id = 10**12 + time.time_ns() % 10**9  # a user id no other test uses

    def snapshot(version: int) -> docs.UserSnapshot:
        return docs.UserSnapshot(
            id=str(user_id),
            user_id=user_id,
            username=f"v{version}",
            display_name=f"v{version}",
            source_version=version,
        )

    await asyncio.gather(*(docs.put_snapshot(snapshot(v)) for v in (1, 2, 3, 4, 5, 6)))
    kept = await docs.user_snapshot(user_id)
    assert kept is not None and kept.source_version == 6 and kept.username == "v6"
