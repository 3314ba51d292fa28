"""Notifications and their delivery preferences (MongoDB through Beanie).

Idempotent by construction: a notification lists the outbox ids it was made from (`sources`)
and the deliveries it is the effect of (`deliveries`, "<user id>:<outbox id>"), which a unique
multikey index holds once across all notifications. Two dispatchers delivering the same outbox row
to the same user at once (a lease taken over) make one notification: the second insert or merge
raises DuplicateKeyError, and that means "already done". The unread count is counted from the
documents, never kept beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from beanie import Document, PydanticObjectId, SortDirection
from pydantic import BaseModel, Field
from pymongo import IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from stores.db import utcnow
from stores.mongo import retry_write_conflicts


class Notification(Document):
    user_id: int
    type: str
    group_key: str  # type:event:user — what merges within the grace window
    event_id: int | None = None
    title: str
    body: str = ""
    occurrences: int = 1  # how many events merged into this one (grouping)
    target_type: str | None = None
    target_id: int | str | None = None
    actor_user_id: int | None = None
    actor_name: str | None = None
    sources: list[int] = Field(default_factory=list)
    # "<user id>:<outbox id>" of each delivery merged in (strings: briskdb's unique keys)
    deliveries: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
    archived_at: datetime | None = None
    email_state: str = "NONE"  # NONE | PENDING | SENT
    email_due_at: datetime | None = None

    class Settings:
        name = "notifications"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("user_id", pymongo.ASCENDING)], name="user"),
            IndexModel(
                [("user_id", pymongo.ASCENDING), ("updated_at", pymongo.DESCENDING)],
                name="user_updated",
            ),
            IndexModel([("group_key", pymongo.ASCENDING)], name="group"),
            IndexModel([("email_state", pymongo.ASCENDING)], name="email_state"),
            # one notification per delivery; documents from before the field (or with an
            # empty list) are left out of the index rather than colliding on "no key"
            IndexModel(
                [("deliveries", pymongo.ASCENDING)],
                name="delivery_unique",
                unique=True,
                partialFilterExpression={"deliveries": {"$type": "string"}},
            ),
        ]


class Channels(BaseModel):
    in_app: bool = True
    email: bool = False


class NotificationPreferences(Document):
    """`id` is the user id as a string; missing types use the defaults."""

    id: str  # type: ignore[assignment]
    types: dict[str, Channels] = Field(default_factory=dict)

    class Settings:
        name = "notification_preferences"


NOTIFICATION_MODELS: list[type[Document]] = [Notification, NotificationPreferences]


def delivery_key(user_id: int, source: int | str) -> str:
    """The key of one delivery: `<user>:<outbox id>`, or `<user>:<what the change names itself>`
    for a change that may be recorded more than once (a retried chat message names itself by its
    message)."""
    return f"{user_id}:{source}"


class AlreadyDelivered(Exception):
    """This outbox row was already delivered to this user (by this or another dispatcher)."""


async def already_delivered(delivery: str) -> bool:
    """A shortcut for redeliveries; the unique index is what makes a delivery happen once."""
    found = await Notification.find_one({"deliveries": delivery})
    return found is not None


async def merge_into_group(
    group_key: str,
    since: datetime,
    source: int,
    now: datetime,
    title: str,
    body: str,
    actor_user_id: int | None,
    actor_name: str | None,
    delivery: str,
) -> Notification | None:
    """Adds `source` (its `delivery` key) to the unread notification of the group updated since
    `since`; None when there is none. Raises AlreadyDelivered when a notification has it
    already."""
    collection = Notification.get_pymongo_collection()

    async def write() -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await collection.find_one_and_update(
            {
                "group_key": group_key,
                "read_at": None,
                "archived_at": None,
                "updated_at": {"$gte": since},
                "sources": {"$nin": [source]},
            },
            {
                "$inc": {"occurrences": 1},
                "$push": {"sources": source, "deliveries": delivery},
                "$set": {
                    "updated_at": now,
                    "title": title,
                    "body": body,
                    "actor_user_id": actor_user_id,
                    "actor_name": actor_name,
                },
            },
            return_document=ReturnDocument.AFTER,
        )
        return doc

    try:
        found = await retry_write_conflicts(write)
    except DuplicateKeyError as exc:
        raise AlreadyDelivered(delivery) from exc
    return Notification.model_validate(found) if found is not None else None


async def set_group_title(notification_id: Any, occurrences: int, title: str) -> None:
    """Titles a grouped notification for `occurrences` merges, unless a later merge (which
    titles it itself) came in between: no whole-document save over a concurrent merge."""
    await retry_write_conflicts(
        lambda: Notification.get_pymongo_collection().update_one(
            {"_id": notification_id, "occurrences": occurrences}, {"$set": {"title": title}}
        )
    )


async def add(notification: Notification) -> Notification:
    """Inserts a notification; raises AlreadyDelivered when one of its deliveries is in
    another notification already (a redelivery, or another dispatcher's at the same time)."""
    try:
        await retry_write_conflicts(notification.insert)
    except DuplicateKeyError as exc:
        raise AlreadyDelivered(", ".join(notification.deliveries)) from exc
    return notification


async def page(
    user_id: int, *, first: int, before: tuple[datetime, str] | None, unread_only: bool
) -> list[Notification]:
    query: dict[str, Any] = {"user_id": user_id, "archived_at": None}
    if unread_only:
        query["read_at"] = None
    if before is not None:
        at, oid = before
        query["$or"] = [
            {"updated_at": {"$lt": at}},
            {"updated_at": at, "_id": {"$lt": PydanticObjectId(oid)}},
        ]
    order = [("updated_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    return await retry_write_conflicts(
        lambda: Notification.find(query).sort(order).limit(first).to_list()
    )


async def unread_count(user_id: int) -> int:
    # briskdb answers a read that meets a busy writer with 112 too: the read did not happen
    unread = {"user_id": user_id, "read_at": None, "archived_at": None}
    return await retry_write_conflicts(lambda: Notification.find(unread).count())


async def by_ids(user_id: int, ids: list[str]) -> list[Notification]:
    oids = [PydanticObjectId(i) for i in ids if PydanticObjectId.is_valid(i)]
    if not oids:
        return []
    return await retry_write_conflicts(
        lambda: Notification.find({"user_id": user_id, "_id": {"$in": oids}}).to_list()
    )


async def mark_read(user_id: int, ids: list[str] | None, now: datetime) -> None:
    query: dict[str, Any] = {"user_id": user_id, "read_at": None}
    if ids is not None:
        query["_id"] = {"$in": [PydanticObjectId(i) for i in ids if PydanticObjectId.is_valid(i)]}
    await retry_write_conflicts(
        lambda: Notification.get_pymongo_collection().update_many(query, {"$set": {"read_at": now}})
    )


async def archive(user_id: int, notification_id: str, now: datetime) -> Notification | None:
    if not PydanticObjectId.is_valid(notification_id):
        return None
    collection = Notification.get_pymongo_collection()

    async def write() -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await collection.find_one_and_update(
            {"_id": PydanticObjectId(notification_id), "user_id": user_id},
            {"$set": {"archived_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None and doc.get("read_at") is None:
            doc = await collection.find_one_and_update(
                {"_id": doc["_id"]},
                {"$set": {"read_at": now}},
                return_document=ReturnDocument.AFTER,
            )
        return doc

    found = await retry_write_conflicts(write)
    return Notification.model_validate(found) if found is not None else None


async def emails_due(now: datetime, limit: int = 100) -> list[Notification]:
    return await retry_write_conflicts(
        lambda: (
            Notification.find({"email_state": "PENDING", "email_due_at": {"$lte": now}})
            .limit(limit)
            .to_list()
        )
    )


async def claim_email(notification_id: Any) -> bool:
    """PENDING → SENT once (two senders never send the same mail twice)."""
    result = await retry_write_conflicts(
        lambda: Notification.get_pymongo_collection().update_one(
            {"_id": notification_id, "email_state": "PENDING"}, {"$set": {"email_state": "SENT"}}
        )
    )
    return bool(result.modified_count)


async def preferences(user_id: int) -> NotificationPreferences | None:
    return await NotificationPreferences.get(str(user_id))


async def save_preferences(prefs: NotificationPreferences) -> None:
    await retry_write_conflicts(lambda: prefs.save())


async def delete_user_notifications(user_id: int) -> None:
    await retry_write_conflicts(lambda: Notification.find({"user_id": user_id}).delete())
    await retry_write_conflicts(
        lambda: NotificationPreferences.find({"_id": str(user_id)}).delete()
    )


async def updated_since(
    user_id: int, after: tuple[datetime, str], limit: int
) -> list[Notification]:
    """The user's notifications (not archived) created or regrouped after the position
    (updated_at, id) of the `notifications` connection's cursor, oldest first: what a live
    stream replays (served by `user_updated`)."""
    at, oid = after
    query: dict[str, Any] = {
        "user_id": user_id,
        "archived_at": None,
        "$or": [
            {"updated_at": {"$gt": at}},
            {"updated_at": at, "_id": {"$gt": PydanticObjectId(oid)}},
        ],
    }
    order = [("updated_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await retry_write_conflicts(
        lambda: Notification.find(query).sort(order).limit(limit).to_list()
    )
