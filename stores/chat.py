"""Chat messages of an event (MongoDB through Beanie).

Indexes (what each query uses):
- history `Event.messages`: `event_created` (event_id, created_at desc, _id desc) on MongoDB;
  `event` (event_id) too, which the briskdb stand-in needs (it does not serve compound sorts);
- threads `Message.replies`: `reply_to` (reply_to_id, created_at);
- retried sends: `client_key` unique, a string "<event>:<user>:<clientId>" (briskdb refuses
  unique keys with ObjectIds or datetimes), partial: only messages sent with a client id;
- replay after a reconnect (`chatEvents(after:)`): `event_changed` (event_id, changed_seq);
- unread counts: `event_created` for the count since the reader's marker, `event_mentions`
  (event_id, mentions, created_at) for mentions;
- polls (`ChatMessage.poll`): read with their message; each voter's choice is one key of
  `poll.votes` ("u<user id>" → option ids), so concurrent votes of different people are
  independent single-document updates and a vote is stored whole or not at all;
- read markers: `key` unique "<event>:<user>", `marker_event_seq` (event_id, seq) for replay,
  `marker_event_at` (event_id, at) for `seenBy`.

Every change to an event's chat (a message added, edited, deleted or reacted to, a read marker
moved) takes the next number of the event's sequence (`chat_sequences`, one counter document per
event): it orders the live stream and is the cursor a reconnecting client replays from.
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


class Edit(BaseModel):
    body: str
    edited_at: datetime


class PollOption(BaseModel):
    id: str  # "o1".."o10", stable for the poll's life
    text: str


class Poll(BaseModel):
    """A poll carried by a message; `votes` maps "u<user id>" to the chosen option ids (the
    "u" keeps the key a field name: a bare number could read as an array index)."""

    question: str
    options: list[PollOption]
    multiple_choice: bool = False
    anonymous: bool = False
    closes_at: datetime | None = None
    closed_at: datetime | None = None  # closed by its author or an organizer
    closed_by_user_id: int | None = None
    votes: dict[str, list[str]] = Field(default_factory=dict)

    def voters_of(self, option_id: str) -> list[int]:
        return [voter_id(k) for k, chosen in self.votes.items() if option_id in chosen]

    def choice_of(self, user_id: int) -> list[str]:
        return self.votes.get(voter_key(user_id), [])

    def is_closed(self, now: datetime) -> bool:
        return self.closed_at is not None or (self.closes_at is not None and self.closes_at <= now)


def voter_key(user_id: int) -> str:
    return f"u{user_id}"


def voter_id(key: str) -> int:
    return int(key[1:])


class ChatMessage(Document):
    event_id: int
    author_user_id: int
    body: str
    mentions: list[int] = Field(default_factory=list)
    reply_to_id: str | None = None
    attachment_ids: list[str] = Field(default_factory=list)  # media of the same event
    reply_count: int = 0
    client_key: str | None = None
    edits: list[Edit] = Field(default_factory=list)
    reactions: dict[str, list[int]] = Field(default_factory=dict)
    poll: Poll | None = None
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    deleted_by_user_id: int | None = None
    removed_by_admin: bool = False  # deleted by an administrator (moderation)
    seq: int = 0  # the event's chat sequence number when it was sent
    changed_seq: int = 0  # ... and of its last change
    last_change: str = "added"  # added | edited | deleted | reaction | poll

    class Settings:
        name = "chat_messages"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("event_id", pymongo.ASCENDING)], name="event"),
            IndexModel(
                [
                    ("event_id", pymongo.ASCENDING),
                    ("created_at", pymongo.DESCENDING),
                    ("_id", pymongo.DESCENDING),
                ],
                name="event_created",
            ),
            IndexModel(
                [("reply_to_id", pymongo.ASCENDING), ("created_at", pymongo.ASCENDING)],
                name="reply_to",
            ),
            IndexModel(
                [("client_key", pymongo.ASCENDING)],
                name="client_key",
                unique=True,
                partialFilterExpression={"client_key": {"$type": "string"}},
            ),
            IndexModel(
                [("event_id", pymongo.ASCENDING), ("changed_seq", pymongo.ASCENDING)],
                name="event_changed",
            ),
            IndexModel(
                [
                    ("event_id", pymongo.ASCENDING),
                    ("mentions", pymongo.ASCENDING),
                    ("created_at", pymongo.ASCENDING),
                ],
                name="event_mentions",
            ),
        ]


class ReadMarker(Document):
    """How far a participant has read an event's chat (never moves backwards)."""

    key: str  # "<event>:<user>"
    event_id: int
    user_id: int
    message_id: str
    at: datetime  # the marked message's created_at
    seq: int = 0
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "chat_read_markers"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("key", pymongo.ASCENDING)], name="key", unique=True),
            IndexModel(
                [("event_id", pymongo.ASCENDING), ("seq", pymongo.ASCENDING)],
                name="marker_event_seq",
            ),
            IndexModel(
                [("event_id", pymongo.ASCENDING), ("at", pymongo.ASCENDING)], name="marker_event_at"
            ),
        ]


class ChatSettings(Document):
    user_id: int
    show_presence: bool = True
    send_read_receipts: bool = True
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "chat_settings"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("user_id", pymongo.ASCENDING)], name="user", unique=True),
        ]


CHAT_MODELS: list[type[Document]] = [ChatMessage, ReadMarker, ChatSettings]
SEQUENCES = "chat_sequences"


async def next_seq(event_id: int) -> int:
    """The next number of the event's chat sequence (atomic; starts at 1)."""
    collection = ChatMessage.get_pymongo_collection().database[SEQUENCES]

    async def bump() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await collection.find_one_and_update(
            {"_id": f"event:{event_id}"},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return found

    doc = await retry_write_conflicts(bump)
    return int(doc["seq"]) if doc else 0


async def current_seq(event_id: int) -> int:
    collection = ChatMessage.get_pymongo_collection().database[SEQUENCES]
    doc = await retry_write_conflicts(lambda: collection.find_one({"_id": f"event:{event_id}"}))
    return int(doc["seq"]) if doc else 0


async def current_seqs(event_ids: list[int]) -> dict[int, int]:
    """The last number taken of each event's sequence (0 when none yet), in one read: the
    live feeds' heartbeat."""
    if not event_ids:
        return {}
    collection = ChatMessage.get_pymongo_collection().database[SEQUENCES]
    keys = [f"event:{e}" for e in event_ids]

    async def read() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await collection.find({"_id": {"$in": keys}}).to_list()
        return found

    heads = {
        int(str(d["_id"]).removeprefix("event:")): int(d["seq"])
        for d in await retry_write_conflicts(read)
    }
    return {e: heads.get(e, 0) for e in event_ids}


def _oid(message_id: str) -> PydanticObjectId | None:
    return PydanticObjectId(message_id) if PydanticObjectId.is_valid(message_id) else None


async def by_id(message_id: str) -> ChatMessage | None:
    oid = _oid(message_id)
    if oid is None:
        return None
    return await retry_write_conflicts(lambda: ChatMessage.get(oid))


async def by_ids(ids: list[str]) -> list[ChatMessage]:
    oids = [o for o in (_oid(i) for i in ids) if o is not None]
    if not oids:
        return []
    return await retry_write_conflicts(lambda: ChatMessage.find({"_id": {"$in": oids}}).to_list())


async def by_client_key(client_key: str) -> ChatMessage | None:
    return await retry_write_conflicts(lambda: ChatMessage.find_one({"client_key": client_key}))


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
        await retry_write_conflicts(
            lambda: ChatMessage.get_pymongo_collection().update_one(
                {"_id": parent}, {"$inc": {"reply_count": 1}}
            )
        )
    return message, True


async def _update(
    message_id: PydanticObjectId, query: dict[str, Any], change: dict[str, Any]
) -> ChatMessage | None:
    collection = ChatMessage.get_pymongo_collection()

    async def write() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await collection.find_one_and_update(
            {"_id": message_id, **query}, change, return_document=ReturnDocument.AFTER
        )
        return found

    doc = await retry_write_conflicts(write)
    return ChatMessage.model_validate(doc) if doc is not None else None


def _changed(seq: int, kind: str) -> dict[str, Any]:
    # $max: of two racing changes, the later number stays (both are in the live stream)
    return {"$max": {"changed_seq": seq}, "$set": {"last_change": kind}}


async def edit(message: ChatMessage, body: str, now: datetime, seq: int) -> ChatMessage | None:
    """Replaces the body, keeping the previous one in `edits` (not on a deleted message)."""
    assert message.id is not None
    change = _changed(seq, "edited")
    change["$set"].update(body=body, edited_at=now)
    return await _update(
        message.id,
        {"deleted_at": None, "body": message.body},
        {**change, "$push": {"edits": {"body": message.body, "edited_at": now}}},
    )


async def tombstone(
    message: ChatMessage, by_user_id: int, now: datetime, seq: int, *, by_admin: bool = False
) -> ChatMessage | None:
    assert message.id is not None
    change = _changed(seq, "deleted")
    change["$set"].update(
        deleted_at=now,
        deleted_by_user_id=by_user_id,
        body="",
        edits=[],
        reactions={},
        mentions=[],
        attachment_ids=[],
        poll=None,
        removed_by_admin=by_admin,
    )
    return await _update(message.id, {"deleted_at": None}, change)


async def toggle_reaction(
    message: ChatMessage, emoji: str, user_id: int, add_it: bool, seq: int
) -> ChatMessage | None:
    assert message.id is not None
    field = f"reactions.{emoji}"
    change = {"$addToSet": {field: user_id}} if add_it else {"$pull": {field: user_id}}
    return await _update(message.id, {"deleted_at": None}, {**change, **_changed(seq, "reaction")})


async def vote(
    message: ChatMessage, user_id: int, option_ids: list[str], seq: int
) -> ChatMessage | None:
    """Replaces the user's choice (none: withdraws it) in one update, unless the message was
    deleted or its poll closed by hand meanwhile (None then). Closing by time is the caller's
    check: `closes_at` never changes."""
    assert message.id is not None
    field = f"poll.votes.{voter_key(user_id)}"
    change: dict[str, Any] = (
        {"$set": {field: option_ids}} if option_ids else {"$unset": {field: ""}}
    )
    changed = _changed(seq, "poll")
    changed["$set"].update(change.pop("$set", {}))
    return await _update(
        message.id,
        {"deleted_at": None, "poll.closed_at": None, "poll.question": {"$exists": True}},
        {**change, **changed},
    )


async def close_poll(
    message: ChatMessage, user_id: int, now: datetime, seq: int
) -> ChatMessage | None:
    """Closes the poll (None when it was already closed by hand or the message deleted)."""
    assert message.id is not None
    changed = _changed(seq, "poll")
    changed["$set"].update({"poll.closed_at": now, "poll.closed_by_user_id": user_id})
    return await _update(
        message.id,
        {"deleted_at": None, "poll.closed_at": None, "poll.question": {"$exists": True}},
        changed,
    )


async def history(
    event_id: int, *, last: int, before: tuple[datetime, str] | None
) -> list[ChatMessage]:
    """Newest first, at most `last`, strictly older than `before` (created_at, id)."""
    query: dict[str, Any] = {"event_id": event_id}
    if before is not None:
        at, oid = before
        query["$or"] = [
            {"created_at": {"$lt": at}},
            {"created_at": at, "_id": {"$lt": PydanticObjectId(oid)}},
        ]
    order = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    return await retry_write_conflicts(
        lambda: ChatMessage.find(query).sort(order).limit(last).to_list()
    )


async def newer(event_id: int, *, first: int, after: tuple[datetime, str]) -> list[ChatMessage]:
    """Oldest first, strictly newer than `after`."""
    at, oid = after
    query: dict[str, Any] = {
        "event_id": event_id,
        "$or": [
            {"created_at": {"$gt": at}},
            {"created_at": at, "_id": {"$gt": PydanticObjectId(oid)}},
        ],
    }
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await retry_write_conflicts(
        lambda: ChatMessage.find(query).sort(order).limit(first).to_list()
    )


async def replies(
    parent_id: str, *, first: int, after: tuple[datetime, str] | None
) -> list[ChatMessage]:
    query: dict[str, Any] = {"reply_to_id": parent_id}
    if after is not None:
        at, oid = after
        query["$or"] = [
            {"created_at": {"$gt": at}},
            {"created_at": at, "_id": {"$gt": PydanticObjectId(oid)}},
        ]
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await retry_write_conflicts(
        lambda: ChatMessage.find(query).sort(order).limit(first).to_list()
    )


async def changed_since(event_id: int, after_seq: int, limit: int) -> list[ChatMessage]:
    """Messages added or changed after `after_seq`, in sequence order (replay)."""
    return await retry_write_conflicts(
        lambda: (
            ChatMessage.find({"event_id": event_id, "changed_seq": {"$gt": after_seq}})
            .sort([("changed_seq", SortDirection.ASCENDING)])
            .limit(limit)
            .to_list()
        )
    )


# --- read markers ------------------------------------------------------------------------------


def _position_after(at: datetime, message_id: str, *, inclusive: bool) -> dict[str, Any]:
    oid = PydanticObjectId(message_id)
    return {
        "$or": [
            {"created_at": {"$gt": at}},
            {"created_at": at, "_id": {"$gte" if inclusive else "$gt": oid}},
        ]
    }


async def marker(event_id: int, user_id: int) -> ReadMarker | None:
    return await retry_write_conflicts(
        lambda: ReadMarker.find_one({"key": f"{event_id}:{user_id}"})
    )


async def move_marker(
    event_id: int, user_id: int, message: ChatMessage, seq: int, now: datetime
) -> ReadMarker | None:
    """Moves the reader's marker to `message` unless it is already there or further; returns
    the moved marker, or None when it did not move."""
    collection = ReadMarker.get_pymongo_collection()
    position = {
        "message_id": str(message.id),
        "at": message.created_at,
        "seq": seq,
        "updated_at": now,
    }
    behind = {
        "$or": [
            {"at": {"$lt": message.created_at}},
            {"at": message.created_at, "message_id": {"$lt": str(message.id)}},
        ]
    }
    key = f"{event_id}:{user_id}"

    async def write() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await collection.find_one_and_update(
            {"key": key, **behind}, {"$set": position}, return_document=ReturnDocument.AFTER
        )
        if found is not None:
            return found
        try:
            await collection.insert_one(
                {"key": key, "event_id": event_id, "user_id": user_id, **position}
            )
        except DuplicateKeyError:
            return None  # exists and is already at or past this message
        return await collection.find_one({"key": key})

    doc = await retry_write_conflicts(write)
    return ReadMarker.model_validate(doc) if doc is not None else None


async def markers_since(event_id: int, after_seq: int, limit: int) -> list[ReadMarker]:
    return await retry_write_conflicts(
        lambda: (
            ReadMarker.find({"event_id": event_id, "seq": {"$gt": after_seq}})
            .sort([("seq", SortDirection.ASCENDING)])
            .limit(limit)
            .to_list()
        )
    )


async def readers_of(message: ChatMessage, limit: int) -> list[ReadMarker]:
    """Markers at or past the message, earliest first."""
    query: dict[str, Any] = {
        "event_id": message.event_id,
        "$or": [
            {"at": {"$gt": message.created_at}},
            {"at": message.created_at, "message_id": {"$gte": str(message.id)}},
        ],
    }
    return await retry_write_conflicts(
        lambda: (
            ReadMarker.find(query).sort([("at", SortDirection.ASCENDING)]).limit(limit).to_list()
        )
    )


async def unread_count(
    event_id: int, user_id: int, since: ReadMarker | None, *, mentions_only: bool, cap: int
) -> int:
    """Live messages of others after the marker (deleted ones don't count), up to `cap`.

    The newest `cap` messages after the marker are read (ids only) through `event_created`
    (`event_mentions` for mentions) and counted here: bounded work whatever the history, and
    no `count` aggregation (slow on the stand-in)."""
    query: dict[str, Any] = {"event_id": event_id}
    if mentions_only:
        query["mentions"] = user_id
    if since is not None:
        query.update(_position_after(since.at, since.message_id, inclusive=False))
    collection = ChatMessage.get_pymongo_collection()

    async def read() -> list[dict[str, Any]]:
        cursor = (
            collection.find(query, {"author_user_id": 1, "deleted_at": 1})
            .sort([("created_at", -1), ("_id", -1)])
            .limit(cap * 2)
        )
        found: list[dict[str, Any]] = await cursor.to_list()
        return found

    found = await retry_write_conflicts(read)
    live = sum(
        1 for d in found if d.get("deleted_at") is None and d.get("author_user_id") != user_id
    )
    return min(live, cap)


# --- settings ----------------------------------------------------------------------------------


async def settings_of(user_ids: list[int]) -> dict[int, ChatSettings]:
    if not user_ids:
        return {}
    found = await retry_write_conflicts(
        lambda: ChatSettings.find({"user_id": {"$in": user_ids}}).to_list()
    )
    return {s.user_id: s for s in found}


async def save_settings(user_id: int, changes: dict[str, Any], now: datetime) -> ChatSettings:
    collection = ChatSettings.get_pymongo_collection()

    async def write() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await collection.find_one_and_update(
            {"user_id": user_id},
            {"$set": {**changes, "updated_at": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return found

    doc = await retry_write_conflicts(write)
    saved: ChatSettings = ChatSettings.model_validate(doc)
    return saved


async def count_since(since: datetime) -> int:
    """How many were created since then (for the admin statistics)."""
    return await retry_write_conflicts(
        lambda: ChatMessage.get_pymongo_collection().count_documents(
            {"created_at": {"$gte": since}}
        )
    )
