"""The document store plumbing: one PyMongo async client per process, the embedded listener,
and retrying write conflicts.

The production target is a real MongoDB. In development (no IVEN_MONGODB_URL) the server starts
a briskdb MongoDB wire listener on a loopback port with its data under var/ — the code talks to
it through the same Beanie → PyMongo → wire protocol path. What we avoid for that stand-in:
transactions, TTL/text indexes, $setOnInsert, $lookup/$unwind, unique keys with ObjectIds or
datetimes (see docs/briskdb.md). The models live with their domains; stores/documents.py lists
them all.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import briskdb
from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure, OperationFailure

log = logging.getLogger("iven.documents")

T = TypeVar("T")

WRITE_CONFLICT = 112


async def retry_write_conflicts(
    op: Callable[[], Awaitable[T]], attempts: int | None = 16, max_delay_s: float = 0.25
) -> T:
    """Write conflicts (code 112) mean the write did not happen: try again shortly, jittered so
    that writers which conflicted together do not retry in step. `attempts=None` retries until
    the caller's own time budget cancels it. 16 attempts wait up to ~3 s in all: briskdb's
    SQLite reports a busy database as a conflict, and on a loaded machine 8 (~1 s) ran out."""
    delay = 0.01
    attempt = 0
    while True:
        try:
            return await op()
        except OperationFailure as exc:
            attempt += 1
            if exc.code != WRITE_CONFLICT or (attempts is not None and attempt >= attempts):
                raise
            await asyncio.sleep(random.uniform(0.5, 1.0) * delay)
            delay = min(delay * 2, max_delay_s)


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
    def __init__(
        self, client: AsyncMongoClient[Any], database: str, models: Sequence[type[Document]]
    ) -> None:
        self.client = client
        self.database = client[database]
        self.models = list(models)

    @classmethod
    async def connect(
        cls, url: str, database: str, *, models: Sequence[type[Document]], timeout_s: float
    ) -> DocumentStore:
        """A client that has answered a ping (within `timeout_s`); `create_indexes` is next."""
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            url,
            serverSelectionTimeoutMS=int(timeout_s * 1000),
            connectTimeoutMS=int(timeout_s * 1000),
            tz_aware=True,
        )
        store = cls(client, database, models)
        try:
            await store.ping()
        except BaseException:
            await client.close()
            raise
        return store

    async def create_indexes(self) -> None:
        """Binds the models and creates their indexes (a no-op for those that exist). Several
        processes starting at once on a fresh store race to create the same indexes: a write
        conflict (112) means this attempt did not happen, so it is made again, for as long as
        the caller's budget for index creation lasts (a busy machine with several starters can
        conflict many times in a row)."""
        await retry_write_conflicts(
            lambda: init_beanie(database=self.database, document_models=self.models),
            attempts=None,
            max_delay_s=1.0,
        )

    async def bind(self) -> None:
        """Beanie binds document classes process-wide: re-bind them to this store (only needed
        when several apps live in one process, as in tests)."""
        await init_beanie(database=self.database, document_models=self.models, skip_indexes=True)

    async def ping(self) -> None:
        await self.database.command("ping")

    async def close(self) -> None:
        await self.client.close()


def is_unreachable(exc: BaseException) -> bool:
    """The document store could not be reached or stayed busy (an outage: worth retrying later),
    as opposed to a refused command (a bug)."""
    if isinstance(exc, ConnectionFailure):  # includes AutoReconnect and server selection
        return True
    return isinstance(exc, OperationFailure) and exc.code == WRITE_CONFLICT
