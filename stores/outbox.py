"""The transactional outbox: domain events written in the same transaction as the change they
describe, then claimed and handled by dispatchers (resolvers/dispatcher.py).

Order is kept per aggregate: a row is only claimed when every earlier unhandled row of its
aggregate is claimed with it (so a row waiting for a retry holds back the ones after it).
Claims are leases: a dispatcher that dies lets its lease expire and another one takes the rows
again (handlers are idempotent, keyed by the row id). A live dispatcher renews the lease of the
rows it still holds while it works (`renew`), and every write of a claim's outcome is conditional
on still holding it, so a dispatcher that lost its lease never overwrites another's claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, String, Text, and_, delete, func, or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, UTCDateTime, utcnow

OUTBOX_WRITTEN = "outbox_written"


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "handled_at", "available_at"),
        Index("ix_outbox_aggregate", "aggregate_type", "aggregate_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_type: str = Field(sa_type=String(64))
    aggregate_type: str = Field(sa_type=String(32))
    aggregate_id: int = Field(sa_type=BigIntKey)
    actor_user_id: int | None = Field(default=None, sa_type=BigIntKey)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    available_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=String(500))
    claimed_by: str | None = Field(default=None, sa_type=String(64))
    claimed_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    handled_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


def emit(
    db: AsyncSession,
    event_type: str,
    aggregate_type: str,
    aggregate_id: int,
    payload: str,
    actor_user_id: int | None = None,
) -> OutboxEvent:
    """Adds a domain event to the unit of work (committed with it, or not at all)."""
    row = OutboxEvent(
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=payload,
        actor_user_id=actor_user_id,
    )
    db.add(row)
    db.info[OUTBOX_WRITTEN] = True
    return row


async def claim(
    db: AsyncSession, worker: str, limit: int, lease: timedelta, skip_locked: bool
) -> list[OutboxEvent]:
    """Leases up to `limit` pending rows, oldest first, keeping per-aggregate order."""
    now = utcnow()
    claimable = and_(
        col(OutboxEvent.handled_at).is_(None),
        col(OutboxEvent.available_at) <= now,
        or_(col(OutboxEvent.claimed_until).is_(None), col(OutboxEvent.claimed_until) < now),
    )
    stmt = select(OutboxEvent).where(claimable).order_by(col(OutboxEvent.id)).limit(limit)
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    candidates = list((await db.exec(stmt)).all())
    if not candidates:
        return []
    aggregates = {(r.aggregate_type, r.aggregate_id) for r in candidates}
    newest = max(r.id or 0 for r in candidates)
    pending = (  # rows after the newest candidate cannot hold a candidate back: not read
        select(OutboxEvent.aggregate_type, OutboxEvent.aggregate_id, OutboxEvent.id)
        .where(
            col(OutboxEvent.handled_at).is_(None),
            col(OutboxEvent.id) <= newest,
            or_(
                *(
                    and_(col(OutboxEvent.aggregate_type) == t, col(OutboxEvent.aggregate_id) == i)
                    for t, i in aggregates
                )
            ),
        )
        .order_by(col(OutboxEvent.id))
    )
    queue: dict[tuple[str, int], list[int]] = {}
    for t, i, row_id in (await db.exec(pending)).all():
        queue.setdefault((t, i), []).append(int(row_id or 0))
    by_id = {r.id: r for r in candidates}
    taken: list[OutboxEvent] = []
    for ids in queue.values():  # the leading run of each aggregate's pending rows that we hold
        for row_id in ids:
            if row_id not in by_id:
                break
            taken.append(by_id[row_id])
    taken.sort(key=lambda r: r.id or 0)
    if taken:
        await db.exec(
            update(OutboxEvent)
            .where(col(OutboxEvent.id).in_([r.id for r in taken]))
            .values(claimed_by=worker, claimed_until=now + lease)
        )
    return taken


async def renew(db: AsyncSession, ids: Sequence[int], worker: str, lease: timedelta) -> set[int]:
    """Extends the lease of the rows of `ids` this worker still holds; returns those ids (the
    others were taken over, or handled, by another dispatcher)."""
    if not ids:
        return set()
    held = and_(
        col(OutboxEvent.id).in_(list(ids)),
        col(OutboxEvent.claimed_by) == worker,
        col(OutboxEvent.handled_at).is_(None),
    )
    await db.exec(update(OutboxEvent).where(held).values(claimed_until=utcnow() + lease))
    return {int(i or 0) for i in (await db.exec(select(OutboxEvent.id).where(held))).all()}


async def mark_handled(db: AsyncSession, ids: Sequence[int], worker: str) -> int:
    """Marks rows handled if this worker still holds them; returns how many."""
    if not ids:
        return 0
    result: Any = await db.exec(
        update(OutboxEvent)
        .where(
            col(OutboxEvent.id).in_(list(ids)),
            col(OutboxEvent.claimed_by) == worker,
            col(OutboxEvent.handled_at).is_(None),
        )
        .values(handled_at=utcnow(), claimed_until=None)
    )
    return int(result.rowcount or 0)


async def mark_failed(
    db: AsyncSession,
    row_id: int,
    worker: str,
    error: str,
    retry_at: datetime,
    *,
    count_attempt: bool = True,
) -> None:
    """Gives a row back to be retried at `retry_at`. `count_attempt=False` when the failure
    was not the row's (a store down): its backoff does not grow."""
    await db.exec(
        update(OutboxEvent)
        .where(
            col(OutboxEvent.id) == row_id,
            col(OutboxEvent.claimed_by) == worker,
            col(OutboxEvent.handled_at).is_(None),
        )
        .values(
            attempts=OutboxEvent.attempts + (1 if count_attempt else 0),
            last_error=error[:500],
            available_at=retry_at,
            claimed_until=None,
            claimed_by=None,
        )
    )


async def release(db: AsyncSession, ids: Sequence[int], worker: str) -> None:
    """Gives rows back unhandled (held back behind a failed one of their aggregate)."""
    if ids:
        await db.exec(
            update(OutboxEvent)
            .where(
                col(OutboxEvent.id).in_(list(ids)),
                col(OutboxEvent.claimed_by) == worker,
                col(OutboxEvent.handled_at).is_(None),
            )
            .values(claimed_until=None, claimed_by=None)
        )


async def pending_count(db: AsyncSession) -> int:
    stmt = (
        select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.handled_at).is_(None))
    )
    return int((await db.exec(stmt)).one())


async def all_aggregate_ids(db: AsyncSession, model: Any) -> list[int]:
    """Every id of a table (for rebuilding projections)."""
    return [int(i) for i in (await db.exec(select(model.id).order_by(model.id))).all()]


async def last_id(db: AsyncSession) -> int:
    """The newest outbox id (0 when empty): a rebuild is as new as everything recorded."""
    found = (await db.exec(select(func.max(OutboxEvent.id)))).one()
    return int(found or 0)


async def purge_handled(db: AsyncSession, before: datetime, limit: int = 5000) -> int:
    """Deletes handled rows older than `before` (the outbox is a queue, not an archive)."""
    ids = list(
        (
            await db.exec(
                select(OutboxEvent.id)
                .where(
                    col(OutboxEvent.handled_at).is_not(None),
                    col(OutboxEvent.handled_at) < before,
                )
                .limit(limit)
            )
        ).all()
    )
    if ids:
        await db.exec(delete(OutboxEvent).where(col(OutboxEvent.id).in_(ids)))
    return len(ids)
