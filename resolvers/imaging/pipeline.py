"""The two entry points: recognise the file by content, hand it to the validator for its kind,
and guarantee that a refusal (or any other failure) leaves no output file behind.
"""

from __future__ import annotations

from pathlib import Path

from resolvers.imaging.bmff import process_video
from resolvers.imaging.common import (
    DOCUMENT,
    IMAGE,
    UNSUPPORTED_MEDIA_TYPE,
    VIDEO,
    Outputs,
    Processed,
    Rejected,
)
from resolvers.imaging.images import process_image, render_avatar
from resolvers.imaging.scan import check_pdf
from resolvers.imaging.sniffing import sniff_file


def process(src: Path, dest_prefix: Path, *, max_pixels: int, max_frames: int = 2000) -> Processed:
    """Validates `src` completely and writes its variants next to dest_prefix:
    dest_prefix.with_name(dest_prefix.name + ".thumb.webp"), ".preview.webp", and, only when
    needed, ".public.<ext>". Raises Rejected for anything not accepted; on Rejected (or any other
    exception) no output file remains."""
    outputs = Outputs()
    try:
        kind, mime, ext = sniff_file(src)
        if kind == VIDEO:
            return process_video(src, dest_prefix, mime, ext, outputs)
        data = src.read_bytes()
        if kind == DOCUMENT:
            check_pdf(data)
            return Processed(kind=kind, mime_type=mime, ext=ext)
        return process_image(data, dest_prefix, mime, ext, max_pixels, max_frames, outputs)
    except BaseException:
        outputs.discard()
        raise


def avatar(
    src: Path, dest_prefix: Path, *, max_pixels: int, max_frames: int = 2000
) -> dict[str, Path]:
    """A profile picture: images only (JPEG/PNG/WebP/GIF first frame). Orientation applied,
    centre-cropped square, written as WebP without any metadata: ".avatar256.webp" (256x256) and
    ".avatar64.webp" (64x64). Returns {"256": p, "64": p}. Same refusals as process();
    videos, PDF (and HEIC) -> Rejected("UNSUPPORTED_MEDIA_TYPE")."""
    outputs = Outputs()
    try:
        kind, _mime, ext = sniff_file(src)
        if kind != IMAGE or ext == "heic":
            raise Rejected(UNSUPPORTED_MEDIA_TYPE, "a profile picture must be an image")
        data = src.read_bytes()
        return render_avatar(data, ext, dest_prefix, max_pixels, max_frames, outputs)
    except BaseException:
        outputs.discard()
        raise
