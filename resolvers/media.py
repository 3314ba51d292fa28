"""Media of an event: uploads (validated by content, EXIF, variants), avatars, edits, deletion,
quotas and the upload folder's sweep. Albums, comments and likes: resolvers/albums.py; signed
file URLs: resolvers/media_links.py.

Who may see and act is decided by the viewer's membership read from MySQL (the rule of every
child of an event). An upload is all or nothing: every file is read once (spooled, sized and
hashed as it streams), deduplicated and charged to the quotas, and only what is new is decoded
(in threads, off the event loop) before any document is written; a refused file refuses the
request and leaves nothing behind. Files are written before their document and deleted after
it, so a document never names a missing file.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from aiodataloader import DataLoader

from resolvers import accounts as accounts_uc
from resolvers import imaging
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.text import checked_message
from resolvers.dispatcher import DomainEvent
from resolvers.events import access, has_role
from resolvers.projections import record_event
from stores import accounts as accounts_store
from stores import media as store
from stores.events import Participant, ParticipantRole
from stores.files import AVATARS, MEDIA, FileStore, TooLarge

log = logging.getLogger("iven.media")

T = TypeVar("T")

MAX_CAPTION = 500
MAX_FILE_NAME = 200


class MediaErrorCode(StrEnum):
    """What media, album and comment mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INVALID_FILE = "INVALID_FILE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    TOO_MANY_FILES = "TOO_MANY_FILES"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    ALBUM_NOT_FOUND = "ALBUM_NOT_FOUND"
    ALBUM_IS_DEFAULT = "ALBUM_IS_DEFAULT"
    TOO_MANY_ALBUMS = "TOO_MANY_ALBUMS"
    MEDIA_NOT_FOUND = "MEDIA_NOT_FOUND"
    MEDIA_REMOVED = "MEDIA_REMOVED"
    COMMENT_REMOVED = "COMMENT_REMOVED"
    STALE = "STALE"
    RATE_LIMITED = "RATE_LIMITED"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"


class UploadLike(Protocol):
    """What the GraphQL multipart layer hands over (Starlette's UploadFile)."""

    filename: str | None
    file: BinaryIO


# --- resources ---------------------------------------------------------------------------------


def files(deps: Deps) -> FileStore:
    return deps.services.file_store


def workers(deps: Deps) -> ThreadPoolExecutor:
    """The threads image work runs on (closed with the app)."""
    return deps.services.media_workers


async def _in_thread(deps: Deps, fn: Any, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(workers(deps), lambda: fn(*args, **kwargs))


# --- access ------------------------------------------------------------------------------------


async def membership(
    deps: Deps, viewer: Viewer, event_id: int, not_found: str = "Event not found."
) -> Participant:
    found = (await access(deps, viewer, [event_id]))[0]
    if found is None or found[1] is None or not found[1].is_active:
        raise NotFound(not_found)
    return found[1]


async def media_and_membership(
    deps: Deps, viewer: Viewer, media_id: str, *, removed_ok: bool = False
) -> tuple[store.Media, Participant]:
    """The media and the viewer's participation; a tombstone (removed by an admin) only
    when `removed_ok` (it can be deleted, not edited, liked or commented)."""
    media = (await store.media_by_ids([media_id]))[0]
    if media is None:
        raise NotFound("Media not found.")
    me = await membership(deps, viewer, media.event_id, "Media not found.")
    if media.removed_at is not None and not removed_ok:
        raise DomainError(
            MediaErrorCode.MEDIA_REMOVED, "An administrator removed this media.", "mediaId"
        )
    return media, me


def is_organizer(me: Participant) -> bool:
    return has_role(me, ParticipantRole.ORGANIZER)


async def member_events(deps: Deps, viewer: Viewer, event_ids: set[int]) -> set[int]:
    """The events among `event_ids` the viewer actively takes part in (one batched read)."""
    ordered = sorted(event_ids)
    return {
        e
        for e, a in zip(ordered, await access(deps, viewer, ordered), strict=True)
        if a is not None and a[1] is not None and a[1].is_active
    }


async def visible_media(
    deps: Deps, viewer: Viewer | None, ids: Sequence[str]
) -> list[store.Media | None]:
    """Batch function: each media the viewer may see (active participant), else None."""
    if viewer is None:
        return [None] * len(ids)
    found = await store.media_by_ids(list(ids))
    allowed = await member_events(deps, viewer, {m.event_id for m in found if m is not None})
    return [m if m is not None and m.event_id in allowed else None for m in found]


async def media_by_ids(deps: Deps, ids: list[str]) -> list[store.Media | None]:
    """Batch function (unscoped: for objects already authorised, e.g. an album's cover)."""
    return await store.media_by_ids(ids)


# --- uploads -----------------------------------------------------------------------------------


def checked_caption(caption: str | None) -> str:
    return checked_message(
        caption or "", max_len=MAX_CAPTION, field="caption", required=False, multiline=False
    )


def safe_file_name(name: str | None, ext: str) -> str:
    """A display name for downloads (never used in a path): the base name without control or
    path characters, with the extension of what the content is."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C" and ch not in '"<>:|?*')
    stem = base.rsplit(".", 1)[0].strip(" .")[: MAX_FILE_NAME - 6]
    return f"{stem or 'file'}.{ext}"


@dataclass
class Spooled:
    index: int
    path: Path
    size: int
    sha256: str
    file_name: str | None
    kind: str = ""
    key: str = ""
    processed: imaging.Processed | None = None
    stored: bool = False


def _spool(deps: Deps, index: int, upload: UploadLike) -> Spooled:
    path, size, digest, head = files(deps).spool(upload.file, deps.settings.media_max_file_bytes)
    spooled = Spooled(index=index, path=path, size=size, sha256=digest, file_name=upload.filename)
    if size == 0:
        path.unlink(missing_ok=True)
        raise imaging.Rejected(imaging.ImageErrorCode.UNSUPPORTED_MEDIA_TYPE, "The file is empty.")
    sniffed = imaging.sniff(head)
    if sniffed is None:
        path.unlink(missing_ok=True)
        raise imaging.Rejected(
            imaging.ImageErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "Accepted: JPEG, PNG, WebP, GIF, HEIC, MP4, MOV and PDF.",
        )
    spooled.kind = sniffed[0]
    return spooled


def _process(deps: Deps, spooled: Spooled) -> Spooled:
    store_ = files(deps)
    spooled.key = store_.new_key()
    prefix = store_.prefix(MEDIA, spooled.key)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        spooled.processed = imaging.process(
            spooled.path, prefix, max_pixels=deps.settings.media_max_pixels
        )
    except BaseException:
        spooled.path.unlink(missing_ok=True)
        store_.remove(MEDIA, spooled.key)
        raise
    return spooled


def _discard(deps: Deps, spooled: Sequence[Spooled]) -> None:
    for item in spooled:
        item.path.unlink(missing_ok=True)
        if item.key:
            files(deps).remove(MEDIA, item.key)


def _file_error(index: int, exc: BaseException, deps: Deps) -> DomainError:
    field = ["files", str(index)]
    if isinstance(exc, TooLarge):
        limit = deps.settings.media_max_file_bytes // (1024 * 1024)
        return DomainError(MediaErrorCode.FILE_TOO_LARGE, f"At most {limit} MB per file.", field)
    if isinstance(exc, imaging.Rejected):
        return DomainError(MediaErrorCode(exc.code), exc.message, field)
    log.exception("media processing failed", exc_info=exc)
    return DomainError(MediaErrorCode.INVALID_FILE, "The file could not be read.", field)


def _checked_uploads(deps: Deps, uploads: Sequence[Any]) -> None:
    if not uploads:
        raise DomainError(MediaErrorCode.REQUIRED, "Add at least one file.", "files")
    if len(uploads) > deps.settings.media_max_files:
        raise DomainError(
            MediaErrorCode.TOO_MANY_FILES,
            f"At most {deps.settings.media_max_files} files at once.",
            "files",
        )
    seen: set[int] = set()
    for index, upload in enumerate(uploads):
        if not hasattr(upload, "file") or not hasattr(upload, "filename"):
            raise DomainError(
                MediaErrorCode.INVALID_FILE,
                "Send files as multipart uploads.",
                ["files", str(index)],
            )
        if id(upload) in seen:  # the transport refuses it first; one reader per file object
            raise DomainError(
                MediaErrorCode.INVALID_INPUT,
                "Each file part maps to one variable.",
                ["files", str(index)],
            )
        seen.add(id(upload))


async def _spool_all(deps: Deps, uploads: Sequence[Any]) -> list[Spooled]:
    """Reads every file once (in threads): size-checked and hashed while it streams to a
    temporary file, its type sniffed from the first bytes; nothing decoded. All or nothing."""
    _checked_uploads(deps, uploads)
    results = await asyncio.gather(
        *(_in_thread(deps, _spool, deps, i, u) for i, u in enumerate(uploads)),
        return_exceptions=True,
    )
    done = [r for r in results if isinstance(r, Spooled)]
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    if failures:
        await _in_thread(deps, _discard, deps, done)
        raise DomainErrors([_file_error(i, exc, deps) for i, exc in failures])
    return done


async def _decode_all(deps: Deps, items: Sequence[Spooled]) -> None:
    """Decodes (EXIF, variants) the files that passed the size, dedupe and quota checks, each
    by one worker; any failure refuses them all (the caller discards what is left)."""
    results = await asyncio.gather(
        *(_in_thread(deps, _process, deps, item) for item in items), return_exceptions=True
    )
    failures = [
        (item.index, r)
        for item, r in zip(items, results, strict=True)
        if isinstance(r, BaseException)
    ]
    if failures:
        raise DomainErrors([_file_error(i, exc, deps) for i, exc in failures])


async def _reserve(deps: Deps, user_id: int, event_id: int, nbytes: int) -> None:
    """Takes `nbytes` of both quotas, or none of them (QUOTA_EXCEEDED)."""
    s = deps.settings
    taken: list[str] = []
    try:
        for owner, quota in (
            (f"user:{user_id}", s.media_quota_user_bytes),
            (f"event:{event_id}", s.media_quota_event_bytes),
        ):
            total = await store.change_usage(owner, nbytes)
            taken.append(owner)
            if total > quota:
                who = "your" if owner.startswith("user") else "this event's"
                raise DomainError(
                    MediaErrorCode.QUOTA_EXCEEDED,
                    f"This would go over {who} storage quota ({quota // (1024 * 1024)} MB).",
                    "files",
                )
    except BaseException:
        for owner in taken:
            await store.change_usage(owner, -nbytes)
        raise


async def _release(user_id: int, event_id: int, nbytes: int) -> None:
    if nbytes:
        await store.change_usage(f"user:{user_id}", -nbytes)
        await store.change_usage(f"event:{event_id}", -nbytes)


def _document(
    event_id: int,
    album_id: str,
    viewer: Viewer,
    item: Spooled,
    caption: str,
    share_location: bool,
    now: datetime,
) -> store.Media:
    p = item.processed
    assert p is not None
    taken_utc = p.taken_at.astimezone(UTC) if p.taken_at is not None else None
    offset = None
    if p.taken_at is not None and p.taken_at_offset_known:
        delta = p.taken_at.utcoffset()
        offset = int(delta.total_seconds() // 60) if delta is not None else None
    exif = store.MediaExif(**vars(p.exif)) if p.exif is not None else None
    location = (
        store.Location(latitude=p.gps.latitude, longitude=p.gps.longitude, altitude=p.gps.altitude)
        if p.gps is not None
        else None
    )
    return store.Media(
        event_id=event_id,
        album_id=album_id,
        uploader_user_id=viewer.user_id,
        kind=p.kind,
        mime_type=p.mime_type,
        ext=p.ext,
        size=item.size,
        sha256=item.sha256,
        dedupe_key=f"{event_id}:{item.sha256}",
        storage_key=item.key,
        variants=sorted(p.variants),
        file_name=safe_file_name(item.file_name, p.ext),
        width=p.width,
        height=p.height,
        taken_at=taken_utc,
        taken_at_offset_min=offset,
        sort_at=taken_utc or now,
        exif=exif,
        location=location,
        share_location=share_location,
        caption=caption,
        created_at=now,
    )


async def upload(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    album_id: str | None,
    uploads: Sequence[Any],
    caption: str | None,
    share_location: bool,
    kinds: frozenset[str] | None = None,
) -> list[store.Media]:
    """Stores the files in the album (the default one when `album_id` is None). `kinds`, when
    given, refuses (UNSUPPORTED_MEDIA_TYPE, nothing stored) a file of another kind, by its
    content, before it is deduplicated or decoded."""
    await membership(deps, viewer, event_id)
    text = checked_caption(caption)
    if album_id is not None:
        album = (await store.albums_by_ids([album_id]))[0]
        if album is None or album.event_id != event_id:
            raise DomainError(
                MediaErrorCode.ALBUM_NOT_FOUND, "No such album in this event.", "albumId"
            )
    else:
        album = await store.default_album(event_id)
    spooled = await _spool_all(deps, uploads)
    try:
        refused = [p for p in spooled if kinds is not None and p.kind not in kinds]
        if refused:
            raise DomainErrors(
                [
                    DomainError(
                        MediaErrorCode.UNSUPPORTED_MEDIA_TYPE,
                        f"Accepted here: {', '.join(sorted(kinds or ()))}.",
                        ["files", str(p.index)],
                    )
                    for p in refused
                ]
            )
        return await _store_spooled(
            deps, viewer, event_id, str(album.id), spooled, text, share_location
        )
    except BaseException:
        await _in_thread(deps, _discard, deps, [p for p in spooled if not p.stored])
        raise


async def _store_spooled(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    album_id: str,
    prepared: list[Spooled],
    caption: str,
    share_location: bool,
) -> list[store.Media]:
    """Dedupes by the hashes, takes the quota for what is new, and only then decodes it."""
    existing = await store.by_dedupe_keys([f"{event_id}:{p.sha256}" for p in prepared])
    result: dict[int, store.Media] = {}
    fresh: dict[str, Spooled] = {}  # sha256 -> the first file with that content
    repeats: dict[int, str] = {}  # the same content again in this request
    leftovers: list[Spooled] = []
    for item in prepared:
        found = existing.get(f"{event_id}:{item.sha256}")
        if found is not None:
            result[item.index] = found
            leftovers.append(item)
        elif item.sha256 in fresh:
            repeats[item.index] = item.sha256
            leftovers.append(item)
        else:
            fresh[item.sha256] = item
    await _in_thread(deps, _discard, deps, leftovers)
    reserved = sum(p.size for p in fresh.values())
    if reserved:
        await _reserve(deps, viewer.user_id, event_id, reserved)
    added: list[store.Media] = []
    try:
        await _decode_all(deps, list(fresh.values()))
        now = deps.clock()
        for item in fresh.values():
            stored, new = await _store_one(
                deps, viewer, event_id, album_id, item, caption, share_location, now
            )
            reserved -= item.size
            if new:
                added.append(stored)
            result[item.index] = stored
    except BaseException:
        await _release(viewer.user_id, event_id, reserved)
        raise
    for index, sha in repeats.items():
        result[index] = result[fresh[sha].index]
    if added:
        async with deps.db.unit_of_work() as db:
            record_event(
                db,
                "media.added",
                event_id,
                viewer.user_id,
                str(added[0].id),
                count=len(added),
                media_ids=[str(m.id) for m in added[:20]],
                kinds=sorted({m.kind for m in added}),
                album_id=album_id,
            )
    return [result[i] for i in sorted(result)]


async def _store_one(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    album_id: str,
    item: Spooled,
    caption: str,
    share_location: bool,
    now: datetime,
) -> tuple[store.Media, bool]:
    """The file in place and its document; (the media, whether it is new)."""
    assert item.processed is not None
    await _in_thread(
        deps, files(deps).place, item.path, MEDIA, item.key, f"orig.{item.processed.ext}"
    )
    doc = _document(event_id, album_id, viewer, item, caption, share_location, now)
    stored = await store.add_media(doc)
    item.stored = True
    if stored is None:  # the same content won a race
        await _in_thread(deps, files(deps).remove, MEDIA, item.key)
        await _release(viewer.user_id, event_id, item.size)
        return (await store.by_dedupe_keys([doc.dedupe_key]))[doc.dedupe_key], False
    return stored, True


async def set_avatar(deps: Deps, viewer: Viewer, upload_: Any | None) -> str | None:
    """Stores a new profile picture (square, metadata stripped) and returns its key; None
    removes it. The old files go after the change is committed."""
    key: str | None = None
    if upload_ is not None:
        if not hasattr(upload_, "file"):
            raise DomainError(
                MediaErrorCode.INVALID_FILE, "Send the file as a multipart upload.", "file"
            )
        try:
            spooled = await _in_thread(deps, _spool, deps, 0, upload_)
        except (TooLarge, imaging.Rejected) as exc:
            raise _with_field(_file_error(0, exc, deps), "file") from None
        key = files(deps).new_key()
        prefix = files(deps).prefix(AVATARS, key)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        try:
            await _in_thread(
                deps,
                imaging.avatar,
                spooled.path,
                prefix,
                max_pixels=deps.settings.media_max_pixels,
            )
        except imaging.Rejected as exc:
            raise _with_field(_file_error(0, exc, deps), "file") from None
        finally:
            spooled.path.unlink(missing_ok=True)
    try:
        old = await accounts_uc.change_avatar(deps, viewer, key)
    except BaseException:
        if key is not None:
            await _in_thread(deps, files(deps).remove, AVATARS, key)
        raise
    if old and old != key:
        await _in_thread(deps, files(deps).remove, AVATARS, old)
    return key


def _with_field(error: DomainError, field: str) -> DomainError:
    error.field = [field]
    return error


async def on_user_deleted(deps: Deps, event: DomainEvent) -> None:
    """Outbox handler: a deleted account's profile picture goes with it. Idempotent."""
    if event.type == "user.deleted" and event.payload.get("avatar_key"):
        await _in_thread(deps, files(deps).remove, AVATARS, str(event.payload["avatar_key"]))


def shows_location(media: store.Media, viewer_id: int) -> bool:
    """Only the uploader sees where a photo was taken, unless they chose to share it."""
    return media.uploader_user_id == viewer_id or media.share_location


# --- media edits and deletion ------------------------------------------------------------------


async def update(
    deps: Deps, viewer: Viewer, media_id: str, caption: str | None, share_location: bool | None
) -> store.Media:
    media, _ = await media_and_membership(deps, viewer, media_id)
    if media.uploader_user_id != viewer.user_id:
        raise Forbidden("Only the uploader edits a media.")
    changes: dict[str, Any] = {}
    if caption is not None:
        changes["caption"] = checked_caption(caption)
    if share_location is not None:
        changes["share_location"] = share_location
    return await store.set_fields(media, **changes) if changes else media


async def delete(deps: Deps, viewer: Viewer, media_id: str) -> str:
    media, me = await media_and_membership(deps, viewer, media_id, removed_ok=True)
    if media.uploader_user_id != viewer.user_id and not is_organizer(me):
        raise Forbidden("Only the uploader or an organizer deletes a media.")
    await _remove(deps, media)
    return media_id


async def remove_by_admin(deps: Deps, media: store.Media) -> bool:
    """Moderation: the files and what hangs on the media go, a tombstone stays in its album.
    False when it was already removed."""
    if not await store.tombstone_media(media, deps.clock()):
        return False
    await _in_thread(deps, files(deps).remove, MEDIA, media.storage_key)
    await _release(media.uploader_user_id, media.event_id, media.size)
    return True


async def _remove(deps: Deps, media: store.Media) -> None:
    await store.delete_media(media)
    if media.removed_at is None:  # a tombstone's files and quota went with its removal
        await _in_thread(deps, files(deps).remove, MEDIA, media.storage_key)
        await _release(media.uploader_user_id, media.event_id, media.size)


async def on_event_deleted(deps: Deps, event: DomainEvent) -> None:
    """Outbox handler: an event's media (files and documents) go with it. Idempotent."""
    if event.type != "event.deleted":
        return
    found = await store.media_of_event(event.aggregate_id)
    for media in found:
        await _in_thread(deps, files(deps).remove, MEDIA, media.storage_key)
    await store.delete_event_documents(event.aggregate_id)
    by_uploader: dict[int, int] = {}
    for media in found:
        by_uploader[media.uploader_user_id] = (
            by_uploader.get(media.uploader_user_id, 0) + media.size
        )
    for user_id, nbytes in by_uploader.items():
        await store.change_usage(f"user:{user_id}", -nbytes)
    await store.forget_usage(f"event:{event.aggregate_id}")


async def sweep_uploads(deps: Deps, older_than_s: float = 3600.0) -> dict[str, int]:
    """Deletes files no document names (left by a process that died between writing the files
    and the document) and abandoned temporary files, older than `older_than_s`."""
    fs = files(deps)
    cutoff = time.time() - older_than_s
    removed = {"temporary": await asyncio.to_thread(fs.remove_temp_older_than, cutoff)}
    on_disk = sorted(await asyncio.to_thread(fs.keys_older_than, MEDIA, cutoff))
    known = await store.known_storage_keys(on_disk)
    orphans = [k for k in on_disk if k not in known]
    for key in orphans:
        await asyncio.to_thread(fs.remove, MEDIA, key)
    removed["media"] = len(orphans)
    avatars = sorted(await asyncio.to_thread(fs.keys_older_than, AVATARS, cutoff))
    async with deps.db.reader() as db:
        used = await accounts_store.known_avatar_keys(db, avatars)
    stale = [k for k in avatars if k not in used]
    for key in stale:
        await asyncio.to_thread(fs.remove, AVATARS, key)
    removed["avatars"] = len(stale)
    return removed


# --- taken-at with the camera's offset ---------------------------------------------------------


def taken_at(media: store.Media) -> datetime | None:
    if media.taken_at is None:
        return None
    at = media.taken_at if media.taken_at.tzinfo else media.taken_at.replace(tzinfo=UTC)
    if media.taken_at_offset_min is None:
        return at.astimezone(UTC)
    return at.astimezone(timezone(timedelta(minutes=media.taken_at_offset_min)))


class MediaLoaders(LoaderBase):
    @cached_property
    def media(self) -> DataLoader[str, store.Media | None]:
        """Scoped to the viewer: media of events they don't take part in load as None."""
        return self.scoped(visible_media)
