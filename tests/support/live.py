"""Waiting for a condition instead of for time: live streams are subscribed when the broadcast
says so, not after a pause long enough on a quiet machine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.graphql import RECEIVE_TIMEOUT_S


async def until(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = RECEIVE_TIMEOUT_S,
    interval: float = 0.01,
) -> None:
    """Returns once `condition()` holds (asked every `interval` s); fails the test naming
    `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        await asyncio.sleep(interval)


async def until_listening(deps: object, channel: str, count: int = 1) -> None:
    """`count` subscribers of this process (the in-process server's `deps`) on `channel`."""
    broadcast = deps.broadcast  # type: ignore[attr-defined]

    async def enough() -> bool:
        return bool(broadcast.listeners(channel) >= count)

    await until(enough, f"{count} subscriber(s) on {channel}")


async def until_processes_listening(deps: object, channel: str, count: int = 1) -> None:
    """`count` processes subscribed to `channel` on the shared Redis server."""
    broadcast = deps.broadcast  # type: ignore[attr-defined]

    async def enough() -> bool:
        return bool(await broadcast.processes_listening(channel) >= count)

    await until(enough, f"{count} process(es) on {channel}")


def fail_publishes(
    monkeypatch: Any,
    deps: object,
    channel: str,
    times: int = 1,
    only: Callable[[Any], bool] = lambda message: True,
) -> list[Any]:
    """The next `times` publishes on `channel` by this process (the in-process server's `deps`)
    of messages `only` accepts fail as when Redis drops the connection; what was stored before
    them stays. Returns the messages that were lost (to check the failure happened)."""
    broadcast = deps.broadcast  # type: ignore[attr-defined]
    original = broadcast.publish
    lost: list[Any] = []

    async def publish(name: str, message: Any) -> None:
        if name == channel and len(lost) < times and only(message):
            lost.append(message)
            raise RedisConnectionError("injected: Redis connection lost")
        await original(name, message)

    monkeypatch.setattr(broadcast, "publish", publish)
    return lost
