"""Media metadata (MongoDB through Beanie): files, albums, comments, likes and storage usage.

The files themselves are under `uploads/` (stores/files.py); a document names them by its
`storage_key`. Indexes (what each query uses):
- dedupe on upload: `dedupe_key` unique, a string "<event>:<sha256>" (briskdb refuses unique keys
  with ObjectIds or datetimes), so two uploads of the same content in an event race safely;
- `Album.media`: `album_sorted` (album_id, sort_at, _id); sort_at is taken-at, else upload time;
- deleting an event's media: `event` (event_id) on every collection;
- comments of a media: `media_created` (media_id, created_at, _id);
- one like per user and media: `key` unique "<media>:<user>";
- albums: `key` unique, "<event>:default" for the default album (created once, even in a race),
  "<event>:<user>:<hash of clientMutationId>" for one created with a client key (a retry finds it);
- retried comments: `client_key` unique where it is a string, "<user>:<hash of clientMutationId>".

Usage counters (`media_usage`, one document per user and per event, `$inc` only) make quota checks
one read: the reservation is an atomic increment taken back when it overshoots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from beanie import Document, PydanticObjectId, SortDirection
from bson import ObjectId
from pydantic import BaseModel, Field
from pymongo import IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from stores.db import utcnow
from stores.mongo import retry_write_conflicts


class MediaExif(BaseModel):
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    focal_length: float | None = None
    aperture: float | None = None
    exposure_time: str | None = None
    iso: int | None = None
    orientation: int | None = None


class Location(BaseModel):
    latitude: float
    longitude: float
    altitude: float | None = None


class Media(Document):
    event_id: int
    album_id: str
    uploader_user_id: int
    kind: str  # IMAGE | VIDEO | DOCUMENT
    mime_type: str
    ext: str
    size: int
    sha256: str
    dedupe_key: str  # "<event>:<sha256>"
    storage_key: str
    variants: list[str] = Field(default_factory=list)  # thumbnail, preview, public
    file_name: str = ""
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None  # UTC
    taken_at_offset_min: int | None = None  # the camera's UTC offset, when it recorded one
    sort_at: datetime  # taken_at, else created_at: the album order
    exif: MediaExif | None = None
    location: Location | None = None
    share_location: bool = False
    caption: str = ""
    like_count: int = 0
    comment_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    # an admin removed it: its files, metadata, comments and likes are gone, this stays
    removed_at: datetime | None = None

    class Settings:
        name = "media"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("dedupe_key", pymongo.ASCENDING)], name="dedupe_key", unique=True),
            IndexModel(
                [
                    ("album_id", pymongo.ASCENDING),
                    ("sort_at", pymongo.ASCENDING),
                    ("_id", pymongo.ASCENDING),
                ],
                name="album_sorted",
            ),
            IndexModel([("album_id", pymongo.ASCENDING)], name="album"),
            IndexModel([("event_id", pymongo.ASCENDING)], name="event"),
            IndexModel([("storage_key", pymongo.ASCENDING)], name="storage_key"),
        ]


class Album(Document):
    event_id: int
    key: str  # "<event>:default" or "<event>:<random>"
    title: str
    description: str = ""
    is_default: bool = False
    cover_media_id: str | None = None
    created_by_user_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    version: int = 1
    request_hash: str | None = None  # created with a client key: the arguments it came with

    class Settings:
        name = "albums"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("key", pymongo.ASCENDING)], name="key", unique=True),
            IndexModel([("event_id", pymongo.ASCENDING)], name="event"),
        ]


class MediaComment(Document):
    media_id: str
    event_id: int
    author_user_id: int
    body: str
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: datetime | None = None
    removed_at: datetime | None = None  # an admin removed it: the body is gone, this stays
    client_key: str | None = None  # "<user>:<hash of clientMutationId>"
    request_hash: str | None = None

    class Settings:
        name = "media_comments"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel(
                [("client_key", pymongo.ASCENDING)],
                name="client_key",
                unique=True,
                partialFilterExpression={"client_key": {"$type": "string"}},
            ),
            IndexModel(
                [
                    ("media_id", pymongo.ASCENDING),
                    ("created_at", pymongo.ASCENDING),
                    ("_id", pymongo.ASCENDING),
                ],
                name="media_created",
            ),
            IndexModel([("media_id", pymongo.ASCENDING)], name="media"),
            IndexModel([("event_id", pymongo.ASCENDING)], name="event"),
        ]


class MediaLike(Document):
    key: str  # "<media>:<user>"
    media_id: str
    event_id: int
    user_id: int
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "media_likes"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("key", pymongo.ASCENDING)], name="key", unique=True),
            IndexModel([("media_id", pymongo.ASCENDING)], name="media"),
            IndexModel([("event_id", pymongo.ASCENDING)], name="event"),
        ]


MEDIA_MODELS: list[type[Document]] = [Media, Album, MediaComment, MediaLike]
USAGE = "media_usage"


def _oid(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) else None


# --- media -------------------------------------------------------------------------------------


async def media_by_ids(ids: list[str]) -> list[Media | None]:
    oids = [o for o in (_oid(i) for i in ids) if o is not None]
    if not oids:
        return [None] * len(ids)
    found = {
        str(m.id): m
        for m in await retry_write_conflicts(lambda: Media.find({"_id": {"$in": oids}}).to_list())
    }
    return [found.get(i) for i in ids]


async def by_dedupe_keys(keys: list[str]) -> dict[str, Media]:
    found = await retry_write_conflicts(lambda: Media.find({"dedupe_key": {"$in": keys}}).to_list())
    return {m.dedupe_key: m for m in found}


async def add_media(media: Media) -> Media | None:
    """Stores it; None when the same content is already in the event (dedupe race lost)."""
    try:
        await retry_write_conflicts(media.insert)
    except DuplicateKeyError:
        return None
    return media


async def album_page(
    album_id: str, *, first: int, after: tuple[datetime, str] | None
) -> list[Media]:
    query: dict[str, Any] = {"album_id": album_id}
    if after is not None:
        at, oid = after
        query["$or"] = [{"sort_at": {"$gt": at}}, {"sort_at": at, "_id": {"$gt": ObjectId(oid)}}]
    order = [("sort_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await retry_write_conflicts(lambda: Media.find(query).sort(order).limit(first).to_list())


async def album_counts(album_ids: list[str]) -> dict[str, int]:
    rows = await retry_write_conflicts(
        lambda: Media.get_pymongo_collection().aggregate(
            [
                {"$match": {"album_id": {"$in": album_ids}}},
                {"$group": {"_id": "$album_id", "n": {"$sum": 1}}},
            ]
        )
    )
    return {row["_id"]: int(row["n"]) async for row in rows}


async def first_of_album(album_id: str) -> Media | None:
    found = await album_page(album_id, first=1, after=None)
    return found[0] if found else None


async def known_storage_keys(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(await _storage_keys_in(keys[start : start + 500]))
    return found


async def _storage_keys_in(batch: list[str]) -> set[str]:
    collection = Media.get_pymongo_collection()
    rows: list[dict[str, Any]] = await retry_write_conflicts(
        lambda: collection.find({"storage_key": {"$in": batch}}, {"storage_key": 1}).to_list()
    )
    return {row["storage_key"] for row in rows}


async def media_of_event(event_id: int) -> list[Media]:
    return await retry_write_conflicts(lambda: Media.find({"event_id": event_id}).to_list())


async def set_fields(media: Media, **changes: Any) -> Media:
    await retry_write_conflicts(lambda: Media.find_one({"_id": media.id}).update({"$set": changes}))
    for name, value in changes.items():
        setattr(media, name, value)
    return media


async def move_to_album(media_ids: list[str], album_id: str) -> None:
    oids = [o for o in (_oid(i) for i in media_ids) if o is not None]
    await retry_write_conflicts(
        lambda: Media.find({"_id": {"$in": oids}}).update({"$set": {"album_id": album_id}})
    )


async def move_album_content(from_album: str, to_album: str) -> None:
    await retry_write_conflicts(
        lambda: Media.find({"album_id": from_album}).update({"$set": {"album_id": to_album}})
    )


async def delete_media(media: Media) -> None:
    """The media and what hangs on it (comments, likes); files are the caller's."""
    media_id = str(media.id)
    await retry_write_conflicts(lambda: MediaComment.find({"media_id": media_id}).delete())
    await retry_write_conflicts(lambda: MediaLike.find({"media_id": media_id}).delete())
    await retry_write_conflicts(
        lambda: Album.find({"cover_media_id": media_id}).update({"$set": {"cover_media_id": None}})
    )
    await retry_write_conflicts(lambda: Media.find_one({"_id": media.id}).delete())


async def tombstone_media(media: Media, at: datetime) -> bool:
    """Leaves a tombstone where the media was (its files are the caller's); False when it was
    already one. The dedupe key is freed: the same file may be uploaded again."""
    media_id = str(media.id)
    result = await retry_write_conflicts(
        lambda: Media.get_pymongo_collection().update_one(
            {"_id": media.id, "removed_at": None},
            {
                "$set": {
                    "removed_at": at,
                    "dedupe_key": f"removed:{media_id}",
                    "variants": [],
                    "caption": "",
                    "file_name": "",
                    "exif": None,
                    "location": None,
                    "share_location": False,
                    "like_count": 0,
                    "comment_count": 0,
                }
            },
        )
    )
    if not result.modified_count:
        return False
    await retry_write_conflicts(lambda: MediaComment.find({"media_id": media_id}).delete())
    await retry_write_conflicts(lambda: MediaLike.find({"media_id": media_id}).delete())
    await retry_write_conflicts(
        lambda: Album.find({"cover_media_id": media_id}).update({"$set": {"cover_media_id": None}})
    )
    return True


async def delete_event_documents(event_id: int) -> None:
    models: list[type[Document]] = [MediaComment, MediaLike, Media, Album]
    for model in models:
        await _delete_where(model, {"event_id": event_id})


async def _delete_where(model: type[Document], query: dict[str, Any]) -> None:
    collection = model.get_pymongo_collection()
    await retry_write_conflicts(lambda: collection.delete_many(query))


# --- albums ------------------------------------------------------------------------------------


def default_album_key(event_id: int) -> str:
    return f"{event_id}:default"


async def default_album(event_id: int) -> Album:
    """The event's default album, created on first use (once, even when two requests race)."""
    key = default_album_key(event_id)
    found = await retry_write_conflicts(lambda: Album.find_one({"key": key}))
    if found is not None:
        return found
    album = Album(event_id=event_id, key=key, title="Photos", is_default=True, created_at=utcnow())
    try:
        await retry_write_conflicts(album.insert)
        return album
    except DuplicateKeyError:
        again = await retry_write_conflicts(lambda: Album.find_one({"key": key}))
        assert again is not None
        return again


async def albums_of(event_id: int) -> list[Album]:
    found = await retry_write_conflicts(
        lambda: (
            Album.find({"event_id": event_id})
            .sort([("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)])
            .to_list()
        )
    )
    return sorted(found, key=lambda a: not a.is_default)


async def albums_by_ids(ids: list[str]) -> list[Album | None]:
    oids = [o for o in (_oid(i) for i in ids) if o is not None]
    found = (
        {
            str(a.id): a
            for a in await retry_write_conflicts(
                lambda: Album.find({"_id": {"$in": oids}}).to_list()
            )
        }
        if oids
        else {}
    )
    return [found.get(i) for i in ids]


async def count_albums(event_id: int) -> int:
    return await retry_write_conflicts(lambda: Album.find({"event_id": event_id}).count())


async def add_album(album: Album) -> Album:
    await retry_write_conflicts(album.insert)
    return album


async def album_by_key(key: str) -> Album | None:
    return await retry_write_conflicts(lambda: Album.find_one({"key": key}))


async def add_album_once(album: Album) -> tuple[Album, bool]:
    """Inserts an album with a client key, or finds the one a twin inserted: (album, created)."""
    try:
        return await add_album(album), True
    except DuplicateKeyError:
        found = await album_by_key(album.key)
        if found is None:
            raise
        return found, False


async def update_album(album: Album, expected_version: int | None, **changes: Any) -> Album | None:
    """None when the album changed since `expected_version` (or was deleted)."""
    query: dict[str, Any] = {"_id": album.id}
    if expected_version is not None:
        query["version"] = expected_version
    collection = Album.get_pymongo_collection()
    raw = await retry_write_conflicts(
        lambda: collection.find_one_and_update(
            query, {"$set": changes, "$inc": {"version": 1}}, return_document=ReturnDocument.AFTER
        )
    )
    return Album.model_validate(raw) if raw is not None else None


async def delete_album(album: Album) -> None:
    await retry_write_conflicts(lambda: Album.find_one({"_id": album.id}).delete())


# --- comments and likes ------------------------------------------------------------------------


async def comments_page(
    media_id: str, *, first: int, after: tuple[datetime, str] | None
) -> list[MediaComment]:
    query: dict[str, Any] = {"media_id": media_id}
    if after is not None:
        at, oid = after
        query["$or"] = [
            {"created_at": {"$gt": at}},
            {"created_at": at, "_id": {"$gt": ObjectId(oid)}},
        ]
    order = [("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    return await retry_write_conflicts(
        lambda: MediaComment.find(query).sort(order).limit(first).to_list()
    )


async def comment_by_id(comment_id: str) -> MediaComment | None:
    oid = _oid(comment_id)
    if oid is None:
        return None
    return await retry_write_conflicts(lambda: MediaComment.get(PydanticObjectId(oid)))


async def comments_by_ids(ids: list[str]) -> list[MediaComment | None]:
    oids = [o for o in (_oid(i) for i in ids) if o is not None]
    found = (
        {
            str(c.id): c
            for c in await retry_write_conflicts(
                lambda: MediaComment.find({"_id": {"$in": oids}}).to_list()
            )
        }
        if oids
        else {}
    )
    return [found.get(i) for i in ids]


async def comment_by_client_key(client_key: str) -> MediaComment | None:
    return await retry_write_conflicts(lambda: MediaComment.find_one({"client_key": client_key}))


async def add_comment(comment: MediaComment) -> tuple[MediaComment, bool]:
    """Inserts the comment, or (with a client key) finds the one a twin inserted:
    (comment, created). Only a created one counts."""
    try:
        await retry_write_conflicts(comment.insert)
    except DuplicateKeyError:
        found = await comment_by_client_key(comment.client_key) if comment.client_key else None
        if found is None:
            raise
        return found, False
    await _bump(comment.media_id, "comment_count", 1)
    return comment, True


async def edit_comment(comment: MediaComment, body: str, at: datetime) -> MediaComment:
    await retry_write_conflicts(
        lambda: MediaComment.find_one({"_id": comment.id}).update(
            {"$set": {"body": body, "edited_at": at}}
        )
    )
    comment.body, comment.edited_at = body, at
    return comment


async def tombstone_comment(comment: MediaComment, at: datetime) -> bool:
    """Keeps the comment in its thread without its text; False when it was already one."""
    result = await retry_write_conflicts(
        lambda: MediaComment.get_pymongo_collection().update_one(
            {"_id": comment.id, "removed_at": None}, {"$set": {"removed_at": at, "body": ""}}
        )
    )
    return bool(result.modified_count)


async def delete_comment(comment: MediaComment) -> None:
    result = await retry_write_conflicts(
        lambda: MediaComment.get_pymongo_collection().delete_one({"_id": comment.id})
    )
    if result.deleted_count:
        await _bump(comment.media_id, "comment_count", -1)


async def _bump(media_id: str, counter: str, by: int) -> None:
    oid = _oid(media_id)
    await retry_write_conflicts(
        lambda: Media.get_pymongo_collection().update_one({"_id": oid}, {"$inc": {counter: by}})
    )


def like_key(media_id: str, user_id: int) -> str:
    return f"{media_id}:{user_id}"


async def add_like(media: Media, user_id: int) -> bool:
    """True when this added the like (False: it was there)."""
    media_id = str(media.id)
    like = MediaLike(
        key=like_key(media_id, user_id), media_id=media_id, event_id=media.event_id, user_id=user_id
    )
    try:
        await retry_write_conflicts(like.insert)
    except DuplicateKeyError:
        return False
    await _bump(media_id, "like_count", 1)
    return True


async def remove_like(media: Media, user_id: int) -> bool:
    media_id = str(media.id)
    result = await retry_write_conflicts(
        lambda: MediaLike.get_pymongo_collection().delete_one({"key": like_key(media_id, user_id)})
    )
    if not result.deleted_count:
        return False
    await _bump(media_id, "like_count", -1)
    return True


async def liked_by(user_id: int, media_ids: list[str]) -> set[str]:
    keys = [like_key(m, user_id) for m in media_ids]
    found = await retry_write_conflicts(lambda: MediaLike.find({"key": {"$in": keys}}).to_list())
    return {like.media_id for like in found}


# --- usage (quotas) ----------------------------------------------------------------------------


async def change_usage(owner: str, by: int) -> int:
    """Adds `by` bytes to an owner's usage ("user:5", "event:7"); returns the new total."""
    collection = Media.get_pymongo_collection().database[USAGE]

    async def bump() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await collection.find_one_and_update(
            {"_id": owner},
            {"$inc": {"bytes": by}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return found

    found = await retry_write_conflicts(bump)
    return int(found["bytes"]) if found else by


async def usage(owner: str) -> int:
    collection = Media.get_pymongo_collection().database[USAGE]
    found = await retry_write_conflicts(lambda: collection.find_one({"_id": owner}))
    return int(found["bytes"]) if found else 0


async def forget_usage(owner: str) -> None:
    collection = Media.get_pymongo_collection().database[USAGE]
    await retry_write_conflicts(lambda: collection.delete_one({"_id": owner}))


async def count_since(since: datetime) -> int:
    """How many were created since then (for the admin statistics)."""
    return await retry_write_conflicts(
        lambda: Media.get_pymongo_collection().count_documents({"created_at": {"$gte": since}})
    )
