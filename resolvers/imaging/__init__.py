"""Media upload analysis: content sniffing, validation, metadata extraction and variants.

Pure and synchronous (meant to run in a thread pool): no asyncio, no network, and no file access
except the source path and the output files derived from `dest_prefix`. Pillow globals are never
modified (no MAX_IMAGE_PIXELS, never LOAD_TRUNCATED_IMAGES).

- `sniff(head)` recognises a file by its magic bytes only; names and declared types are ignored.
- `process(src, dest_prefix, ...)` validates a file completely and writes its variants:
  images get a ".thumb.webp" (256 px) and a ".preview.webp" (1280 px), both without any metadata,
  plus a ".public.<ext>" copy without GPS when the original carries a location; videos (never
  decoded, only their ISO-BMFF box structure is checked) get a ".public.<ext>" copy whose ISO 6709
  location strings are blanked; PDFs are checked for active content and truncation.
- `avatar(src, dest_prefix, ...)` writes square 256 and 64 px WebP profile pictures.

Anything not accepted raises `Rejected(code, message)` and leaves no output file behind.

The submodules are private; import from this package only. Layout: `pipeline` (the entry
points and their no-leftovers guarantee), `sniffing` (magic bytes), `images`, `exif` and `jpeg`
(still images), `bmff` (videos), `scan` (markup polyglots and PDF active content), `common`
(result types, refusal, output bookkeeping).
"""

from __future__ import annotations

import warnings

from resolvers.imaging.common import (
    DOCUMENT,
    IMAGE,
    IMAGE_TOO_LARGE,
    INVALID_FILE,
    UNSUPPORTED_MEDIA_TYPE,
    VIDEO,
    Exif,
    Gps,
    ImageErrorCode,
    Processed,
    Rejected,
)

# EXIF tag numbers, used by the tests to inspect public copies.
from resolvers.imaging.exif import _IFD_EXIF as _IFD_EXIF
from resolvers.imaging.exif import _IFD_GPS as _IFD_GPS
from resolvers.imaging.pipeline import avatar, process
from resolvers.imaging.sniffing import sniff

__all__ = [
    "DOCUMENT",
    "IMAGE",
    "IMAGE_TOO_LARGE",
    "INVALID_FILE",
    "UNSUPPORTED_MEDIA_TYPE",
    "VIDEO",
    "Exif",
    "Gps",
    "ImageErrorCode",
    "Processed",
    "Rejected",
    "avatar",
    "process",
    "sniff",
]

# Pillow reports hostile or damaged EXIF as UserWarnings; we already treat such tags as absent.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
