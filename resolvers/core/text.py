"""User text, checked the one way every domain shares.

Two kinds of field:
- single-line (titles, names, usernames, locations, tags, captions): no control character at all —
  C0 (CR/LF, NUL, tab…), DEL, C1 (U+0080–U+009F) — nor a line or paragraph separator
  (U+2028/U+2029) nor a bidi embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which
  would split or disguise a line wherever it is shown (mail headers, notifications, logs);
- multi-line (descriptions, bios, chat bodies, comments, messages): newlines and tabs stay (a CRLF
  becomes LF), every other control character and the bidi overrides are refused.
A refusal is `INVALID_INPUT` with the field, carried by value into the domain's payload enum.
"""

from __future__ import annotations

import re
import unicodedata

from resolvers.core.errors import CommonErrorCode, DomainError

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SEPARATORS = frozenset("\u2028\u2029")
_MULTI_LINE_KEEPS = frozenset("\n\t")
_SPACES = re.compile(r"\s+")


def _refused_in_line(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" or ch in _BIDI or ch in _SEPARATORS


def _refused_in_text(ch: str) -> bool:
    return (unicodedata.category(ch) == "Cc" and ch not in _MULTI_LINE_KEEPS) or ch in _BIDI


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """Whether `value` holds a character its kind of field refuses (see the module doc)."""
    refused = _refused_in_text if multiline else _refused_in_line
    return any(refused(ch) for ch in value)


def control_error(field: str | list[str] | None, *, multiline: bool = False) -> DomainError:
    message = (
        "Control characters are not allowed (newlines and tabs are)."
        if multiline
        else "Use one line of text without control characters."
    )
    return DomainError(CommonErrorCode.INVALID_INPUT, message, field)


def checked_line(value: str, field: str | list[str]) -> DomainError | None:
    """The error for a single-line value with control characters, else None."""
    return control_error(field) if has_control_characters(value) else None


def refuse_controls(value: str, field: str | list[str], *, multiline: bool = False) -> None:
    """Raises INVALID_INPUT when `value` holds what its kind of field refuses."""
    if has_control_characters(value, multiline=multiline):
        raise control_error(field, multiline=multiline)


def normalised_text(value: str) -> str:
    """Multi-line text with CRLF and lone CR line ends as LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def one_line(value: str, max_len: int) -> str:
    """Text made safe for one line (a mail subject, a log field): controls and separators become
    spaces, runs of whitespace one space, cut to max_len characters with an ellipsis."""
    text = "".join(" " if _refused_in_line(ch) else ch for ch in value)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= max_len else text[: max_len - 1].rstrip() + "…"


def checked_title(
    value: str, errors: list[DomainError], *, max_len: int = 200, field: str = "title"
) -> str:
    """The stripped title; records INVALID_TITLE unless it has 1 to max_len characters, and
    INVALID_INPUT with control characters."""
    title = value.strip()
    if not title or len(title) > max_len:
        errors.append(
            DomainError(CommonErrorCode.INVALID_TITLE, f"1 to {max_len} characters.", field)
        )
    elif has_control_characters(title):
        errors.append(control_error(field))
    return title


def checked_text(value: str, errors: list[DomainError], *, max_len: int, field: str) -> str:
    """Free text such as a description; records VALUE_TOO_LONG past max_len characters and
    INVALID_INPUT with control characters other than newlines and tabs."""
    text = normalised_text(value)
    if len(text) > max_len:
        errors.append(
            DomainError(CommonErrorCode.VALUE_TOO_LONG, f"At most {max_len} characters.", field)
        )
    elif has_control_characters(text, multiline=True):
        errors.append(control_error(field, multiline=True))
    return text.strip()


def checked_message(
    value: str, *, max_len: int, field: str, required: bool = True, multiline: bool = True
) -> str:
    """Stripped user text (a chat body, a comment; a caption with `multiline=False`): REQUIRED
    when empty (if required), VALUE_TOO_LONG past max_len, INVALID_INPUT with control
    characters."""
    text = normalised_text(value).strip() if multiline else value.strip()
    if required and not text:
        raise DomainError(CommonErrorCode.REQUIRED, "Write something.", field)
    if len(text) > max_len:
        raise DomainError(CommonErrorCode.VALUE_TOO_LONG, f"At most {max_len} characters.", field)
    refuse_controls(text, field, multiline=multiline)
    return text
