"""Invitations and join requests in MySQL.

At most one pending invitation per (event, invitee) and one pending join request per
(event, user): a `pending_key` column is set while pending and NULL after, under a unique index
(portable: MySQL has no partial indexes).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint, or_
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, timestamp_column, utcnow


class InvitationStatus(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"  # derived at read time from expires_at


class JoinRequestStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class Invitation(SQLModel, table=True):
    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("pending_key", name="uq_invitations_pending"),
        Index("ix_invitations_event", "event_id"),
        Index("ix_invitations_user", "invitee_user_id"),
        Index("ix_invitations_email", "invitee_email"),
        Index("ix_invitations_inviter", "inviter_user_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    inviter_user_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    invitee_user_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    # for someone without an account: offered when they sign up with this address
    invitee_email: str | None = Field(default=None, sa_type=String(254))
    role: str = Field(sa_type=String(16))
    message: str = Field(default="", sa_type=String(500))
    status: str = Field(default=InvitationStatus.PENDING.value, sa_type=String(16))
    pending_key: str | None = Field(default=None, sa_type=String(300))
    expires_at: datetime = Field(sa_column=timestamp_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    responded_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))

    def effective_status(self, now: datetime) -> InvitationStatus:
        if self.status == InvitationStatus.PENDING.value and self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return InvitationStatus(self.status)

    def close(self, status: InvitationStatus) -> None:
        self.status = status.value
        self.pending_key = None
        self.responded_at = utcnow()


def invitation_key(event_id: int, user_id: int | None, email: str | None) -> str:
    return f"{event_id}:u{user_id}" if user_id is not None else f"{event_id}:e{email}"


class JoinRequest(SQLModel, table=True):
    __tablename__ = "join_requests"
    __table_args__ = (
        UniqueConstraint("pending_key", name="uq_join_requests_pending"),
        Index("ix_join_requests_event", "event_id"),
        Index("ix_join_requests_user", "user_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    message: str = Field(default="", sa_type=String(500))
    status: str = Field(default=JoinRequestStatus.PENDING.value, sa_type=String(16))
    pending_key: str | None = Field(default=None, sa_type=String(64))
    decided_by_user_id: int | None = Field(default=None, sa_type=BigIntKey)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    decided_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))


# --- invitations -------------------------------------------------------------------------------


async def add(db: AsyncSession, row: Invitation | JoinRequest) -> None:
    db.add(row)
    await db.flush()


async def pending_invitation(db: AsyncSession, key: str) -> Invitation | None:
    stmt = select(Invitation).where(Invitation.pending_key == key).with_for_update()
    return (await db.exec(stmt)).first()


async def invitation_by_id(db: AsyncSession, invitation_id: int) -> Invitation | None:
    stmt = select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    return (await db.exec(stmt)).first()


async def invitations_for(
    db: AsyncSession, user_id: int, email: str, statuses: Sequence[str] | None
) -> list[Invitation]:
    """Invitations addressed to the user, by account or by their (confirmed) email."""
    stmt = select(Invitation).where(
        or_(col(Invitation.invitee_user_id) == user_id, col(Invitation.invitee_email) == email)
    )
    if statuses:
        stmt = stmt.where(col(Invitation.status).in_(list(statuses)))
    stmt = stmt.order_by(col(Invitation.id).desc()).limit(200)
    return list((await db.exec(stmt)).all())


async def invitations_of_events(db: AsyncSession, event_ids: Sequence[int]) -> list[Invitation]:
    if not event_ids:
        return []
    stmt = (
        select(Invitation)
        .where(col(Invitation.event_id).in_(list(event_ids)))
        .order_by(col(Invitation.id).desc())
    )
    return list((await db.exec(stmt)).all())


async def save(db: AsyncSession, row: Invitation | JoinRequest) -> None:
    db.add(row)
    await db.flush()


# --- join requests -----------------------------------------------------------------------------


async def pending_join_request(db: AsyncSession, event_id: int, user_id: int) -> JoinRequest | None:
    stmt = select(JoinRequest).where(JoinRequest.pending_key == f"{event_id}:{user_id}")
    return (await db.exec(stmt.with_for_update())).first()


async def join_request_by_id(db: AsyncSession, request_id: int) -> JoinRequest | None:
    stmt = select(JoinRequest).where(JoinRequest.id == request_id).with_for_update()
    return (await db.exec(stmt)).first()


async def join_requests_of_events(db: AsyncSession, event_ids: Sequence[int]) -> list[JoinRequest]:
    if not event_ids:
        return []
    stmt = (
        select(JoinRequest)
        .where(col(JoinRequest.event_id).in_(list(event_ids)))
        .order_by(col(JoinRequest.id).desc())
    )
    return list((await db.exec(stmt)).all())
