"""Redis: the client, the broadcast layer, sliding-window rate limits, session keys, read cache.

The same code runs on a real Redis (shared by every server process) and on an in-process
fakeredis server (embedded mode, one process). Keys are namespaced `iven:<area>:<id>` and
every ephemeral key has a TTL. A Redis failure degrades what it serves; callers decide how.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import fakeredis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("iven.redis")

PREFIX = "iven"


def key(*parts: object) -> str:
    return ":".join((PREFIX, *(str(p) for p in parts)))


def create_client(url: str | None, *, timeout: float = 5.0) -> aioredis.Redis:
    if url is None:
        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        health_check_interval=30,
    )


# --- broadcast ---------------------------------------------------------------------------------


class Broadcast:
    """Publish/subscribe on channels, one Redis subscription connection per process.

    Local subscribers get an asyncio queue; a single reader task fans messages out.

    Redis scopes keys by database number but not pub/sub: deployments (or test workers) that
    share one Redis server on different databases give each a `namespace`, which prefixes every
    channel on the wire and is invisible to callers.
    """

    def __init__(self, client: aioredis.Redis, namespace: str = "") -> None:
        self._client = client
        self._wire_prefix = f"{namespace}|" if namespace else ""
        self._pubsub: Any = None
        self._queues: dict[str, set[asyncio.Queue[Any]]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        # A control channel so the connection exists before the first real subscription.
        await self._pubsub.subscribe(self._wire_prefix + key("control", secrets.token_hex(4)))
        self._reader = asyncio.create_task(self._read(), name="iven-broadcast-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    async def publish(self, channel: str, message: Any) -> None:
        await self._client.publish(
            self._wire_prefix + channel, json.dumps(message, separators=(",", ":"))
        )

    async def _read(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # connection lost: back off and let redis-py reconnect
                log.warning("broadcast connection lost; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if msg is None or msg.get("type") != "message":
                continue
            channel = msg["channel"].removeprefix(self._wire_prefix)
            try:
                payload = json.loads(msg["data"])
            except (TypeError, ValueError):
                continue
            for queue in list(self._queues.get(channel, ())):
                queue.put_nowait(payload)

    def listeners(self, channel: str) -> int:
        """Subscribers to `channel` in this process."""
        return len(self._queues.get(channel, ()))

    async def processes_listening(self, channel: str) -> int:
        """Processes subscribed to `channel` on the Redis server (each subscribes once)."""
        counts = await self._client.pubsub_numsub(self._wire_prefix + channel)
        return int(counts[0][1]) if counts else 0

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[asyncio.Queue[Any]]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        async with self._lock:
            first = not self._queues.get(channel)
            self._queues[channel].add(queue)
            if first:
                await self._pubsub.subscribe(self._wire_prefix + channel)
        try:
            yield queue
        finally:
            async with self._lock:
                self._queues[channel].discard(queue)
                if not self._queues[channel]:
                    del self._queues[channel]
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(self._wire_prefix + channel)


class ChannelListener:
    """A task handing each message of one broadcast channel to `handle`, from `start()` (which
    returns once subscribed) until `close()`."""

    def __init__(
        self,
        broadcast: Broadcast,
        channel: str,
        handle: Callable[[dict[str, Any]], None],
        name: str,
    ) -> None:
        self._broadcast = broadcast
        self._channel = channel
        self._handle = handle
        self._name = name
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready), name=self._name)
        await asyncio.wait_for(ready.wait(), 5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _listen(self, ready: asyncio.Event) -> None:
        async with self._broadcast.subscribe(self._channel) as queue:
            ready.set()
            while True:
                self._handle(await queue.get())


# --- rate limits -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """Sliding-window log in a sorted set per (scope, subject)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def hit(
        self, scope: str, subject: str, limit: int, window_s: int, cost: int = 1
    ) -> RateDecision:
        """Counts `cost` attempts at once (e.g. one per invitee of a batch)."""
        now = time.time()
        k = key("rate", scope, subject)
        tag = secrets.token_hex(4)
        members = [f"{now:.6f}:{tag}:{n}" for n in range(max(1, cost))]
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(k, 0, now - window_s)
                pipe.zadd(k, dict.fromkeys(members, now))
                pipe.zcard(k)
                pipe.zrange(k, 0, 0, withscores=True)
                pipe.expire(k, window_s + 1)
                _, _, count, oldest, _ = await pipe.execute()
        except RedisError:
            log.warning("rate limiter unavailable; allowing", exc_info=True)
            return RateDecision(True)
        if count <= limit:
            return RateDecision(True)
        # Rejected attempts don't extend the window.
        with contextlib.suppress(RedisError):
            await self._client.zrem(k, *members)
        oldest_ts = oldest[0][1] if oldest else now
        return RateDecision(False, max(1, int(oldest_ts + window_s - now + 0.999)))

    async def count(self, scope: str, subject: str, window_s: int) -> tuple[int, int]:
        """How many hits (scope, subject) has in the window, without adding one, and the seconds
        until the oldest leaves it; (0, 0) when Redis is unavailable."""
        now = time.time()
        k = key("rate", scope, subject)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(k, 0, now - window_s)
                pipe.zcard(k)
                pipe.zrange(k, 0, 0, withscores=True)
                _, count, oldest = await pipe.execute()
        except RedisError:
            log.warning("rate limiter unavailable; allowing", exc_info=True)
            return 0, 0
        oldest_ts = oldest[0][1] if oldest else now
        return int(count), max(1, int(oldest_ts + window_s - now + 0.999))


class CostBudget:
    """The request cost a subject (viewer or client address) may spend per minute, counted in
    Redis per fixed window (`iven:cost:<subject>:<window>`) and shared by every process.

    A Redis round trip per request would cost more than a small query (about 90 µs on the
    in-process Redis): each process adds its spend locally and writes it with INCRBY at most once
    a second per subject, or at once when the subject nears its budget, so a process can let a
    subject overspend by what it accepted within that second. Redis down: the local count alone
    decides (degraded, never failing)."""

    SYNC_S = 1.0
    MAX_SUBJECTS = 10_000  # local entries kept; the oldest are written and dropped beyond

    def __init__(self, client: aioredis.Redis, budget: int, window_s: int = 60) -> None:
        self._client = client
        self.budget = budget
        self.window_s = window_s
        # subject → [window, spent (Redis total, ours included), pending (not written), synced]
        self._local: dict[str, list[float]] = {}

    async def charge(self, subject: str, cost: int) -> int:
        """0 when the cost fits the subject's budget (and is counted), else the seconds until
        the window ends (nothing counted)."""
        now = time.time()
        window = int(now // self.window_s)
        entry = self._local.get(subject)
        if entry is None or entry[0] != window:
            if len(self._local) >= self.MAX_SUBJECTS:
                self._local.clear()
            entry = self._local[subject] = [window, 0, 0, 0.0]
        nearly = entry[1] + entry[2] + cost > self.budget * 0.9
        if nearly or now - entry[3] >= self.SYNC_S:
            await self._sync(subject, entry, now)
        if entry[1] + entry[2] + cost > self.budget:
            return max(1, int((window + 1) * self.window_s - now + 0.999))
        entry[2] += cost
        return 0

    async def _sync(self, subject: str, entry: list[float], now: float) -> None:
        # taken before the round trip: charges meanwhile start a new pending count and do not
        # write this one again
        pending = int(entry[2])
        entry[2] = 0
        entry[3] = now
        k = key("cost", subject, int(entry[0]))
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.incrby(k, pending)
                pipe.expire(k, self.window_s + 1)
                total, _ = await pipe.execute()
        except RedisError:
            log.warning("cost budget unavailable; counting locally", exc_info=True)
            entry[1] += pending
        else:
            entry[1] = max(entry[1], int(total))

    def clear(self) -> None:
        """Forgets the local counts (tests: the Redis side is flushed with the database)."""
        self._local.clear()


# --- session keys ------------------------------------------------------------------------------

SESSION_REVOKED = "revoked"


class SessionKeys:
    """`iven:session:<sid>` → user id while the session lives, or 'revoked'."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    async def get(self, sid: str) -> str | None:
        value = await self._client.get(key("session", sid))
        return value if value is None else str(value)

    async def set_active(self, sid: str, user_id: int, ttl_s: int) -> None:
        await self._client.set(key("session", sid), str(user_id), ex=max(1, ttl_s))

    async def set_revoked(self, sids: list[str], ttl_s: int) -> None:
        if not sids:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.set(key("session", sid), SESSION_REVOKED, ex=max(1, ttl_s))
            await pipe.execute()


# --- read cache --------------------------------------------------------------------------------


class ReadCache:
    """JSON values under `iven:cache:<area>:<id>` with a TTL; misses and failures return None."""

    def __init__(self, client: aioredis.Redis, ttl_s: int = 300) -> None:
        self._client = client
        self._ttl = ttl_s

    async def get_many(self, area: str, ids: list[Any]) -> list[Any | None]:
        if not ids:
            return []
        try:
            values = await self._client.mget([key("cache", area, i) for i in ids])
        except RedisError:
            return [None] * len(ids)
        return [json.loads(v) if v is not None else None for v in values]

    async def set_many(self, area: str, items: dict[Any, Any]) -> None:
        if not items:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for i, value in items.items():
                    pipe.set(key("cache", area, i), json.dumps(value, default=str), ex=self._ttl)
                await pipe.execute()
        except RedisError:
            log.warning("read cache write failed", exc_info=True)

    async def delete(self, area: str, *ids: Any) -> None:
        if not ids:
            return
        try:
            await self._client.delete(*(key("cache", area, i) for i in ids))
        except RedisError:
            log.warning("read cache delete failed", exc_info=True)


class Versions:
    """Version counters under `iven:ver:<area>:<id>`, for caches that stamp what they hold.

    A writer bumps after its commit; a reader reads the version *before* reading the data and
    files the data under it, so data read before a commit is never filed under the version
    that commit made. A missing counter starts at a random base (a flushed Redis does not
    bring back a version an old entry carries). Unknown (None) when Redis fails: don't cache.
    """

    def __init__(self, client: aioredis.Redis, area: str) -> None:
        self._client = client
        self._area = area

    async def get_many(self, ids: list[Any]) -> list[int | None]:
        keys = [key("ver", self._area, i) for i in ids]
        try:
            values = await self._client.mget(keys)
            missing = [k for k, v in zip(keys, values, strict=True) if v is None]
            if missing:
                async with self._client.pipeline(transaction=False) as pipe:
                    for k in missing:
                        pipe.set(k, secrets.randbits(52), nx=True)
                    await pipe.execute()
                values = await self._client.mget(keys)
        except RedisError:
            return [None] * len(ids)
        return [int(v) if v is not None else None for v in values]

    async def bump(self, ids: list[Any]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for i in ids:
                    pipe.incr(key("ver", self._area, i))
                await pipe.execute()
        except RedisError:
            log.warning(
                "version bump failed; cached copies expire by their TTL", extra={"area": self._area}
            )
