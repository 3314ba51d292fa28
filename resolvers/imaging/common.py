"""What every part of the media pipeline shares: the result types, the refusal, and the
bookkeeping that makes a failure leave nothing behind.

Kept free of Pillow and of any format knowledge so that the format modules (images, jpeg, bmff,
scan) can depend on it without depending on each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

IMAGE = "IMAGE"
VIDEO = "VIDEO"
DOCUMENT = "DOCUMENT"


class ImageErrorCode(StrEnum):
    """Why a file is refused (reported as MediaErrorCode)."""

    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INVALID_FILE = "INVALID_FILE"
    IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"


UNSUPPORTED_MEDIA_TYPE = ImageErrorCode.UNSUPPORTED_MEDIA_TYPE
INVALID_FILE = ImageErrorCode.INVALID_FILE
IMAGE_TOO_LARGE = ImageErrorCode.IMAGE_TOO_LARGE


class Rejected(Exception):
    """The file is not accepted. `code` is one of the error code constants above."""

    def __init__(self, code: ImageErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Exif:
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    focal_length: float | None = None  # mm
    aperture: float | None = None  # f-number
    exposure_time: str | None = None  # "1/250", "2", "2.5" (seconds)
    iso: int | None = None
    orientation: int | None = None  # 1..8


@dataclass
class Gps:
    latitude: float
    longitude: float
    altitude: float | None = None


@dataclass
class Processed:
    kind: str  # IMAGE | VIDEO | DOCUMENT
    mime_type: str
    ext: str
    width: int | None = None  # displayed size (EXIF orientation / track matrix applied)
    height: int | None = None
    taken_at: datetime | None = None  # timezone-aware
    taken_at_offset_known: bool = False
    exif: Exif | None = None
    gps: Gps | None = None
    variants: dict[str, Path] = field(default_factory=dict)


class Outputs:
    """Files written so far, removed again when the processing fails."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def add(self, path: Path) -> Path:
        self.paths.append(path)
        return path

    def discard(self) -> None:
        for path in self.paths:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        self.paths.clear()


def derived(dest_prefix: Path, suffix: str) -> Path:
    return dest_prefix.with_name(dest_prefix.name + suffix)


def safe(fn: Callable[..., T], *args: Any) -> T | None:
    """Runs an extraction on hostile data: any failure yields None."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - hostile metadata: any failure simply means "no value"
        return None


def xmp_has_gps(xmp: object) -> bool:
    """A location in an XMP packet (or any text block): all that XMP is ever inspected for."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    if not isinstance(xmp, bytes):
        return False
    return b"GPSLatitude" in xmp or b"GPSLongitude" in xmp
