"""Outgoing email: SMTP when IVEN_SMTP_URL is set, else the log and var/outbox/ (development)."""

from __future__ import annotations

import asyncio
import logging
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


def subject_text(text: str, limit: int = SUBJECT_TITLE_MAX) -> str:
    """User text (an event title) as a subject may quote it: control and format characters
    (CR/LF, NUL, C1, bidi overrides) and runs of spaces become one space, and it is cut to
    `limit` characters with an ellipsis."""
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


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
        msg["To"] = mail.to
        # whatever a caller built: one line, bounded (a header never fails on CR/LF)
        msg["Subject"] = subject_text(mail.subject, SUBJECT_MAX)
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
        msg = self._message(mail)
        try:
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
