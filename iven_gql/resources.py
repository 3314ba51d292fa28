"""The resources the app's lifespan opens (stores, clients, background workers) and closes on
shutdown; the CLI's one-off commands open the same set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from iven_gql.auth import Passwords, Tokens
from iven_gql.config import Settings, redact_url
from resolvers import accounts as accounts_uc
from resolvers import chat_feed, event_content, media, notifications, presence, projections
from resolvers import dispatcher as dispatcher_uc
from resolvers.core.background import drain_background
from resolvers.core.deps import Deps
from resolvers.services import Services
from resolvers.sessions import guard
from stores.db import Database, create_engine
from stores.documents import all_models
from stores.mail import Mailer
from stores.migrations.runner import upgrade
from stores.mongo import DocumentStore, EmbeddedListener
from stores.redis import Broadcast, RateLimiter, ReadCache, SessionKeys, create_client

log = logging.getLogger("iven.app")


# Creating the indexes of a fresh store took 4-12 s on a busy two-core machine (issue 16):
# it gets its own budget, apart from reaching the store.
INDEXES_S = 120.0
EMBEDDED_START_S = 60.0


class StoreUnavailable(RuntimeError):
    pass


async def _within(what: str, url: str, timeout: float, coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means unavailable
        raise StoreUnavailable(
            f"{what} is not reachable at {redact_url(url)} ({type(exc).__name__}: {exc})"
        ) from None


@dataclass
class Resources:
    """Everything the lifespan opens, closed in reverse on shutdown."""

    settings: Settings
    deps: Deps | None = None
    embedded_mongo: EmbeddedListener | None = None
    backends: dict[str, str] = field(default_factory=dict)

    async def open(self) -> Deps:
        s = self.settings
        timeout = s.store_connect_timeout_s
        engine = create_engine(s.database_url, connect_timeout=timeout)
        db = Database(engine)
        await _within("MySQL/SQL database", s.database_url, timeout, db.ping())
        if s.migrate_on_start:
            await upgrade(engine)
        self.backends["sql"] = f"{engine.dialect.name} ({redact_url(s.database_url)})"

        mongo_url = s.mongodb_url
        if mongo_url is None:
            self.embedded_mongo = await asyncio.to_thread(
                EmbeddedListener.start, s.var_dir / "briskdb"
            )
            mongo_url = self.embedded_mongo.url
            self.backends["documents"] = f"embedded briskdb listener ({mongo_url})"
        else:
            self.backends["documents"] = f"mongodb ({redact_url(mongo_url)})"
        # the embedded listener is ours and already listening: only a busy machine is slow
        reach = max(timeout, EMBEDDED_START_S) if self.embedded_mongo else timeout
        documents = await _within(
            "MongoDB",
            mongo_url,
            reach + 1,
            DocumentStore.connect(
                mongo_url, s.mongodb_database, models=all_models(), timeout_s=reach
            ),
        )
        try:
            await asyncio.wait_for(documents.create_indexes(), max(reach, INDEXES_S))
        except Exception as exc:  # reachable, but the indexes are not there: say so
            await documents.close()
            raise StoreUnavailable(
                f"MongoDB at {redact_url(mongo_url)} answered, but creating its indexes failed "
                f"({type(exc).__name__}: {exc})"
            ) from None

        redis = create_client(s.redis_url, timeout=timeout)
        await _within("Redis", s.redis_url or "in-process", timeout, redis.ping())
        self.backends["redis"] = (
            f"redis ({redact_url(s.redis_url)})" if s.redis_url else "in-process (fakeredis)"
        )
        broadcast = Broadcast(redis, s.redis_channel_namespace)
        await broadcast.start()

        mailer = Mailer(s.smtp_url, s.mail_from, s.var_dir / "outbox")
        self.backends["mail"] = mailer.backend
        self.deps = Deps(
            settings=s,
            db=db,
            redis=redis,
            documents=documents,
            broadcast=broadcast,
            rate_limiter=RateLimiter(redis),
            session_keys=SessionKeys(redis),
            read_cache=ReadCache(redis),
            mailer=mailer,
            passwords=Passwords(s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism),
            tokens=Tokens(s.token_secret(), s.access_token_ttl_s),
        )
        self.deps.services = Services(self.deps)
        await guard(self.deps).start()
        await accounts_uc.user_cache(self.deps).start()
        await projections.snapshot_cache(self.deps).start()
        event_content.install(self.deps)
        await chat_feed.install(self.deps).start()
        await presence.tracker(self.deps).start()
        media.files(self.deps)  # creates the upload folders
        dispatcher = dispatcher_uc.install(
            self.deps,
            [
                *projections.HANDLERS,
                notifications.notify,
                media.on_event_deleted,
                media.on_user_deleted,
            ],
        )
        if s.dispatcher:
            await dispatcher.start()
            jobs = self.deps.services.notification_jobs = notifications.Jobs(self.deps)
            await jobs.start()
        for store, backend in self.backends.items():
            log.info("store backend", extra={"store": store, "backend": backend})
        return self.deps

    async def close(self) -> None:
        deps = self.deps
        if deps is not None:
            await drain_background()
            await deps.services.close()
            await deps.broadcast.close()
            with contextlib.suppress(Exception):
                await deps.redis.aclose()
            await deps.documents.close()
            await deps.db.close()
        if self.embedded_mongo is not None:
            await asyncio.to_thread(self.embedded_mongo.close)
