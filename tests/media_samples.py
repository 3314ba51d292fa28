"""Sample media files for the upload tests: pure functions returning bytes.

Images are real files made with Pillow (noisy pixels so that truncation really cuts compressed
data); videos are minimal, structurally valid ISO-BMFF files built by hand; `HOSTILE` lists files
an upload endpoint must refuse (or accept safely).
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from datetime import UTC, datetime

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

# Where the sample photos were "taken": the Eiffel Tower, 35 m above sea level.
LATITUDE = 48 + 51 / 60 + 30.24 / 3600  # 48°51'30.24" N = 48.8584
LONGITUDE = 2 + 17 / 60 + 40.2 / 3600  # 2°17'40.2" E = 2.2945
ALTITUDE = 35.0
ISO6709 = b"+48.8584+002.2945+035.000/"

Rational = tuple[int, int]


# --------------------------------------------------------------------------------------------
# Images


def _noise_image(
    width: int, height: int, *, amount: float, seed: int, mode: str = "RGB"
) -> Image.Image:
    """Smooth colour blobs plus `amount` (0..1) of per-pixel noise: a photo-like compressibility."""
    rng = random.Random(seed)
    bands = len(mode)
    small = (max(2, width // 64), max(2, height // 64))
    base = Image.frombytes(mode, small, rng.randbytes(small[0] * small[1] * bands))
    base = base.resize((width, height), Image.Resampling.BICUBIC)
    if amount <= 0:
        return base
    noise = Image.frombytes(mode, (width, height), rng.randbytes(width * height * bands))
    return Image.blend(base, noise, amount)


def exif_block(
    *,
    gps: bool = True,
    orientation: int = 1,
    make: str = "Canon",
    model: str = "EOS R6",
    taken: str | None = "2030:06:01 14:30:00",
    offset: str | None = "+02:00",
    lens: str = "RF24-105mm F4 L IS USM",
    focal: Rational = (50, 1),
    fnumber: Rational = (28, 10),
    exposure: Rational = (1, 250),
    iso: int = 400,
) -> Image.Exif:
    """A full EXIF block (IFD0 + Exif IFD, and a GPS IFD when gps=True)."""
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif[0x0112] = orientation
    exif[0x0131] = "IVEN test suite"
    if taken is not None:
        exif[0x0132] = taken
    sub = exif.get_ifd(0x8769)
    if taken is not None:
        sub[0x9003] = taken  # DateTimeOriginal
    if offset is not None:
        sub[0x9011] = offset  # OffsetTimeOriginal
    sub[0xA434] = lens
    sub[0x920A] = IFDRational(*focal)
    sub[0x829D] = IFDRational(*fnumber)
    sub[0x829A] = IFDRational(*exposure)
    sub[0x8827] = iso
    if gps:
        g = exif.get_ifd(0x8825)
        g[1] = "N"
        g[2] = (IFDRational(48), IFDRational(51), IFDRational(3024, 100))
        g[3] = "E"
        g[4] = (IFDRational(2), IFDRational(17), IFDRational(402, 10))
        g[5] = b"\x00"  # above sea level
        g[6] = IFDRational(35)
    return exif


XMP_WITH_GPS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
    b'-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="48,51.504N" exif:GPSLongitude="2,17.67E"/></rdf:RDF></x:xmpmeta>'
)


def jpeg(
    width: int = 1200,
    height: int = 800,
    *,
    gps: bool = True,
    orientation: int = 1,
    make: str = "Canon",
    model: str = "EOS R6",
    taken: str | None = "2030:06:01 14:30:00",
    offset: str | None = "+02:00",
    lens: str = "RF24-105mm F4 L IS USM",
    focal: Rational = (50, 1),
    fnumber: Rational = (28, 10),
    exposure: Rational = (1, 250),
    iso: int = 400,
    exif: bool = True,
    xmp: bytes | None = None,
    quality: int = 85,
    noise: float = 0.15,
    seed: int = 1,
    size_hint: int | None = None,
) -> bytes:
    """A real JPEG with a full EXIF block (and GPS IFD when gps=True).

    With `size_hint` (bytes), the amount of noise is searched so that the file is within about
    5 % of that size at quality 90 (e.g. `jpeg(4000, 3000, size_hint=4_000_000)`, a typical
    12-megapixel camera photo)."""
    options: dict[str, object] = {}
    if exif:
        options["exif"] = exif_block(
            gps=gps, orientation=orientation, make=make, model=model, taken=taken,
            offset=offset, lens=lens, focal=focal, fnumber=fnumber, exposure=exposure, iso=iso,
        )  # fmt: skip
    if xmp is not None:
        options["xmp"] = xmp

    def encode(amount: float, q: int) -> bytes:
        buf = io.BytesIO()
        image = _noise_image(width, height, amount=amount, seed=seed)
        image.save(buf, "JPEG", quality=q, **options)
        return buf.getvalue()

    if size_hint is None:
        return encode(noise, quality)
    low, high = 0.0, 1.0
    best = encode(0.5, 90)
    for _ in range(12):
        if abs(len(best) - size_hint) <= size_hint * 0.05:
            break
        mid = (low + high) / 2
        best = encode(mid, 90)
        if len(best) < size_hint:
            low = mid
        else:
            high = mid
    return best


def png(
    width: int = 64,
    height: int = 48,
    *,
    gps: bool = False,
    exif: bool = False,
    alpha: bool = False,
    orientation: int = 1,
    noise: float = 0.5,
) -> bytes:
    """A valid PNG (noisy pixels), optionally with an eXIf chunk (+ GPS)."""
    image = _noise_image(width, height, amount=noise, seed=2, mode="RGBA" if alpha else "RGB")
    buf = io.BytesIO()
    if exif or gps:
        image.save(buf, "PNG", exif=exif_block(gps=gps, orientation=orientation))
    else:
        image.save(buf, "PNG")
    return buf.getvalue()


def webp(
    width: int = 64, height: int = 48, *, gps: bool = False, exif: bool = False, frames: int = 1
) -> bytes:
    """A valid (lossy) WebP, optionally with EXIF (+ GPS) or animated."""
    image = _noise_image(width, height, amount=0.3, seed=3)
    options: dict[str, object] = {"quality": 80}
    if exif or gps:
        options["exif"] = exif_block(gps=gps)
    if frames > 1:
        others = [_noise_image(width, height, amount=0.3, seed=10 + i) for i in range(frames - 1)]
        options.update(save_all=True, append_images=others, duration=100)
    buf = io.BytesIO()
    image.save(buf, "WEBP", **options)
    return buf.getvalue()


def gif(frames: int = 3, width: int = 32, height: int = 24) -> bytes:
    """A valid animated GIF with `frames` distinct frames (Pillow merges identical ones)."""
    images = []
    for index in range(frames):
        colour = ((index * 67) % 256, (index * 151 + 80) % 256, (index * 29 + 160) % 256)
        image = Image.new("RGB", (width, height), colour)
        image.paste((255 - colour[0], 0, 0), (0, 0, width // 2, height // 2))
        images.append(image)
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buf.getvalue()


def _tiny_gif(frames: int, screen: tuple[int, int] = (1, 1)) -> bytes:
    """A hand-built GIF of `frames` 1x1 frames on a logical screen of the given size."""
    header = b"GIF89a" + struct.pack("<HHBBB", screen[0], screen[1], 0x80, 0, 0)
    palette = b"\x00\x00\x00\xff\xff\xff"
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one sub-block, terminator
    )  # fmt: skip
    return header + palette + frame * frames + b"\x3b"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_pixel_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny real PNG whose IHDR declares a huge size (correct CRCs)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * 4096, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def oversized(nbytes: int) -> bytes:
    """A valid-looking JPEG header (SOI + JFIF APP0) padded with zeros to `nbytes` bytes, for
    upload size-limit tests (the size check happens before any analysis)."""
    head = (
        b"\xff\xd8\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    return head + b"\x00" * max(0, nbytes - len(head))


# --------------------------------------------------------------------------------------------
# ISO-BMFF (MP4 / QuickTime)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


_IDENTITY = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_ROTATE_90 = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
# 2030-06-01 12:30:00 UTC in seconds since 1904-01-01 (the QuickTime epoch)
_CREATED_2030 = int(
    (datetime(2030, 6, 1, 12, 30, tzinfo=UTC) - datetime(1904, 1, 1, tzinfo=UTC)).total_seconds()
)


def _moov(width: int, height: int, *, gps: bool, rotate: bool = False) -> bytes:
    mvhd = _full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIII", _CREATED_2030, _CREATED_2030, 1000, 2000)
        + struct.pack(">IH", 0x10000, 0x100) + b"\x00" * 10 + _IDENTITY + b"\x00" * 24
        + struct.pack(">I", 2),
    )  # fmt: skip
    tkhd = _full_box(
        b"tkhd", 0, 3,
        struct.pack(">IIIII", _CREATED_2030, _CREATED_2030, 1, 0, 2000) + b"\x00" * 8
        + struct.pack(">hhhH", 0, 0, 0, 0) + (_ROTATE_90 if rotate else _IDENTITY)
        + struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 1000, 2000, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, 0, b"\x00" * 4 + b"vide" + b"\x00" * 12 + b"VideoHandler\x00")
    vmhd = _full_box(b"vmhd", 0, 1, b"\x00" * 8)
    dref = _full_box(b"dref", 0, 0, struct.pack(">I", 1) + _full_box(b"url ", 0, 1, b""))
    stbl = _box(b"stbl", _full_box(b"stsd", 0, 0, struct.pack(">I", 0)))
    minf = _box(b"minf", vmhd + _box(b"dinf", dref) + stbl)
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))
    udta = b""
    if gps:
        udta = _box(b"udta", _box(b"\xa9xyz", struct.pack(">HH", len(ISO6709), 0x15C7) + ISO6709))
    return _box(b"moov", mvhd + trak + udta)


def mp4(gps: bool = False, *, width: int = 1920, height: int = 1080, rotate: bool = False) -> bytes:
    """A minimal, structurally valid MP4: ftyp + moov (mvhd, one video trak) + mdat; with
    gps=True a moov/udta/©xyz atom holding ISO6709."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mdat = _box(b"mdat", bytes(range(256)) * 4)
    return ftyp + _moov(width, height, gps=gps, rotate=rotate) + mdat


def mov(gps: bool = False, *, ftyp: bool = True, width: int = 1280, height: int = 720) -> bytes:
    """A minimal QuickTime movie: ftyp "qt  " (or, with ftyp=False, a leading `wide` atom),
    mdat, then moov."""
    head = (
        _box(b"ftyp", b"qt  " + struct.pack(">I", 0x200) + b"qt  ") if ftyp else _box(b"wide", b"")
    )
    mdat = _box(b"mdat", b"\x00\x00\x00\x10" * 64)
    return head + mdat + _moov(width, height, gps=gps)


# --------------------------------------------------------------------------------------------
# PDF


def pdf(*, javascript: bool = False, obfuscated: bool = False) -> bytes:
    """A tiny valid one-page PDF (correct xref offsets); optionally with an /OpenAction
    running JavaScript (plainly, or as /J#61vaScript)."""
    action = b""
    if javascript:
        name = b"/J#61vaScript" if obfuscated else b"/JavaScript"
        action = b" /OpenAction << /S " + name + b" /JS (app.alert\\(1\\)) >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + action + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
    ]
    content = b"BT /F1 12 Tf 20 100 Td (IVEN) Tj ET"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    offsets.append(len(out))
    out += b"4 0 obj\n<< /Length %d >>\nstream\n" % len(content) + content
    out += b"\nendstream\nendobj\n"
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Hostile files


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("zeros.bin", b"\x00" * (8 * 1024 * 1024))
    return buf.getvalue()


def _with_app_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """`data` (a JPEG) with one more APPn/COM segment right after SOI."""
    return (
        data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    )


def _malformed_exif() -> bytes:
    """A TIFF block whose entries point outside of it, with absurd counts and types."""
    entries = [
        struct.pack("<HHII", 0x010F, 2, 0x7FFFFFFF, 0xFFFFFF00),  # Make: 2 GB of ASCII
        struct.pack("<HHIHH", 0x0112, 3, 1, 99, 0),  # Orientation 99
        struct.pack("<HHII", 0x8769, 4, 1, 0xDEADBEEF),  # Exif IFD far away
        struct.pack("<HHII", 0x8825, 4, 1, 8),  # GPS IFD = IFD0 (a loop)
        struct.pack("<HHII", 0x0132, 77, 5, 12),  # unknown type
    ]
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)) + b"".join(entries)
    return b"Exif\x00\x00" + tiff + struct.pack("<I", 0x41414141) + b"\xff" * 40


def _heic() -> bytes:
    ftyp = _box(b"ftyp", b"heic" + struct.pack(">I", 0) + b"mif1heic")
    meta = _full_box(b"meta", 0, 0, _full_box(b"hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 13))
    return ftyp + meta + _box(b"mdat", b"\x00" * 64)


def _hostile() -> dict[str, tuple[bytes, str, str]]:
    small = jpeg(320, 240, gps=False, seed=7)
    noisy_png = png(256, 256, noise=1.0)
    video = mp4()
    document = pdf()
    html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
        b"<script>alert(1)</script></svg>"
    )
    return {
        # name: (content, client file name, expected code; "" = accepted, stored under a
        # server-chosen name: the client name is never used as a path)
        "text_named_jpg": (
            b"just some text, not a photo\n" * 4,
            "photo.jpg",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "jpeg_magic_garbage": (
            b"\xff\xd8\xff" + random.Random(5).randbytes(2000),
            "photo.jpg",
            "INVALID_FILE",
        ),
        "polyglot_jpeg_html_appended": (
            small + b"<html><script>alert(1)</script></html>",
            "photo.jpg",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "polyglot_jpeg_html_comment": (
            _with_app_segment(small, 0xFE, b"<html><script>alert(1)</script></html>"),
            "photo.jpg",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "svg_script_named_png": (svg, "image.png", "UNSUPPORTED_MEDIA_TYPE"),  # declared image/png
        "plain_html": (html, "index.html", "UNSUPPORTED_MEDIA_TYPE"),
        "zip_bomb": (_zip_bomb(), "photos.jpg", "UNSUPPORTED_MEDIA_TYPE"),
        "png_pixel_bomb": (png_pixel_bomb(), "bomb.png", "IMAGE_TOO_LARGE"),
        "gif_huge_screen": (_tiny_gif(1, (65535, 65535)), "huge.gif", "IMAGE_TOO_LARGE"),
        "gif_too_many_frames": (_tiny_gif(2001), "frames.gif", "IMAGE_TOO_LARGE"),
        "path_traversal_name": (small, "../../etc/passwd.jpg", ""),
        "null_byte_name": (small, "a\x00.jpg", ""),
        "malformed_exif": (_with_app_segment(small, 0xE1, _malformed_exif()), "exif.jpg", ""),
        "empty": (b"", "empty.jpg", "UNSUPPORTED_MEDIA_TYPE"),
        "truncated_jpeg": (small[: len(small) // 2], "cut.jpg", "INVALID_FILE"),
        "jpeg_without_eoi": (small[:-2], "cut.jpg", "INVALID_FILE"),
        "truncated_png": (noisy_png[: len(noisy_png) // 2], "cut.png", "INVALID_FILE"),
        "truncated_webp": (webp(128, 96)[:-100], "cut.webp", "INVALID_FILE"),
        "truncated_mp4": (video[: len(video) - 300], "cut.mp4", "INVALID_FILE"),
        "mp4_without_moov": (
            video[:32] + _box(b"mdat", b"\x00" * 64),
            "nomoov.mp4",
            "INVALID_FILE",
        ),
        "pdf_javascript": (pdf(javascript=True), "doc.pdf", "UNSUPPORTED_MEDIA_TYPE"),
        "pdf_javascript_hex_name": (
            pdf(javascript=True, obfuscated=True),
            "doc.pdf",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "pdf_truncated": (document[: len(document) - 40], "doc.pdf", "INVALID_FILE"),
        "elf_executable": (
            b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120,
            "run.jpg",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "windows_exe": (
            b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120,
            "setup.png",
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "heic_unreadable": (_heic(), "IMG_0001.HEIC", "UNSUPPORTED_MEDIA_TYPE"),
    }


HOSTILE: dict[str, tuple[bytes, str, str]] = _hostile()
