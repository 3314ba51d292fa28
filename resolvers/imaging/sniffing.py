"""File type recognition by magic bytes only.

Client-supplied names and Content-Type headers are never trusted: the first 64 bytes decide which
validator runs, and anything unrecognised is refused before any parser sees it. ISO-BMFF files
share one container format, so the ftyp brands separate HEIC images from MP4/MOV videos and from
look-alikes we do not accept (AVIF, audio, camera raw).
"""

from __future__ import annotations

import struct
from pathlib import Path

from resolvers.imaging.common import (
    DOCUMENT,
    IMAGE,
    UNSUPPORTED_MEDIA_TYPE,
    VIDEO,
    Rejected,
)

_JPEG = (IMAGE, "image/jpeg", "jpg")
_PNG = (IMAGE, "image/png", "png")
_GIF = (IMAGE, "image/gif", "gif")
_WEBP = (IMAGE, "image/webp", "webp")
_HEIC = (IMAGE, "image/heic", "heic")
_MP4 = (VIDEO, "video/mp4", "mp4")
_MOV = (VIDEO, "video/quicktime", "mov")
_PDF = (DOCUMENT, "application/pdf", "pdf")

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_MP4_BRANDS = frozenset(
    {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9"}
    | {b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"MSNV"}
    | {b"NDAS", b"NDSC", b"NDSH", b"NDSM", b"NDSP", b"NDSS", b"NDXC", b"NDXH", b"NDXM"}
    | {b"NDXP", b"NDXS", b"f4v ", b"cmfc", b"cmfs", b"XAVC", b"hvc1", b"av01"}
)
_QT_BRAND = b"qt  "
_NOT_MEDIA_BRANDS = frozenset({b"avif", b"avis", b"M4A ", b"M4B ", b"M4P ", b"crx "})
_MOV_LEADING_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip"})


def sniff(head: bytes) -> tuple[str, str, str] | None:
    """(kind, mime_type, ext) from the first 64 bytes, or None. By content only (magic bytes)."""
    head = head[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    if head.startswith(b"%PDF-"):
        return _PDF
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if len(head) >= 8 and head[4:8] in _MOV_LEADING_ATOMS:
        size = struct.unpack(">I", head[:4])[0]
        if size in (0, 1) or size >= 8:
            return _MOV
    return None


def _sniff_ftyp(head: bytes) -> tuple[str, str, str] | None:
    box_size = struct.unpack(">I", head[:4])[0]
    if box_size < 16 and box_size not in (0, 1):
        return None
    major = head[8:12]
    if major in _NOT_MEDIA_BRANDS:
        return None
    if major in _HEIC_BRANDS:
        return _HEIC
    if major == _QT_BRAND:
        return _MOV
    if major in _MP4_BRANDS:
        return _MP4
    end = min(len(head), box_size) if box_size >= 16 else len(head)
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    if compatible & _MP4_BRANDS:
        return _MP4
    if _QT_BRAND in compatible:
        return _MOV
    if compatible & _HEIC_BRANDS:
        return _HEIC
    return None


def sniff_file(src: Path) -> tuple[str, str, str]:
    with src.open("rb") as f:
        head = f.read(64)
    sniffed = sniff(head)
    if sniffed is None:
        raise Rejected(UNSUPPORTED_MEDIA_TYPE, "unsupported or unrecognised file type")
    return sniffed
