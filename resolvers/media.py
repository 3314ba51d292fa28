"""Media of an event: uploads (validated by content, EXIF, variants), albums, comments, likes,
deletion, quotas, and the signed URLs the files are served under.

Who may see and act is decided by the viewer's membership read from MySQL (the rule of every
child of an event). An upload is all or nothing: every file is spooled, checked and processed
(in threads, off the event loop) before any document is written; a refused file refuses the
request and leaves nothing behind. Files are written before their document and deleted after
it, so a document never names a missing file.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from resolvers import imaging
from resolvers.deps import Deps, Viewer
from resolvers.dispatcher import DomainEvent
from resolvers.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.events import access, has_role
from resolvers.notifications import clock
from resolvers.projections import record_event
from stores import media as store
from stores.events import Participant, ParticipantRole
from stores.files import AVATARS, MEDIA, FileStore, TooLarge

log = logging.getLogger("iven.media")

T = TypeVar("T")

MAX_CAPTION = 500
MAX_COMMENT = 2000
MAX_ALBUM_TITLE = 120
MAX_ALBUM_DESCRIPTION = 1000
MAX_ALBUMS = 100
MAX_FILE_NAME = 200
VARIANTS = ("original", "preview", "thumbnail")
AVATAR_SIZES = ("64", "256")
URL_WINDOW_S = 300  # expiry rounded up to this: the same URL for a while, so browsers cache


class UploadLike(Protocol):
    """What the GraphQL multipart layer hands over (Starlette's UploadFile)."""

    filename: str | None
    file: BinaryIO


# --- resources ---------------------------------------------------------------------------------


def files(deps: Deps) -> FileStore:
    found: FileStore | None = deps.state.get("file_store")
    if found is None:
        found = deps.state["file_store"] = FileStore(deps.settings.uploads_dir)
        found.ensure()
    return found


def workers(deps: Deps) -> ThreadPoolExecutor:
    """The threads image work runs on (closed with the app)."""
    found: ThreadPoolExecutor | None = deps.state.get("media_workers")
    if found is None:
        found = deps.state["media_workers"] = ThreadPoolExecutor(
            max_workers=max(1, deps.settings.media_workers), thread_name_prefix="media")
    return found


def close(deps: Deps) -> None:
    found: ThreadPoolExecutor | None = deps.state.pop("media_workers", None)
    if found is not None:
        found.shutdown(wait=True, cancel_futures=True)


async def _in_thread(deps: Deps, fn: Any, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(workers(deps), lambda: fn(*args, **kwargs))


# --- access ------------------------------------------------------------------------------------


async def _member(deps: Deps, viewer: Viewer, event_id: int,
                  not_found: str = "Event not found.") -> Participant:
    found = (await access(deps, viewer, [event_id]))[0]
    if found is None or found[1] is None or not found[1].is_active:
        raise NotFound(not_found)
    return found[1]


async def _media(deps: Deps, viewer: Viewer, media_id: str) -> tuple[store.Media, Participant]:
    media = (await store.media_by_ids([media_id]))[0]
    if media is None:
        raise NotFound("Media not found.")
    return media, await _member(deps, viewer, media.event_id, "Media not found.")


async def _album(deps: Deps, viewer: Viewer, album_id: str) -> tuple[store.Album, Participant]:
    album = (await store.albums_by_ids([album_id]))[0]
    if album is None:
        raise NotFound("Album not found.")
    return album, await _member(deps, viewer, album.event_id, "Album not found.")


def _organizer(me: Participant) -> bool:
    return has_role(me, ParticipantRole.ORGANIZER)


async def visible_media(deps: Deps, viewer: Viewer | None,
                        ids: Sequence[str]) -> list[store.Media | None]:
    """Batch function: each media the viewer may see (active participant), else None."""
    if viewer is None:
        return [None] * len(ids)
    found = await store.media_by_ids(list(ids))
    event_ids = sorted({m.event_id for m in found if m is not None})
    allowed = {e for e, a in zip(event_ids, await access(deps, viewer, event_ids), strict=True)
               if a is not None and a[1] is not None and a[1].is_active}
    return [m if m is not None and m.event_id in allowed else None for m in found]


async def visible_albums(deps: Deps, viewer: Viewer | None,
                         ids: Sequence[str]) -> list[store.Album | None]:
    if viewer is None:
        return [None] * len(ids)
    found = await store.albums_by_ids(list(ids))
    event_ids = sorted({a.event_id for a in found if a is not None})
    allowed = {e for e, a in zip(event_ids, await access(deps, viewer, event_ids), strict=True)
               if a is not None and a[1] is not None and a[1].is_active}
    return [a if a is not None and a.event_id in allowed else None for a in found]


async def media_by_ids(deps: Deps, ids: list[str]) -> list[store.Media | None]:
    """Batch function (unscoped: for objects already authorised, e.g. an album's cover)."""
    return await store.media_by_ids(ids)


async def albums_by_ids(deps: Deps, ids: list[str]) -> list[store.Album | None]:
    return await store.albums_by_ids(ids)


# --- uploads -----------------------------------------------------------------------------------


def checked_caption(caption: str | None) -> str:
    text = (caption or "").strip()
    if len(text) > MAX_CAPTION:
        raise DomainError("VALUE_TOO_LONG", f"At most {MAX_CAPTION} characters.", "caption")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise DomainError("INVALID_INPUT", "Control characters are not allowed.", "caption")
    return text


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
    key: str = ""
    processed: imaging.Processed | None = None
    stored: bool = False


def _spool(deps: Deps, index: int, upload: UploadLike) -> Spooled:
    path, size, digest, head = files(deps).spool(upload.file, deps.settings.media_max_file_bytes)
    spooled = Spooled(index=index, path=path, size=size, sha256=digest,
                      file_name=upload.filename)
    if size == 0:
        path.unlink(missing_ok=True)
        raise imaging.Rejected("UNSUPPORTED_MEDIA_TYPE", "The file is empty.")
    if imaging.sniff(head) is None:
        path.unlink(missing_ok=True)
        raise imaging.Rejected("UNSUPPORTED_MEDIA_TYPE",
                               "Accepted: JPEG, PNG, WebP, GIF, HEIC, MP4, MOV and PDF.")
    return spooled


def _process(deps: Deps, spooled: Spooled) -> Spooled:
    store_ = files(deps)
    spooled.key = store_.new_key()
    prefix = store_.prefix(MEDIA, spooled.key)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        spooled.processed = imaging.process(spooled.path, prefix,
                                            max_pixels=deps.settings.media_max_pixels)
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
        return DomainError("FILE_TOO_LARGE", f"At most {limit} MB per file.", field)
    if isinstance(exc, imaging.Rejected):
        return DomainError(exc.code, exc.message, field)
    log.exception("media processing failed", exc_info=exc)
    return DomainError("INVALID_FILE", "The file could not be read.", field)


async def _prepare(deps: Deps, uploads: Sequence[Any]) -> list[Spooled]:
    """Spools and processes every file (in threads); all or nothing."""
    if not uploads:
        raise DomainError("REQUIRED", "Add at least one file.", "files")
    if len(uploads) > deps.settings.media_max_files:
        raise DomainError("TOO_MANY_FILES",
                          f"At most {deps.settings.media_max_files} files at once.", "files")
    for index, upload in enumerate(uploads):
        if not hasattr(upload, "file") or not hasattr(upload, "filename"):
            raise DomainError("INVALID_FILE", "Send files as multipart uploads.",
                              ["files", str(index)])

    async def one(index: int, upload: UploadLike) -> Spooled:
        spooled = await _in_thread(deps, _spool, deps, index, upload)
        return await _in_thread(deps, _process, deps, spooled)  # type: ignore[no-any-return]

    results = await asyncio.gather(*(one(i, u) for i, u in enumerate(uploads)),
                                   return_exceptions=True)
    done = [r for r in results if isinstance(r, Spooled)]
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    if failures:
        await _in_thread(deps, _discard, deps, done)
        raise DomainErrors([_file_error(i, exc, deps) for i, exc in failures])
    return done


async def _reserve(deps: Deps, user_id: int, event_id: int, nbytes: int) -> None:
    """Takes `nbytes` of both quotas, or none of them (QUOTA_EXCEEDED)."""
    s = deps.settings
    taken: list[str] = []
    try:
        for owner, quota in ((f"user:{user_id}", s.media_quota_user_bytes),
                             (f"event:{event_id}", s.media_quota_event_bytes)):
            total = await store.change_usage(owner, nbytes)
            taken.append(owner)
            if total > quota:
                who = "your" if owner.startswith("user") else "this event's"
                raise DomainError("QUOTA_EXCEEDED",
                                  f"This would go over {who} storage quota "
                                  f"({quota // (1024 * 1024)} MB).", "files")
    except BaseException:
        for owner in taken:
            await store.change_usage(owner, -nbytes)
        raise


async def _release(user_id: int, event_id: int, nbytes: int) -> None:
    if nbytes:
        await store.change_usage(f"user:{user_id}", -nbytes)
        await store.change_usage(f"event:{event_id}", -nbytes)


def _document(event_id: int, album_id: str, viewer: Viewer, item: Spooled, caption: str,
              share_location: bool, now: datetime) -> store.Media:
    p = item.processed
    assert p is not None
    taken_utc = p.taken_at.astimezone(UTC) if p.taken_at is not None else None
    offset = None
    if p.taken_at is not None and p.taken_at_offset_known:
        delta = p.taken_at.utcoffset()
        offset = int(delta.total_seconds() // 60) if delta is not None else None
    exif = store.MediaExif(**vars(p.exif)) if p.exif is not None else None
    location = (store.Location(latitude=p.gps.latitude, longitude=p.gps.longitude,
                               altitude=p.gps.altitude) if p.gps is not None else None)
    return store.Media(
        event_id=event_id, album_id=album_id, uploader_user_id=viewer.user_id, kind=p.kind,
        mime_type=p.mime_type, ext=p.ext, size=item.size, sha256=item.sha256,
        dedupe_key=f"{event_id}:{item.sha256}", storage_key=item.key,
        variants=sorted(p.variants), file_name=safe_file_name(item.file_name, p.ext),
        width=p.width, height=p.height, taken_at=taken_utc, taken_at_offset_min=offset,
        sort_at=taken_utc or now, exif=exif, location=location, share_location=share_location,
        caption=caption, created_at=now)


async def upload(deps: Deps, viewer: Viewer, event_id: int, album_id: str | None,
                 uploads: Sequence[Any], caption: str | None,
                 share_location: bool) -> list[store.Media]:
    await _member(deps, viewer, event_id)
    text = checked_caption(caption)
    if album_id is not None:
        album = (await store.albums_by_ids([album_id]))[0]
        if album is None or album.event_id != event_id:
            raise DomainError("ALBUM_NOT_FOUND", "No such album in this event.", "albumId")
    else:
        album = await store.default_album(event_id)
    prepared = await _prepare(deps, uploads)
    try:
        return await _store_prepared(deps, viewer, event_id, str(album.id), prepared, text,
                                     share_location)
    except BaseException:
        await _in_thread(deps, _discard, deps, [p for p in prepared if not p.stored])
        raise


async def _store_prepared(deps: Deps, viewer: Viewer, event_id: int, album_id: str,
                          prepared: list[Spooled], caption: str,
                          share_location: bool) -> list[store.Media]:
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
    nbytes = sum(p.size for p in fresh.values())
    if nbytes:
        await _reserve(deps, viewer.user_id, event_id, nbytes)
    now = clock(deps)
    added: list[store.Media] = []
    for item in fresh.values():
        assert item.processed is not None
        await _in_thread(deps, files(deps).place, item.path, MEDIA, item.key,
                         f"orig.{item.processed.ext}")
        doc = _document(event_id, album_id, viewer, item, caption, share_location, now)
        stored = await store.add_media(doc)
        if stored is None:  # the same content won a race
            await _in_thread(deps, files(deps).remove, MEDIA, item.key)
            await _release(viewer.user_id, event_id, item.size)
            stored = (await store.by_dedupe_keys([doc.dedupe_key]))[doc.dedupe_key]
        else:
            added.append(stored)
        item.stored = True
        result[item.index] = stored
    for index, sha in repeats.items():
        result[index] = result[fresh[sha].index]
    if added:
        async with deps.db.unit_of_work() as db:
            record_event(db, "media.added", event_id, viewer.user_id, str(added[0].id),
                         count=len(added), media_ids=[str(m.id) for m in added[:20]],
                         kinds=sorted({m.kind for m in added}), album_id=album_id)
    return [result[i] for i in sorted(result)]


async def set_avatar(deps: Deps, viewer: Viewer, upload_: Any | None) -> str | None:
    """Stores a new profile picture (square, metadata stripped) and returns its key; None
    removes it. The old files go after the change is committed."""
    from resolvers import accounts as accounts_uc

    key: str | None = None
    if upload_ is not None:
        if not hasattr(upload_, "file"):
            raise DomainError("INVALID_FILE", "Send the file as a multipart upload.", "file")
        try:
            spooled = await _in_thread(deps, _spool, deps, 0, upload_)
        except (TooLarge, imaging.Rejected) as exc:
            raise _with_field(_file_error(0, exc, deps), "file") from None
        key = files(deps).new_key()
        prefix = files(deps).prefix(AVATARS, key)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        try:
            await _in_thread(deps, imaging.avatar, spooled.path, prefix,
                             max_pixels=deps.settings.media_max_pixels)
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


def remove_avatar_files(deps: Deps, key: str) -> None:
    files(deps).remove(AVATARS, key)


# --- media edits and deletion ------------------------------------------------------------------


async def update(deps: Deps, viewer: Viewer, media_id: str, caption: str | None,
                 share_location: bool | None) -> store.Media:
    media, _ = await _media(deps, viewer, media_id)
    if media.uploader_user_id != viewer.user_id:
        raise Forbidden("Only the uploader edits a media.")
    changes: dict[str, Any] = {}
    if caption is not None:
        changes["caption"] = checked_caption(caption)
    if share_location is not None:
        changes["share_location"] = share_location
    return await store.set_fields(media, **changes) if changes else media


async def delete(deps: Deps, viewer: Viewer, media_id: str) -> str:
    media, me = await _media(deps, viewer, media_id)
    if media.uploader_user_id != viewer.user_id and not _organizer(me):
        raise Forbidden("Only the uploader or an organizer deletes a media.")
    await _remove(deps, media)
    return media_id


async def _remove(deps: Deps, media: store.Media) -> None:
    await store.delete_media(media)
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
        by_uploader[media.uploader_user_id] = by_uploader.get(media.uploader_user_id, 0) \
            + media.size
    for user_id, nbytes in by_uploader.items():
        await store.change_usage(f"user:{user_id}", -nbytes)
    await store.forget_usage(f"event:{event.aggregate_id}")


# --- albums ------------------------------------------------------------------------------------


def _album_fields(title: str | None, description: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    errors: list[DomainError] = []
    if title is not None:
        changes["title"] = title.strip()
        if not 1 <= len(changes["title"]) <= MAX_ALBUM_TITLE:
            errors.append(DomainError("INVALID_TITLE", f"1 to {MAX_ALBUM_TITLE} characters.",
                                      "title"))
    if description is not None:
        changes["description"] = description.strip()
        if len(changes["description"]) > MAX_ALBUM_DESCRIPTION:
            errors.append(DomainError("VALUE_TOO_LONG",
                                      f"At most {MAX_ALBUM_DESCRIPTION} characters.",
                                      "description"))
    if errors:
        raise DomainErrors(errors)
    return changes


async def albums(deps: Deps, viewer: Viewer, event_id: int) -> list[store.Album]:
    await _member(deps, viewer, event_id)
    found = await store.albums_of(event_id)
    if not any(a.is_default for a in found):
        found.insert(0, await store.default_album(event_id))
    return found


async def create_album(deps: Deps, viewer: Viewer, event_id: int, title: str,
                       description: str | None) -> store.Album:
    await _member(deps, viewer, event_id)
    changes = _album_fields(title, description or "")
    await store.default_album(event_id)
    if await store.count_albums(event_id) >= MAX_ALBUMS:
        raise DomainError("TOO_MANY_ALBUMS", f"At most {MAX_ALBUMS} albums per event.")
    return await store.add_album(store.Album(
        event_id=event_id, key=f"{event_id}:{files(deps).new_key()}",
        created_by_user_id=viewer.user_id, created_at=clock(deps), **changes))


def _may_manage(album: store.Album, viewer: Viewer, me: Participant) -> bool:
    return album.created_by_user_id == viewer.user_id or _organizer(me)


async def update_album(deps: Deps, viewer: Viewer, album_id: str, title: str | None,
                       description: str | None, expected_version: int | None) -> store.Album:
    album, me = await _album(deps, viewer, album_id)
    if not _may_manage(album, viewer, me):
        raise Forbidden("Only the album's creator or an organizer changes it.")
    changes = _album_fields(title, description)
    updated = await store.update_album(album, expected_version, **changes)
    if updated is None:
        raise DomainError("STALE", "The album changed since you read it; reload it.",
                          "expectedVersion")
    return updated


async def delete_album(deps: Deps, viewer: Viewer, album_id: str) -> store.Album:
    """Its media move to the event's default album; returns that album."""
    album, me = await _album(deps, viewer, album_id)
    if not _may_manage(album, viewer, me):
        raise Forbidden("Only the album's creator or an organizer deletes it.")
    if album.is_default:
        raise DomainError("ALBUM_IS_DEFAULT", "The default album cannot be deleted.",
                          "albumId")
    default = await store.default_album(album.event_id)
    await store.move_album_content(str(album.id), str(default.id))
    await store.delete_album(album)
    return default


async def move_media(deps: Deps, viewer: Viewer, media_ids: list[str],
                     album_id: str) -> list[store.Media]:
    if not 1 <= len(media_ids) <= 100:
        raise DomainError("INVALID_INPUT", "1 to 100 media at once.", "mediaIds")
    album, me = await _album(deps, viewer, album_id)
    found = await store.media_by_ids(media_ids)
    for index, media in enumerate(found):
        if media is None or media.event_id != album.event_id:
            raise DomainError("MEDIA_NOT_FOUND", "No such media in this event.",
                              ["mediaIds", str(index)])
        if media.uploader_user_id != viewer.user_id and not _organizer(me):
            raise Forbidden("Only the uploader or an organizer moves a media.")
    await store.move_to_album(media_ids, str(album.id))
    for media in found:
        if media is not None:
            media.album_id = str(album.id)
    return [m for m in found if m is not None]


async def set_cover(deps: Deps, viewer: Viewer, album_id: str,
                    media_id: str | None) -> store.Album:
    album, me = await _album(deps, viewer, album_id)
    if not _may_manage(album, viewer, me):
        raise Forbidden("Only the album's creator or an organizer sets its cover.")
    if media_id is not None:
        media = (await store.media_by_ids([media_id]))[0]
        if media is None or media.album_id != str(album.id):
            raise DomainError("MEDIA_NOT_FOUND", "No such media in this album.", "mediaId")
    updated = await store.update_album(album, None, cover_media_id=media_id)
    if updated is None:
        raise NotFound("Album not found.")
    return updated


async def album_media(deps: Deps, album: store.Album, first: int,
                      after: tuple[datetime, str] | None) -> list[store.Media]:
    """An authorised album's media, by taken-at (oldest first)."""
    return await store.album_page(str(album.id), first=first, after=after)


async def album_counts(deps: Deps, album_ids: list[str]) -> list[int]:
    counts = await store.album_counts(album_ids)
    return [counts.get(i, 0) for i in album_ids]


async def cover_of(album: store.Album) -> store.Media | None:
    if album.cover_media_id is not None:
        found = (await store.media_by_ids([album.cover_media_id]))[0]
        if found is not None and found.album_id == str(album.id):
            return found
    return await store.first_of_album(str(album.id))


# --- comments and likes ------------------------------------------------------------------------


def checked_comment(body: str) -> str:
    text = body.strip()
    if not text:
        raise DomainError("REQUIRED", "Write something.", "body")
    if len(text) > MAX_COMMENT:
        raise DomainError("VALUE_TOO_LONG", f"At most {MAX_COMMENT} characters.", "body")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise DomainError("INVALID_INPUT", "Control characters are not allowed.", "body")
    return text


async def comment(deps: Deps, viewer: Viewer, media_id: str, body: str) -> store.MediaComment:
    media, _ = await _media(deps, viewer, media_id)
    text = checked_comment(body)
    await _rate(deps, viewer)
    found = await store.add_comment(store.MediaComment(
        media_id=media_id, event_id=media.event_id, author_user_id=viewer.user_id, body=text,
        created_at=clock(deps)))
    if media.uploader_user_id != viewer.user_id:
        async with deps.db.unit_of_work() as db:
            record_event(db, "media.commented", media.event_id, viewer.user_id, media_id,
                         uploader_user_id=media.uploader_user_id, comment_id=str(found.id),
                         excerpt=text[:140])
    return found


async def _rate(deps: Deps, viewer: Viewer) -> None:
    from resolvers.accounts import rate_limit

    await rate_limit(deps, "media-comment", str(viewer.user_id), deps.settings.rate_chat_send)


async def _comment(deps: Deps, viewer: Viewer,
                   comment_id: str) -> tuple[store.MediaComment, Participant]:
    found = await store.comment_by_id(comment_id)
    if found is None:
        raise NotFound("Comment not found.")
    return found, await _member(deps, viewer, found.event_id, "Comment not found.")


async def edit_comment(deps: Deps, viewer: Viewer, comment_id: str,
                       body: str) -> store.MediaComment:
    found, _ = await _comment(deps, viewer, comment_id)
    if found.author_user_id != viewer.user_id:
        raise Forbidden("Only the author edits a comment.")
    return await store.edit_comment(found, checked_comment(body), clock(deps))


async def delete_comment(deps: Deps, viewer: Viewer, comment_id: str) -> str:
    found, me = await _comment(deps, viewer, comment_id)
    if found.author_user_id != viewer.user_id and not _organizer(me):
        raise Forbidden("Only the author or an organizer deletes a comment.")
    await store.delete_comment(found)
    return comment_id


async def comments(deps: Deps, media: store.Media, first: int,
                   after: tuple[datetime, str] | None) -> list[store.MediaComment]:
    return await store.comments_page(str(media.id), first=first, after=after)


async def visible_comments(deps: Deps, viewer: Viewer | None,
                           ids: Sequence[str]) -> list[store.MediaComment | None]:
    if viewer is None:
        return [None] * len(ids)
    found = await store.comments_by_ids(list(ids))
    event_ids = sorted({c.event_id for c in found if c is not None})
    allowed = {e for e, a in zip(event_ids, await access(deps, viewer, event_ids), strict=True)
               if a is not None and a[1] is not None and a[1].is_active}
    return [c if c is not None and c.event_id in allowed else None for c in found]


async def like(deps: Deps, viewer: Viewer, media_id: str, liked: bool) -> store.Media:
    media, _ = await _media(deps, viewer, media_id)
    if liked:
        changed = await store.add_like(media, viewer.user_id)
        if changed and media.uploader_user_id != viewer.user_id:
            async with deps.db.unit_of_work() as db:
                record_event(db, "media.liked", media.event_id, viewer.user_id, media_id,
                             uploader_user_id=media.uploader_user_id)
    else:
        changed = await store.remove_like(media, viewer.user_id)
    fresh = (await store.media_by_ids([media_id]))[0]
    return fresh or media


async def viewer_likes(deps: Deps, viewer: Viewer | None, media_ids: list[str]) -> list[bool]:
    """Batch function: whether the viewer likes each media."""
    if viewer is None:
        return [False] * len(media_ids)
    liked = await store.liked_by(viewer.user_id, media_ids)
    return [m in liked for m in media_ids]


# --- signed file URLs --------------------------------------------------------------------------


def _expiry(deps: Deps, now: float) -> int:
    return (int(now) // URL_WINDOW_S + 1) * URL_WINDOW_S + deps.settings.media_url_ttl_s


def _signature(deps: Deps, payload: str) -> str:
    return deps.tokens.keyed_hash(f"file-url:{payload}")[:32]


def shows_location(media: store.Media, viewer_id: int) -> bool:
    """Only the uploader sees where a photo was taken, unless they chose to share it."""
    return media.uploader_user_id == viewer_id or media.share_location


def media_url(deps: Deps, media: store.Media, variant: str, viewer_id: int,
              now: float | None = None) -> str | None:
    """A short-lived URL of one of the media's files for this viewer, or None if that variant
    does not exist (videos and documents have no preview or thumbnail)."""
    if variant != "original" and variant not in media.variants:
        return None
    exp = _expiry(deps, time.time() if now is None else now)
    full = 1 if shows_location(media, viewer_id) else 0
    sig = _signature(deps, f"m:{media.id}:{variant}:{viewer_id}:{full}:{exp}")
    return f"/media/{media.id}/{variant}?u={viewer_id}&f={full}&exp={exp}&sig={sig}"


def avatar_url(deps: Deps, user_id: int, key: str, size: str,
               now: float | None = None) -> str:
    exp = _expiry(deps, time.time() if now is None else now)
    sig = _signature(deps, f"a:{user_id}:{key}:{size}:{exp}")
    return f"/avatars/{user_id}/{size}?k={key}&exp={exp}&sig={sig}"


@dataclass(frozen=True)
class ServedFile:
    path: Path
    media_type: str
    download_name: str
    inline: bool
    max_age: int


class LinkRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_link(deps: Deps, payload: str, exp: str, sig: str) -> int:
    if not exp.isdigit() or not sig:
        raise LinkRefused(403, "Invalid link.")
    expected = _signature(deps, payload)
    if not hmac.compare_digest(expected, sig):
        raise LinkRefused(403, "Invalid link.")
    remaining = int(exp) - int(time.time())
    if remaining <= 0:
        raise LinkRefused(403, "This link has expired.")
    return remaining


async def media_file(deps: Deps, media_id: str, variant: str, query: dict[str, str]
                     ) -> ServedFile:
    """The file behind a signed media URL, after checking the signature, the expiry and that
    the viewer it was made for still takes part in the event."""
    user, full, exp = query.get("u", ""), query.get("f", ""), query.get("exp", "")
    if variant not in VARIANTS or not user.isdigit() or full not in ("0", "1"):
        raise LinkRefused(404, "Not found.")
    remaining = _check_link(deps, f"m:{media_id}:{variant}:{user}:{full}:{exp}",
                            exp, query.get("sig", ""))
    media = (await store.media_by_ids([media_id]))[0]
    if media is None:
        raise LinkRefused(404, "Not found.")
    viewer_id = int(user)
    found = (await access(deps, Viewer(viewer_id, "", datetime.now(UTC)), [media.event_id]))[0]
    if found is None or found[1] is None or not found[1].is_active:
        raise LinkRefused(403, "You no longer have access to this file.")
    fs = files(deps)
    if variant == "original":
        public = "public" in media.variants and not (full == "1" and shows_location(
            media, viewer_id))
        suffix = f"{'public' if public else 'orig'}.{media.ext}"
        media_type, name = media.mime_type, media.file_name or f"{media_id}.{media.ext}"
    else:
        suffix = "thumb.webp" if variant == "thumbnail" else "preview.webp"
        media_type = "image/webp"
        name = f"{(media.file_name or media_id).rsplit('.', 1)[0]}-{variant}.webp"
    path = fs.path(MEDIA, media.storage_key, suffix)
    if not path.is_file():
        raise LinkRefused(404, "Not found.")
    return ServedFile(path=path, media_type=media_type, download_name=name,
                      inline=media.kind != "DOCUMENT", max_age=remaining)


async def avatar_file(deps: Deps, user_id: str, size: str, query: dict[str, str]
                      ) -> ServedFile:
    key, exp = query.get("k", ""), query.get("exp", "")
    if size not in AVATAR_SIZES or not user_id.isdigit() or len(key) != 32:
        raise LinkRefused(404, "Not found.")
    remaining = _check_link(deps, f"a:{user_id}:{key}:{size}:{exp}", exp, query.get("sig", ""))
    try:
        path = files(deps).path(AVATARS, key, f"avatar{size}.webp")
    except ValueError:
        raise LinkRefused(404, "Not found.") from None
    if not path.is_file():
        raise LinkRefused(404, "Not found.")
    return ServedFile(path=path, media_type="image/webp", download_name=f"avatar-{size}.webp",
                      inline=True, max_age=remaining)


# --- taken-at with the camera's offset ---------------------------------------------------------


def taken_at(media: store.Media) -> datetime | None:
    if media.taken_at is None:
        return None
    at = media.taken_at if media.taken_at.tzinfo else media.taken_at.replace(tzinfo=UTC)
    if media.taken_at_offset_min is None:
        return at.astimezone(UTC)
    return at.astimezone(timezone(timedelta(minutes=media.taken_at_offset_min)))
