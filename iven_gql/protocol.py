"""uvicorn's httptools protocol with the request head (request line and headers) bounded while it
is read: httptools has no limit of its own and rebuilds a long header by concatenation (a 100 MB
header was read for 73 s). Past `Settings.max_header_bytes` the request is answered 431 with the
transport's JSON error and the connection is closed; the head is never held beyond the limit and
one network read.

The limit travels in uvicorn's `h11_max_incomplete_event_size`, the same bound for h11: an int
on uvicorn's Config, so it reaches every worker process (the Config is pickled to them).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from iven_gql import transport
from iven_gql.config import Settings


def server_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn needs for the transport limits, for `iven-gql serve` and the tests alike."""
    return {
        "http": IvenHttpToolsProtocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


def raw_error(status: int, message: str, code: transport.RefusalCode) -> bytes:
    body = transport.error_body(message, code)
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


HEAD_TOO_LARGE = raw_error(
    431, transport.HEADERS_TOO_LARGE, transport.RefusalCode.HEADERS_TOO_LARGE
)


class IvenHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes = config.h11_max_incomplete_event_size or 32 * 1024
        self.reading_head = True  # until this request's headers are complete
        self.head_bytes = 0  # fed while reading the head (at most one read more than the head)
        self.head_too_large = False
        self.refused = False

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)
        if self.head_too_large:
            self.refuse_head()
        elif self.reading_head:
            self.head_bytes += len(data)
            if self.head_bytes > self.max_head_bytes:
                self.refuse_head()

    def refuse_head(self) -> None:
        self.refused = True
        self.logger.warning("Request headers too large.")
        if not self.transport.is_closing():
            self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request httptools cannot parse: the transport's JSON error too."""
        self.transport.write(raw_error(400, msg, transport.RefusalCode.BAD_REQUEST))
        self.transport.close()

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_head = True
        self.head_bytes = 0

    def on_headers_complete(self) -> None:
        self.reading_head = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self.head_too_large = True  # refused once the parser returns; no cycle starts
            return
        super().on_headers_complete()

    def _should_upgrade(self) -> bool:
        return not self.head_too_large and super()._should_upgrade()

    def on_body(self, body: bytes) -> None:
        if not self.head_too_large:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.head_too_large:
            super().on_message_complete()
