"""The outbox dispatcher: claims committed domain events and hands each to its handlers.

One runs in every server process (started by the lifespan) and `iven-gql dispatcher` runs one
alone. They share the work through leases on the outbox rows (stores/outbox.py), so several may
run at once: every event is handled at least once, in order per aggregate, and every handler's
effect happens once because it is idempotent by construction (keyed by the outbox id: unique
keys, versioned upserts). A commit that wrote to the outbox wakes the dispatchers at once, here
directly and in other processes through the Redis broadcast; a slow poll is the fallback.

Leases: a batch renews the lease of the rows it still holds while it runs (a heartbeat every
third of the lease), and before each row checks it when the last renewal is older than half a
lease (the process was stopped). Rows another dispatcher took over are neither handled further
nor marked: every outcome write is conditional on still holding the row.

Failures: a failing handler is retried with exponential backoff, holding back the later events
of its aggregate; the other aggregates go on. A failure that is a store's (down, unreachable,
busy) is not the row's: it is retried soon without growing its backoff, and an outcome that could
not be written (the database down) is written at the next pass instead of waiting for the lease,
so the outbox drains within seconds of the store coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import ConnectionFailure, OperationFailure
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from resolvers.core.deps import Deps
from stores import outbox as store
from stores.db import utcnow
from stores.redis import key

log = logging.getLogger("iven.dispatcher")

WAKE_CHANNEL = key("outbox", "wake")


@dataclass(frozen=True)
class DomainEvent:
    """What handlers get: one committed outbox row."""

    id: int
    type: str
    aggregate_type: str
    aggregate_id: int
    actor_user_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int

    @classmethod
    def of(cls, row: store.OutboxEvent) -> DomainEvent:
        return cls(
            id=row.id or 0,
            type=row.event_type,
            aggregate_type=row.aggregate_type,
            aggregate_id=row.aggregate_id,
            actor_user_id=row.actor_user_id,
            payload=json.loads(row.payload or "{}"),
            created_at=row.created_at,
            attempts=row.attempts,
        )

    @property
    def once(self) -> int | str:
        """What its effects are keyed by: the outbox id, or the name a change that may be
        recorded more than once gives itself in its payload (`once`)."""
        named = self.payload.get("once")
        return str(named) if named else self.id


Handler = Callable[[Deps, DomainEvent], Awaitable[None]]

WRITE_CONFLICT, EXECUTION_TIMEOUT = 112, 50


def is_store_trouble(exc: BaseException) -> bool:
    """A store down, unreachable or busy: not the row's fault, so no growing backoff for it
    (a bug of the handler, e.g. a malformed query or a duplicate key, still counts)."""
    if isinstance(exc, OperationFailure):  # after retry_write_conflicts gave up
        return exc.code in (WRITE_CONFLICT, EXECUTION_TIMEOUT)
    return isinstance(
        exc,
        OperationalError  # lost connection, server gone away, deadlock, lock wait timeout
        | InterfaceError
        | DisconnectionError
        | ConnectionFailure  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
        | RedisConnectionError
        | RedisTimeoutError
        | OSError
        | TimeoutError,
    )


@dataclass
class _Held:
    """The rows a pass claimed, and those of them another dispatcher took over since."""

    ids: set[int]
    lost: set[int] = field(default_factory=set)
    renewed_at: float = field(default_factory=time.monotonic)  # the last lease written
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class _Failure:
    row: store.OutboxEvent
    error: str
    held_back: list[int]  # the later rows of its aggregate, given back unhandled
    transient: bool  # a store was down: the row is tried again soon, its backoff unchanged


@dataclass(frozen=True)
class _Outcome:
    done: list[int]
    failures: list[_Failure]


class Dispatcher:
    def __init__(
        self,
        deps: Deps,
        handlers: Sequence[Handler],
        *,
        worker: str | None = None,
        batch: int = 100,
        lease_s: float = 30.0,
        renew_s: float | None = None,
        poll_s: float = 2.0,
        retry_base_s: float = 0.5,
        retry_max_s: float = 300.0,
    ) -> None:
        self.deps = deps
        self.handlers = list(handlers)
        self.worker = worker or f"{os.getpid()}-{random.getrandbits(32):08x}"
        self.batch = batch
        self.lease = timedelta(seconds=lease_s)
        # the lease is renewed three times per lease: one missed renewal loses nothing
        self.renew_s = renew_s if renew_s is not None else lease_s / 3
        self.poll_s = poll_s
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = asyncio.Lock()
        self._unsettled: list[_Outcome] = []  # outcomes a pass could not write (store down)
        self._retry_soon_at = 0.0  # when rows given back for a store's failure are due again

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(ready), name="iven-dispatcher-wake"),
            asyncio.create_task(self._run(), name="iven-dispatcher"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), 5)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self.deps.broadcast.subscribe(WAKE_CHANNEL) as queue:
                    ready.set()
                    while True:
                        await queue.get()
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("dispatcher wake-up subscription lost", exc_info=True)
                ready.set()
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()  # before the pass: a commit during it wakes the next one
            try:
                handled = await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher pass failed")
                handled, failures = 0, failures + 1
            if handled:
                continue  # there may be more
            # a store down: try again soon (short and capped, so the outbox drains within
            # seconds of its return); otherwise the poll is only the fallback of the wake-up
            due = self._retry_soon_at - time.monotonic()  # rows given back for a store's fault
            if failures:
                pause = min(self.poll_s, 0.1 * 2 ** min(failures, 10))
            elif due > 0:
                pause = min(self.poll_s, due + 0.01)
            else:
                pause = self.poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    # --- work --------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claims one batch and handles it; returns how many rows were claimed."""
        async with self._busy:
            await self._settle_leftovers()
            skip_locked = self.deps.db.dialect != "sqlite"
            async with self.deps.db.unit_of_work() as db:
                rows = await store.claim(db, self.worker, self.batch, self.lease, skip_locked)
            if not rows:
                return 0
            held = _Held({r.id or 0 for r in rows})
            heartbeat = asyncio.create_task(self._heartbeat(held), name="iven-dispatcher-lease")
            try:
                groups: dict[tuple[str, int], list[store.OutboxEvent]] = {}
                for row in rows:
                    groups.setdefault((row.aggregate_type, row.aggregate_id), []).append(row)
                outcomes = await asyncio.gather(
                    *(self._handle_group(g, held) for g in groups.values())
                )
            finally:  # stopped before the outcome is written: the two never wait on each other
                heartbeat.cancel()
                await asyncio.wait([heartbeat])  # a cancel of this pass itself still propagates
            outcome = _Outcome(
                done=[i for handled, _ in outcomes for i in handled],
                failures=[f for _, f in outcomes if f is not None],
            )
            if any(f.transient for f in outcome.failures):
                self._retry_soon_at = time.monotonic() + self.retry_base_s
            try:
                await self._settle(outcome)
            except Exception:
                # the database is down: written at the next pass, not left to the lease
                self._unsettled.append(outcome)
                raise
            return len(rows)

    async def _settle(self, outcome: _Outcome) -> None:
        """Writes what a pass did: handled rows, and failed ones given back (with the rows
        behind them). Each write is conditional on this worker still holding the row."""
        async with self.deps.db.unit_of_work() as db:
            await store.mark_handled(db, outcome.done, self.worker)
            for failure in outcome.failures:
                row = failure.row
                if failure.transient:  # not the row's fault: soon again, backoff unchanged
                    retry_at = utcnow() + timedelta(seconds=self.retry_base_s)
                else:
                    retry_at = self._retry_at(row.attempts + 1)
                await store.mark_failed(
                    db,
                    row.id or 0,
                    self.worker,
                    failure.error,
                    retry_at,
                    count_attempt=not failure.transient,
                )
                await store.release(db, failure.held_back, self.worker)

    async def _settle_leftovers(self) -> None:
        while self._unsettled:
            await self._settle(self._unsettled[0])
            self._unsettled.pop(0)

    async def _heartbeat(self, held: _Held) -> None:
        """Renews the lease of the rows this pass still holds until it has written their
        outcome."""
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self._renew(held)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox lease not renewed; trying again", exc_info=True)

    async def _renew(self, held: _Held, older_than_s: float = 0.0) -> None:
        """Extends the lease of the rows still held (unless written less than `older_than_s`
        ago); notes those another dispatcher took over meanwhile (their handling stops, and
        their outcome is not written)."""
        async with held.renewing:
            at = time.monotonic()
            if at - held.renewed_at <= older_than_s:
                return  # another group of the batch just did
            async with self.deps.db.unit_of_work() as db:
                kept = await store.renew(db, sorted(held.ids - held.lost), self.worker, self.lease)
            held.renewed_at = at
            lost = held.ids - held.lost - kept
            if lost:
                log.warning(
                    "outbox rows taken over by another dispatcher", extra={"ids": sorted(lost)}
                )
                held.lost |= lost

    async def _still_held(self, held: _Held, row_id: int) -> bool:
        """Whether to handle this row: when the lease was last written more than half a lease
        ago (this process was stopped, or its heartbeat starved), asks the outbox first."""
        half = self.lease.total_seconds() / 2
        if time.monotonic() - held.renewed_at > half:
            try:
                await self._renew(held, older_than_s=half)
            except Exception:
                log.warning("outbox lease not checked", exc_info=True)
        return row_id not in held.lost

    async def _handle_group(
        self, rows: list[store.OutboxEvent], held: _Held
    ) -> tuple[list[int], _Failure | None]:
        handled: list[int] = []
        for n, row in enumerate(rows):
            if not await self._still_held(held, row.id or 0):
                break  # another dispatcher has this row and the ones after it now
            event = DomainEvent.of(row)
            started = time.perf_counter()
            try:
                for handler in self.handlers:
                    await handler(self.deps, event)
            except Exception as exc:
                transient = is_store_trouble(exc)
                log.warning(
                    "domain event handler failed; will retry",
                    exc_info=True,
                    extra={
                        "event_id": event.id,
                        "event_type": event.type,
                        "attempts": row.attempts + (0 if transient else 1),
                        "store_trouble": transient,
                    },
                )
                rest = [r.id or 0 for r in rows[n + 1 :]]
                return handled, _Failure(row, f"{type(exc).__name__}: {exc}", rest, transient)
            handled.append(event.id)
            log.debug(
                "domain event handled",
                extra={
                    "event_id": event.id,
                    "event_type": event.type,
                    "handle_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
        return handled, None

    def _retry_at(self, attempts: int) -> datetime:
        delay = min(self.retry_base_s * 2 ** (attempts - 1), self.retry_max_s)
        return utcnow() + timedelta(seconds=delay * (0.8 + random.random() * 0.4))

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Handles everything claimable now (tests, rebuilds, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and await self.run_once():
            pass


def dispatcher(deps: Deps) -> Dispatcher | None:
    """This process's dispatcher, when it runs one."""
    return deps.services.dispatcher


async def wake_dispatchers(deps: Deps) -> None:
    """After a commit that wrote to the outbox."""
    local = dispatcher(deps)
    if local is not None:
        local.wake()
    try:
        await deps.broadcast.publish(WAKE_CHANNEL, {})
    except RedisError:
        log.warning("dispatcher wake-up not broadcast; the poll will pick the events up")


def install(deps: Deps, handlers: Sequence[Handler], **options: Any) -> Dispatcher:
    """Creates this process's dispatcher and wakes it after each commit with outbox rows."""
    found = Dispatcher(deps, handlers, **options)
    deps.services.dispatcher = found

    async def after_commit(marks: dict[str, Any]) -> None:
        if marks.get(store.OUTBOX_WRITTEN):
            await wake_dispatchers(deps)

    deps.db.commit_hooks.append(after_commit)
    return found
