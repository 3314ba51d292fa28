"""Still images through Pillow: validation, display variants, public copies and avatars.

Every header is checked before Pillow opens the file (some decoders allocate the whole canvas on
open), markup is refused so no image can double as an HTML/SVG page, and the first frame is fully
decoded so truncated or corrupt files are refused at upload rather than at display time. Pillow
globals are never touched (no MAX_IMAGE_PIXELS, never LOAD_TRUNCATED_IMAGES): the limits are the
caller's, per call. Variants are re-encoded WebP with no metadata at all, so nothing needs to be
scrubbed from them; the ".public" copy instead keeps the original pixels (lossless re-encode, or
for JPEG a byte-for-byte splice, see jpeg.py) minus GPS EXIF and XMP, which can hold a location.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms

from resolvers.imaging.common import (
    IMAGE,
    IMAGE_TOO_LARGE,
    INVALID_FILE,
    UNSUPPORTED_MEDIA_TYPE,
    Outputs,
    Processed,
    Rejected,
    derived,
    xmp_has_gps,
)
from resolvers.imaging.exif import Metadata, exif_without_gps, read_metadata
from resolvers.imaging.jpeg import JpegInfo, parse_jpeg, splice_jpeg
from resolvers.imaging.scan import has_markup

THUMBNAIL_SIZE = 256
PREVIEW_SIZE = 1280
AVATAR_SIZES = (256, 64)
WEBP_QUALITY = 80
WEBP_METHOD = 2  # ~2x faster than 4 for ~4 % larger files

_PILLOW_FORMAT = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "heic": "HEIF"}


@dataclass
class _Loaded:
    img: Image.Image  # loaded (decoded); possibly DCT-scaled for JPEG
    width: int  # true size from the header
    height: int
    frames: int
    jpeg: JpegInfo | None


def process_image(
    data: bytes,
    dest_prefix: Path,
    mime: str,
    ext: str,
    max_pixels: int,
    max_frames: int,
    outputs: Outputs,
) -> Processed:
    loaded = _load_image(data, ext, max_pixels, max_frames, _preview_draft)
    with loaded.img as img:
        meta = read_metadata(img)
        width, height = loaded.width, loaded.height
        if meta.orientation >= 5:
            width, height = height, width
        variants: dict[str, Path] = {}

        base = _rgb_or_rgba(img)
        preview = _fit(base, PREVIEW_SIZE)
        preview = _transpose(preview, meta.orientation)
        preview = _to_srgb(preview, img.info.get("icc_profile"))
        thumb = _fit(preview, THUMBNAIL_SIZE)
        variants["thumbnail"] = outputs.add(derived(dest_prefix, ".thumb.webp"))
        _save_webp(thumb, variants["thumbnail"])
        variants["preview"] = outputs.add(derived(dest_prefix, ".preview.webp"))
        _save_webp(preview, variants["preview"])

        # GIF: Pillow does not expose XMP application extensions, so look at the raw bytes.
        xmp_gps = xmp_has_gps(data if ext == "gif" else img.info.get("xmp"))
        if loaded.jpeg is not None:
            needs_public = meta.gps_present or loaded.jpeg.needs_scrub
        else:
            needs_public = meta.gps_present or xmp_gps
        if needs_public:
            public = outputs.add(derived(dest_prefix, f".public.{ext}"))
            _write_public_image(data, img, loaded, meta, public)
            variants["public"] = public

    return Processed(
        kind=IMAGE,
        mime_type=mime,
        ext=ext,
        width=width,
        height=height,
        taken_at=meta.taken_at,
        taken_at_offset_known=meta.offset_known,
        exif=meta.exif,
        gps=meta.gps,
        variants=variants,
    )


def render_avatar(
    data: bytes, ext: str, dest_prefix: Path, max_pixels: int, max_frames: int, outputs: Outputs
) -> dict[str, Path]:
    """Square, centre-cropped WebP avatars in AVATAR_SIZES, largest first (see avatar())."""
    loaded = _load_image(data, ext, max_pixels, max_frames, _avatar_draft)
    with loaded.img:
        meta = read_metadata(loaded.img)
        square = _rgb_or_rgba(loaded.img)
        w, h = square.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        square = square.crop((left, top, left + side, top + side))
        square = _transpose(square, meta.orientation)
        square = _to_srgb(square, loaded.img.info.get("icc_profile"))
        result: dict[str, Path] = {}
        current = square
        for size in AVATAR_SIZES:
            current = current.resize((size, size), Image.Resampling.LANCZOS)
            path = outputs.add(derived(dest_prefix, f".avatar{size}.webp"))
            _save_webp(current, path)
            result[str(size)] = path
        return result


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise Rejected(INVALID_FILE, "the image has no pixels")
    if width * height > max_pixels:
        raise Rejected(
            IMAGE_TOO_LARGE, f"{width}x{height} exceeds the limit of {max_pixels} pixels"
        )


def _preview_draft(width: int, height: int) -> tuple[int, int]:
    """Smallest DCT-scaled decode whose long side still covers the preview."""
    ratio = min(1.0, PREVIEW_SIZE / max(width, height))
    return max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))


def _avatar_draft(width: int, height: int) -> tuple[int, int]:
    """Smallest DCT-scaled decode whose short side still covers the largest avatar."""
    return AVATAR_SIZES[0], AVATAR_SIZES[0]


def _load_image(
    data: bytes,
    ext: str,
    max_pixels: int,
    max_frames: int,
    draft: Callable[[int, int], tuple[int, int]],
) -> _Loaded:
    """Validates an image completely (header limits, markup, full decode of the first frame)."""
    if has_markup(data):
        raise Rejected(UNSUPPORTED_MEDIA_TYPE, "the image contains HTML or script markup")
    fmt = _PILLOW_FORMAT[ext]
    if fmt == "HEIF":
        _require_heif_support()
    # Header checks before Pillow sees the file (some decoders allocate the canvas on open).
    jpeg, frames = _check_header(data, ext, max_pixels, max_frames)
    img = _open_image(data, fmt)
    try:
        width, height = img.size
        _check_pixels(width, height, max_pixels)
        if fmt == "JPEG" and jpeg is not None and (width, height) != (jpeg.width, jpeg.height):
            raise Rejected(INVALID_FILE, "inconsistent JPEG dimensions")
        if fmt != "GIF":
            frames = int(getattr(img, "n_frames", 1))
        if frames > max_frames:
            raise Rejected(IMAGE_TOO_LARGE, f"{frames} frames exceed the limit of {max_frames}")
        if fmt == "JPEG":
            # DCT scaling: the decoder still reads (and entropy-decodes) the whole stream.
            img.draft("RGB", draft(width, height))
        _decode(img)
    except BaseException:
        img.close()
        raise
    return _Loaded(img=img, width=width, height=height, frames=frames, jpeg=jpeg)


def _require_heif_support() -> None:
    # Pillow reads HEIF only through a plugin, which may not be installed.
    Image.init()
    if "HEIF" not in Image.OPEN:
        raise Rejected(UNSUPPORTED_MEDIA_TYPE, "HEIC/HEIF images are not supported")


def _check_header(
    data: bytes, ext: str, max_pixels: int, max_frames: int
) -> tuple[JpegInfo | None, int]:
    """(JPEG structure, GIF frame count) from the raw header; other formats count 1 frame
    here and are counted by Pillow once opened."""
    if ext == "jpg":
        jpeg = parse_jpeg(data)
        _check_pixels(jpeg.width, jpeg.height, max_pixels)
        return jpeg, 1
    if ext == "png":
        _check_png_header(data, max_pixels)
    elif ext == "gif":
        return None, _check_gif_header(data, max_pixels, max_frames)
    elif ext == "webp":
        _check_webp_header(data, max_pixels)
    return None, 1


def _check_png_header(data: bytes, max_pixels: int) -> None:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise Rejected(INVALID_FILE, "PNG without an IHDR chunk")
    w, h = struct.unpack(">II", data[16:24])
    _check_pixels(w, h, max_pixels)
    if _PNG_IEND not in data:  # trailing bytes after IEND are tolerated
        raise Rejected(INVALID_FILE, "truncated PNG (no IEND chunk)")


def _check_gif_header(data: bytes, max_pixels: int, max_frames: int) -> int:
    if len(data) < 13:
        raise Rejected(INVALID_FILE, "truncated GIF header")
    w, h = struct.unpack("<HH", data[6:10])
    _check_pixels(w, h, max_pixels)
    return _gif_frames(data, max_frames, max_pixels)


def _check_webp_header(data: bytes, max_pixels: int) -> None:
    dims = _webp_dimensions(data)
    if dims is None:
        raise Rejected(INVALID_FILE, "unreadable WebP header")
    _check_pixels(dims[0], dims[1], max_pixels)


def _open_image(data: bytes, fmt: str) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected(IMAGE_TOO_LARGE, "decompression bomb") from exc
    except Exception as exc:
        # A HEIF file the plugin cannot read is most likely a variant it does not support.
        code = UNSUPPORTED_MEDIA_TYPE if fmt == "HEIF" else INVALID_FILE
        raise Rejected(code, f"the {fmt} image cannot be read") from exc


def _decode(img: Image.Image) -> None:
    # Decoding the first frame now refuses truncated or corrupt files at upload time.
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected(IMAGE_TOO_LARGE, "decompression bomb") from exc
    except Exception as exc:
        raise Rejected(INVALID_FILE, "the image is truncated or corrupt") from exc


_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # empty chunk + its (constant) CRC


def _gif_frames(data: bytes, max_frames: int, max_pixels: int) -> int:
    """Counts the frames of a GIF by walking its blocks; refuses truncated structures."""
    n = len(data)
    pos = 13 + _gif_color_table_size(data[10])
    frames = 0
    # A missing trailer after complete blocks is tolerated: the walk simply ends at EOF.
    while pos < n:
        block = data[pos]
        if block == 0x3B:
            break
        if block == 0x21:
            pos = _skip_gif_sub_blocks(data, pos + 2)
        elif block == 0x2C:
            pos = _skip_gif_image(data, pos, max_pixels)
            frames += 1
            if frames > max_frames:
                raise Rejected(IMAGE_TOO_LARGE, f"more than {max_frames} frames")
        else:
            raise Rejected(INVALID_FILE, "corrupt GIF block structure")
    if frames == 0:
        raise Rejected(INVALID_FILE, "GIF without any image")
    return frames


def _gif_color_table_size(flags: int) -> int:
    """Bytes of the colour table announced by a screen or image descriptor's flags."""
    if flags & 0x80:
        return 3 * (1 << ((flags & 7) + 1))  # 2 ** (size + 1) RGB triples
    return 0


def _skip_gif_sub_blocks(data: bytes, pos: int) -> int:
    """Offset after a chain of data sub-blocks ending with an empty one."""
    n = len(data)
    while True:
        if pos >= n:
            raise Rejected(INVALID_FILE, "truncated GIF")
        length = data[pos]
        pos += 1
        if length == 0:
            return pos
        pos += length


def _skip_gif_image(data: bytes, pos: int, max_pixels: int) -> int:
    """Offset after an image block (descriptor at `pos`, local colour table, LZW data)."""
    if pos + 10 > len(data):
        raise Rejected(INVALID_FILE, "truncated GIF")
    x, y, w, h = struct.unpack("<HHHH", data[pos + 1 : pos + 9])
    # The offset counts: Pillow grows the canvas to cover a frame beyond the logical screen.
    if (x + w) * (y + h) > max_pixels:
        raise Rejected(IMAGE_TOO_LARGE, "GIF frame exceeds the pixel limit")
    pos += 10 + _gif_color_table_size(data[pos + 9])
    return _skip_gif_sub_blocks(data, pos + 1)  # LZW minimum code size, then data


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            return None
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


# Rendering ------------------------------------------------------------------------------------

_TRANSPOSE: dict[int, list[Image.Transpose]] = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


def _transpose(img: Image.Image, orientation: int) -> Image.Image:
    for method in _TRANSPOSE.get(orientation, []):
        img = img.transpose(method)
    return img


def _rgb_or_rgba(img: Image.Image) -> Image.Image:
    """The first frame as RGB, or RGBA when it has transparency."""
    mode = "RGBA" if img.has_transparency_data else "RGB"
    if img.mode == mode:
        return img
    if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit greyscale: scale to 8 bits
        img = img.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return img.convert(mode)


def _fit(img: Image.Image, longest: int) -> Image.Image:
    """Scaled down so the long side is at most `longest` (never upscaled); always a new image."""
    w, h = img.size
    scale = longest / max(w, h)
    if scale >= 1:
        return img.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _to_srgb(img: Image.Image, icc: object) -> Image.Image:
    """Bakes an embedded colour profile into the pixels (variants carry no profile)."""
    if not isinstance(icc, bytes) or not icc or img.mode not in ("RGB", "RGBA"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))  # per call: thread-safe
        converted = ImageCms.profileToProfile(img, source, srgb, outputMode=img.mode)
    except Exception:  # noqa: BLE001 - a broken embedded profile is ignored, not fatal
        return img
    return converted if converted is not None else img


def _save_webp(img: Image.Image, path: Path) -> None:
    """WebP without any metadata (no EXIF, ICC or XMP chunk)."""
    img.info.clear()
    img.save(path, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)


# Public copies --------------------------------------------------------------------------------


def _write_public_image(
    data: bytes, img: Image.Image, loaded: _Loaded, meta: Metadata, path: Path
) -> None:
    exif_bytes = exif_without_gps(img.info.get("exif"), meta.orientation)
    if loaded.jpeg is not None:
        path.write_bytes(splice_jpeg(data, loaded.jpeg, exif_bytes))
        return
    fmt = img.format
    if fmt not in ("PNG", "WEBP", "GIF"):  # HEIF (only with a plugin): no lossless re-encoder
        raise Rejected(UNSUPPORTED_MEDIA_TYPE, f"cannot remove the location from a {fmt} image")
    options: dict[str, Any] = {"save_all": loaded.frames > 1}
    if fmt != "GIF":
        options["exif"] = exif_bytes
        icc = img.info.get("icc_profile")
        if isinstance(icc, bytes) and icc:
            options["icc_profile"] = icc
    if fmt == "WEBP":
        options["lossless"] = True
    try:
        img.seek(0)
        img.save(path, fmt, **options)  # XMP is never passed on: it can hold a location too
    except Exception as exc:
        raise Rejected(INVALID_FILE, "the image cannot be re-encoded") from exc
