"""Short-lived signed URLs for media and avatar files, and the checks made when one is fetched.

A media URL is signed (HMAC with the media key, derived from the server secret apart from the
token key: iven_gql/auth.py) over the media, the variant, the viewer it was made for, whether
that viewer may see the location, and the expiry; at each fetch the viewer must still take part
in the event. Avatar URLs are not bound to a viewer: they are shown
wherever the user is. They name the picture's random storage key, never the user id, so no URL
can be built or guessed from an account (and a new picture gets a new key).

URLs are absolute, on IVEN_PUBLIC_URL (`Settings.public_url`, no trailing slash), so that an app
on another origin, or a native one, uses them as they are. The host is not signed: a URL is
checked by its path and query wherever it arrives (through a proxy, under another name).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from resolvers.core.deps import Deps, Viewer
from resolvers.events import access
from resolvers.media import files, shows_location
from stores import media as store
from stores.files import AVATARS, MEDIA

VARIANTS = ("original", "preview", "thumbnail")
AVATAR_SIZES = ("64", "256")
URL_WINDOW_S = 300  # expiry rounded up to this: the same URL for a while, so browsers cache


# --- signed file URLs --------------------------------------------------------------------------


def _expiry(deps: Deps, now: float) -> int:
    return (int(now) // URL_WINDOW_S + 1) * URL_WINDOW_S + deps.settings.media_url_ttl_s


def _signature(deps: Deps, payload: str) -> str:
    return deps.tokens.media_signature(f"file-url:{payload}")[:32]


def media_url(
    deps: Deps, media: store.Media, variant: str, viewer_id: int, now: float | None = None
) -> str | None:
    """A short-lived URL of one of the media's files for this viewer, or None if that variant
    does not exist (videos and documents have no preview or thumbnail)."""
    if variant != "original" and variant not in media.variants:
        return None
    exp = _expiry(deps, time.time() if now is None else now)
    full = 1 if shows_location(media, viewer_id) else 0
    sig = _signature(deps, f"m:{media.id}:{variant}:{viewer_id}:{full}:{exp}")
    query = f"u={viewer_id}&f={full}&exp={exp}&sig={sig}"
    return f"{deps.settings.public_url}/media/{media.id}/{variant}?{query}"


def avatar_url(deps: Deps, key: str, size: str, now: float | None = None) -> str:
    exp = _expiry(deps, time.time() if now is None else now)
    sig = _signature(deps, f"a:{key}:{size}:{exp}")
    return f"{deps.settings.public_url}/avatars/{key}/{size}?exp={exp}&sig={sig}"


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


async def media_file(deps: Deps, media_id: str, variant: str, query: dict[str, str]) -> ServedFile:
    """The file behind a signed media URL, after checking the signature, the expiry and that
    the viewer it was made for still takes part in the event."""
    user, full, exp = query.get("u", ""), query.get("f", ""), query.get("exp", "")
    if variant not in VARIANTS or not user.isdigit() or full not in ("0", "1"):
        raise LinkRefused(404, "Not found.")
    remaining = _check_link(
        deps, f"m:{media_id}:{variant}:{user}:{full}:{exp}", exp, query.get("sig", "")
    )
    media = (await store.media_by_ids([media_id]))[0]
    if media is None or media.removed_at is not None:
        raise LinkRefused(404, "Not found.")
    viewer_id = int(user)
    found = (await access(deps, Viewer(viewer_id, "", datetime.now(UTC)), [media.event_id]))[0]
    if found is None or found[1] is None or not found[1].is_active:
        raise LinkRefused(403, "You no longer have access to this file.")
    fs = files(deps)
    if variant == "original":
        public = "public" in media.variants and not (
            full == "1" and shows_location(media, viewer_id)
        )
        suffix = f"{'public' if public else 'orig'}.{media.ext}"
        media_type, name = media.mime_type, media.file_name or f"{media_id}.{media.ext}"
    else:
        suffix = "thumb.webp" if variant == "thumbnail" else "preview.webp"
        media_type = "image/webp"
        name = f"{(media.file_name or media_id).rsplit('.', 1)[0]}-{variant}.webp"
    path = fs.path(MEDIA, media.storage_key, suffix)
    if not path.is_file():
        raise LinkRefused(404, "Not found.")
    return ServedFile(
        path=path,
        media_type=media_type,
        download_name=name,
        inline=media.kind != "DOCUMENT",
        max_age=remaining,
    )


async def avatar_file(deps: Deps, key: str, size: str, query: dict[str, str]) -> ServedFile:
    """`key` is the picture's random storage key (/avatars/<key>/<size>)."""
    exp = query.get("exp", "")
    if size not in AVATAR_SIZES or len(key) != 32:
        raise LinkRefused(404, "Not found.")
    remaining = _check_link(deps, f"a:{key}:{size}:{exp}", exp, query.get("sig", ""))
    try:
        path = files(deps).path(AVATARS, key, f"avatar{size}.webp")
    except ValueError:
        raise LinkRefused(404, "Not found.") from None
    if not path.is_file():
        raise LinkRefused(404, "Not found.")
    return ServedFile(
        path=path,
        media_type="image/webp",
        download_name=f"avatar-{size}.webp",
        inline=True,
        max_age=remaining,
    )
