"""The document store: one PyMongo async client per process, Beanie models, the embedded listener.

The production target is a real MongoDB. In development (no IVEN_MONGODB_URL) the server starts
a briskdb MongoDB wire listener on a loopback port with its data under var/ — the code talks to
it through the same Beanie → PyMongo → wire protocol path. What we avoid for that stand-in:
transactions, TTL/text indexes, $setOnInsert, $lookup/$unwind, unique keys with ObjectIds or
datetimes (see docs/briskdb.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pymongo
from beanie import Document, SortDirection, init_beanie
from pydantic import Field
from pymongo import AsyncMongoClient, IndexModel
from pymongo.errors import OperationFailure

from stores.db import utcnow

log = logging.getLogger("iven.documents")

T = TypeVar("T")

WRITE_CONFLICT = 112


async def retry_write_conflicts(op: Callable[[], Awaitable[T]], attempts: int = 8) -> T:
    """Write conflicts (code 112) mean the write did not happen: try again shortly."""
    delay = 0.01
    for attempt in range(attempts):
        try:
            return await op()
        except OperationFailure as exc:
            if exc.code != WRITE_CONFLICT or attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
    raise AssertionError("unreachable")


# --- documents ---------------------------------------------------------------------------------


class AccountEvent(Document):
    """Security-relevant things that happened to an account (sign-ins, password changes...)."""

    user_id: int
    kind: str
    ip: str = ""
    user_agent: str = ""
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "account_events"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("user_id", pymongo.ASCENDING)], name="user_id"),
            IndexModel(
                [("user_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)],
                name="user_created",
            ),
        ]


DOCUMENT_MODELS: list[type[Document]] = [AccountEvent]


def all_models() -> list[type[Document]]:
    """Every Beanie model: these and the projections (stores/projections.py)."""
    from stores.chat import CHAT_MODELS
    from stores.media import MEDIA_MODELS
    from stores.notifications import NOTIFICATION_MODELS
    from stores.projections import PROJECTION_MODELS

    return [*DOCUMENT_MODELS, *PROJECTION_MODELS, *NOTIFICATION_MODELS, *CHAT_MODELS, *MEDIA_MODELS]


async def record_account_event(event: AccountEvent) -> None:
    await retry_write_conflicts(event.insert)


async def account_events_page(
    user_id: int, *, first: int, before: tuple[datetime, str] | None
) -> list[AccountEvent]:
    query: dict[str, Any] = {"user_id": user_id}
    if before is not None:
        at, oid = before
        from bson import ObjectId

        query["$or"] = [
            {"created_at": {"$lt": at}},
            {"created_at": at, "_id": {"$lt": ObjectId(oid)}},
        ]
    order = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    cursor = AccountEvent.find(query).sort(order).limit(first)
    return await cursor.to_list()


async def delete_user_documents(user_id: int) -> None:
    await retry_write_conflicts(lambda: AccountEvent.find({"user_id": user_id}).delete())


# --- connection --------------------------------------------------------------------------------


@dataclass
class EmbeddedListener:
    """A briskdb MongoDB wire listener inside this process."""

    path: Path
    url: str
    _db: Any = field(repr=False)
    _server: Any = field(repr=False)

    @classmethod
    def start(
        cls, path: Path, pool_size: int = 4, address: str = "127.0.0.1:0"
    ) -> EmbeddedListener:
        import briskdb

        path.mkdir(parents=True, exist_ok=True)
        shards = None if (path / "MANIFEST").exists() or any(path.iterdir()) else 4
        db = briskdb.open(str(path), shards=shards, documents=True)
        server = db.serve(mongo=address, admin=None)
        url = f"mongodb://{server.mongo_address}/?maxPoolSize={pool_size}"
        return cls(path=path, url=url, _db=db, _server=server)

    def close(self) -> None:
        for closer in (getattr(self._server, "close", None), getattr(self._db, "close", None)):
            if closer is not None:
                try:
                    closer()
                except Exception:
                    log.debug("embedded listener close", exc_info=True)


class DocumentStore:
    def __init__(self, client: AsyncMongoClient[Any], database: str) -> None:
        self.client = client
        self.database = client[database]

    @classmethod
    async def connect(cls, url: str, database: str, *, timeout_s: float) -> DocumentStore:
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            url,
            serverSelectionTimeoutMS=int(timeout_s * 1000),
            connectTimeoutMS=int(timeout_s * 1000),
            tz_aware=True,
        )
        store = cls(client, database)
        await store.ping()
        await init_beanie(database=store.database, document_models=all_models())
        return store

    async def bind(self) -> None:
        """Beanie binds document classes process-wide: re-bind them to this store (only needed
        when several apps live in one process, as in tests)."""
        await init_beanie(database=self.database, document_models=all_models(), skip_indexes=True)

    async def ping(self) -> None:
        await self.database.command("ping")

    async def close(self) -> None:
        await self.client.close()
