"""Idempotency keys: one row per (user, operation, client key), written in the same transaction
as the effect it guards, so that the key exists exactly when the effect does.

A retry after any fault (a lost connection after COMMIT, a killed process, Redis down) finds the
row and answers the first result; a request that died before COMMIT left no row, so nothing
blocks its key. The client's key is stored hashed (fixed length, no collation surprises: MySQL
compares strings case-insensitively). Rows are kept for `KEEP` and then deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, timestamp_column, utcnow

KEEP = timedelta(hours=24)


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "operation", "key_hash", name="uq_idempotency_keys"),
        Index("ix_idempotency_keys_created", "created_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    user_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    operation: str = Field(sa_type=String(64))
    key_hash: str = Field(sa_type=String(64))  # sha256 of the client's key, hex
    request_hash: str = Field(sa_type=String(64))  # sha256 of the request's arguments, hex
    result: str = Field(sa_type=String(255))  # the created ids, comma-separated
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class KeyTaken(Exception):
    """Another unit of work committed this key first: this one must roll back."""


async def find(
    db: AsyncSession, user_id: int, operation: str, key_hash: str
) -> IdempotencyKey | None:
    return (
        await db.exec(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.operation == operation,
                IdempotencyKey.key_hash == key_hash,
            )
        )
    ).first()


async def record(db: AsyncSession, row: IdempotencyKey) -> None:
    """Adds the key to the caller's unit of work (after its effect, so that the result is
    known). On MySQL an uncommitted twin makes this wait until the twin commits (then KeyTaken,
    and the caller's unit of work rolls back) or rolls back (then this one proceeds)."""
    db.add(row)
    try:
        await db.flush()
    except IntegrityError:
        raise KeyTaken from None


async def delete_expired(db: AsyncSession, now: datetime) -> int:
    result = await db.exec(
        delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < now - KEEP)
    )
    return int(result.rowcount or 0)
