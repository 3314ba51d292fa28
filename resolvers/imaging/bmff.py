"""MP4/MOV (ISO-BMFF / QuickTime) uploads: box structure only, never decoded.

No video decoder runs on uploads; the box tree is walked instead, which is enough to refuse
truncated or malformed files, read the display size and creation time, and find every ISO 6709
location string in the metadata boxes (moov, meta, udta). The public copy blanks those strings
with spaces in place, so no box size or media offset changes and the media data is untouched.
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from resolvers.imaging.common import (
    INVALID_FILE,
    VIDEO,
    Gps,
    Outputs,
    Processed,
    Rejected,
    derived,
    safe,
)

_MAX_TOP_LEVEL_BOXES = 100_000
_MAX_MOOV_BYTES = 256 * 1024 * 1024
_CONTAINERS = frozenset(
    {b"moov", b"trak", b"mdia", b"minf", b"udta", b"edts", b"dinf", b"meta", b"ilst", b"mvex"}
)
_ISO6709_RE = re.compile(
    rb"([+-]\d{2,6}(?:\.\d+)?)([+-]\d{3,7}(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[A-Za-z0-9_:]*)?/?"
)
_ISO6709_STRING_RE = re.compile(
    rb"[+-]\d{2,6}\.\d+[+-]\d{3,7}\.\d+(?:[+-]\d+(?:\.\d+)?)?(?:CRS[A-Za-z0-9_:]*)?/"
)
_MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


@dataclass
class _Box:
    type: bytes
    start: int  # offset of the box
    header: int  # header length (8 or 16)
    size: int

    @property
    def body(self) -> int:
        return self.start + self.header

    @property
    def end(self) -> int:
        return self.start + self.size


def _read_box_header(read: Callable[[int, int], bytes], pos: int, limit: int) -> _Box:
    if limit - pos < 8:
        raise Rejected(INVALID_FILE, "truncated box header")
    size, box_type = struct.unpack(">I4s", read(pos, 8))
    header = 8
    if size == 1:
        if limit - pos < 16:
            raise Rejected(INVALID_FILE, "truncated box header")
        size = struct.unpack(">Q", read(pos + 8, 8))[0]
        header = 16
        if size < 16:
            raise Rejected(INVALID_FILE, "invalid box size")
    elif size == 0:
        size = limit - pos
    elif size < 8:
        raise Rejected(INVALID_FILE, "invalid box size")
    if pos + size > limit:
        raise Rejected(INVALID_FILE, "box extends past the end of the file (truncated)")
    return _Box(box_type, pos, header, size)


def _top_level_boxes(f: BinaryIO, length: int) -> list[_Box]:
    def read(pos: int, n: int) -> bytes:
        f.seek(pos)
        chunk = f.read(n)
        if len(chunk) != n:
            raise Rejected(INVALID_FILE, "truncated file")
        return chunk

    boxes: list[_Box] = []
    pos = 0
    while pos < length:
        box = _read_box_header(read, pos, length)
        boxes.append(box)
        if len(boxes) > _MAX_TOP_LEVEL_BOXES:
            raise Rejected(INVALID_FILE, "too many boxes")
        pos = box.end
    return boxes


def _children(data: bytes, start: int, end: int) -> Iterator[_Box]:
    def read(pos: int, n: int) -> bytes:
        return data[pos : pos + n]

    pos = start
    while pos + 8 <= end:
        box = _read_box_header(read, pos, end)
        yield box
        pos = box.end


@dataclass
class _VideoScan:
    gps: Gps | None = None
    blank: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) in the box
    width: int | None = None
    height: int | None = None
    created: datetime | None = None


def process_video(src: Path, dest_prefix: Path, mime: str, ext: str, outputs: Outputs) -> Processed:
    length = src.stat().st_size
    with src.open("rb") as f:
        boxes = _top_level_boxes(f, length)
        moovs = [box for box in boxes if box.type == b"moov"]
        if len(moovs) != 1:
            raise Rejected(INVALID_FILE, "a video needs exactly one moov box")
        scan = _scan_top_level_metadata(f, boxes)

    variants: dict[str, Path] = {}
    if scan.blank:
        variants["public"] = _write_blanked_copy(src, dest_prefix, ext, scan.blank, outputs)
    return Processed(
        kind=VIDEO,
        mime_type=mime,
        ext=ext,
        width=scan.width,
        height=scan.height,
        taken_at=scan.created,
        taken_at_offset_known=False,
        gps=scan.gps,
        variants=variants,
    )


def _scan_top_level_metadata(f: BinaryIO, boxes: list[_Box]) -> _VideoScan:
    """Merges the scans of every top-level metadata box; offsets become file offsets."""
    scan = _VideoScan()
    for box in boxes:
        if box.type not in (b"moov", b"meta", b"udta"):
            continue
        found = _scan_file_box(f, box)
        if scan.gps is None:
            scan.gps = found.gps
        scan.blank += [(box.start + offset, n) for offset, n in found.blank]
        if box.type == b"moov":
            scan.width, scan.height, scan.created = found.width, found.height, found.created
    return scan


def _scan_file_box(f: BinaryIO, box: _Box) -> _VideoScan:
    # The box is read whole, so its size is capped; any parser failure other than a
    # deliberate refusal is reported as a corrupt file rather than an internal error.
    if box.size > _MAX_MOOV_BYTES:
        raise Rejected(INVALID_FILE, f"{box.type!r} box too large")
    f.seek(box.start)
    content = f.read(box.size)
    try:
        return _scan_metadata_box(content)
    except Rejected:
        raise
    except Exception as exc:
        raise Rejected(INVALID_FILE, "corrupt video metadata") from exc


def _write_blanked_copy(
    src: Path, dest_prefix: Path, ext: str, blank: list[tuple[int, int]], outputs: Outputs
) -> Path:
    """Copy of the file with the location strings overwritten by spaces, sizes unchanged."""
    public = outputs.add(derived(dest_prefix, f".public.{ext}"))
    shutil.copyfile(src, public)
    with public.open("r+b") as out:
        for offset, n in blank:
            out.seek(offset)
            out.write(b" " * n)
    return public


def _scan_metadata_box(data: bytes) -> _VideoScan:
    """Walks one top-level moov/meta/udta box (held in memory, offsets relative to it)."""
    scan = _VideoScan()
    root = _read_box_header(lambda p, n: data[p : p + n], 0, len(data))
    tracks: list[tuple[bytes, bytes]] = []  # (handler type, tkhd body)
    _walk_metadata(data, root, 0, None, scan, tracks)
    _scan_iso6709_strings(data, scan)
    dims = _track_size(tracks)
    if dims is not None:
        scan.width, scan.height = dims
    return scan


def _walk_metadata(
    data: bytes,
    box: _Box,
    depth: int,
    track: list[bytes] | None,
    scan: _VideoScan,
    tracks: list[tuple[bytes, bytes]],
) -> None:
    """`track` is [handler type, tkhd body] of the enclosing trak box, filled in as found."""
    if depth > 16:
        raise Rejected(INVALID_FILE, "boxes nested too deeply")
    body_start = box.body
    # ISO meta is a full box (version/flags first); QuickTime's is a plain container.
    if box.type == b"meta" and data[body_start : body_start + 4] == b"\x00\x00\x00\x00":
        body_start += 4
    for child in _children(data, body_start, box.end):
        if child.type == b"trak":
            entry: list[bytes] = [b"", b""]
            _walk_metadata(data, child, depth + 1, entry, scan, tracks)
            tracks.append((entry[0], entry[1]))
            continue
        _scan_leaf(child, data[child.body : child.end], track, scan)
        if child.type in _CONTAINERS:
            _walk_metadata(data, child, depth + 1, track, scan, tracks)


def _scan_leaf(box: _Box, body: bytes, track: list[bytes] | None, scan: _VideoScan) -> None:
    if box.type == b"\xa9xyz":
        _scan_xyz(box, body, scan)
    elif box.type == b"tkhd" and track is not None:
        track[1] = body
    elif box.type == b"hdlr" and track is not None and len(body) >= 12:
        track[0] = body[8:12]
    elif box.type == b"mvhd" and scan.created is None:
        scan.created = safe(_mvhd_created, body)


def _track_size(tracks: list[tuple[bytes, bytes]]) -> tuple[int, int] | None:
    """Display size of the first video track with a readable tkhd, else of any track."""
    video = [tkhd for handler, tkhd in tracks if handler == b"vide"]
    for tkhd in video + [tkhd for _handler, tkhd in tracks]:
        dims = safe(_tkhd_size, tkhd)
        if dims is not None:
            return dims
    return None


def _scan_xyz(box: _Box, body: bytes, scan: _VideoScan) -> None:
    """udta/©xyz: 16-bit length, 16-bit language, ISO 6709 string (or an ilst-style data atom)."""
    if body[4:8] == b"data" and len(body) >= 16:
        start, text_len = 16, len(body) - 16
    elif len(body) >= 4:
        start, text_len = 4, min(struct.unpack(">H", body[:2])[0], len(body) - 4)
    else:
        return
    text = body[start : start + text_len]
    if not text.strip(b" \x00"):
        return
    scan.blank.append((box.body + start, text_len))
    if scan.gps is None:
        scan.gps = safe(_parse_iso6709, text)


def _scan_iso6709_strings(data: bytes, scan: _VideoScan) -> None:
    """Every ISO 6709 location string anywhere in a metadata box is blanked: QuickTime metadata
    (com.apple.quicktime.location.ISO6709), vendor atoms, or a ©xyz atom with a damaged header.
    The pattern (signed decimal degrees, "/" terminator) does not occur in binary tables."""
    for match in _ISO6709_STRING_RE.finditer(data):
        scan.blank.append((match.start(), match.end() - match.start()))
        if scan.gps is None:
            scan.gps = safe(_parse_iso6709, match.group(0))


def _iso6709_part(text: bytes, degree_digits: int) -> float | None:
    sign = -1.0 if text[:1] == b"-" else 1.0
    integer, _dot, fraction = text[1:].partition(b".")
    value = float(integer + b"." + (fraction or b"0"))
    digits = len(integer)
    if digits == degree_digits:
        degrees = value
    elif digits == degree_digits + 2:  # (D)DDMM.M
        degrees = int(value // 100) + (value % 100) / 60
    elif digits == degree_digits + 4:  # (D)DDMMSS.S
        degrees = int(value // 10000) + int(value % 10000 // 100) / 60 + (value % 100) / 3600
    else:
        return None
    return sign * degrees


def _parse_iso6709(text: bytes) -> Gps | None:
    match = _ISO6709_RE.match(text.strip(b" \x00"))
    if match is None:
        return None
    lat = _iso6709_part(match.group(1), 2)
    lon = _iso6709_part(match.group(2), 3)
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    alt = float(match.group(3)) if match.group(3) else None
    return Gps(round(lat, 7), round(lon, 7), alt)


def _tkhd_size(body: bytes) -> tuple[int, int] | None:
    version = body[0]
    matrix_at = 52 if version == 1 else 40
    if len(body) < matrix_at + 44:
        return None
    width, height = struct.unpack(">II", body[matrix_at + 36 : matrix_at + 44])
    w, h = round(width / 65536), round(height / 65536)
    if w <= 0 or h <= 0:
        return None
    a, b, _u, c, d = struct.unpack(">iiiii", body[matrix_at : matrix_at + 20])
    if a == 0 and d == 0 and b != 0 and c != 0:  # rotated by 90 or 270 degrees
        w, h = h, w
    return w, h


def _mvhd_created(body: bytes) -> datetime | None:
    if body[0] == 1:
        seconds = struct.unpack(">Q", body[4:12])[0]
    else:
        seconds = struct.unpack(">I", body[4:8])[0]
    created = _MAC_EPOCH + timedelta(seconds=seconds)
    if created.year < 1971:  # 0 (unset) or garbage
        return None
    return created
