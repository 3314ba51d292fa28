"""Outgoing email: SMTP when IVEN_SMTP_URL is set, else the log and var/outbox/ (development)."""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import time
import unicodedata
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("iven.mail")

SUBJECT_TITLE_MAX = 60  # characters of a user-chosen title a subject may quote
SUBJECT_MAX = 150
_SPACES = re.compile(r"\s+")


def _breaks_header(ch: str) -> bool:
    """Controls, line and paragraph separators, and format characters such as bidi overrides
    (the zero-width joiner of emoji sequences is kept)."""
    category = unicodedata.category(ch)
    return category in ("Cc", "Zl", "Zp") or (category == "Cf" and ch != "\u200d")


def header_text(value: str, max_len: int = SUBJECT_MAX) -> str:
    """A header value that cannot break the header block: every control character, line or
    paragraph separator becomes a space, whitespace runs one space, cut to max_len."""
    text = "".join(" " if _breaks_header(ch) else ch for ch in value)
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= max_len else text[: max_len - 1].rstrip() + "…"


def subject_text(text: str, limit: int = SUBJECT_TITLE_MAX) -> str:
    """User text (an event title) as a subject may quote it: one line (see header_text), cut
    to `limit` characters with an ellipsis."""
    return header_text(text, limit)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer:
    def __init__(self, smtp_url: str | None, sender: str, outbox_dir: Path) -> None:
        self.smtp_url = smtp_url
        self.sender = sender
        self.outbox_dir = outbox_dir

    @property
    def backend(self) -> str:
        return f"smtp ({self.smtp_url})" if self.smtp_url else f"outbox ({self.outbox_dir})"

    def _message(self, mail: Mail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = header_text(mail.to, 320)
        msg["Subject"] = header_text(mail.subject)
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@iven>"
        msg.set_content(mail.body)
        return msg

    def _send_smtp(self, msg: EmailMessage) -> None:
        assert self.smtp_url is not None
        parts = urlsplit(self.smtp_url)
        with smtplib.SMTP(parts.hostname or "localhost", parts.port or 25, timeout=10) as smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls()
            if parts.username:
                smtp.login(parts.username, parts.password or "")
            smtp.send_message(msg)

    def _write_outbox(self, msg: EmailMessage) -> Path:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        path = self.outbox_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(bytes(msg))
        return path

    async def send(self, mail: Mail) -> None:
        """Sends after the transaction committed; a failure is logged, never raised to users."""
        try:
            msg = self._message(mail)
            if self.smtp_url:
                await asyncio.to_thread(self._send_smtp, msg)
                log.info("mail sent", extra={"to": mail.to, "subject": mail.subject})
            else:
                path = await asyncio.to_thread(self._write_outbox, msg)
                log.info(
                    "mail written to outbox",
                    extra={
                        "to": mail.to,
                        "subject": mail.subject,
                        "path": str(path),
                        "body": mail.body,
                    },
                )
        except Exception:
            log.exception("mail delivery failed", extra={"to": mail.to, "subject": mail.subject})
