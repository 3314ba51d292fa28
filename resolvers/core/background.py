"""Work started off the request path: tasks kept referenced until done, so none is lost to the
garbage collector, and awaitable all at once (`drain_background`, at shutdown and in tests)."""

from __future__ import annotations

import asyncio
from typing import Any

_background: set[asyncio.Task[Any]] = set()


def in_background(coro: Any) -> None:
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def drain_background() -> None:
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


def after_commit(coro: Any) -> None:
    """Runs side effects (mail, activity documents) off the request path, once the unit of work
    committed, so response time reveals nothing."""
    in_background(coro)
