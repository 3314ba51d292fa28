"""Relational store plumbing: engine, column types, the unit of work, statement counting."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, DateTime, Integer, event, select, text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import col
from sqlmodel import select as sqlmodel_select
from sqlmodel.ext.asyncio.session import AsyncSession

# BIGINT keys on MySQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """DATETIME(6) holding UTC; values come back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def key_of(row: Any) -> int:
    """The key of a row read from the database (only a row not yet flushed has none)."""
    key = row.id
    if key is None:
        raise ValueError(f"{type(row).__name__} has no key yet")
    return int(key)


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp_column(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    """A DATETIME(6) UTC column (a fresh Column per field: SQLAlchemy binds it to one table)."""
    return Column(UTCDateTime(), nullable=nullable)


# Statements sent during the current request (query-count tests and the request log).
log = logging.getLogger("iven.db")
TOUCHED_EVENTS = "touched_events"


def touch_event(db: AsyncSession, event_id: int) -> None:
    """Marks that this unit of work changes an event's content (tasks, expenses, shares,
    settlements): once committed, the commit hooks bump its cached version."""
    db.info.setdefault(TOUCHED_EVENTS, set()).add(event_id)


statement_count: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "statement_count", default=None
)


def _count_statement(*_args: Any, **_kwargs: Any) -> None:
    counter = statement_count.get()
    if counter is not None:
        counter[0] += 1


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, *, connect_timeout: float = 5.0) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            url,
            pool_size=10,
            max_overflow=10,
            pool_recycle=1800,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, int(connect_timeout)), "charset": "utf8mb4"},
        )
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


class Database:
    """Owns the engine for the app's lifetime; hands out units of work."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Called after each successful commit with the unit of work's `session.info` (what it
        # marked, e.g. `touch_event`); a failing hook is logged, the commit stands.
        self.commit_hooks: list[Callable[[dict[str, Any]], Awaitable[None]]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits once on success, rolls back on any exception; then runs
        the commit hooks (never for a rolled-back unit)."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            async with session.begin():
                if self.dialect == "sqlite":
                    # SQLite has no row locks: take the write lock up front so that read-check-
                    # write units of work are serialised, as SELECT ... FOR UPDATE does on MySQL.
                    connection = await session.connection()
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield session
            marks = dict(session.info)
        if marks:
            for hook in self.commit_hooks:
                try:
                    await hook(marks)
                except Exception:
                    log.exception("commit hook failed")

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


T = TypeVar("T")
RETRYABLE_MYSQL = {1213, 1205}  # deadlock, lock wait timeout


def is_retryable(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return code in RETRYABLE_MYSQL or "database is locked" in str(exc.orig)


async def retry_transaction(op: Callable[[], Awaitable[T]], attempts: int = 8) -> T:
    """Runs a whole unit of work again when the database chose it as a deadlock victim
    (nothing of it was committed). `op` must open its own unit of work."""
    for attempt in range(attempts):
        try:
            return await op()
        except OperationalError as exc:
            if attempt == attempts - 1 or not is_retryable(exc):
                raise
            # jittered and growing: two victims that retry in step would deadlock again
            await asyncio.sleep(random.uniform(0.5, 1.0) * min(0.5, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


async def rows_by_ids(db: AsyncSession, model: Any, ids: Sequence[int]) -> list[Any]:
    """Rows of a table with an `id` key, for node(id:) lookups (callers authorise)."""
    if not ids:
        return []
    return list((await db.exec(sqlmodel_select(model).where(col(model.id).in_(list(ids))))).all())


def select_plain(model: Any) -> Any:
    """SELECT of a table's columns, for `plain_rows`."""
    return select(*model.__table__.columns)


async def plain_rows(db: AsyncSession, stmt: Any) -> list[Any]:
    """Read-only rows for the read path: SQLAlchemy Rows carry the table's columns as attributes
    (named like the model's fields, with the same type conversions) without an ORM instance,
    identity map entry and instance state each. An event page reads ~170 of them; as ORM
    objects they were a quarter of its CPU (bench/bench_event_page.py)."""
    connection = await db.connection()
    return list((await connection.execute(stmt)).all())
