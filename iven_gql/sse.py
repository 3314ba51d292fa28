"""GraphQL over Server-Sent Events, graphql-sse's "distinct connections mode": one
`POST /graphql` with `Accept: text/event-stream` per operation, answered with `next` events, then
a `complete` event, keep-alive comments (`: ping`) every 15 s; the stream ends when the client
disconnects. The framing is Strawberry's SSE transport; what IVEN adds:

- the request path of every HTTP request: body and document limits, the Authorization header, the
  operation's cost limits and cost budget (IvenOperation), errors shaped with their codes;
- a subscription runs the resolver the WebSocket's standard path runs, so access is re-checked on
  each event, every process hears the Redis broadcast, and a revoked session or an expired token
  ends the stream with an UNAUTHENTICATED error (`Context.end_session`) before `complete`;
- at most MAX_STREAMS_PER_VIEWER streams at once per viewer (per client address when anonymous)
  in each process, as a socket holds at most that many subscriptions: one more is refused with
  429 TOO_MANY_STREAMS before anything is streamed;
- a subscription is streamed over POST only; any other HTTP framing of one (a plain JSON answer,
  GET, `Accept: multipart/mixed`) is refused with SUBSCRIPTION_TRANSPORT (executor.py, view.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from iven_gql import transport

# the same number as a socket's subscriptions (view.py: max_subscriptions_per_connection)
MAX_STREAMS_PER_VIEWER = 50

TOO_MANY_STREAMS = (
    f"Too many event streams open at once (at most {MAX_STREAMS_PER_VIEWER}): close one, "
    "or subscribe over one WebSocket."
)
SSE_OVER_POST = (
    "A subscription over Server-Sent Events is sent with POST (graphql-sse's distinct "
    "connections mode), not GET."
)
MULTIPART_SUBSCRIPTION = (
    "Subscriptions are not served as multipart/mixed: use Server-Sent Events (POST with "
    "Accept: text/event-stream) or WebSocket (graphql-transport-ws) at /graphql."
)


def is_event_stream(accept: str) -> bool:
    return any(
        part.split(";", 1)[0].strip().lower() == "text/event-stream" for part in accept.split(",")
    )


def stream_subject(context: Any) -> str:
    """Whose streams a request counts against: the viewer's, or the client address's."""
    viewer = getattr(context, "viewer", None)
    if viewer is not None:
        return f"user:{viewer.user_id}"
    client = getattr(context, "client", None)
    return f"ip:{client.ip if client else ''}"


class StreamSlots:
    """The event streams open in this process, counted per subject."""

    def __init__(self, limit: int = MAX_STREAMS_PER_VIEWER) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def count(self, subject: str) -> int:
        return self._open.get(subject, 0)

    def acquire(self, subject: str) -> Callable[[], None]:
        """A slot for one more stream of `subject` (429 TOO_MANY_STREAMS when all are taken);
        returns its release, which frees it once however often it is called."""
        if self._open.get(subject, 0) >= self.limit:
            raise transport.TransportError(
                429, TOO_MANY_STREAMS, transport.RefusalCode.TOO_MANY_STREAMS
            )
        self._open[subject] = self._open.get(subject, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open.get(subject, 0) - 1
            if left > 0:
                self._open[subject] = left
            else:
                self._open.pop(subject, None)

        return release


class CountedStream(StreamingResponse):
    """A streamed answer holding a stream slot until it ends, however it ends (completed, the
    client gone, or never started because the client left first)."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()
