"""Content scans for files that browsers or viewers might execute.

An image that is also valid HTML/SVG (a polyglot) could be served back and run as a page, and a
PDF can carry JavaScript, launch actions or embedded files. Both are refused outright rather than
sanitised: the scans are cheap byte searches tuned to keep false positives on compressed data
negligible. PDF object streams are inflated (within an output budget) because they can hide the
dictionaries a plain search would miss. A PDF without its %%EOF trailer is refused as truncated.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

from resolvers.imaging.common import INVALID_FILE, UNSUPPORTED_MEDIA_TYPE, Rejected

# Markup that turns an image or PDF into an HTML/SVG polyglot, searched in the lower-cased bytes.
# Each pattern starts with a literal so the regex engine scans fast (a few ms for 4 MB); the
# delimiters after tag names keep false positives on random compressed data negligible (about
# 1e-4 for a 4 MB photo, dominated by "<svg").
_MARKUP_RES = (
    re.compile(
        rb"<(?:(?:script|html|iframe|svg|body|object|embed|frameset|frame|applet|form|meta|base"
        rb"|link|style)(?=[\s/>])|!doctype\s+html|\?xml-stylesheet)"
    ),
    re.compile(rb"on(?:load|error|click|mouseover|mouseenter|focus|blur|begin|animationstart"
               rb"|animationend|pageshow|toggle|wheel|input|change|submit)\s*="),
)  # fmt: skip
_MARKUP_LITERALS = (b"javascript:", b"vbscript:", b"data:text/html")


def has_markup(data: bytes) -> bool:
    lowered = data.lower()
    if any(literal in lowered for literal in _MARKUP_LITERALS):
        return True
    return any(pattern.search(lowered) is not None for pattern in _MARKUP_RES)


# PDF ------------------------------------------------------------------------------------------

_PDF_ACTIVE = frozenset(
    {b"JavaScript", b"JS", b"Launch", b"EmbeddedFile", b"EmbeddedFiles", b"RichMedia", b"XFA"}
)
_PDF_DELIM = rb"\s/<>\[\]()%{}"
_PDF_ACTIVE_RE = re.compile(
    rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA)(?=[" + _PDF_DELIM + rb"]|$)"
)
_PDF_ESCAPED_NAME_RE = re.compile(
    rb"/([^" + _PDF_DELIM + rb"]*#[0-9A-Fa-f]{2}[^" + _PDF_DELIM + rb"]*)"
)
_PDF_STREAM_RE = re.compile(rb"stream\r?\n")
_PDF_STREAM_OUTPUT = 4 * 1024 * 1024
_PDF_TOTAL_OUTPUT = 64 * 1024 * 1024


def _pdf_active(data: bytes) -> bool:
    if _PDF_ACTIVE_RE.search(data) is not None:
        return True
    for match in _PDF_ESCAPED_NAME_RE.finditer(data):
        name = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        if name in _PDF_ACTIVE:
            return True
    return False


def _pdf_streams(data: bytes) -> Iterator[bytes]:
    """Flate-decoded stream contents (object streams can hide dictionaries), within a budget."""
    budget = _PDF_TOTAL_OUTPUT
    for match in _PDF_STREAM_RE.finditer(data):
        if budget <= 0:
            return
        start = match.end()
        if start >= len(data) or data[start] & 0x0F != 8:  # zlib header: deflate method
            continue
        end = data.find(b"endstream", start)
        if end < 0:
            return
        try:
            out = zlib.decompressobj().decompress(data[start:end], min(budget, _PDF_STREAM_OUTPUT))
        except zlib.error:
            continue
        budget -= len(out)
        yield out


def check_pdf(data: bytes) -> None:
    if has_markup(data):
        raise Rejected(UNSUPPORTED_MEDIA_TYPE, "the PDF contains HTML or script markup")
    if _pdf_active(data) or any(_pdf_active(stream) for stream in _pdf_streams(data)):
        raise Rejected(UNSUPPORTED_MEDIA_TYPE, "the PDF contains active content")
    if b"%%EOF" not in data[-1024:]:
        raise Rejected(INVALID_FILE, "truncated PDF (no %%EOF)")
