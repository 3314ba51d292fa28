"""Domain events: what use cases record in the outbox, and the handlers that keep the documents
derived from MySQL current (snapshots, activity feed).

Recording: `record(db, ...)` inside the use case's unit of work, so the event exists exactly
when the change does. Handling: `HANDLERS`, run by the dispatcher (resolvers/dispatcher.py).
Snapshots are rebuilt from MySQL as it is when the handler runs, stamped with the outbox id: a
late or repeated delivery can never overwrite a newer snapshot, and `rebuild_all` recreates
everything from MySQL alone.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from resolvers import chat_feed
from resolvers.core.deps import Deps
from resolvers.core.loading import LoaderBase
from resolvers.core.local_cache import LocalCache
from resolvers.dispatcher import DomainEvent, Handler
from stores import accounts as accounts_store
from stores import events as events_store
from stores import outbox as outbox_store
from stores import projections as docs
from stores.db import retry_transaction
from stores.mongo import retry_write_conflicts

EVENT = "event"
USER = "user"

# event-aggregate types that appear in the activity feed, and the subject each one is about
ACTIVITY: dict[str, str] = {
    "event.created": "EVENT",
    "event.updated": "EVENT",
    "event.cancelled": "EVENT",
    "participant.joined": "PARTICIPANT",
    "participant.left": "PARTICIPANT",
    "participant.removed": "PARTICIPANT",
    "participant.role_changed": "PARTICIPANT",
    "ownership.transferred": "PARTICIPANT",
    "task.created": "TASK",
    "task.completed": "TASK",
    "task.validated": "TASK",
    "expense.added": "EXPENSE",
    "expense.edited": "EXPENSE",
    "expense.deleted": "EXPENSE",
    "settlement.recorded": "SETTLEMENT",
    "media.added": "MEDIA",
    "media.commented": "MEDIA",
    "media.liked": "MEDIA",
}


def record(
    db: Any,
    event_type: str,
    aggregate_type: str,
    aggregate_id: int,
    actor_user_id: int | None,
    subject_id: int | str | None = None,
    **payload: Any,
) -> None:
    """Adds a domain event to the current unit of work."""
    if subject_id is not None:
        payload["subject_id"] = subject_id
    outbox_store.emit(
        db,
        event_type,
        aggregate_type,
        aggregate_id,
        json.dumps(payload, separators=(",", ":"), default=str),
        actor_user_id,
    )


def record_event(
    db: Any,
    event_type: str,
    event_id: int,
    actor_user_id: int | None,
    subject_id: int | str | None = None,
    **payload: Any,
) -> None:
    chat_feed.mark_membership_change(db, event_type, event_id)
    record(db, event_type, EVENT, event_id, actor_user_id, subject_id, **payload)


async def record_event_once(
    deps: Deps,
    name: str,
    event_type: str,
    event_id: int,
    actor_user_id: int | None,
    subject_id: int | str | None = None,
    **payload: Any,
) -> None:
    """Records, in a unit of work of its own, a change already stored in MongoDB (no transaction
    spans both): a request that failed in between is retried and records it again. The change
    names itself (`once`), so its effects (notifications, activity) happen once however often it
    is recorded. Retried on deadlock."""

    async def record() -> None:
        async with deps.db.unit_of_work() as db:
            record_event(db, event_type, event_id, actor_user_id, subject_id, once=name, **payload)

    await retry_transaction(record)


def display_name(user: accounts_store.User) -> str:
    full = f"{user.first_name} {user.last_name}".strip()
    return full or user.username


async def refresh_event_snapshot(deps: Deps, event_id: int, version: int) -> None:
    async with deps.db.reader() as db:
        found = await events_store.events_by_ids(db, [event_id])
        members = await events_store.participants_of_events(db, [event_id], active_only=True)
    if not found:
        await docs.put_snapshot(
            docs.EventSnapshot(
                id=str(event_id),
                event_id=event_id,
                title="",
                status="DELETED",
                deleted=True,
                source_version=version,
            )
        )
        return
    event = found[0]
    await docs.put_snapshot(
        docs.EventSnapshot(
            id=str(event_id),
            event_id=event_id,
            title=event.title,
            status=event.status,
            members=[
                docs.Member(user_id=p.user_id, participant_id=p.id or 0, role=p.role)
                for p in members
                if p.user_id is not None
            ],
            source_version=version,
        )
    )


async def refresh_user_snapshot(deps: Deps, user_id: int, version: int) -> None:
    async with deps.db.reader() as db:
        user = await accounts_store.user_by_id(db, user_id)
    if user is None:
        snapshot = docs.UserSnapshot(
            id=str(user_id),
            user_id=user_id,
            username="",
            display_name="Deleted user",
            deleted=True,
            source_version=version,
        )
    else:
        snapshot = docs.UserSnapshot(
            id=str(user_id),
            user_id=user_id,
            username=user.username,
            display_name=display_name(user),
            avatar_key=user.avatar_key,
            source_version=version,
        )
    await docs.put_snapshot(snapshot)
    await snapshot_cache(deps).evict([user_id])


async def project_snapshots(deps: Deps, event: DomainEvent) -> None:
    if event.aggregate_type == EVENT:
        await refresh_event_snapshot(deps, event.aggregate_id, event.id)
    elif event.aggregate_type == USER:
        await refresh_user_snapshot(deps, event.aggregate_id, event.id)


async def project_activity(deps: Deps, event: DomainEvent) -> None:
    subject_type = ACTIVITY.get(event.type)
    if event.aggregate_type != EVENT or subject_type is None:
        return
    actor_name = None
    if event.actor_user_id is not None:
        async with deps.db.reader() as db:
            actor = await accounts_store.user_by_id(db, event.actor_user_id)
        actor_name = display_name(actor) if actor is not None else None
    payload = dict(event.payload)
    payload.pop("once", None)
    raw = payload.pop("subject_id", event.aggregate_id)
    subject_id = raw if isinstance(raw, str) else int(raw)
    await docs.add_activity(
        docs.ActivityEntry(
            id=str(event.once),  # a change recorded twice under one name: one entry
            seq=event.id,
            event_id=event.aggregate_id,
            verb=event.type,
            actor_user_id=event.actor_user_id,
            actor_name=actor_name,
            subject_type=subject_type,
            subject_id=subject_id,
            payload=payload,
            created_at=event.created_at,
        )
    )


HANDLERS: list[Handler] = [project_snapshots, project_activity]


async def rebuild_all(deps: Deps) -> tuple[int, int]:
    """Recreates every snapshot from MySQL (the activity feed is history: it is kept).
    Returns (users, events) rebuilt."""
    async with deps.db.reader() as db:
        last = await outbox_store.last_id(db)
        user_ids = await outbox_store.all_aggregate_ids(db, accounts_store.User)
        event_ids = await outbox_store.all_aggregate_ids(db, events_store.Event)
    await docs.UserSnapshot.delete_all()
    await docs.EventSnapshot.delete_all()
    for user_id in user_ids:
        await refresh_user_snapshot(deps, user_id, last)
    for event_id in event_ids:
        await refresh_event_snapshot(deps, event_id, last)
    return len(user_ids), len(event_ids)


async def user_snapshots(deps: Deps, user_ids: list[int]) -> list[docs.UserSnapshot | None]:
    """Batch function for the snapshot loader."""
    found = {
        s.user_id: s
        for s in await retry_write_conflicts(
            lambda: docs.UserSnapshot.find({"_id": {"$in": [str(i) for i in user_ids]}}).to_list()
        )
    }
    return [found.get(i) for i in user_ids]


def snapshot_cache(deps: Deps) -> LocalCache[tuple[docs.UserSnapshot | None]]:
    """Per process: user snapshots for the live chat's rendering (author names on every
    delivery), evicted in every process when a snapshot is rewritten."""
    return deps.services.snapshot_cache


async def cached_user_snapshots(deps: Deps, user_ids: list[int]) -> list[docs.UserSnapshot | None]:
    cache = snapshot_cache(deps)
    found = {i: cache.get(i) for i in user_ids}
    missing = [i for i, hit in found.items() if hit is None]
    if missing:
        for user_id, snapshot in zip(missing, await user_snapshots(deps, missing), strict=True):
            found[user_id] = (snapshot,)
            cache.put(user_id, (snapshot,))
    return [hit[0] if hit else None for hit in (found[i] for i in user_ids)]


class ProjectionLoaders(LoaderBase):
    @cached_property
    def user_snapshot(self) -> DataLoader[int, docs.UserSnapshot | None]:
        return self.batched(user_snapshots)
