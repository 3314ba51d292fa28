"""Documents kept current from the outbox: snapshots of users and events (what chat and media read
instead of joining MySQL) and each event's activity feed.

Every write is idempotent: snapshots carry the outbox id they were built from (`source_version`)
and are only replaced by a newer one; activity entries are keyed by the outbox id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from beanie import Document, SortDirection
from pydantic import BaseModel, Field
from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError

from stores.db import utcnow
from stores.mongo import retry_write_conflicts


class Member(BaseModel):
    user_id: int
    participant_id: int
    role: str


class UserSnapshot(Document):
    """`id` is the user id as a string."""

    id: str  # type: ignore[assignment]
    user_id: int
    username: str
    display_name: str
    avatar_key: str | None = None
    deleted: bool = False
    source_version: int
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "user_snapshots"


class EventSnapshot(Document):
    """`id` is the event id as a string. `members`: active participants with an account."""

    id: str  # type: ignore[assignment]
    event_id: int
    title: str
    status: str
    deleted: bool = False
    members: list[Member] = Field(default_factory=list)
    source_version: int
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "event_snapshots"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("members.user_id", pymongo.ASCENDING)], name="member_user"),
        ]


class ActivityEntry(Document):
    """One thing that happened in an event. `id` is the outbox id as a string."""

    id: str  # type: ignore[assignment]
    seq: int  # the outbox id: newest first is seq descending
    event_id: int
    verb: str
    actor_user_id: int | None = None
    actor_name: str | None = None
    subject_type: str
    subject_id: int | str  # str: a document id (media)
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime

    class Settings:
        name = "activity"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("event_id", pymongo.ASCENDING)], name="event_id"),
            IndexModel(
                [("event_id", pymongo.ASCENDING), ("seq", pymongo.DESCENDING)], name="event_seq"
            ),
        ]


PROJECTION_MODELS: list[type[Document]] = [UserSnapshot, EventSnapshot, ActivityEntry]


async def put_snapshot(doc: UserSnapshot | EventSnapshot) -> bool:
    """Stores `doc` unless a snapshot from the same or a newer source is there; True if stored."""
    model = type(doc)
    values = doc.model_dump(exclude={"id"})

    async def write() -> bool:
        collection = model.get_pymongo_collection()
        for _ in range(2):  # a second round when another writer inserted it in between
            result = await collection.update_one(
                {"_id": doc.id, "source_version": {"$lt": doc.source_version}}, {"$set": values}
            )
            if result.matched_count:
                return True
            try:
                await collection.insert_one({"_id": doc.id, **values})
            except DuplicateKeyError:
                continue  # there: older (replaced in the next round) or at least as new
            return True
        return False  # there, and at least as new

    return await retry_write_conflicts(write)


async def add_activity(entry: ActivityEntry) -> bool:
    """Inserts the entry once (a second delivery of the same outbox row is a no-op)."""

    async def write() -> bool:
        try:
            await entry.insert()
        except DuplicateKeyError:
            return False
        return True

    return await retry_write_conflicts(write)


async def activity_page(
    event_id: int, *, first: int, before_seq: int | None
) -> list[ActivityEntry]:
    query: dict[str, Any] = {"event_id": event_id}
    if before_seq is not None:
        query["seq"] = {"$lt": before_seq}
    cursor = ActivityEntry.find(query).sort([("seq", SortDirection.DESCENDING)]).limit(first)
    return await cursor.to_list()


async def user_snapshot(user_id: int) -> UserSnapshot | None:
    return await UserSnapshot.get(str(user_id))


async def event_snapshot(event_id: int) -> EventSnapshot | None:
    return await EventSnapshot.get(str(event_id))
