"""Chat messages of an event (MongoDB through Beanie).

Indexes (what each query uses):
- history `Event.messages`: `event_created` (event_id, created_at desc, _id desc) on MongoDB;
  `event` (event_id) too, which the briskdb stand-in needs (it does not serve compound sorts);
- threads `Message.replies`: `reply_to` (reply_to_id, created_at);
- retried sends: `client_key` unique, a string "<event>:<user>:<clientId>" (briskdb refuses
  unique keys with ObjectIds or datetimes), partial: only messages sent with a client id.
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
from stores.documents import retry_write_conflicts


class Edit(BaseModel):
    body: str
    edited_at: datetime


class ChatMessage(Document):
    event_id: int
    author_user_id: int
    body: str
    mentions: list[int] = Field(default_factory=list)
    reply_to_id: str | None = None
    reply_count: int = 0
    client_key: str | None = None
    edits: list[Edit] = Field(default_factory=list)
    reactions: dict[str, list[int]] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    deleted_by_user_id: int | None = None

    class Settings:
        name = "chat_messages"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("event_id", pymongo.ASCENDING)], name="event"),
            IndexModel([("event_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING),
                        ("_id", pymongo.DESCENDING)], name="event_created"),
            IndexModel([("reply_to_id", pymongo.ASCENDING), ("created_at", pymongo.ASCENDING)],
                       name="reply_to"),
            IndexModel([("client_key", pymongo.ASCENDING)], name="client_key", unique=True,
                       partialFilterExpression={"client_key": {"$type": "string"}}),
        ]


CHAT_MODELS: list[type[Document]] = [ChatMessage]


def _oid(message_id: str) -> PydanticObjectId | None:
    return PydanticObjectId(message_id) if PydanticObjectId.is_valid(message_id) else None


async def by_id(message_id: str) -> ChatMessage | None:
    oid = _oid(message_id)
    return await ChatMessage.get(oid) if oid is not None else None


async def by_ids(ids: list[str]) -> list[ChatMessage]:
    oids = [o for o in (_oid(i) for i in ids) if o is not None]
    if not oids:
        return []
    return await ChatMessage.find({"_id": {"$in": oids}}).to_list()


async def by_client_key(client_key: str) -> ChatMessage | None:
    return await ChatMessage.find_one({"client_key": client_key})


async def add(message: ChatMessage) -> tuple[ChatMessage, bool]:
    """Inserts the message; with a client key already used, returns the first one (False)."""
    try:
        await retry_write_conflicts(message.insert)
    except DuplicateKeyError:
        first = await by_client_key(message.client_key or "")
        if first is None:
            raise
        return first, False
    if message.reply_to_id is not None:
        parent = _oid(message.reply_to_id)
        await retry_write_conflicts(lambda: ChatMessage.get_pymongo_collection().update_one(
            {"_id": parent}, {"$inc": {"reply_count": 1}}))
    return message, True


async def _update(message_id: PydanticObjectId, query: dict[str, Any],
                  change: dict[str, Any]) -> ChatMessage | None:
    collection = ChatMessage.get_pymongo_collection()

    async def write() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await collection.find_one_and_update(
            {"_id": message_id, **query}, change, return_document=ReturnDocument.AFTER)
        return found

    doc = await retry_write_conflicts(write)
    return ChatMessage.model_validate(doc) if doc is not None else None


async def edit(message: ChatMessage, body: str, now: datetime) -> ChatMessage | None:
    """Replaces the body, keeping the previous one in `edits` (not on a deleted message)."""
    assert message.id is not None
    return await _update(message.id, {"deleted_at": None, "body": message.body}, {
        "$set": {"body": body, "edited_at": now},
        "$push": {"edits": {"body": message.body, "edited_at": now}}})


async def tombstone(message: ChatMessage, by_user_id: int, now: datetime) -> ChatMessage | None:
    assert message.id is not None
    return await _update(message.id, {"deleted_at": None}, {
        "$set": {"deleted_at": now, "deleted_by_user_id": by_user_id, "body": "",
                 "edits": [], "reactions": {}, "mentions": []}})


async def toggle_reaction(message: ChatMessage, emoji: str, user_id: int,
                          add_it: bool) -> ChatMessage | None:
    assert message.id is not None
    field = f"reactions.{emoji}"
    change = {"$addToSet": {field: user_id}} if add_it else {"$pull": {field: user_id}}
    return await _update(message.id, {"deleted_at": None}, change)


async def history(event_id: int, *, last: int, before: tuple[datetime, str] | None
                  ) -> list[ChatMessage]:
    """Newest first, at most `last`, strictly older than `before` (created_at, id)."""
    query: dict[str, Any] = {"event_id": event_id}
    if before is not None:
        at, oid = before
        query["$or"] = [{"created_at": {"$lt": at}},
                        {"created_at": at, "_id": {"$lt": PydanticObjectId(oid)}}]
    order = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    return await ChatMessage.find(query).sort(order).limit(last).to_list()


async def newer(event_id: int, *, first: int, after: tuple[datetime, str]) -> list[ChatMessage]:
    """Oldest first, strictly newer than `after`."""
    at, oid = after
    query: dict[str, Any] = {"event_id": event_id, "$or": [
        {"created_at": {"$gt": at}}, {"created_at": at, "_id": {"$gt": PydanticObjectId(oid)}}]}
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await ChatMessage.find(query).sort(order).limit(first).to_list()


async def replies(parent_id: str, *, first: int, after: tuple[datetime, str] | None
                  ) -> list[ChatMessage]:
    query: dict[str, Any] = {"reply_to_id": parent_id}
    if after is not None:
        at, oid = after
        query["$or"] = [{"created_at": {"$gt": at}},
                        {"created_at": at, "_id": {"$gt": PydanticObjectId(oid)}}]
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await ChatMessage.find(query).sort(order).limit(first).to_list()
