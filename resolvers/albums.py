"""Albums, comments and likes of an event's media.

Same rule as every child of an event: the viewer's membership is read fresh from MySQL. An
album is managed by its creator or an organizer; comments by their author (an organizer may
delete any); one like per person and media.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from resolvers.core import idempotency
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.rates import rate_limit
from resolvers.core.text import (
    checked_line,
    checked_message,
    control_error,
    has_control_characters,
    normalised_text,
)
from resolvers.media import (
    MediaErrorCode,
    files,
    is_organizer,
    media_and_membership,
    member_events,
    membership,
)
from resolvers.projections import record_event, record_event_once
from stores import media as store
from stores.events import Participant

MAX_COMMENT = 2000
MAX_ALBUM_TITLE = 120
MAX_ALBUM_DESCRIPTION = 1000
MAX_ALBUMS = 100


async def visible_albums(
    deps: Deps, viewer: Viewer | None, ids: Sequence[str]
) -> list[store.Album | None]:
    if viewer is None:
        return [None] * len(ids)
    found = await store.albums_by_ids(list(ids))
    allowed = await member_events(deps, viewer, {a.event_id for a in found if a is not None})
    return [a if a is not None and a.event_id in allowed else None for a in found]


async def albums_by_ids(deps: Deps, ids: list[str]) -> list[store.Album | None]:
    return await store.albums_by_ids(ids)


async def _album(deps: Deps, viewer: Viewer, album_id: str) -> tuple[store.Album, Participant]:
    album = (await store.albums_by_ids([album_id]))[0]
    if album is None:
        raise NotFound("Album not found.")
    return album, await membership(deps, viewer, album.event_id, "Album not found.")


# --- albums ------------------------------------------------------------------------------------


def _album_fields(title: str | None, description: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    errors: list[DomainError] = []
    if title is not None:
        changes["title"] = title.strip()
        if not 1 <= len(changes["title"]) <= MAX_ALBUM_TITLE:
            errors.append(
                DomainError(
                    MediaErrorCode.INVALID_TITLE, f"1 to {MAX_ALBUM_TITLE} characters.", "title"
                )
            )
        elif error := checked_line(changes["title"], "title"):
            errors.append(error)
    if description is not None:
        changes["description"] = normalised_text(description).strip()
        if has_control_characters(changes["description"], multiline=True):
            errors.append(control_error("description", multiline=True))
        if len(changes["description"]) > MAX_ALBUM_DESCRIPTION:
            errors.append(
                DomainError(
                    MediaErrorCode.VALUE_TOO_LONG,
                    f"At most {MAX_ALBUM_DESCRIPTION} characters.",
                    "description",
                )
            )
    if errors:
        raise DomainErrors(errors)
    return changes


async def albums(deps: Deps, viewer: Viewer, event_id: int) -> list[store.Album]:
    await membership(deps, viewer, event_id)
    found = await store.albums_of(event_id)
    if not any(a.is_default for a in found):
        found.insert(0, await store.default_album(event_id))
    return found


async def create_album(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    title: str,
    description: str | None,
    client_mutation_id: str | None = None,
) -> store.Album:
    """With a client key the album's unique key is derived from it: a retry finds the first."""
    await membership(deps, viewer, event_id)
    request_hash = idempotency.request_digest([event_id, title, description])
    key = f"{event_id}:{files(deps).new_key()}"
    if client_mutation_id is not None:
        key = f"{event_id}:{idempotency.document_key(viewer.user_id, client_mutation_id)}"
        first = await store.album_by_key(key)
        if first is not None:
            idempotency.same_request(first.request_hash, request_hash)
            return first
    changes = _album_fields(title, description or "")
    await store.default_album(event_id)
    if await store.count_albums(event_id) >= MAX_ALBUMS:
        raise DomainError(MediaErrorCode.TOO_MANY_ALBUMS, f"At most {MAX_ALBUMS} albums per event.")
    album, created = await store.add_album_once(
        store.Album(
            event_id=event_id,
            key=key,
            created_by_user_id=viewer.user_id,
            created_at=deps.clock(),
            request_hash=request_hash if client_mutation_id is not None else None,
            **changes,
        )
    )
    if not created:
        idempotency.same_request(album.request_hash, request_hash)
    return album


def _may_manage(album: store.Album, viewer: Viewer, me: Participant) -> bool:
    return album.created_by_user_id == viewer.user_id or is_organizer(me)


async def update_album(
    deps: Deps,
    viewer: Viewer,
    album_id: str,
    title: str | None,
    description: str | None,
    expected_version: int | None,
) -> store.Album:
    album, me = await _album(deps, viewer, album_id)
    if not _may_manage(album, viewer, me):
        raise Forbidden("Only the album's creator or an organizer changes it.")
    changes = _album_fields(title, description)
    updated = await store.update_album(album, expected_version, **changes)
    if updated is None:
        raise DomainError(
            MediaErrorCode.STALE,
            "The album changed since you read it; reload it.",
            "expectedVersion",
        )
    return updated


async def delete_album(deps: Deps, viewer: Viewer, album_id: str) -> store.Album:
    """Its media move to the event's default album; returns that album."""
    album, me = await _album(deps, viewer, album_id)
    if not _may_manage(album, viewer, me):
        raise Forbidden("Only the album's creator or an organizer deletes it.")
    if album.is_default:
        raise DomainError(
            MediaErrorCode.ALBUM_IS_DEFAULT, "The default album cannot be deleted.", "albumId"
        )
    default = await store.default_album(album.event_id)
    await store.move_album_content(str(album.id), str(default.id))
    await store.delete_album(album)
    return default


async def move_media(
    deps: Deps, viewer: Viewer, media_ids: list[str], album_id: str
) -> list[store.Media]:
    if not 1 <= len(media_ids) <= 100:
        raise DomainError(MediaErrorCode.INVALID_INPUT, "1 to 100 media at once.", "mediaIds")
    album, me = await _album(deps, viewer, album_id)
    found = await store.media_by_ids(media_ids)
    for index, media in enumerate(found):
        if media is None or media.event_id != album.event_id:
            raise DomainError(
                MediaErrorCode.MEDIA_NOT_FOUND,
                "No such media in this event.",
                ["mediaIds", str(index)],
            )
        if media.uploader_user_id != viewer.user_id and not is_organizer(me):
            raise Forbidden("Only the uploader or an organizer moves a media.")
    await store.move_to_album(media_ids, str(album.id))
    for media in found:
        if media is not None:
            media.album_id = str(album.id)
    return [m for m in found if m is not None]


async def set_cover(deps: Deps, viewer: Viewer, album_id: str, media_id: str | None) -> store.Album:
    album, me = await _album(deps, viewer, album_id)
    if not _may_manage(album, viewer, me):
        raise Forbidden("Only the album's creator or an organizer sets its cover.")
    if media_id is not None:
        media = (await store.media_by_ids([media_id]))[0]
        if media is None or media.album_id != str(album.id):
            raise DomainError(
                MediaErrorCode.MEDIA_NOT_FOUND, "No such media in this album.", "mediaId"
            )
    updated = await store.update_album(album, None, cover_media_id=media_id)
    if updated is None:
        raise NotFound("Album not found.")
    return updated


async def album_media(
    deps: Deps, album: store.Album, first: int, after: tuple[datetime, str] | None
) -> list[store.Media]:
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
    return checked_message(body, max_len=MAX_COMMENT, field="body")


async def comment(
    deps: Deps, viewer: Viewer, media_id: str, body: str, client_mutation_id: str | None = None
) -> store.MediaComment:
    """With a client key a retry finds the first comment (unique `client_key`)."""
    media, _ = await media_and_membership(deps, viewer, media_id)
    text = checked_comment(body)
    request_hash = idempotency.request_digest([media_id, body])
    client_key = None
    if client_mutation_id is not None:
        client_key = idempotency.document_key(viewer.user_id, client_mutation_id)
        first = await store.comment_by_client_key(client_key)
        if first is not None:
            idempotency.same_request(first.request_hash, request_hash)
            await _record_comment(deps, viewer, media, first)  # the first try may have died
            return first
    await _rate(deps, viewer)
    found, created = await store.add_comment(
        store.MediaComment(
            media_id=media_id,
            event_id=media.event_id,
            author_user_id=viewer.user_id,
            body=text,
            created_at=deps.clock(),
            client_key=client_key,
            request_hash=request_hash if client_key else None,
        )
    )
    if not created:
        idempotency.same_request(found.request_hash, request_hash)
    await _record_comment(deps, viewer, media, found)
    return found


async def _record_comment(
    deps: Deps, viewer: Viewer, media: store.Media, comment: store.MediaComment
) -> None:
    """The comment's domain event (recorded again by a retried comment, notified once)."""
    if media.uploader_user_id != viewer.user_id:
        await record_event_once(
            deps,
            f"media.commented:{comment.id}",
            "media.commented",
            media.event_id,
            viewer.user_id,
            str(media.id),
            uploader_user_id=media.uploader_user_id,
            comment_id=str(comment.id),
            excerpt=comment.body[:140],
        )


async def _rate(deps: Deps, viewer: Viewer) -> None:
    await rate_limit(deps, "media-comment", str(viewer.user_id), deps.settings.rate_chat_send)


async def _comment(
    deps: Deps, viewer: Viewer, comment_id: str
) -> tuple[store.MediaComment, Participant]:
    found = await store.comment_by_id(comment_id)
    if found is None:
        raise NotFound("Comment not found.")
    return found, await membership(deps, viewer, found.event_id, "Comment not found.")


async def edit_comment(
    deps: Deps, viewer: Viewer, comment_id: str, body: str
) -> store.MediaComment:
    found, _ = await _comment(deps, viewer, comment_id)
    if found.author_user_id != viewer.user_id:
        raise Forbidden("Only the author edits a comment.")
    if found.removed_at is not None:
        raise DomainError(
            MediaErrorCode.COMMENT_REMOVED, "An administrator removed this comment.", "commentId"
        )
    return await store.edit_comment(found, checked_comment(body), deps.clock())


async def remove_comment_by_admin(removed: store.MediaComment, at: datetime) -> bool:
    """Moderation: the comment stays in its thread as a tombstone, without its text."""
    return await store.tombstone_comment(removed, at)


async def delete_comment(deps: Deps, viewer: Viewer, comment_id: str) -> str:
    found, me = await _comment(deps, viewer, comment_id)
    if found.author_user_id != viewer.user_id and not is_organizer(me):
        raise Forbidden("Only the author or an organizer deletes a comment.")
    await store.delete_comment(found)
    return comment_id


async def comments(
    deps: Deps, media: store.Media, first: int, after: tuple[datetime, str] | None
) -> list[store.MediaComment]:
    return await store.comments_page(str(media.id), first=first, after=after)


async def visible_comments(
    deps: Deps, viewer: Viewer | None, ids: Sequence[str]
) -> list[store.MediaComment | None]:
    if viewer is None:
        return [None] * len(ids)
    found = await store.comments_by_ids(list(ids))
    allowed = await member_events(deps, viewer, {c.event_id for c in found if c is not None})
    return [c if c is not None and c.event_id in allowed else None for c in found]


async def like(deps: Deps, viewer: Viewer, media_id: str, liked: bool) -> store.Media:
    media, _ = await media_and_membership(deps, viewer, media_id)
    if liked:
        changed = await store.add_like(media, viewer.user_id)
        if changed and media.uploader_user_id != viewer.user_id:
            async with deps.db.unit_of_work() as db:
                record_event(
                    db,
                    "media.liked",
                    media.event_id,
                    viewer.user_id,
                    media_id,
                    uploader_user_id=media.uploader_user_id,
                )
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


class AlbumLoaders(LoaderBase):
    @cached_property
    def album(self) -> DataLoader[str, store.Album | None]:
        """Unscoped: only for albums reached through an authorised object."""
        return self.batched(albums_by_ids)

    @cached_property
    def album_media_count(self) -> DataLoader[str, int]:
        return self.batched(album_counts)

    @cached_property
    def media_liked(self) -> DataLoader[str, bool]:
        return self.scoped(viewer_likes)
