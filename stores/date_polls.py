"""Date polls of events (the event's date chosen by vote), in MySQL: one poll per event, its
options (a start and an end each) and one vote per participant and option."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    delete,
    or_,
)
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, plain_rows, select_plain, timestamp_column, touch_event, utcnow


class DatePollStatus(enum.StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class DateChoice(enum.StrEnum):
    YES = "YES"
    IF_NEED_BE = "IF_NEED_BE"
    NO = "NO"


class DatePoll(SQLModel, table=True):
    __tablename__ = "date_polls"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_date_polls_event"),
        Index("ix_date_polls_deadline", "status", "deadline"),
        Index("ix_date_polls_created_by", "created_by_user_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    status: str = Field(default=DatePollStatus.OPEN.value, sa_type=String(16))
    deadline: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    hide_votes: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    allow_if_need_be: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    # the option the poll was closed with (no foreign key: options and poll refer to each other)
    chosen_option_id: int | None = Field(default=None, sa_type=BigIntKey)
    created_by_user_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    closed_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    # the deadline the non-voters' reminder was sent for (a new deadline gets a new reminder)
    reminded_for: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    version: int = 1


class DatePollOption(SQLModel, table=True):
    __tablename__ = "date_poll_options"
    __table_args__ = (
        UniqueConstraint("poll_id", "starts_at", "ends_at", name="uq_date_poll_options_time"),
        CheckConstraint("ends_at >= starts_at", name="ck_date_poll_options_dates"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    poll_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("date_polls.id", ondelete="CASCADE"), nullable=False)
    )
    starts_at: datetime = Field(sa_column=timestamp_column())
    ends_at: datetime = Field(sa_column=timestamp_column())


class DatePollVote(SQLModel, table=True):
    __tablename__ = "date_poll_votes"
    __table_args__ = (
        UniqueConstraint("option_id", "participant_id", name="uq_date_poll_votes_voter"),
        Index("ix_date_poll_votes_poll", "poll_id", "participant_id"),
        Index("ix_date_poll_votes_participant", "participant_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    poll_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("date_polls.id", ondelete="CASCADE"), nullable=False)
    )
    option_id: int = Field(
        sa_column=Column(
            BigIntKey, ForeignKey("date_poll_options.id", ondelete="CASCADE"), nullable=False
        )
    )
    participant_id: int = Field(
        sa_column=Column(
            BigIntKey, ForeignKey("participants.id", ondelete="CASCADE"), nullable=False
        )
    )
    choice: str = Field(sa_type=String(16))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


# --- writes (the caller holds the event's row lock: one writer per event at a time) -----------


async def add_poll(db: AsyncSession, poll: DatePoll, options: Sequence[DatePollOption]) -> DatePoll:
    touch_event(db, poll.event_id)
    db.add(poll)
    await db.flush()
    await add_options(db, poll, options)
    return poll


async def add_options(db: AsyncSession, poll: DatePoll, options: Sequence[DatePollOption]) -> None:
    assert poll.id is not None
    touch_event(db, poll.event_id)
    for option in options:
        option.poll_id = poll.id
        db.add(option)
    await db.flush()


async def remove_options(db: AsyncSession, poll: DatePoll, option_ids: Sequence[int]) -> None:
    touch_event(db, poll.event_id)
    ids = list(option_ids)
    await db.exec(delete(DatePollVote).where(col(DatePollVote.option_id).in_(ids)))
    await db.exec(
        delete(DatePollOption).where(
            col(DatePollOption.poll_id) == poll.id, col(DatePollOption.id).in_(ids)
        )
    )


async def save_poll(db: AsyncSession, poll: DatePoll) -> DatePoll:
    poll.version += 1
    touch_event(db, poll.event_id)
    db.add(poll)
    await db.flush()
    return poll


async def set_votes(
    db: AsyncSession, poll: DatePoll, participant_id: int, choices: dict[int, DateChoice]
) -> None:
    """Replaces the participant's votes on these options (other options keep theirs)."""
    assert poll.id is not None
    touch_event(db, poll.event_id)
    await db.exec(
        delete(DatePollVote).where(
            col(DatePollVote.participant_id) == participant_id,
            col(DatePollVote.option_id).in_(list(choices)),
        )
    )
    now = utcnow()
    for option_id, choice in choices.items():
        db.add(
            DatePollVote(
                poll_id=poll.id,
                option_id=option_id,
                participant_id=participant_id,
                choice=choice.value,
                updated_at=now,
            )
        )
    await db.flush()


# --- reads ------------------------------------------------------------------------------------


async def lock_poll(db: AsyncSession, poll_id: int) -> DatePoll | None:
    stmt = select(DatePoll).where(DatePoll.id == poll_id).with_for_update()
    return (await db.exec(stmt)).first()


async def poll_of_event(db: AsyncSession, event_id: int) -> DatePoll | None:
    return (await db.exec(select(DatePoll).where(DatePoll.event_id == event_id))).first()


async def options_of(db: AsyncSession, poll_ids: Sequence[int]) -> list[DatePollOption]:
    if not poll_ids:
        return []
    stmt = (
        select_plain(DatePollOption)
        .where(col(DatePollOption.poll_id).in_(list(poll_ids)))
        .order_by(col(DatePollOption.starts_at), col(DatePollOption.ends_at))
    )
    return await plain_rows(db, stmt)


async def votes_of(db: AsyncSession, poll_ids: Sequence[int]) -> list[DatePollVote]:
    if not poll_ids:
        return []
    stmt = (
        select_plain(DatePollVote)
        .where(col(DatePollVote.poll_id).in_(list(poll_ids)))
        .order_by(col(DatePollVote.option_id), col(DatePollVote.participant_id))
    )
    return await plain_rows(db, stmt)


async def polls_of_events(db: AsyncSession, event_ids: Sequence[int]) -> list[DatePoll]:
    if not event_ids:
        return []
    stmt = select_plain(DatePoll).where(col(DatePoll.event_id).in_(list(event_ids)))
    return await plain_rows(db, stmt)


async def polls_by_ids(db: AsyncSession, ids: Sequence[int]) -> list[DatePoll]:
    if not ids:
        return []
    return await plain_rows(db, select_plain(DatePoll).where(col(DatePoll.id).in_(list(ids))))


async def due_polls(
    db: AsyncSession, now: datetime, skip_locked: bool, limit: int = 100
) -> list[DatePoll]:
    """Open polls whose deadline has passed (locked: one process closes each)."""
    stmt = (
        select(DatePoll)
        .where(
            col(DatePoll.status) == DatePollStatus.OPEN.value,
            col(DatePoll.deadline).is_not(None),
            col(DatePoll.deadline) <= now,
        )
        .order_by(col(DatePoll.deadline))
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await db.exec(stmt)).all())


async def claim_poll_reminders(
    db: AsyncSession, now: datetime, horizon: datetime, skip_locked: bool
) -> list[DatePoll]:
    """Open polls whose deadline falls within (now, horizon], not yet reminded for that
    deadline; marks them (the caller records the reminder in the same transaction)."""
    stmt = (
        select(DatePoll)
        .where(
            col(DatePoll.status) == DatePollStatus.OPEN.value,
            col(DatePoll.deadline) > now,
            col(DatePoll.deadline) <= horizon,
            or_(
                col(DatePoll.reminded_for).is_(None),
                col(DatePoll.reminded_for) != col(DatePoll.deadline),
            ),
        )
        .order_by(col(DatePoll.deadline))
        .limit(100)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    found = list((await db.exec(stmt)).all())
    for poll in found:
        poll.reminded_for = poll.deadline
        db.add(poll)
    await db.flush()
    return found


async def voter_ids(db: AsyncSession, poll_id: int) -> set[int]:
    """The participants who voted on at least one option."""
    stmt = select(DatePollVote.participant_id).where(DatePollVote.poll_id == poll_id).distinct()
    return {int(i) for i in (await db.exec(stmt)).all()}


async def delete_poll(db: AsyncSession, poll: DatePoll) -> None:
    """The poll with its options and votes (explicitly: SQLite may not enforce cascades)."""
    touch_event(db, poll.event_id)
    await db.exec(delete(DatePollVote).where(col(DatePollVote.poll_id) == poll.id))
    await db.exec(delete(DatePollOption).where(col(DatePollOption.poll_id) == poll.id))
    await db.exec(delete(DatePoll).where(col(DatePoll.id) == poll.id))
