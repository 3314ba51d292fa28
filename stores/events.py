"""Events and participants in MySQL. Reads that depend on the viewer are scoped here.

Store functions add and flush; they never commit (the resolver's unit of work does).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, get_args

from pydantic.fields import FieldInfo
from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    or_,
    update,
)
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, timestamp_column, utcnow


class EventStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


class Visibility(enum.StrEnum):
    PRIVATE = "PRIVATE"
    UNLISTED = "UNLISTED"


class ParticipantRole(enum.StrEnum):
    OWNER = "OWNER"
    ORGANIZER = "ORGANIZER"
    PARTICIPANT = "PARTICIPANT"


class Rsvp(enum.StrEnum):
    GOING = "GOING"
    MAYBE = "MAYBE"
    DECLINED = "DECLINED"


class ParticipantState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    LEFT = "LEFT"
    REMOVED = "REMOVED"


def new_share_token() -> str:
    return secrets.token_urlsafe(18)


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_starts_at", "starts_at"),
        CheckConstraint("ends_at >= starts_at", name="ck_events_dates"),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="ck_events_capacity"),
        UniqueConstraint("share_token", name="uq_events_share_token"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    title: str = Field(sa_type=String(200))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    starts_at: datetime = Field(sa_column=timestamp_column())
    ends_at: datetime = Field(sa_column=timestamp_column())
    timezone: str = Field(sa_type=String(64))
    location_name: str | None = Field(default=None, sa_type=String(200))
    location_address: str | None = Field(default=None, sa_type=String(500))
    latitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    longitude: Decimal | None = Field(default=None, sa_type=Numeric(9, 6))
    status: str = Field(default=EventStatus.ACTIVE.value, sa_type=String(16))
    visibility: str = Field(default=Visibility.PRIVATE.value, sa_type=String(16))
    capacity: int | None = None
    currency: str = Field(sa_type=String(3))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    version: int = 1
    # the start time the 24 h reminder was sent for (a new start time gets a new reminder)
    reminded_for: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    # how outsiders reach an UNLISTED event (the sequential id is no secret): 144 random bits
    share_token: str = Field(default_factory=new_share_token, sa_type=String(32))
    # the event's cover: a Media document of the event (an image), by its id
    cover_media_id: str | None = Field(default=None, sa_type=String(24))


class Participant(SQLModel, table=True):
    """A member of an event. Rows stay after leaving/removal so history keeps the name."""

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id", name="uq_participants_event_user"),
        # exactly one owner per event: only the owner row has owner_marker = 1
        UniqueConstraint("event_id", "owner_marker", name="uq_participants_one_owner"),
        CheckConstraint(
            "(role = 'OWNER' AND owner_marker = 1) OR (role <> 'OWNER' AND owner_marker IS NULL)",
            name="ck_participants_owner_marker",
        ),
        Index("ix_participants_user", "user_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    role: str = Field(default=ParticipantRole.PARTICIPANT.value, sa_type=String(16))
    owner_marker: int | None = Field(default=None, sa_type=SmallInteger)
    rsvp: str = Field(default=Rsvp.GOING.value, sa_type=String(16))
    state: str = Field(default=ParticipantState.ACTIVE.value, sa_type=String(16))
    display_name: str = Field(sa_type=String(161))
    joined_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    left_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))

    @property
    def is_active(self) -> bool:
        return self.state == ParticipantState.ACTIVE.value

    def set_role(self, role: ParticipantRole) -> None:
        self.role = role.value
        self.owner_marker = 1 if role is ParticipantRole.OWNER else None


class InviteLink(SQLModel, table=True):
    """A shareable join link; only a keyed hash of its token is stored."""

    __tablename__ = "invite_links"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_invite_links_token"),
        Index("ix_invite_links_event", "event_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    token_hash: str = Field(sa_type=String(64))
    role: str = Field(default=ParticipantRole.PARTICIPANT.value, sa_type=String(16))
    created_by_id: int | None = Field(default=None, sa_type=BigIntKey)
    expires_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    max_uses: int | None = None
    uses: int = 0
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    def usable(self, now: datetime) -> bool:
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and (self.max_uses is None or self.uses < self.max_uses)
        )


# --- events ------------------------------------------------------------------------------------


async def add_event(db: AsyncSession, event: Event) -> Event:
    db.add(event)
    await db.flush()
    return event


async def lock_event(db: AsyncSession, event_id: int) -> Event | None:
    stmt = select(Event).where(Event.id == event_id).with_for_update()
    return (await db.exec(stmt)).first()


async def save_event(db: AsyncSession, event: Event) -> Event:
    event.updated_at = utcnow()
    event.version += 1
    db.add(event)
    await db.flush()
    return event


async def delete_event(db: AsyncSession, event_id: int) -> None:
    """Everything that belongs to the event goes with it (ON DELETE CASCADE)."""
    await db.exec(delete(Event).where(col(Event.id) == event_id))


async def events_by_ids(db: AsyncSession, ids: Sequence[int]) -> list[Event]:
    if not ids:
        return []
    return list((await db.exec(select(Event).where(col(Event.id).in_(list(ids))))).all())


async def owned_events(db: AsyncSession, user_id: int) -> dict[int, int]:
    """Events the user owns, with their number of active participants."""
    owned = select(Participant.event_id).where(
        col(Participant.user_id) == user_id, col(Participant.role) == ParticipantRole.OWNER.value
    )
    stmt = (
        select(Participant.event_id, func.count())
        .where(
            col(Participant.event_id).in_(owned),
            col(Participant.state) == ParticipantState.ACTIVE.value,
        )
        .group_by(col(Participant.event_id))
    )
    return {int(e): int(n) for e, n in (await db.exec(stmt)).all()}


async def leave_all(db: AsyncSession, user_id: int) -> list[int]:
    """Ends every active participation of the user (account deletion); returns the events."""
    stmt = select(Participant.event_id).where(
        col(Participant.user_id) == user_id, col(Participant.state) == ParticipantState.ACTIVE.value
    )
    event_ids = [int(e) for e in (await db.exec(stmt)).all()]
    if event_ids:
        await db.exec(
            update(Participant)
            .where(
                col(Participant.user_id) == user_id,
                col(Participant.state) == ParticipantState.ACTIVE.value,
            )
            .values(
                state=ParticipantState.LEFT.value,
                left_at=utcnow(),
                role=ParticipantRole.PARTICIPANT.value,
                owner_marker=None,
            )
        )
    return event_ids


async def memberships(
    db: AsyncSession, user_id: int, event_ids: Sequence[int]
) -> list[Participant]:
    """The user's active participations among these events (always read fresh)."""
    if not event_ids:
        return []
    stmt = select(Participant).where(
        col(Participant.user_id) == user_id,
        col(Participant.event_id).in_(list(event_ids)),
        col(Participant.state) == ParticipantState.ACTIVE.value,
    )
    return list((await db.exec(stmt)).all())


async def active_event_ids(db: AsyncSession, user_id: int) -> list[int]:
    """The events the user takes part in now (for presence notices)."""
    stmt = select(Participant.event_id).where(
        col(Participant.user_id) == user_id, col(Participant.state) == ParticipantState.ACTIVE.value
    )
    return [int(i) for i in (await db.exec(stmt)).all()]


async def share_an_event(db: AsyncSession, user_id: int, other_id: int) -> bool:
    """Both take part (actively) in at least one same event."""
    mine = select(Participant.event_id).where(
        col(Participant.user_id) == user_id, col(Participant.state) == ParticipantState.ACTIVE.value
    )
    stmt = (
        select(Participant.id)
        .where(
            col(Participant.user_id) == other_id,
            col(Participant.state) == ParticipantState.ACTIVE.value,
            col(Participant.event_id).in_(mine),
        )
        .limit(1)
    )
    return (await db.exec(stmt)).first() is not None


async def event_by_share_token(
    db: AsyncSession, token: str, *, for_update: bool = False
) -> Event | None:
    """The event holding this share token (callers decide what its visibility allows)."""
    stmt = select(Event).where(col(Event.share_token) == token)
    if for_update:
        stmt = stmt.with_for_update()
    return (await db.exec(stmt)).first()


async def users_sharing_an_event(
    db: AsyncSession, user_id: int, other_ids: Sequence[int]
) -> set[int]:
    """Which of `other_ids` take part (actively) in at least one event the user takes part in."""
    if not other_ids:
        return set()
    mine = select(Participant.event_id).where(
        col(Participant.user_id) == user_id, col(Participant.state) == ParticipantState.ACTIVE.value
    )
    stmt = (
        select(Participant.user_id)
        .where(
            col(Participant.user_id).in_(list(other_ids)),
            col(Participant.state) == ParticipantState.ACTIVE.value,
            col(Participant.event_id).in_(mine),
        )
        .distinct()
    )
    return {int(u) for u in (await db.exec(stmt)).all() if u is not None}


async def my_events_page(
    db: AsyncSession,
    viewer_id: int,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
    starts_after: datetime | None,
    starts_before: datetime | None,
    role: ParticipantRole | None,
    status: EventStatus | None,
    descending: bool,
) -> list[tuple[Event, Participant]]:
    stmt = (
        select(Event, Participant)
        .join(Participant, col(Participant.event_id) == col(Event.id))
        .where(
            col(Participant.user_id) == viewer_id,
            col(Participant.state) == ParticipantState.ACTIVE.value,
        )
    )
    if starts_after is not None:
        stmt = stmt.where(col(Event.ends_at) >= starts_after)
    if starts_before is not None:
        stmt = stmt.where(col(Event.ends_at) < starts_before)
    if role is not None:
        stmt = stmt.where(col(Participant.role) == role.value)
    if status is not None:
        stmt = stmt.where(col(Event.status) == status.value)
    if after is not None:
        at, event_id = after
        if descending:
            stmt = stmt.where(
                or_(
                    col(Event.starts_at) < at,
                    and_(col(Event.starts_at) == at, col(Event.id) < event_id),
                )
            )
        else:
            stmt = stmt.where(
                or_(
                    col(Event.starts_at) > at,
                    and_(col(Event.starts_at) == at, col(Event.id) > event_id),
                )
            )
    order = (
        (col(Event.starts_at).desc(), col(Event.id).desc())
        if descending
        else (col(Event.starts_at).asc(), col(Event.id).asc())
    )
    stmt = stmt.order_by(*order).limit(limit)
    return [(e, p) for e, p in (await db.exec(stmt)).all()]


# --- participants ------------------------------------------------------------------------------


async def add_participant(db: AsyncSession, participant: Participant) -> Participant:
    db.add(participant)
    await db.flush()
    return participant


async def participant_for_user(
    db: AsyncSession, event_id: int, user_id: int, *, for_update: bool = False
) -> Participant | None:
    stmt = select(Participant).where(
        Participant.event_id == event_id, Participant.user_id == user_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await db.exec(stmt)).first()


async def participant_by_id(
    db: AsyncSession, participant_id: int, *, for_update: bool = False
) -> Participant | None:
    stmt = select(Participant).where(Participant.id == participant_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await db.exec(stmt)).first()


async def participants_by_ids(db: AsyncSession, ids: Sequence[int]) -> list[Participant]:
    if not ids:
        return []
    stmt = select(Participant).where(col(Participant.id).in_(list(ids)))
    return list((await db.exec(stmt)).all())


async def participants_of_events(
    db: AsyncSession, event_ids: Sequence[int], *, active_only: bool = True
) -> list[Participant]:
    if not event_ids:
        return []
    stmt = select(Participant).where(col(Participant.event_id).in_(list(event_ids)))
    if active_only:
        stmt = stmt.where(col(Participant.state) == ParticipantState.ACTIVE.value)
    stmt = stmt.order_by(col(Participant.event_id), col(Participant.joined_at), col(Participant.id))
    return list((await db.exec(stmt)).all())


async def active_count(db: AsyncSession, event_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(Participant)
        .where(Participant.event_id == event_id, Participant.state == ParticipantState.ACTIVE.value)
    )
    return int((await db.exec(stmt)).one())


async def save_participant(db: AsyncSession, participant: Participant) -> Participant:
    db.add(participant)
    await db.flush()
    return participant


# --- invite links ------------------------------------------------------------------------------


async def add_invite_link(db: AsyncSession, link: InviteLink) -> InviteLink:
    db.add(link)
    await db.flush()
    return link


async def invite_link_by_hash(db: AsyncSession, token_hash: str) -> InviteLink | None:
    stmt = select(InviteLink).where(InviteLink.token_hash == token_hash).with_for_update()
    return (await db.exec(stmt)).first()


async def invite_link_by_id(db: AsyncSession, link_id: int) -> InviteLink | None:
    stmt = select(InviteLink).where(InviteLink.id == link_id).with_for_update()
    return (await db.exec(stmt)).first()


async def save_invite_link(db: AsyncSession, link: InviteLink) -> InviteLink:
    db.add(link)
    await db.flush()
    return link


async def invite_links_of_event(db: AsyncSession, event_id: int) -> list[InviteLink]:
    stmt = (
        select(InviteLink)
        .where(InviteLink.event_id == event_id)
        .order_by(col(InviteLink.id).desc())
    )
    return list((await db.exec(stmt)).all())


# --- read-cache encoding -----------------------------------------------------------------------

_RowT = TypeVar("_RowT", Event, Participant)


def to_cached(row: SQLModel) -> dict[str, Any]:
    return row.model_dump(mode="json")


def from_cached(cls: type[_RowT], data: dict[str, Any]) -> _RowT:
    """Table models are not validated by SQLModel: restore the typed values by hand. Built with
    `model_construct` (read-only copies, never added to a session): 3 µs instead of 25 µs a
    row, which an event page pays for each participant."""
    values: dict[str, Any] = {}
    fields: dict[str, FieldInfo] = cls.model_fields
    for name in fields:  # noqa: PLC0206 - mypy cannot type the .items() pair here
        annotation: Any = fields[name].annotation
        value = data.get(name)
        kinds = {annotation, *get_args(annotation)}
        if value is not None and datetime in kinds:
            value = datetime.fromisoformat(value)
        elif value is not None and Decimal in kinds:
            value = Decimal(str(value))
        values[name] = value
    return cls.model_construct(**values)


async def claim_reminders(
    db: AsyncSession, now: datetime, horizon: datetime, skip_locked: bool
) -> list[Event]:
    """Active events starting within (now, horizon] not yet reminded for that start time;
    marks them reminded (the caller records the domain event in the same transaction)."""
    stmt = (
        select(Event)
        .where(
            col(Event.status) == EventStatus.ACTIVE.value,
            col(Event.starts_at) > now,
            col(Event.starts_at) <= horizon,
            or_(col(Event.reminded_for).is_(None), col(Event.reminded_for) != col(Event.starts_at)),
        )
        .order_by(col(Event.starts_at))
        .limit(100)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    found = list((await db.exec(stmt)).all())
    for event in found:
        event.reminded_for = event.starts_at
        db.add(event)
    await db.flush()
    return found
