"""Unit tests for resolvers/imaging.py: sniffing, validation, metadata, variants, public copies."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from resolvers import imaging
from resolvers.imaging import Rejected, avatar, process, sniff
from tests import media_samples as samples

MAX_PIXELS = 50_000_000
WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}


def _write(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    src = tmp_path / name
    src.write_bytes(data)
    return src


def _run(tmp_path: Path, data: bytes, **kwargs: int) -> imaging.Processed:
    src = _write(tmp_path, data)
    return process(src, tmp_path / "out", max_pixels=kwargs.pop("max_pixels", MAX_PIXELS), **kwargs)


def _rejected(tmp_path: Path, data: bytes, **kwargs: int) -> str:
    src = _write(tmp_path, data)
    with pytest.raises(Rejected) as info:
        process(src, tmp_path / "out", max_pixels=kwargs.pop("max_pixels", MAX_PIXELS), **kwargs)
    assert sorted(tmp_path.iterdir()) == [src], "a rejected upload left files behind"
    return info.value.code


def _riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunks.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def _assert_no_metadata(path: Path) -> None:
    """No EXIF/XMP/ICC chunk, no metadata flag, and no "Exif"/"GPS" outside of the compressed
    bitstream (inside it, 3 random bytes may spell "GPS" by chance)."""
    data = path.read_bytes()
    chunks = _riff_chunks(data)
    assert {kind for kind, _ in chunks} <= WEBP_CHUNKS
    for kind, payload in chunks:
        if kind == b"VP8X":
            assert payload[0] & 0x2C == 0  # ICC (0x20), EXIF (0x08), XMP (0x04) flags
        if kind not in (b"VP8 ", b"VP8L", b"ALPH", b"ANMF"):
            assert b"Exif" not in payload and b"GPS" not in payload
    assert b"Exif" not in data[:30] and b"GPS" not in data[:30]
    with Image.open(path) as image:
        assert not image.getexif()
        for key in ("exif", "icc_profile", "xmp"):
            assert key not in image.info


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(marker, payload) of the segments before SOS, and the SOS offset."""
    pos, segments = 2, []
    while data[pos + 1] != 0xDA:
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        segments.append((marker, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments, pos


def _halves(width: int, height: int, orientation: int) -> bytes:
    """A JPEG whose stored left half is red and right half blue, with an EXIF orientation."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, exif=samples.exif_block(gps=False, orientation=orientation))
    return buf.getvalue()


def _is_red(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 200 and pixel[2] < 60


def _is_blue(pixel: tuple[int, ...]) -> bool:
    return pixel[2] > 200 and pixel[0] < 60


# --------------------------------------------------------------------------------------------
# Sniffing


def test_sniff_by_content_only() -> None:
    assert sniff(samples.jpeg(64, 48)[:64]) == ("IMAGE", "image/jpeg", "jpg")
    assert sniff(samples.png()[:64]) == ("IMAGE", "image/png", "png")
    assert sniff(samples.gif()[:64]) == ("IMAGE", "image/gif", "gif")
    assert sniff(samples.webp()[:64]) == ("IMAGE", "image/webp", "webp")
    assert sniff(samples.mp4()[:64]) == ("VIDEO", "video/mp4", "mp4")
    assert sniff(samples.mov()[:64]) == ("VIDEO", "video/quicktime", "mov")
    assert sniff(samples.mov(ftyp=False)[:64]) == ("VIDEO", "video/quicktime", "mov")
    assert sniff(samples.pdf()[:64]) == ("DOCUMENT", "application/pdf", "pdf")
    assert sniff(samples.HOSTILE["heic_unreadable"][0][:64]) == ("IMAGE", "image/heic", "heic")
    assert sniff(samples.oversized(1000)[:64]) == ("IMAGE", "image/jpeg", "jpg")
    for name in ("text_named_jpg", "svg_script_named_png", "plain_html", "zip_bomb", "empty"):
        assert sniff(samples.HOSTILE[name][0][:64]) is None, name
    assert sniff(b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif") is None
    assert sniff(b'<?xml version="1.0"?><svg/>') is None


def test_oversized_sample_has_the_requested_size() -> None:
    assert len(samples.oversized(3 * 1024 * 1024)) == 3 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Images


def test_jpeg_is_accepted_with_exif_taken_at_and_gps(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.jpeg())
    assert (result.kind, result.mime_type, result.ext) == ("IMAGE", "image/jpeg", "jpg")
    assert (result.width, result.height) == (1200, 800)
    assert result.exif == imaging.Exif(
        make="Canon",
        model="EOS R6",
        lens="RF24-105mm F4 L IS USM",
        focal_length=50.0,
        aperture=2.8,
        exposure_time="1/250",
        iso=400,
        orientation=1,
    )
    assert result.taken_at == datetime(2030, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert result.taken_at.utcoffset() == timedelta(hours=2)
    assert result.taken_at_offset_known is True
    assert result.gps is not None
    assert result.gps.latitude == pytest.approx(samples.LATITUDE, abs=1e-6)
    assert result.gps.longitude == pytest.approx(samples.LONGITUDE, abs=1e-6)
    assert result.gps.altitude == pytest.approx(samples.ALTITUDE)
    assert set(result.variants) == {"thumbnail", "preview", "public"}
    assert result.variants["thumbnail"] == tmp_path / "out.thumb.webp"
    assert result.variants["preview"] == tmp_path / "out.preview.webp"
    assert result.variants["public"] == tmp_path / "out.public.jpg"


def test_taken_at_without_offset_is_utc_and_flagged(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.jpeg(64, 48, offset=None, exposure=(2, 1)))
    assert result.taken_at == datetime(2030, 6, 1, 14, 30, tzinfo=UTC)
    assert result.taken_at_offset_known is False
    assert result.exif is not None and result.exif.exposure_time == "2"


def test_jpeg_without_exif_or_gps_has_no_public_copy(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.jpeg(64, 48, exif=False))
    assert result.exif is None and result.gps is None and result.taken_at is None
    assert set(result.variants) == {"thumbnail", "preview"}
    assert not (tmp_path / "out.public.jpg").exists()


@pytest.mark.parametrize(
    ("data", "mime", "ext", "size"),
    [
        (samples.png(), "image/png", "png", (64, 48)),
        (samples.png(alpha=True), "image/png", "png", (64, 48)),
        (samples.webp(), "image/webp", "webp", (64, 48)),
        (samples.webp(frames=3), "image/webp", "webp", (64, 48)),
        (samples.gif(), "image/gif", "gif", (32, 24)),
    ],
    ids=["png", "png-alpha", "webp", "webp-animated", "gif"],
)
def test_other_images_are_accepted(
    tmp_path: Path, data: bytes, mime: str, ext: str, size: tuple[int, int]
) -> None:
    result = _run(tmp_path, data)
    assert (result.kind, result.mime_type, result.ext) == ("IMAGE", mime, ext)
    assert (result.width, result.height) == size
    assert result.gps is None
    assert set(result.variants) == {"thumbnail", "preview"}
    for path in result.variants.values():
        _assert_no_metadata(path)


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_png_and_webp_exif_gps_and_public_copy(tmp_path: Path, ext: str) -> None:
    data = samples.png(gps=True) if ext == "png" else samples.webp(gps=True)
    result = _run(tmp_path, data)
    assert result.exif is not None and result.exif.make == "Canon"
    assert result.gps is not None
    assert result.gps.latitude == pytest.approx(samples.LATITUDE, abs=1e-6)
    assert result.taken_at_offset_known is True
    public = result.variants["public"]
    assert public == tmp_path / f"out.public.{ext}"
    with Image.open(public) as copy, Image.open(io.BytesIO(data)) as original:
        exif = copy.getexif()
        assert exif[0x010F] == "Canon"
        assert imaging._IFD_GPS not in exif and not exif.get_ifd(imaging._IFD_GPS)
        # lossless: PNG re-saved as PNG, WebP as lossless WebP of the decoded pixels
        assert copy.convert("RGB").tobytes() == original.convert("RGB").tobytes()


def test_orientation_6_swaps_size_and_rotates_variants(tmp_path: Path) -> None:
    result = _run(tmp_path, _halves(1600, 1000, orientation=6))
    assert (result.width, result.height) == (1000, 1600)
    assert result.exif is not None and result.exif.orientation == 6
    with Image.open(result.variants["preview"]) as preview:
        assert preview.size == (800, 1280)
        assert preview.width < preview.height
        rgb = preview.convert("RGB")
        # stored left half (red) is displayed on top once rotated 90 degrees clockwise
        assert _is_red(rgb.getpixel((400, 100)))  # type: ignore[arg-type]
        assert _is_blue(rgb.getpixel((400, 1180)))  # type: ignore[arg-type]
    with Image.open(result.variants["thumbnail"]) as thumb:
        assert thumb.size == (160, 256)


def test_variants_carry_no_metadata(tmp_path: Path) -> None:
    data = samples.jpeg(orientation=3, xmp=samples.XMP_WITH_GPS)
    result = _run(tmp_path, data)
    for name in ("thumbnail", "preview"):
        _assert_no_metadata(result.variants[name])


def test_variant_sizes_and_no_upscaling(tmp_path: Path) -> None:
    big = _run(tmp_path, samples.jpeg(3000, 2000, gps=False))
    with Image.open(big.variants["preview"]) as preview:
        assert max(preview.size) == 1280 and preview.size == (1280, 853)
    with Image.open(big.variants["thumbnail"]) as thumb:
        assert max(thumb.size) == 256 and thumb.size == (256, 171)

    small_dir = tmp_path / "small"
    small_dir.mkdir()
    small = _run(small_dir, samples.png(200, 100))
    for name in ("preview", "thumbnail"):
        with Image.open(small.variants[name]) as variant:
            assert variant.size == (200, 100)

    medium_dir = tmp_path / "medium"
    medium_dir.mkdir()
    medium = _run(medium_dir, samples.png(300, 500))
    with Image.open(medium.variants["preview"]) as preview:
        assert preview.size == (300, 500)
    with Image.open(medium.variants["thumbnail"]) as thumb:
        assert thumb.size == (154, 256)


def test_jpeg_public_copy_drops_gps_and_xmp_keeps_exif_and_image_data(tmp_path: Path) -> None:
    data = samples.jpeg(xmp=samples.XMP_WITH_GPS)
    result = _run(tmp_path, data)
    public = result.variants["public"].read_bytes()

    with Image.open(io.BytesIO(public)) as copy:
        exif = copy.getexif()
        assert exif[0x010F] == "Canon" and exif[0x0110] == "EOS R6"
        assert imaging._IFD_GPS not in exif and not exif.get_ifd(imaging._IFD_GPS)
        assert exif.get_ifd(imaging._IFD_EXIF)[0x9003] == "2030:06:01 14:30:00"
        assert "xmp" not in copy.info
        copy_pixels = copy.tobytes()
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(imaging._IFD_GPS)  # the sample really had GPS
        assert copy_pixels == original.tobytes()

    original_segments, original_sos = _jpeg_segments(data)
    public_segments, public_sos = _jpeg_segments(public)
    assert public[public_sos:] == data[original_sos:]  # compressed data copied byte for byte
    assert any(payload.startswith(b"http://ns.adobe.com/xap") for _, payload in original_segments)
    assert not any(b"ns.adobe.com/xap" in payload for _, payload in public_segments)
    assert b"GPSLatitude" not in public


def test_jpeg_with_gps_only_in_xmp_gets_a_public_copy(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.jpeg(64, 48, gps=False, xmp=samples.XMP_WITH_GPS))
    assert result.gps is None
    assert b"GPSLatitude" not in result.variants["public"].read_bytes()


def test_gif_with_xmp_location_gets_a_clean_public_copy(tmp_path: Path) -> None:
    data = samples.gif(frames=2)
    flags = data[10]
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    xmp = samples.XMP_WITH_GPS
    blocks = b"".join(
        bytes([len(xmp[i : i + 255])]) + xmp[i : i + 255] for i in range(0, len(xmp), 255)
    )
    data = data[:at] + b"\x21\xff\x0bXMP DataXMP" + blocks + b"\x00" + data[at:]
    result = _run(tmp_path, data)
    public = result.variants["public"]
    assert public == tmp_path / "out.public.gif"
    assert b"GPSLatitude" not in public.read_bytes()
    with Image.open(public) as copy:
        assert copy.format == "GIF" and getattr(copy, "n_frames", 1) == 2


def test_embedded_colour_profile_is_not_copied_to_variants(tmp_path: Path) -> None:

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (200, 100, 50)).save(buf, "JPEG", icc_profile=srgb)
    result = _run(tmp_path, buf.getvalue())
    for name in ("thumbnail", "preview"):
        _assert_no_metadata(result.variants[name])
        with Image.open(result.variants[name]) as variant:
            red, green, blue = variant.convert("RGB").getpixel((40, 30))  # type: ignore[misc]
            assert abs(red - 200) < 8 and abs(green - 100) < 8 and abs(blue - 50) < 8


def test_limits(tmp_path: Path) -> None:
    assert _rejected(tmp_path, samples.jpeg(64, 48), max_pixels=64 * 48 - 1) == "IMAGE_TOO_LARGE"
    assert _run(tmp_path, samples.jpeg(64, 48), max_pixels=64 * 48).width == 64
    for path in tmp_path.glob("out.*"):
        path.unlink()
    assert _rejected(tmp_path, samples.gif(frames=5), max_frames=4) == "IMAGE_TOO_LARGE"
    assert _rejected(tmp_path, samples.webp(frames=3), max_frames=2) == "IMAGE_TOO_LARGE"
    assert _run(tmp_path, samples.gif(frames=5), max_frames=5).kind == "IMAGE"


def test_truncation_is_detected_by_the_decoder(tmp_path: Path) -> None:
    """Structure intact (IEND present) but the compressed pixel data is cut."""
    data = samples.png(256, 256, noise=1.0)
    cut = data[: len(data) // 2] + samples._png_chunk(b"IEND", b"")
    assert _rejected(tmp_path, cut) == "INVALID_FILE"


def test_no_output_remains_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr("resolvers.imaging.images.splice_jpeg", boom)
    src = _write(tmp_path, samples.jpeg(64, 48))
    with pytest.raises(OSError, match="disk full"):
        process(src, tmp_path / "out", max_pixels=MAX_PIXELS)
    assert sorted(tmp_path.iterdir()) == [src]


# --------------------------------------------------------------------------------------------
# Videos and PDF


def test_mp4_gps_is_parsed_and_blanked_in_the_public_copy(tmp_path: Path) -> None:
    data = samples.mp4(gps=True)
    result = _run(tmp_path, data)
    assert (result.kind, result.mime_type, result.ext) == ("VIDEO", "video/mp4", "mp4")
    assert (result.width, result.height) == (1920, 1080)
    assert result.gps == imaging.Gps(48.8584, 2.2945, 35.0)
    public = result.variants["public"].read_bytes()
    assert result.variants["public"] == tmp_path / "out.public.mp4"
    assert len(public) == len(data)
    at = data.index(samples.ISO6709)
    assert public[at : at + len(samples.ISO6709)] == b" " * len(samples.ISO6709)
    assert public[:at] == data[:at]
    assert public[at + len(samples.ISO6709) :] == data[at + len(samples.ISO6709) :]

    again = tmp_path / "again"
    again.mkdir()
    rerun = _run(again, public)  # still structurally valid, no location left
    assert rerun.gps is None and rerun.variants == {}


def test_videos_without_gps(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.mp4(rotate=True))
    assert (result.width, result.height) == (1080, 1920)  # rotated by the track matrix
    assert result.gps is None and result.variants == {}
    for data in (samples.mov(), samples.mov(ftyp=False)):
        result = _run(tmp_path, data)
        assert (result.kind, result.mime_type, result.ext) == ("VIDEO", "video/quicktime", "mov")
        assert (result.width, result.height) == (1280, 720)
    assert list(tmp_path.glob("out.*")) == []


def test_mov_gps_public_copy(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.mov(gps=True, ftyp=False))
    assert result.gps is not None and result.gps.longitude == pytest.approx(2.2945)
    assert samples.ISO6709 not in result.variants["public"].read_bytes()


def test_video_box_sizes(tmp_path: Path) -> None:
    ftyp = samples._box(b"ftyp", b"isom\x00\x00\x02\x00isommp41")
    moov = samples._moov(640, 480, gps=False)
    big_mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 32) + b"\x00" * 32  # 64-bit largesize
    assert _run(tmp_path, ftyp + moov + big_mdat).width == 640
    to_end = struct.pack(">I4s", 0, b"mdat") + b"\x00" * 100  # size 0: to the end of the file
    assert _run(tmp_path, ftyp + moov + to_end).height == 480
    lying = struct.pack(">I4sQ", 1, b"mdat", 10_000) + b"\x00" * 32
    assert _rejected(tmp_path, ftyp + moov + lying) == "INVALID_FILE"
    assert _rejected(tmp_path, ftyp + moov + b"\x00\x00\x00\x04free") == "INVALID_FILE"
    assert _rejected(tmp_path, ftyp + moov + moov) == "INVALID_FILE"


def test_pdf_is_accepted(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.pdf())
    assert (result.kind, result.mime_type, result.ext) == ("DOCUMENT", "application/pdf", "pdf")
    assert result.width is None and result.variants == {}


def test_pdf_active_content_in_a_compressed_object_stream(tmp_path: Path) -> None:
    hidden = zlib.compress(b"1 0 << /S /JavaScript /JS (app.alert(1)) >>")
    data = (
        b"%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
        + str(len(hidden)).encode()
        + b" >>\nstream\n"
        + hidden
        + b"\nendstream\nendobj\n%%EOF\n"
    )
    assert _rejected(tmp_path, data) == "UNSUPPORTED_MEDIA_TYPE"
    assert _rejected(tmp_path, samples.pdf() + b"/Launch ") == "UNSUPPORTED_MEDIA_TYPE"


# --------------------------------------------------------------------------------------------
# Hostile files


@pytest.mark.parametrize("name", sorted(samples.HOSTILE))
def test_hostile_files(tmp_path: Path, name: str) -> None:
    content, _client_name, expected = samples.HOSTILE[name]
    # The client's file name is never used: the server stores under its own name.
    src = _write(tmp_path, content)
    if expected:
        with pytest.raises(Rejected) as info:
            process(src, tmp_path / "out", max_pixels=MAX_PIXELS)
        assert info.value.code == expected, info.value.message
        assert sorted(tmp_path.iterdir()) == [src]
    else:
        result = process(src, tmp_path / "out", max_pixels=MAX_PIXELS)
        assert result.kind == "IMAGE"
        assert all(path.parent == tmp_path for path in result.variants.values())
        for variant in ("thumbnail", "preview"):
            _assert_no_metadata(result.variants[variant])


def test_malformed_exif_yields_no_values(tmp_path: Path) -> None:
    result = _run(tmp_path, samples.HOSTILE["malformed_exif"][0])
    assert result.taken_at is None and result.gps is None
    assert result.exif is None or result.exif.orientation is None
    if "public" in result.variants:  # a (bogus) GPS IFD pointer was present: scrubbed copy
        with Image.open(result.variants["public"]) as copy:
            assert imaging._IFD_GPS not in copy.getexif()


# --------------------------------------------------------------------------------------------
# Avatars


def test_avatar_is_square_oriented_and_clean(tmp_path: Path) -> None:
    src = _write(tmp_path, _halves(900, 600, orientation=6))
    paths = avatar(src, tmp_path / "me", max_pixels=MAX_PIXELS)
    assert paths == {"256": tmp_path / "me.avatar256.webp", "64": tmp_path / "me.avatar64.webp"}
    for key, size in (("256", 256), ("64", 64)):
        _assert_no_metadata(paths[key])
        with Image.open(paths[key]) as image:
            assert image.size == (size, size)
    with Image.open(paths["256"]) as image:
        rgb = image.convert("RGB")
        assert _is_red(rgb.getpixel((128, 20)))  # type: ignore[arg-type]
        assert _is_blue(rgb.getpixel((128, 235)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (samples.mp4(), "UNSUPPORTED_MEDIA_TYPE"),
        (samples.pdf(), "UNSUPPORTED_MEDIA_TYPE"),
        (samples.HOSTILE["heic_unreadable"][0], "UNSUPPORTED_MEDIA_TYPE"),
        (samples.HOSTILE["png_pixel_bomb"][0], "IMAGE_TOO_LARGE"),
        (samples.HOSTILE["truncated_jpeg"][0], "INVALID_FILE"),
    ],
    ids=["mp4", "pdf", "heic", "pixel-bomb", "truncated"],
)
def test_avatar_refusals(tmp_path: Path, data: bytes, code: str) -> None:
    src = _write(tmp_path, data)
    with pytest.raises(Rejected) as info:
        avatar(src, tmp_path / "me", max_pixels=MAX_PIXELS)
    assert info.value.code == code
    assert sorted(tmp_path.iterdir()) == [src]


def test_avatar_of_gif_uses_the_first_frame(tmp_path: Path) -> None:
    src = _write(tmp_path, samples.gif(frames=3, width=40, height=20))
    paths = avatar(src, tmp_path / "me", max_pixels=MAX_PIXELS)
    with Image.open(paths["64"]) as image:
        assert image.size == (64, 64)
