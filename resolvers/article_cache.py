"""The cache of anonymous article reads: Redis entries under `iven:cache:articles:*`, stamped
with the "articles" version read *before* the data and bumped *after* every committed change,
plus a decoded copy per process under the same versioned keys. An entry also stops being used
once the next scheduled article becomes public (`stale_at`), so the cache never hides a
publication. Without a version (Redis down) reads go to MySQL, uncached."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from resolvers.core.deps import Deps
from stores import articles as store
from stores.redis import Versions

T = TypeVar("T")
CACHE_AREA = "articles"
LOCAL_TTL_S = 60.0  # decoded copies of Redis entries kept by each process
LOCAL_MAX_ENTRIES = 512


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def versions(deps: Deps) -> Versions:
    return deps.services.article_versions


async def changed(deps: Deps) -> None:
    """After a commit: anonymous readers' cached copies are out of date."""
    await versions(deps).bump(["all"])


class Decoded:
    """The entries this process read from the Redis cache (or filled it with), kept decoded
    under the same versioned keys: a hit then costs the version read only, not the transfer
    and parsing of ~150 KB of JSON. The version in the key keeps them exactly as fresh as the
    Redis entries; the local TTL bounds what a lost version bump could leave."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, datetime | None, Any]] = {}

    def get(self, entry_id: str, now: datetime) -> tuple[Any] | None:
        entry = self._entries.get(entry_id)
        if (
            entry is None
            or entry[0] < time.monotonic()
            or (entry[1] is not None and now >= entry[1])
        ):
            return None
        return (entry[2],)

    def put(self, entry_id: str, stale_at: datetime | None, value: Any) -> None:
        if len(self._entries) >= LOCAL_MAX_ENTRIES:
            self._entries.clear()
        self._entries[entry_id] = (time.monotonic() + LOCAL_TTL_S, stale_at, value)

    def clear(self) -> None:
        self._entries.clear()


def decoded(deps: Deps) -> Decoded:
    return deps.services.article_cache


async def cached(
    deps: Deps,
    key: str,
    fill: Callable[[Any, datetime], Awaitable[T]],
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
) -> T:
    """What `fill(db, now)` reads, for anonymous readers: from the cache when an entry of the
    current version is there and no scheduled article became public since it was filled
    (`stale_at`, the next publication time when it was filled); else read, and filed under the
    version read before reading. Without a version (Redis down): read, not cached."""
    now = deps.clock()
    version = (
        None if deps.services.article_cache_off else (await versions(deps).get_many(["all"]))[0]
    )
    if version is None:
        async with deps.db.reader() as db:
            return await fill(db, now)
    entry_id = f"{version}:{key}"
    local = decoded(deps)
    hit = local.get(entry_id, now)
    if hit is not None:
        return cast("T", hit[0])
    entry = (await deps.read_cache.get_many(CACHE_AREA, [entry_id]))[0]
    if entry is not None:
        stale_at = parse_time(entry["stale_at"])
        if stale_at is None or now < stale_at:
            value = decode(entry["value"])
            local.put(entry_id, stale_at, value)
            return value
    async with deps.db.reader() as db:
        value = await fill(db, now)
        stale_at = await store.next_publication(db, now)
    await deps.read_cache.set_many(
        CACHE_AREA, {entry_id: {"value": encode(value), "stale_at": iso(stale_at)}}
    )
    local.put(entry_id, stale_at, value)
    return value
