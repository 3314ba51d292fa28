"""Dispatcher faults (issue 16): a dispatcher frozen past its lease in the middle of a batch
(a stopped process, a long pause) while another takes its rows over. Both then run the same rows'
handlers at once: every effect must still happen once, and every row be marked handled once, by
the dispatcher that holds it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlmodel import col, select

from resolvers.dispatcher import Dispatcher, DomainEvent, Handler, dispatcher
from resolvers.notifications import notify
from resolvers.projections import ACTIVITY, EVENT, HANDLERS
from stores import notifications as notes
from stores import outbox
from stores import projections as docs
from tests.factories import crew
from tests.support.live import until
from tests.support.tasks import CREATE_EXPENSE, CREATE_TASK, expense

DEADLINE_S = 120.0  # generous: a loaded machine can be 5x slower


def pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().split(":")[1])


@contextlib.asynccontextmanager
async def server_dispatcher_paused(server: Any) -> AsyncIterator[None]:
    running = dispatcher(server.deps)
    assert running is not None
    await running.close()
    try:
        yield
    finally:
        await running.start()


class Gate:
    """A first handler that holds its dispatcher at the first task's row until opened (a row
    that notifies someone and feeds the activity)."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()
        self.at: int | None = None  # the row it held
        self.handled: list[int] = []  # rows whose handlers all ran, in order

    async def __call__(self, deps: Any, event: DomainEvent) -> None:
        if event.type == "task.created" and not self.reached.is_set():
            self.at = event.id
            self.reached.set()
            await self.opened.wait()

    async def done(self, deps: Any, event: DomainEvent) -> None:
        self.handled.append(event.id)


def reached(gate: Gate, running: asyncio.Task[int]) -> Callable[[], Awaitable[bool]]:
    async def condition() -> bool:
        if running.done():  # it stopped without reaching the gate: say why
            raise AssertionError(f"the pass ended early, with {running.result()} rows")
        return gate.reached.is_set()

    return condition


async def test_a_dispatcher_frozen_past_its_lease_makes_no_duplicate(api, accounts, events, server):
    async with server_dispatcher_paused(server):
        c = await crew(accounts, events, 3)
        owner, organizer, alice = c["people"]
        event_id = c["event"]["id"]
        for title in ("Tent", "Stove", "Map"):
            await api.execute(
                CREATE_TASK,
                {"input": {"eventId": event_id, "title": title, "assigneeIds": [c["pids"][2]]}},
                token=owner["token"],
            )
        await api.execute(CREATE_EXPENSE, expense(c, amount="9.00"), token=organizer["token"])
        async with server.deps.db.reader() as db:
            pending = list(
                (
                    await db.exec(
                        select(outbox.OutboxEvent.id).where(
                            col(outbox.OutboxEvent.handled_at).is_(None)
                        )
                    )
                ).all()
            )

        frozen_gate, taker_gate = Gate(), Gate()
        real: list[Handler] = [*HANDLERS, notify]
        # frozen: a stopped process renews nothing, so its heartbeat never comes in time
        frozen = Dispatcher(
            server.deps,
            [frozen_gate, *real, frozen_gate.done],
            worker="frozen",
            lease_s=1.0,
            renew_s=3600.0,
        )
        taker = Dispatcher(
            server.deps, [taker_gate, *real, taker_gate.done], worker="taker", lease_s=30.0
        )
        frozen_pass = asyncio.create_task(frozen.run_once())
        await until(reached(frozen_gate, frozen_pass), "the frozen batch started", DEADLINE_S)

        async def take_over() -> int:  # claims once the frozen one's lease has run out
            while True:
                claimed = await taker.run_once()  # held at the gate once it has the rows
                if taker_gate.reached.is_set():
                    return claimed
                await asyncio.sleep(0.05)

        taker_pass = asyncio.create_task(take_over())
        await until(reached(taker_gate, taker_pass), "the rows taken over", DEADLINE_S)
        frozen_gate.opened.set()  # both now run the same rows' handlers at once
        taker_gate.opened.set()
        frozen_claimed, _ = await asyncio.gather(frozen_pass, taker_pass)
        assert frozen_claimed == len(pending)
        await taker.drain()

    async with server.deps.db.reader() as db:
        rows = list(
            (
                await db.exec(
                    select(outbox.OutboxEvent).where(col(outbox.OutboxEvent.id).in_(pending))
                )
            ).all()
        )
    # the frozen one finished the row it was in, then saw its lease gone and stopped
    assert frozen_gate.at is not None
    assert [i for i in frozen_gate.handled if i > frozen_gate.at] == []
    assert sorted(taker_gate.handled) == sorted(pending)
    # each handled once, by the holder of the lease: the frozen one wrote over nothing
    assert all(r.handled_at is not None and r.claimed_by == "taker" for r in rows)
    assert all(r.attempts == 0 for r in rows)

    deliveries: list[tuple[int, int]] = []
    for doc in await notes.Notification.find({"event_id": pk(event_id)}).to_list():
        deliveries += [(doc.user_id, source) for source in doc.sources]
        assert doc.occurrences == len(doc.sources)
    assert len(deliveries) == len(set(deliveries)), sorted(deliveries)
    assigned = await notes.Notification.find(
        {"user_id": pk(alice["id"]), "type": "TASK_ASSIGNED"}
    ).to_list()
    assert [n.occurrences for n in assigned] == [3]  # three tasks, one grouped notification
    feed = await docs.activity_page(pk(event_id), first=100, before_seq=None)
    seqs = [e.seq for e in feed]
    assert len(seqs) == len(set(seqs))
    assert set(seqs) == {
        r.id for r in rows if r.aggregate_type == EVENT and r.event_type in ACTIVITY
    }
