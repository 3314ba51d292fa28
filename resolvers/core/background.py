"""Work started off the request path: tasks kept referenced until done, so none is lost to the
garbage collector, and awaitable all at once (`drain_background`, at shutdown and in tests)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("iven.background")

_background: set[asyncio.Task[Any]] = set()


def _finished(task: asyncio.Task[Any]) -> None:
    """Forgets the task and logs its failure: nobody awaits it, so nobody else would."""
    _background.discard(task)
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("background task failed", exc_info=exc, extra={"task": task.get_name()})


def in_background(coro: Any) -> None:
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_finished)


async def drain_background() -> None:
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


def after_commit(coro: Any) -> None:
    """Runs side effects (mail, activity documents) off the request path, once the unit of work
    committed, so response time reveals nothing."""
    in_background(coro)
