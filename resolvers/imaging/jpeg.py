"""JPEG segment structure, walked by hand rather than through Pillow.

Two reasons: the header must be validated (and its dimensions checked against the pixel limit)
before any decoder allocates memory, and the public copy of a geotagged photo must not be
re-encoded. Splicing the segments lets us drop EXIF GPS, XMP and Photoshop blocks while the
compressed image data is copied byte for byte: no generation loss, no decoder-dependent output.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from resolvers.imaging.common import INVALID_FILE, Rejected, xmp_has_gps

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass
class _JpegSegment:
    marker: int
    start: int  # offset of the 0xFF
    end: int  # offset after the segment

    def payload(self, data: bytes) -> bytes:
        return data[self.start + 4 : self.end]


@dataclass
class JpegInfo:
    segments: list[_JpegSegment]
    sos: int  # offset of the first SOS marker: from there on, the file is copied verbatim
    width: int
    height: int
    exif_segments: int
    other_gps: bool  # a location outside of EXIF: XMP, Photoshop IRB, any other APPn/COM

    @property
    def needs_scrub(self) -> bool:
        """Location data the EXIF reader does not see (extra EXIF blocks, XMP, Photoshop IRB)."""
        return self.exif_segments > 1 or self.other_gps


def _next_segment_marker(data: bytes, pos: int) -> tuple[int, int]:
    """(offset, marker) of the next marker that starts a segment, past fill bytes and the
    standalone markers (TEM, RSTn), which carry no length field."""
    n = len(data)
    while True:
        if pos + 4 > n or data[pos] != 0xFF:
            raise Rejected(INVALID_FILE, "corrupt JPEG segment structure")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker in (0xD8, 0xD9) or marker < 0xC0:  # libjpeg refuses unknown markers too
            raise Rejected(INVALID_FILE, "corrupt JPEG segment structure")
        return pos, marker


def _read_segment(data: bytes, pos: int, marker: int) -> _JpegSegment:
    length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    end = pos + 2 + length
    if length < 2 or end > len(data):
        raise Rejected(INVALID_FILE, "truncated JPEG header")
    return _JpegSegment(marker, pos, end)


def _frame_size(data: bytes, segment: _JpegSegment) -> tuple[int, int]:
    """(height, width) from a SOF segment; its length was already checked against the file."""
    if segment.end - segment.start - 2 < 8:
        raise Rejected(INVALID_FILE, "corrupt JPEG frame header")
    height, width = struct.unpack(">HH", data[segment.start + 5 : segment.start + 9])
    return height, width


def parse_jpeg(data: bytes) -> JpegInfo:
    pos = 2
    segments: list[_JpegSegment] = []
    width = height = -1
    exif_segments = 0
    other_gps = False
    while True:
        pos, marker = _next_segment_marker(data, pos)
        if marker == 0xDA:
            break
        segment = _read_segment(data, pos, marker)
        segments.append(segment)
        payload = segment.payload(data)
        if marker in _SOF_MARKERS and width < 0:
            height, width = _frame_size(data, segment)
        elif marker == 0xE1 and payload.startswith(b"Exif\x00"):
            exif_segments += 1
        elif xmp_has_gps(payload):
            if marker < 0xE0:  # text in a table segment: not a real JPEG
                raise Rejected(INVALID_FILE, "corrupt JPEG segment structure")
            other_gps = True  # XMP (APP1), Photoshop IRB (APP13), or any other APPn/COM
        pos = segment.end
    if width < 0:
        raise Rejected(INVALID_FILE, "JPEG without a frame header")
    if data.rfind(b"\xff\xd9") < pos:
        raise Rejected(INVALID_FILE, "truncated JPEG (no end-of-image marker)")
    return JpegInfo(segments, pos, width, height, exif_segments, other_gps)


def splice_jpeg(data: bytes, jpeg: JpegInfo, exif_bytes: bytes) -> bytes:
    """The original JPEG with EXIF replaced, XMP and Photoshop blocks dropped; the compressed
    image data (from the first SOS marker on) is copied byte for byte."""
    parts = [b"\xff\xd8"]
    exif_written = False
    for segment in jpeg.segments:
        payload = segment.payload(data)
        if segment.marker == 0xE1 and payload.startswith(b"Exif\x00"):
            if not exif_written and len(exif_bytes) > 6:
                parts.append(b"\xff\xe1" + struct.pack(">H", len(exif_bytes) + 2) + exif_bytes)
            exif_written = True
            continue
        if segment.marker in (0xE1, 0xED):  # XMP, unrecognised APP1, Photoshop IRB (XMP/IPTC)
            continue
        if xmp_has_gps(payload):  # a location in any other APPn/COM segment
            continue
        parts.append(data[segment.start : segment.end])
    parts.append(data[jpeg.sos :])
    return b"".join(parts)
