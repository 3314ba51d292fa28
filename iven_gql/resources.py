"""The resources the app's lifespan opens (stores, clients, background workers) and closes on
shutdown; the CLI's one-off commands open the same set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from iven_gql import startup
from iven_gql.auth import Passwords, Tokens
from iven_gql.config import Settings, redact_url
from iven_gql.startup import StoreUnavailable as StoreUnavailable  # the name callers catch
from iven_gql.startup import within
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


@dataclass
class Resources:
    """Everything the lifespan opens, closed in reverse on shutdown."""

    settings: Settings
    deps: Deps | None = None
    embedded_mongo: EmbeddedListener | None = None
    backends: dict[str, str] = field(default_factory=dict)
    # what `open` has opened so far, closed by `close` when it fails half-way
    _db: Database | None = field(default=None, repr=False)
    _documents: DocumentStore | None = field(default=None, repr=False)
    _redis: Any = field(default=None, repr=False)
    _broadcast: Broadcast | None = field(default=None, repr=False)

    async def open(self) -> Deps:
        """The stores, reached within IVEN_STORE_CONNECT_TIMEOUT_S each; a failure is a
        StartupError (one line naming the store, the cause and the fix), with whatever was
        already open closed again."""
        try:
            return await self._open()
        except BaseException:
            await self.close()
            raise

    async def _open(self) -> Deps:
        s = self.settings
        timeout = s.store_connect_timeout_s
        engine = create_engine(s.database_url, connect_timeout=timeout)
        db = self._db = Database(engine)
        await within(timeout, db.ping(), lambda exc: startup.sql_failure(s.database_url, exc))
        self.backends["sql"] = f"{engine.dialect.name} ({redact_url(s.database_url)})"
        # every store is reached before the slow work (migrations, indexes): a store that is
        # down stops the start within IVEN_STORE_CONNECT_TIMEOUT_S
        redis = self._redis = create_client(s.redis_url, timeout=timeout)
        await within(
            timeout, redis.ping(), lambda exc: startup.redis_failure(s.redis_url or "", exc)
        )
        self.backends["redis"] = (
            f"redis ({redact_url(s.redis_url)})" if s.redis_url else "in-process (fakeredis)"
        )

        mongo_url = s.mongodb_url
        if mongo_url is None:
            data = s.var_dir / "briskdb"
            try:
                self.embedded_mongo = await asyncio.to_thread(EmbeddedListener.start, data)
            except Exception as exc:  # noqa: BLE001 - reported as one line
                raise startup.embedded_mongodb_failure(data, exc) from None
            mongo_url = self.embedded_mongo.url
            self.backends["documents"] = f"embedded briskdb listener ({mongo_url})"
        else:
            self.backends["documents"] = f"mongodb ({redact_url(mongo_url)})"
        # the embedded listener is ours and already listening: only a busy machine is slow
        embedded = self.embedded_mongo is not None
        reach = max(timeout, EMBEDDED_START_S) if embedded else timeout
        url = mongo_url
        documents = self._documents = await within(
            reach + 1,
            DocumentStore.connect(
                mongo_url, s.mongodb_database, models=all_models(), timeout_s=reach
            ),
            lambda exc: startup.mongodb_failure(url, exc, embedded=embedded),
        )
        if s.migrate_on_start:
            try:
                await upgrade(engine)
            except Exception as exc:  # noqa: BLE001 - reported as one line
                raise startup.migration_failure(s.database_url, exc) from None
        try:
            await asyncio.wait_for(documents.create_indexes(), max(reach, INDEXES_S))
        except Exception as exc:  # noqa: BLE001 - reachable, but the indexes are not there
            raise startup.mongodb_indexes_failure(mongo_url, exc) from None

        broadcast = Broadcast(redis, s.redis_channel_namespace)
        await broadcast.start()
        self._broadcast = broadcast

        try:
            secret = s.token_secret()
        except OSError as exc:
            raise startup.folder_failure(
                "the development secret", "IVEN_VAR_DIR (or set IVEN_JWT_SECRET)", exc
            ) from None
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
            tokens=Tokens(secret, s.access_token_ttl_s),
        )
        self.deps.services = Services(self.deps)
        await guard(self.deps).start()
        await accounts_uc.user_cache(self.deps).start()
        await projections.snapshot_cache(self.deps).start()
        event_content.install(self.deps)
        await chat_feed.install(self.deps).start()
        await presence.tracker(self.deps).start()
        try:
            media.files(self.deps)  # creates the upload folders
        except OSError as exc:
            raise startup.folder_failure("the uploads folder", "IVEN_UPLOADS_DIR", exc) from None
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
        """Closes what is open, in reverse; twice is harmless (a failed `open` closed it)."""
        deps, self.deps = self.deps, None
        if deps is not None:
            await drain_background()
            await deps.services.close()
        if self._broadcast is not None:
            await self._broadcast.close()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
        if self._documents is not None:
            await self._documents.close()
        if self._db is not None:
            await self._db.close()
        self._broadcast = self._redis = self._documents = self._db = None
        if self.embedded_mongo is not None:
            listener, self.embedded_mongo = self.embedded_mongo, None
            await asyncio.to_thread(listener.close)
