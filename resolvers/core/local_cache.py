"""A per-process read cache with a TTL, evicted in every process through the broadcast layer.

Hot reads (the signed-in user on every request) are served from memory. A write evicts the
entries after its commit, here at once and in the other processes as soon as the broadcast
arrives (milliseconds); if Redis is down, entries still expire after the TTL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

from redis.exceptions import RedisError

from resolvers.core.deps import Deps
from stores.redis import ChannelListener, key

log = logging.getLogger("iven.cache")

V = TypeVar("V")


class LocalCache(Generic[V]):
    def __init__(self, deps: Deps, area: str, ttl_s: float, max_entries: int = 50_000) -> None:
        self.deps = deps
        self.channel = key("evict", area)
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[V, float]] = {}
        self._listener = ChannelListener(
            deps.broadcast,
            self.channel,
            lambda m: self._drop(m.get("ids", [])),
            f"iven-{self.channel}",
        )

    async def start(self) -> None:
        await self._listener.start()

    async def close(self) -> None:
        await self._listener.close()

    def get(self, k: Hashable) -> V | None:
        found = self._entries.get(k)
        if found is None:
            return None
        if found[1] < time.monotonic():
            self._entries.pop(k, None)
            return None
        return found[0]

    def put(self, k: Hashable, value: V) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[k] = (value, time.monotonic() + self.ttl_s)

    def _drop(self, ids: Iterable[Hashable]) -> None:
        for i in ids:
            self._entries.pop(i, None)

    async def evict(self, ids: list[Any]) -> None:
        """After a commit: here now, elsewhere through the broadcast."""
        self._drop(ids)
        try:
            await self.deps.broadcast.publish(self.channel, {"ids": ids})
        except RedisError:
            log.warning(
                "cache eviction not broadcast; entries expire by TTL",
                extra={"channel": self.channel},
            )
