"""An event's cover: one of its images, chosen by an organizer (or uploaded on the way).

The cover is a Media document of the event kept by id on the event's row (MySQL). A cover whose
media was deleted or removed by an administrator reads as none: nothing to clean up, and a
stale id never shows another event's picture (the media must belong to the event).
"""

from __future__ import annotations

from typing import Any

from resolvers import media as media_uc
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, NotFound
from resolvers.events import access, event_changed, member_or_hidden, require
from resolvers.media import MediaErrorCode
from stores import events as store
from stores import media as media_store
from stores.events import Event, ParticipantRole

_IMAGES = frozenset({"IMAGE"})


def _on_upload(error: DomainError) -> DomainError:
    """The media use case names its `files` argument; here the file is `upload`."""
    if not error.field or error.field[0] != "files":
        return error
    return DomainError(error.code, error.message, "upload", retry_after_s=error.retry_after_s)


def _cover_error(message: str) -> DomainError:
    return DomainError(MediaErrorCode.MEDIA_NOT_FOUND, message, "mediaId")


async def set_cover(
    deps: Deps, viewer: Viewer, event_id: int, media_id: str | None, upload: Any | None
) -> Event:
    """Organizers: the event's cover becomes `media_id` (an image of the event), or the image
    `upload` (shared in the event's default album first, as `uploadMedia` would), or none."""
    if media_id is not None and upload is not None:
        raise DomainError(MediaErrorCode.INVALID_INPUT, "Give a media or an upload, not both.")
    found = (await access(deps, viewer, [event_id]))[0]  # before any upload is read
    if found is None:
        raise NotFound("Event not found.")
    require(found[1], ParticipantRole.ORGANIZER)
    if upload is not None:
        try:
            stored = await media_uc.upload(
                deps, viewer, event_id, None, [upload], None, False, kinds=_IMAGES
            )
        except DomainErrors as exc:  # the errors are about `upload`, not `files`
            raise DomainErrors([_on_upload(e) for e in exc.errors]) from None
        except DomainError as exc:
            raise _on_upload(exc) from None
        media_id = str(stored[0].id)
    elif media_id is not None:
        media = (await media_store.media_by_ids([media_id]))[0]
        if media is None or media.event_id != event_id or media.removed_at is not None:
            raise _cover_error("No such media in this event.")
        if media.kind != "IMAGE":
            raise DomainError(
                MediaErrorCode.UNSUPPORTED_MEDIA_TYPE, "A cover is an image.", "mediaId"
            )
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        require(me, ParticipantRole.ORGANIZER)
        event.cover_media_id = media_id
        saved = await store.save_event(db, event)
    await event_changed(deps, event_id)
    return saved


async def cover_of(deps: Deps, event: Event) -> media_store.Media | None:
    """The event's cover, if it is still one of its images."""
    if event.cover_media_id is None:
        return None
    found = (await media_store.media_by_ids([event.cover_media_id]))[0]
    if found is None or found.event_id != event.id or found.removed_at is not None:
        return None
    return found
