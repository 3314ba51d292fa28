"""EXIF metadata of hostile images: camera details, capture time, location, orientation.

Uploaded metadata is attacker-controlled, so every value is read defensively: a tag that is
missing, of the wrong type or out of range simply yields None, never an error. GPS detection errs
on the side of privacy: an unreadable EXIF block counts as "may hold a location" so the public
copy is scrubbed anyway, and the scrubbed block is re-read to prove the GPS IFD is gone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from PIL import Image

from resolvers.imaging.common import Exif, Gps, safe

# EXIF tags (TIFF/EXIF 2.32 numbering).
_IFD_EXIF = 0x8769
_IFD_GPS = 0x8825
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_EXPOSURE_TIME, _FNUMBER, _ISO = 0x829A, 0x829D, 0x8827
_DATETIME_ORIGINAL, _OFFSET_TIME, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9010, 0x9011
_SUBSEC_ORIGINAL, _FOCAL_LENGTH, _LENS_MODEL = 0x9291, 0x920A, 0xA434
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_ALT_REF, _GPS_ALT = 1, 2, 3, 4, 5, 6


@dataclass
class Metadata:
    exif: Exif | None
    gps: Gps | None
    taken_at: datetime | None
    offset_known: bool
    orientation: int  # 1 when unknown
    gps_present: bool  # a GPS IFD exists (even if unreadable), or the EXIF is unreadable


def read_metadata(img: Image.Image) -> Metadata:
    raw = safe(img.getexif)
    exif_map: Image.Exif = raw if raw is not None else Image.Exif()
    ifd0: dict[int, Any] = safe(lambda: dict(exif_map.items())) or {}
    exif_ifd: dict[int, Any] = safe(lambda: dict(exif_map.get_ifd(_IFD_EXIF))) or {}
    gps_read = safe(lambda: dict(exif_map.get_ifd(_IFD_GPS)))
    gps_ifd: dict[int, Any] = gps_read or {}
    # EXIF that Pillow cannot parse may still be readable by others: scrub it like GPS.
    raw_exif = img.info.get("exif")
    unreadable = (
        isinstance(raw_exif, bytes) and len(raw_exif) > 6 and (raw is None or gps_read is None)
    )

    orientation = safe(lambda: _orientation(ifd0.get(_ORIENTATION)))
    exif = Exif(
        make=safe(lambda: _text(ifd0.get(_MAKE))),
        model=safe(lambda: _text(ifd0.get(_MODEL))),
        lens=safe(lambda: _text(exif_ifd.get(_LENS_MODEL))),
        focal_length=safe(lambda: _positive(exif_ifd.get(_FOCAL_LENGTH), 2)),
        aperture=safe(lambda: _positive(exif_ifd.get(_FNUMBER), 2)),
        exposure_time=safe(lambda: _exposure(exif_ifd.get(_EXPOSURE_TIME))),
        iso=safe(lambda: _iso(exif_ifd.get(_ISO))),
        orientation=orientation,
    )
    has_exif = any(value is not None for value in vars(exif).values())

    taken = safe(lambda: _taken_at(ifd0, exif_ifd))
    taken_at, offset_known = taken if taken is not None else (None, False)
    return Metadata(
        exif=exif if has_exif else None,
        gps=safe(lambda: _gps(gps_ifd)),
        taken_at=taken_at,
        offset_known=offset_known,
        orientation=orientation or 1,
        gps_present=bool(gps_ifd) or bool(safe(lambda: _IFD_GPS in exif_map)) or unreadable,
    )


def _first(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return value[0] if value else None
    return value


def _text(value: Any, limit: int = 128) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value.replace("\x00", " ") if ch.isprintable()).strip()
    return cleaned[:limit] or None


def _number(value: Any) -> float | None:
    value = _first(value)
    if isinstance(value, bool) or value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _positive(value: Any, digits: int) -> float | None:
    number = _number(value)
    if number is None or number <= 0 or number > 1e6:
        return None
    return round(number, digits)


def _exposure(value: Any) -> str | None:
    seconds = _number(value)
    if seconds is None or seconds <= 0 or seconds > 1e5:
        return None
    if seconds < 1:
        value = _first(value)
        numerator = getattr(value, "numerator", None)
        denominator = getattr(value, "denominator", None)
        if numerator == 1 and isinstance(denominator, int) and denominator > 0:
            return f"1/{denominator}"
        return f"1/{round(1 / seconds)}"
    return f"{seconds:g}"


def _iso(value: Any) -> int | None:
    number = _number(value)
    if number is None or not 0 < number <= 10_000_000:
        return None
    return int(number)


def _orientation(value: Any) -> int | None:
    value = _first(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return None


_DATETIME_RE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _taken_at(ifd0: dict[int, Any], exif_ifd: dict[int, Any]) -> tuple[datetime, bool] | None:
    stamp = _text(exif_ifd.get(_DATETIME_ORIGINAL))
    subsec = _text(exif_ifd.get(_SUBSEC_ORIGINAL))
    if stamp is None or _DATETIME_RE.match(stamp) is None:
        stamp, subsec = _text(ifd0.get(_DATETIME)), None
    offset_text = _text(exif_ifd.get(_OFFSET_TIME_ORIGINAL)) or _text(exif_ifd.get(_OFFSET_TIME))
    if stamp is None:
        return None
    match = _DATETIME_RE.match(stamp)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    tz: timezone = UTC
    known = False
    offset_match = _OFFSET_RE.match(offset_text or "")
    if offset_match is not None:
        sign = -1 if offset_match.group(1) == "-" else 1
        delta = timedelta(hours=int(offset_match.group(2)), minutes=int(offset_match.group(3)))
        if delta <= timedelta(hours=14):
            tz, known = timezone(sign * delta), True
    micro = 0
    if subsec is not None and subsec.isdigit():
        micro = int((subsec + "000000")[:6])
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz), known


def _ref(value: Any) -> str | None:
    value = _first(value)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and value.strip("\x00 "):
        return value.strip("\x00 ")[0].upper()
    return None


def _dms(value: Any) -> float | None:
    if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None or part < 0 for part in parts):
        return None
    degrees = 0.0
    for part, scale in zip(parts, (1.0, 60.0, 3600.0), strict=False):
        assert part is not None
        degrees += part / scale
    return degrees


def _gps(gps_ifd: dict[int, Any]) -> Gps | None:
    if not gps_ifd:
        return None
    lat, lon = _dms(gps_ifd.get(_GPS_LAT)), _dms(gps_ifd.get(_GPS_LON))
    lat_ref, lon_ref = _ref(gps_ifd.get(_GPS_LAT_REF)), _ref(gps_ifd.get(_GPS_LON_REF))
    if lat is None or lon is None or lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        return None
    if lat > 90 or lon > 180:
        return None
    latitude = -lat if lat_ref == "S" else lat
    longitude = -lon if lon_ref == "W" else lon
    altitude = safe(lambda: _altitude(gps_ifd))
    return Gps(round(latitude, 7), round(longitude, 7), altitude)


def _altitude(gps_ifd: dict[int, Any]) -> float | None:
    altitude = _number(gps_ifd.get(_GPS_ALT))
    if altitude is None or altitude < 0 or altitude > 100_000:
        return None
    ref = _first(gps_ifd.get(_GPS_ALT_REF))
    if isinstance(ref, bytes):
        ref = ref[0] if ref else 0
    return round(-altitude if ref == 1 else altitude, 2)


# GPS removal ----------------------------------------------------------------------------------


def exif_without_gps(raw: object, orientation: int) -> bytes:
    """The EXIF block without its GPS IFD; falls back to an orientation-only block."""
    if isinstance(raw, bytes) and raw:
        out = safe(_rewrite_exif_without_gps, raw)
        if out is not None:
            return out
    minimal = Image.Exif()
    if orientation != 1:
        minimal[_ORIENTATION] = orientation
    return minimal.tobytes()


def _rewrite_exif_without_gps(raw: bytes) -> bytes | None:
    fresh = Image.Exif()
    fresh.load(raw)
    if _IFD_GPS in fresh:
        del fresh[_IFD_GPS]  # never get_ifd(GPS) on this object: tobytes() would keep it
    out = fresh.tobytes()
    check = Image.Exif()
    check.load(out)
    if _IFD_GPS in check or len(out) > 65_000:  # must fit one APP1 segment
        return None
    return out
