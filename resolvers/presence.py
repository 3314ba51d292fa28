"""Presence: who has at least one authenticated WebSocket open, in any server process.

Each process counts its open sockets per user and keeps, for each such user, a field in the
Redis hash `iven:presence:<user>` (field: this process, value: until when it vouches), renewed
by a heartbeat every HEARTBEAT_S; the key itself expires TTL_S after the last renewal, so a
process that dies stops vouching by itself. `iven:lastseen:<user>` holds the last moment the user
was seen connected. Coming online (first socket anywhere) and going offline (last one closed)
are told to the chats of the user's events, unless they hide their presence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.exceptions import RedisError

from resolvers import chat_feed as feed
from resolvers.chat_feed import Change
from resolvers.core.background import in_background
from resolvers.core.deps import Deps, Viewer
from stores import chat as chat_store
from stores import events as events_store
from stores.redis import key

log = logging.getLogger("iven.presence")

HEARTBEAT_S = 10.0
TTL_S = 30
LAST_SEEN_TTL_S = 90 * 24 * 3600


def _presence(user_id: int) -> str:
    return key("presence", user_id)


def _last_seen(user_id: int) -> str:
    return key("lastseen", user_id)


class PresenceTracker:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.process = secrets.token_hex(6)
        self.counts: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._beat(), name="iven-presence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for user_id in list(self.counts):
            with contextlib.suppress(Exception):
                await self.deps.redis.hdel(_presence(user_id), self.process)

    def connected(self, user_id: int) -> None:
        """A socket of the user was authenticated (sync: the work runs in the background)."""
        self.counts[user_id] = self.counts.get(user_id, 0) + 1
        if self.counts[user_id] == 1:
            in_background(self._came(user_id))

    def disconnected(self, user_id: int) -> None:
        left = self.counts.get(user_id, 0) - 1
        if left > 0:
            self.counts[user_id] = left
            return
        self.counts.pop(user_id, None)
        in_background(self._went(user_id))

    async def _vouch(self, user_ids: Sequence[int]) -> None:
        until = time.time() + TTL_S
        async with self.deps.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hset(_presence(user_id), self.process, str(until))
                pipe.expire(_presence(user_id), TTL_S)
                pipe.set(_last_seen(user_id), str(time.time()), ex=LAST_SEEN_TTL_S)
            await pipe.execute()

    async def _came(self, user_id: int) -> None:
        try:
            was_online = bool(await self.online([user_id]))
            await self._vouch([user_id])
        except RedisError:
            log.warning("presence unavailable")
            return
        if not was_online:
            await self._tell(user_id, online=True)

    async def _went(self, user_id: int) -> None:
        if user_id in self.counts:  # reconnected meanwhile
            return
        try:
            async with self.deps.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(_presence(user_id), self.process)
                pipe.set(_last_seen(user_id), str(time.time()), ex=LAST_SEEN_TTL_S)
                await pipe.execute()
            still = bool(await self.online([user_id]))
        except RedisError:
            log.warning("presence unavailable")
            return
        if not still:
            await self._tell(user_id, online=False)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if self.counts:
                try:
                    await self._vouch(list(self.counts))
                except RedisError:
                    log.warning("presence heartbeat failed")

    async def online(self, user_ids: Sequence[int]) -> set[int]:
        """Who is connected now, whatever their setting (callers filter)."""
        if not user_ids:
            return set()
        now = time.time()
        async with self.deps.redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hvals(_presence(user_id))
            found = await pipe.execute()
        return {
            u
            for u, values in zip(user_ids, found, strict=True)
            if any(float(v) > now for v in values)
        }

    async def last_seen(self, user_ids: Sequence[int]) -> dict[int, datetime]:
        if not user_ids:
            return {}
        try:
            values = await self.deps.redis.mget([_last_seen(u) for u in user_ids])
        except RedisError:
            return {}
        return {
            u: datetime.fromtimestamp(float(v), UTC)
            for u, v in zip(user_ids, values, strict=True)
            if v is not None
        }

    async def visibility_changed(self, user_id: int, shown: bool) -> None:
        if await self.online([user_id]):
            await self._tell(user_id, online=shown, force=True)

    async def _tell(self, user_id: int, *, online: bool, force: bool = False) -> None:
        """PresenceChanged to the chats of the user's events (not when they hide it)."""
        try:
            if not force:
                settings = (await chat_store.settings_of([user_id])).get(user_id)
                if settings is not None and not settings.show_presence:
                    return
            async with self.deps.db.reader() as db:
                event_ids = await events_store.active_event_ids(db, user_id)
            now = datetime.now(UTC)
            for event_id in event_ids:
                await feed.publish(
                    self.deps,
                    Change(
                        kind="presence",
                        event_id=event_id,
                        user_id=user_id,
                        active=online,
                        at=now,
                        not_user=user_id,
                    ),
                )
        except Exception:
            log.exception("presence change not told")


def tracker(deps: Deps) -> PresenceTracker:
    return deps.services.presence


async def _hidden(user_ids: Sequence[int]) -> set[int]:
    settings = await chat_store.settings_of(list(user_ids))
    return {u for u, s in settings.items() if not s.show_presence}


async def shown_online(deps: Deps, viewer: Viewer, user_ids: Sequence[int]) -> set[int]:
    """Which of these people (the viewer's fellow participants) are online and show it."""
    try:
        online = await tracker(deps).online(user_ids)
    except RedisError:
        return set()
    hidden = await _hidden([u for u in online if u != viewer.user_id])
    return online - hidden


async def last_seen_for(deps: Deps, viewer: Viewer, user_id: int) -> datetime | None:
    if user_id != viewer.user_id:
        if await _hidden([user_id]):
            return None
        async with deps.db.reader() as db:
            if not await events_store.share_an_event(db, viewer.user_id, user_id):
                return None
    return (await tracker(deps).last_seen([user_id])).get(user_id)
