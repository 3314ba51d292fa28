"""The per-process objects use cases share — caches, the session guard, presence, the chat hub,
the file store and the image threads — as one typed object (`deps.services`). The lifespan
(iven_gql/app.py) creates it with the app's deps and closes it on shutdown; each member is made
on first use, as most processes (a CLI command, the dispatcher) need only a few."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any

from resolvers.article_cache import CACHE_AREA, Decoded
from resolvers.chat_feed import ChatHub
from resolvers.core.deps import Deps
from resolvers.core.local_cache import LocalCache
from resolvers.event_content import Stamped
from resolvers.presence import PresenceTracker
from resolvers.sessions import SessionGuard
from stores.accounts import User
from stores.files import FileStore
from stores.projections import UserSnapshot
from stores.redis import Versions

if TYPE_CHECKING:
    from resolvers.dispatcher import Dispatcher
    from resolvers.notifications import Jobs

USER_CACHE_TTL_S = 60.0
SNAPSHOT_CACHE_TTL_S = 30.0


class Services:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        # started by the lifespan when this process runs them
        self.dispatcher: Dispatcher | None = None
        self.notification_jobs: Jobs | None = None
        # per kind of event content (`tasks`, `ledger`), stamped with the content versions
        self.event_content: dict[str, Stamped[Any]] = {}
        # anonymous article reads skip the Redis cache (bench_articles measures both)
        self.article_cache_off = False

    @cached_property
    def session_guard(self) -> SessionGuard:
        return SessionGuard(self._deps)

    @cached_property
    def user_cache(self) -> LocalCache[User]:
        return LocalCache[User](self._deps, "users", USER_CACHE_TTL_S)

    @cached_property
    def snapshot_cache(self) -> LocalCache[tuple[UserSnapshot | None]]:
        """User snapshots for the live chat's rendering (author names on every delivery)."""
        return LocalCache[tuple[UserSnapshot | None]](self._deps, "snapshots", SNAPSHOT_CACHE_TTL_S)

    @cached_property
    def presence(self) -> PresenceTracker:
        return PresenceTracker(self._deps)

    @cached_property
    def chat_hub(self) -> ChatHub:
        return ChatHub(self._deps)

    @cached_property
    def file_store(self) -> FileStore:
        found = FileStore(self._deps.settings.uploads_dir)
        found.ensure()
        return found

    @cached_property
    def media_workers(self) -> ThreadPoolExecutor:
        """The threads image work runs on."""
        return ThreadPoolExecutor(
            max_workers=max(1, self._deps.settings.media_workers), thread_name_prefix="media"
        )

    @cached_property
    def article_versions(self) -> Versions:
        return Versions(self._deps.redis, CACHE_AREA)

    @cached_property
    def article_cache(self) -> Decoded:
        return Decoded()

    @cached_property
    def event_content_versions(self) -> Versions:
        return Versions(self._deps.redis, "event-content")

    async def close(self) -> None:
        """Stops what runs in the background, in dependency order; members never made are
        not made now."""
        made = self.__dict__
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self.notification_jobs is not None:
            await self.notification_jobs.close()
        if "presence" in made:
            await self.presence.close()
        if "media_workers" in made:
            workers: ThreadPoolExecutor = made.pop("media_workers")
            await asyncio.to_thread(workers.shutdown, wait=True, cancel_futures=True)
        if "chat_hub" in made:
            await self.chat_hub.close()
        for name in ("session_guard", "user_cache", "snapshot_cache"):
            if name in made:
                await made[name].close()
