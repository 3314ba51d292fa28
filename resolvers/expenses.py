"""Shared expenses: creation with exact splits, edits, settlements, balances and the plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from resolvers import event_content, money
from resolvers.core import idempotency
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.text import checked_text, checked_title
from resolvers.events import (
    has_role,
    member_or_hidden,
    not_cancelled,
    one_in_my_events,
    require,
)
from resolvers.projections import record_event
from stores import events as event_store
from stores import expenses as store
from stores.db import key_of, utcnow
from stores.events import Event, Participant, ParticipantRole
from stores.expenses import Expense, ExpenseShare, Settlement

TITLE_MAX = 200
NOTE_MAX = 1000
CATEGORIES = {"FOOD", "DRINKS", "TRANSPORT", "LODGING", "ACTIVITIES", "SUPPLIES", "OTHER"}
MAX_PARTS = 200


class ExpenseErrorCode(StrEnum):
    """What expense and settlement mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_DATES = "INVALID_DATES"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    STALE = "STALE"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    UNKNOWN_PARTICIPANT = "UNKNOWN_PARTICIPANT"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    ZERO_AMOUNT = "ZERO_AMOUNT"
    SPLIT_MISMATCH = "SPLIT_MISMATCH"
    INVALID_SPLIT = "INVALID_SPLIT"


@dataclass
class ExpenseData:
    title: str | None = None
    amount: str | None = None
    currency: str | None = None
    paid_by_id: int | None = None
    spent_at: datetime | None = None
    category: str | None = None
    note: str | None = None
    split_mode: money.SplitMode | None = None
    parts: list[tuple[int, str | None]] | None = None  # (participant id, value)


def _field(error: money.MoneyError, default: str) -> list[str]:
    if error.field and error.field.startswith("parts."):
        return ["split", "parts", error.field.split(".", 1)[1], "value"]
    return [default]


async def _participants(db: Any, event_id: int, ids: Sequence[int]) -> dict[int, Participant]:
    found = {p.id: p for p in await event_store.participants_by_ids(db, list(ids))}
    return {i: p for i, p in found.items() if i is not None and p.event_id == event_id}


async def _apply(
    db: Any, event: Event, expense: Expense, data: ExpenseData, shares: list[ExpenseShare] | None
) -> list[ExpenseShare] | None:
    """Validates and applies `data`; returns new shares when the split must be recomputed."""
    errors: list[DomainError] = []
    assert event.id is not None
    _apply_details(event, expense, data, errors)
    ids = [pid for pid, _ in data.parts or []]
    if data.paid_by_id is not None:
        ids.append(data.paid_by_id)
    members = await _participants(db, event.id, ids)  # one query for the payer and the parts
    if data.paid_by_id is not None:
        _apply_payer(expense, data.paid_by_id, members, errors)
    new_shares = None
    if data.split_mode is not None or data.parts is not None or data.amount is not None:
        new_shares = await _split(db, event, expense, data, members, shares, errors)
    if errors:
        raise DomainErrors(errors)
    return new_shares


def _apply_details(
    event: Event, expense: Expense, data: ExpenseData, errors: list[DomainError]
) -> None:
    """Everything but the payer and the split."""
    if data.title is not None:
        expense.title = checked_title(data.title, errors, max_len=TITLE_MAX)
    if data.currency is not None:
        _check_currency(event, data.currency, errors)
    if data.amount is not None:
        _apply_amount(event, expense, data.amount, errors)
    if data.spent_at is not None:
        _apply_spent_at(expense, data.spent_at, errors)
    if data.category is not None:
        if data.category not in CATEGORIES:
            errors.append(
                DomainError(ExpenseErrorCode.INVALID_INPUT, "Unknown category.", "category")
            )
        expense.category = data.category
    if data.note is not None:
        expense.note = checked_text(data.note, errors, max_len=NOTE_MAX, field="note")


def _check_currency(event: Event, currency: str, errors: list[DomainError]) -> None:
    # The currency is the event's; clients may repeat it but never change it.
    if currency.strip().upper() != event.currency:
        errors.append(
            DomainError(
                ExpenseErrorCode.CURRENCY_MISMATCH,
                f"This event's expenses are in {event.currency}.",
                "currency",
            )
        )


def _apply_amount(event: Event, expense: Expense, amount: str, errors: list[DomainError]) -> None:
    try:
        expense.amount_minor = money.parse_amount(amount, event.currency)
    except money.MoneyError as exc:
        errors.append(DomainError(ExpenseErrorCode(exc.code), exc.message, "amount"))


def _apply_spent_at(expense: Expense, spent_at: datetime, errors: list[DomainError]) -> None:
    if spent_at.tzinfo is None:
        errors.append(
            DomainError(
                ExpenseErrorCode.INVALID_DATES, "Give the time with its UTC offset.", "spentAt"
            )
        )
    else:
        expense.spent_at = spent_at


def _apply_payer(
    expense: Expense, paid_by_id: int, members: dict[int, Participant], errors: list[DomainError]
) -> None:
    payer = members.get(paid_by_id)
    if payer is None or not payer.is_active:
        errors.append(
            DomainError(
                ExpenseErrorCode.UNKNOWN_PARTICIPANT, "Not an active participant.", "paidById"
            )
        )
    else:
        expense.paid_by_id = paid_by_id


async def _split(
    db: Any,
    event: Event,
    expense: Expense,
    data: ExpenseData,
    members: dict[int, Participant],
    shares: list[ExpenseShare] | None,
    errors: list[DomainError],
) -> list[ExpenseShare] | None:
    mode = data.split_mode or money.SplitMode(expense.split_mode)
    if data.parts is not None:
        parts = list(data.parts)
    elif shares is not None and data.split_mode is None:
        parts = [(s.participant_id, s.value) for s in shares]  # same split, new amount
    else:
        parts = []
    if not parts and mode is money.SplitMode.EQUAL:
        assert event.id is not None
        parts = [
            (p.id, None)
            for p in await event_store.participants_of_events(db, [event.id])
            if p.id is not None
        ]
    if len(parts) > MAX_PARTS:
        errors.append(
            DomainError(
                ExpenseErrorCode.INVALID_SPLIT, f"At most {MAX_PARTS} parts.", ["split", "parts"]
            )
        )
        return None
    for n, (pid, _) in enumerate(parts):
        member = members.get(pid)
        if data.parts is not None and (member is None or not member.is_active):
            errors.append(
                DomainError(
                    ExpenseErrorCode.UNKNOWN_PARTICIPANT,
                    "Not an active participant.",
                    ["split", "parts", str(n), "participantId"],
                )
            )
    if errors or expense.amount_minor <= 0:
        return None
    try:
        allocated = money.allocate(expense.amount_minor, mode, parts, event.currency)
    except money.MoneyError as exc:
        errors.append(DomainError(ExpenseErrorCode(exc.code), exc.message, _field(exc, "split")))
        return None
    expense.split_mode = mode.value
    values = dict(parts)
    return [
        ExpenseShare(expense_id=0, participant_id=pid, share_minor=amount, value=values.get(pid))
        for pid, amount in allocated.items()
    ]


async def _expense_for(
    db: Any, viewer: Viewer, expense_id: int
) -> tuple[Expense, Event, Participant]:
    expense = await store.lock_expense(db, expense_id)
    if expense is None:
        raise NotFound("Expense not found.")
    event, me = await member_or_hidden(db, expense.event_id, viewer, hidden="Expense not found.")
    if not has_role(me, ParticipantRole.PARTICIPANT):
        raise NotFound("Expense not found.")
    assert me is not None
    return expense, event, me


def _may_edit(expense: Expense, me: Participant) -> None:
    if (
        expense.created_by_id != me.id
        and expense.paid_by_id != me.id
        and not has_role(me, ParticipantRole.ORGANIZER)
    ):
        raise Forbidden("Only who created or paid it, or an organizer, can change it.")


def _money_payload(expense: Expense, shares: Sequence[Any]) -> dict[str, Any]:
    return {
        "title": expense.title,
        "amount_minor": expense.amount_minor,
        "currency": expense.currency,
        "paid_by_id": expense.paid_by_id,
        "participant_ids": sorted({s.participant_id for s in shares}),
    }


async def create_expense(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    data: ExpenseData,
    client_mutation_id: str | None = None,
) -> Expense:
    return await idempotency.once(
        deps,
        viewer.user_id,
        "createExpense",
        client_mutation_id,
        [event_id, data],
        lambda remember: _add_expense(deps, viewer, event_id, data, remember),
        one_in_my_events(deps, viewer, Expense),
    )


async def _add_expense(
    deps: Deps, viewer: Viewer, event_id: int, data: ExpenseData, remember: idempotency.Remember
) -> Expense:
    missing = [
        f
        for f, v in (
            ("title", data.title),
            ("amount", data.amount),
            ("paidById", data.paid_by_id),
            ("split", data.split_mode),
        )
        if v is None
    ]
    if missing:
        raise DomainErrors(
            [DomainError(ExpenseErrorCode.REQUIRED, "Required.", f) for f in missing]
        )
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.PARTICIPANT)
        not_cancelled(event)
        expense = Expense(
            event_id=event_id,
            title="",
            amount_minor=0,
            currency=event.currency,
            paid_by_id=0,
            spent_at=utcnow(),
            split_mode="EQUAL",
            created_by_id=mine.id,
        )
        shares = await _apply(db, event, expense, data, None)
        assert shares is not None
        added = await store.add_expense(db, expense, shares)
        record_event(
            db, "expense.added", event_id, viewer.user_id, added.id, **_money_payload(added, shares)
        )
        await remember(db, key_of(added))
        return added


async def update_expense(
    deps: Deps, viewer: Viewer, expense_id: int, data: ExpenseData, expected_version: int | None
) -> Expense:
    async with deps.db.unit_of_work() as db:
        expense, event, me = await _expense_for(db, viewer, expense_id)
        not_cancelled(event)
        _may_edit(expense, me)
        if expected_version is not None and expected_version != expense.version:
            raise DomainError(
                ExpenseErrorCode.STALE,
                "The expense changed since you read it; reload it.",
                "expectedVersion",
            )
        current = (await store.shares_of_expenses(db, [expense_id]))[expense_id]
        shares = await _apply(db, event, expense, data, current)
        if shares is not None:
            await store.replace_shares(db, expense, shares)
        record_event(
            db,
            "expense.edited",
            expense.event_id,
            viewer.user_id,
            expense_id,
            **_money_payload(expense, shares if shares is not None else current),
        )
        return await store.save_expense(db, expense)


async def delete_expense(deps: Deps, viewer: Viewer, expense_id: int) -> None:
    async with deps.db.unit_of_work() as db:
        expense, event, me = await _expense_for(db, viewer, expense_id)
        not_cancelled(event)
        _may_edit(expense, me)
        shares = (await store.shares_of_expenses(db, [expense_id]))[expense_id]
        record_event(
            db,
            "expense.deleted",
            expense.event_id,
            viewer.user_id,
            expense_id,
            **_money_payload(expense, shares),
        )
        await store.delete_expense(db, expense)


async def record_settlement(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    from_id: int,
    to_id: int,
    amount: str,
    client_mutation_id: str | None = None,
) -> Settlement:
    """A reimbursement, recorded by one of the two parties or an organizer."""
    return await idempotency.once(
        deps,
        viewer.user_id,
        "recordSettlement",
        client_mutation_id,
        [event_id, from_id, to_id, amount],
        lambda remember: _add_settlement(deps, viewer, event_id, from_id, to_id, amount, remember),
        one_in_my_events(deps, viewer, Settlement),
    )


async def _add_settlement(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    from_id: int,
    to_id: int,
    amount: str,
    remember: idempotency.Remember,
) -> Settlement:
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.PARTICIPANT)
        errors = []
        try:
            minor = money.parse_amount(amount, event.currency)
        except money.MoneyError as exc:
            errors.append(DomainError(ExpenseErrorCode(exc.code), exc.message, "amount"))
            minor = 0
        parties = await _participants(db, event_id, [from_id, to_id])
        for field, pid in (("fromId", from_id), ("toId", to_id)):
            if pid not in parties:
                errors.append(
                    DomainError(
                        ExpenseErrorCode.UNKNOWN_PARTICIPANT,
                        "Not a participant of this event.",
                        field,
                    )
                )
        if from_id == to_id:
            errors.append(
                DomainError(ExpenseErrorCode.INVALID_INPUT, "Pick two different people.", "toId")
            )
        if errors:
            raise DomainErrors(errors)
        if mine.id not in (from_id, to_id) and not has_role(mine, ParticipantRole.ORGANIZER):
            raise Forbidden("Only the two parties or an organizer record a settlement.")
        settlement = await store.add_settlement(
            db,
            Settlement(
                event_id=event_id,
                from_id=from_id,
                to_id=to_id,
                amount_minor=minor,
                currency=event.currency,
                recorded_by_id=mine.id,
            ),
        )
        record_event(
            db,
            "settlement.recorded",
            event_id,
            viewer.user_id,
            settlement.id,
            from_id=from_id,
            to_id=to_id,
            amount_minor=minor,
            currency=event.currency,
        )
        await remember(db, key_of(settlement))
        return settlement


# --- reads (batch functions; callers check membership) ------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """Everything money-related of one event, loaded in three statements."""

    expenses: list[Expense]
    shares: dict[int, list[ExpenseShare]]
    settlements: list[Settlement]

    def balances(self, members: Sequence[int]) -> dict[int, money.Balance]:
        return money.balances(
            (
                (e.paid_by_id, {s.participant_id: s.share_minor for s in self.shares[e.id or 0]})
                for e in self.expenses
            ),
            ((s.from_id, s.to_id, s.amount_minor) for s in self.settlements),
            members,
        )


async def ledgers_of(deps: Deps, event_ids: Sequence[int]) -> list[Ledger]:
    """Batch function: each event's ledger, through the per-process event content cache
    (cached ledgers are shared between requests: never modify them)."""

    async def fetch(ids: list[int]) -> dict[int, Ledger]:
        async with deps.db.reader() as db:
            expenses = await store.expenses_of_events(db, ids)
            shares = await store.shares_of_expenses(db, [e.id for e in expenses if e.id])
            settlements = await store.settlements_of_events(db, ids)
        by_event: dict[int, Ledger] = {i: Ledger([], {}, []) for i in ids}
        for e in expenses:
            by_event[e.event_id].expenses.append(e)
            by_event[e.event_id].shares[e.id or 0] = shares.get(e.id or 0, [])
        for s in settlements:
            by_event[s.event_id].settlements.append(s)
        return by_event

    return await event_content.cache(deps, "ledger").load(list(event_ids), fetch)


class ExpenseLoaders(LoaderBase):
    @cached_property
    def ledger_by_event(self) -> DataLoader[int, Ledger]:
        return self.batched(ledgers_of)
