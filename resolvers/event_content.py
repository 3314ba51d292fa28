"""An event's content (tasks with assignees, the ledger) cached in each process, stamped with a
version kept in Redis.

An event page reads five statements of rows that change far less often than they are read.
Each process keeps what it read under the version it saw *before* reading; every committed write
to that content bumps the version (a commit hook, from the stores' `touch_event` marks), so the
next read anywhere sees a new version and reads SQL again. Visibility is not cached: membership
is still read fresh on every request (resolvers/events.py `access`). Without Redis the version is
unknown and every read goes to SQL.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from resolvers.core.deps import Deps
from stores.db import TOUCHED_EVENTS
from stores.redis import Versions

V = TypeVar("V")
TTL_S = 120.0  # bounds staleness if a bump is lost while Redis fails
MAX_ENTRIES = 20_000


class Stamped(Generic[V]):
    def __init__(
        self, versions: Versions, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.versions = versions
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[int, float, V]] = {}

    async def load(
        self, ids: list[int], fetch: Callable[[list[int]], Awaitable[dict[int, V]]]
    ) -> list[V]:
        stamps = dict(zip(ids, await self.versions.get_many(ids), strict=True))
        now = time.monotonic()
        found: dict[int, V] = {}
        for i in ids:
            entry = self._entries.get(i)
            if entry is not None and entry[0] == stamps[i] and entry[1] > now:
                found[i] = entry[2]
        missing = [i for i in ids if i not in found]
        if missing:
            fresh = await fetch(missing)
            if len(self._entries) + len(fresh) > self.max_entries:
                self._entries.clear()
            for i, value in fresh.items():
                stamp = stamps.get(i)
                if stamp is not None:
                    self._entries[i] = (stamp, now + self.ttl_s, value)
            found.update(fresh)
        return [found[i] for i in ids]

    def clear(self) -> None:
        self._entries.clear()


def versions(deps: Deps) -> Versions:
    return deps.services.event_content_versions


def cache(deps: Deps, area: str) -> Stamped[Any]:
    """The per-process cache of one kind of event content (`tasks`, `ledger`)."""
    found = deps.services.event_content.get(area)
    if found is None:
        found = deps.services.event_content[area] = Stamped[Any](versions(deps))
    return found


def clear_all(deps: Deps) -> None:
    for value in deps.services.event_content.values():
        value.clear()


def install(deps: Deps) -> None:
    """After each commit that touched events' content, bump their versions."""

    async def bump(marks: dict[str, Any]) -> None:
        touched = marks.get(TOUCHED_EVENTS)
        if touched:
            await versions(deps).bump(sorted(touched))

    deps.db.commit_hooks.append(bump)
