"""Captured mail: an aiosmtpd handler the server's SMTP client delivers to."""

from __future__ import annotations

import asyncio
import email
import time
from typing import Any


class MailBox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content)
        body = msg.get_payload(decode=True)
        self.messages.append(
            {
                "to": [r.lower() for r in envelope.rcpt_tos],
                "subject": msg["Subject"],
                "body": body.decode() if isinstance(body, bytes) else str(body),
            }
        )
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        self.messages.clear()

    def to(self, address: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if address.lower() in m["to"]]

    async def wait_for(
        self, address: str, subject_part: str, timeout: float = 10.0, count: int = 1
    ) -> dict[str, Any]:
        """Waits for the count-th matching mail and returns the newest."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.to(address) if subject_part.lower() in m["subject"].lower()]
            if len(found) >= count:
                return found[-1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no mail to {address} about {subject_part!r}: {self.messages}")
