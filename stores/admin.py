"""Administration in MySQL: the append-only audit log and the instance settings row.

Store functions add and flush; they never commit (the resolver's unit of work does). The
audit log has no update or delete function on purpose: entries are written once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Index, String, Text, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.accounts import User, UserSession
from stores.db import BigIntKey, UTCDateTime, utcnow
from stores.events import Event, EventStatus
from stores.outbox import OutboxEvent, pending_count

SETTINGS_ROW = 1


class AuditEntry(SQLModel, table=True):
    __tablename__ = "admin_audit_log"
    __table_args__ = (
        Index("ix_admin_audit_log_actor", "actor_id", "id"),
        Index("ix_admin_audit_log_action", "action", "id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    # no foreign key: the entry outlives the accounts it names
    actor_id: int = Field(sa_type=BigIntKey)
    actor_username: str = Field(sa_type=String(30))
    action: str = Field(sa_type=String(40))
    target_type: str = Field(sa_type=String(24))
    target_id: str = Field(sa_type=String(64))
    reason: str = Field(sa_type=String(500))
    details: str = Field(default="{}", sa_column=Column(Text(), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )

    def details_dict(self) -> dict[str, Any]:
        value = json.loads(self.details or "{}")
        return value if isinstance(value, dict) else {}


class InstanceSettings(SQLModel, table=True):
    __tablename__ = "instance_settings"

    id: int = Field(
        default=SETTINGS_ROW, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    registrations_open: bool = True
    banner: str | None = Field(default=None, sa_type=String(500))
    version: int = 1
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_by: int | None = Field(default=None, sa_type=BigIntKey)


# --- audit log ---------------------------------------------------------------------------------


def add_audit_entry(db: AsyncSession, entry: AuditEntry) -> None:
    """Added to the action's own unit of work: the entry commits with the action or not at all."""
    db.add(entry)


async def audit_page(
    db: AsyncSession, *, limit: int, before_id: int | None, actor_id: int | None, action: str | None
) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(col(AuditEntry.id) < before_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    return list((await db.exec(stmt)).all())


# --- instance settings -------------------------------------------------------------------------


async def instance_settings(db: AsyncSession, *, for_update: bool = False) -> InstanceSettings:
    """The settings row; defaults (registrations open, no banner) until an admin changes one."""
    stmt = select(InstanceSettings).where(InstanceSettings.id == SETTINGS_ROW)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await db.exec(stmt)).first()
    return row if row is not None else InstanceSettings(version=0)


async def save_instance_settings(db: AsyncSession, row: InstanceSettings) -> InstanceSettings:
    row.version += 1
    row.updated_at = utcnow()
    merged = await db.merge(row)
    await db.flush()
    return merged


# --- users -------------------------------------------------------------------------------------


async def users_page(
    db: AsyncSession,
    *,
    limit: int,
    after_id: int | None,
    search: str | None,
    role: str | None,
    active: bool | None,
) -> list[User]:
    """Newest accounts first (by id); search matches username, email or name (contains)."""
    stmt = select(User).order_by(col(User.id).desc()).limit(limit)
    if after_id is not None:
        stmt = stmt.where(col(User.id) < after_id)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if active is not None:
        stmt = stmt.where(User.is_active == active)
    if search:
        pattern = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        full_name = func.lower(col(User.first_name) + " " + col(User.last_name))
        stmt = stmt.where(
            col(User.username_key).like(pattern, escape="\\")
            | col(User.email).like(pattern, escape="\\")
            | full_name.like(pattern, escape="\\")
        )
    return list((await db.exec(stmt)).all())


async def active_admin_ids(db: AsyncSession, *, for_update: bool = False) -> list[int]:
    """Locked when asked, so two admins demoting each other at once cannot both succeed."""
    stmt = select(User.id).where(User.role == "ADMIN", col(User.is_active).is_(True))
    if for_update:
        stmt = stmt.with_for_update()
    return [i for i in (await db.exec(stmt)).all() if i is not None]


# --- statistics --------------------------------------------------------------------------------


async def _count(db: AsyncSession, stmt: Any) -> int:
    return int((await db.exec(stmt)).one())


async def sql_counts(db: AsyncSession, *, now: datetime, since: datetime) -> dict[str, int]:
    """Users (all, used a session since `since`, disabled), events (upcoming, past, cancelled)
    and pending outbox rows."""
    live = col(Event.status) != EventStatus.CANCELLED.value
    return {
        "users": await _count(db, select(func.count()).select_from(User)),
        "active": await _count(
            db,
            select(func.count(func.distinct(UserSession.user_id))).where(
                col(UserSession.last_used_at) >= since
            ),
        ),
        "disabled": await _count(
            db, select(func.count()).select_from(User).where(col(User.is_active).is_(False))
        ),
        "upcoming": await _count(
            db, select(func.count()).select_from(Event).where(live, col(Event.starts_at) >= now)
        ),
        "past": await _count(
            db, select(func.count()).select_from(Event).where(live, col(Event.ends_at) < now)
        ),
        "cancelled": await _count(
            db,
            select(func.count())
            .select_from(Event)
            .where(col(Event.status) == EventStatus.CANCELLED.value),
        ),
        "outbox": await pending_count(db),
    }


async def oldest_pending_outbox(db: AsyncSession, *, now: datetime) -> datetime | None:
    """When the oldest row the dispatcher should already have handled was written."""
    stmt = select(func.min(OutboxEvent.created_at)).where(
        col(OutboxEvent.handled_at).is_(None), col(OutboxEvent.available_at) <= now
    )
    value = (await db.exec(stmt)).one()
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def audit_entries(db: AsyncSession, ids: list[int]) -> list[AuditEntry]:
    if not ids:
        return []
    return list((await db.exec(select(AuditEntry).where(col(AuditEntry.id).in_(ids)))).all())
