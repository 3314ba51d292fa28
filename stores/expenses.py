"""Expenses, their shares and settlements, in integer minor units (MySQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, String, delete
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import (
    BigIntKey,
    plain_rows,
    select_plain,
    timestamp_column,
    touch_event,
    utcnow,
)


def _participant(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    # participants are never deleted while their event exists (they leave or are removed)
    return Column(BigIntKey, ForeignKey("participants.id", ondelete="CASCADE"), nullable=nullable)


class Expense(SQLModel, table=True):
    __tablename__ = "expenses"
    __table_args__ = (
        Index("ix_expenses_event", "event_id", "id"),
        Index("ix_expenses_paid_by", "paid_by_id"),
        Index("ix_expenses_created_by", "created_by_id"),
        CheckConstraint("amount_minor > 0", name="ck_expenses_amount"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_type=String(200))
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(sa_type=String(3))
    paid_by_id: int = Field(sa_column=_participant())
    spent_at: datetime = Field(sa_column=timestamp_column())
    category: str = Field(default="OTHER", sa_type=String(24))
    note: str = Field(default="", sa_type=String(1000))
    split_mode: str = Field(sa_type=String(16))
    created_by_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigIntKey, ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
        ),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    version: int = 1


class ExpenseShare(SQLModel, table=True):
    __tablename__ = "expense_shares"
    __table_args__ = (
        Index("ix_expense_shares_participant", "participant_id"),
        CheckConstraint("share_minor >= 0", name="ck_expense_shares_amount"),
    )

    expense_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("expenses.id", ondelete="CASCADE"), primary_key=True)
    )
    participant_id: int = Field(
        sa_column=Column(
            BigIntKey, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
        )
    )
    share_minor: int = Field(sa_type=BigInteger)
    # what was asked: a weight (SHARES), a percentage, an exact amount; null for EQUAL
    value: str | None = Field(default=None, sa_type=String(32))
    position: int = 0


class Settlement(SQLModel, table=True):
    """A reimbursement from one participant to another."""

    __tablename__ = "settlements"
    __table_args__ = (
        Index("ix_settlements_event", "event_id", "id"),
        Index("ix_settlements_from", "from_id"),
        Index("ix_settlements_to", "to_id"),
        Index("ix_settlements_recorded_by", "recorded_by_id"),
        CheckConstraint("amount_minor > 0", name="ck_settlements_amount"),
        CheckConstraint("from_id <> to_id", name="ck_settlements_parties"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    from_id: int = Field(sa_column=_participant())
    to_id: int = Field(sa_column=_participant())
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(sa_type=String(3))
    recorded_by_id: int | None = Field(
        default=None,
        sa_column=Column(
            BigIntKey, ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
        ),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


async def add_expense(
    db: AsyncSession, expense: Expense, shares: Sequence[ExpenseShare]
) -> Expense:
    touch_event(db, expense.event_id)
    db.add(expense)
    await db.flush()
    await replace_shares(db, expense, shares)
    return expense


async def replace_shares(
    db: AsyncSession, expense: Expense, shares: Sequence[ExpenseShare]
) -> None:
    assert expense.id is not None
    touch_event(db, expense.event_id)
    await db.exec(delete(ExpenseShare).where(col(ExpenseShare.expense_id) == expense.id))
    for position, share in enumerate(shares):
        share.expense_id = expense.id
        share.position = position
        db.add(share)
    await db.flush()


async def lock_expense(db: AsyncSession, expense_id: int) -> Expense | None:
    stmt = select(Expense).where(Expense.id == expense_id).with_for_update()
    return (await db.exec(stmt)).first()


async def save_expense(db: AsyncSession, expense: Expense) -> Expense:
    expense.updated_at = utcnow()
    expense.version += 1
    touch_event(db, expense.event_id)
    db.add(expense)
    await db.flush()
    return expense


async def delete_expense(db: AsyncSession, expense: Expense) -> None:
    expense_id = expense.id
    touch_event(db, expense.event_id)
    await db.exec(delete(ExpenseShare).where(col(ExpenseShare.expense_id) == expense_id))
    await db.exec(delete(Expense).where(col(Expense.id) == expense_id))


async def delete_event_money(db: AsyncSession, event_id: int) -> None:
    touch_event(db, event_id)
    ids = select(Expense.id).where(Expense.event_id == event_id)
    await db.exec(delete(ExpenseShare).where(col(ExpenseShare.expense_id).in_(ids)))
    await db.exec(delete(Expense).where(col(Expense.event_id) == event_id))
    await db.exec(delete(Settlement).where(col(Settlement.event_id) == event_id))


async def add_settlement(db: AsyncSession, settlement: Settlement) -> Settlement:
    touch_event(db, settlement.event_id)
    db.add(settlement)
    await db.flush()
    return settlement


async def expenses_of_events(db: AsyncSession, event_ids: Sequence[int]) -> list[Expense]:
    if not event_ids:
        return []
    stmt = (
        select_plain(Expense)
        .where(col(Expense.event_id).in_(list(event_ids)))
        .order_by(col(Expense.event_id), col(Expense.spent_at).desc(), col(Expense.id).desc())
    )
    return await plain_rows(db, stmt)


async def shares_of_expenses(
    db: AsyncSession, expense_ids: Sequence[int]
) -> dict[int, list[ExpenseShare]]:
    result: dict[int, list[ExpenseShare]] = {i: [] for i in expense_ids}
    if not expense_ids:
        return result
    stmt = (
        select_plain(ExpenseShare)
        .where(col(ExpenseShare.expense_id).in_(list(expense_ids)))
        .order_by(col(ExpenseShare.expense_id), col(ExpenseShare.position))
    )
    for share in await plain_rows(db, stmt):
        result[share.expense_id].append(share)
    return result


async def settlements_of_events(db: AsyncSession, event_ids: Sequence[int]) -> list[Settlement]:
    if not event_ids:
        return []
    stmt = (
        select_plain(Settlement)
        .where(col(Settlement.event_id).in_(list(event_ids)))
        .order_by(col(Settlement.event_id), col(Settlement.id))
    )
    return await plain_rows(db, stmt)


async def has_money(db: AsyncSession, event_id: int) -> bool:
    """Whether expenses or settlements are recorded (the currency is then fixed)."""
    for model in (Expense, Settlement):
        stmt = select(model.id).where(model.event_id == event_id).limit(1)
        if (await db.exec(stmt)).first() is not None:
            return True
    return False
