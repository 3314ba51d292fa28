"""Shared expenses: creation with exact splits, edits, settlements, balances and the plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
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
from resolvers.people import PersonRef, as_person, participants_named
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


@dataclass(frozen=True)
class SplitPart:
    """One person's part of a split: a weight, a percentage or an exact amount, given once,
    as a `Decimal` (`value_decimal`) or as the deprecated text (`value`)."""

    participant: PersonRef
    value: str | None = None
    value_decimal: Decimal | None = None


@dataclass
class ExpenseData:
    """An expense's fields; None leaves one as it is. The amount comes once: `amount_decimal`
    (the API's `amountDecimal: Decimal`) or `amount` (the deprecated `amount: String`)."""

    title: str | None = None
    amount: str | None = None
    amount_decimal: Decimal | None = None
    currency: str | None = None
    paid_by_id: PersonRef | None = None
    spent_at: datetime | None = None
    category: str | None = None
    note: str | None = None
    split_mode: money.SplitMode | None = None
    parts: list[SplitPart] | None = None


def one_amount(
    text: str | None, exact: Decimal | None, field: list[str], errors: list[DomainError]
) -> str | None:
    """The amount given in one of its two fields, as the text `money` parses: None when
    neither is given, or both (an INVALID_INPUT in `errors`, at `field` + "Decimal")."""
    if text is not None and exact is not None:
        errors.append(
            DomainError(
                ExpenseErrorCode.INVALID_INPUT,
                f"Give either {field[-1]}Decimal or the deprecated {field[-1]}, not both.",
                [*field[:-1], f"{field[-1]}Decimal"],
            )
        )
        return None
    return money.decimal_text(exact) if exact is not None else text


def _wrong_kind(field: list[str]) -> DomainError:
    return DomainError(ExpenseErrorCode.INVALID_INPUT, "Give a Participant id or a User id.", field)


def _field(error: money.MoneyError, default: str, parts: list[SplitPart] | None) -> list[str]:
    if error.field and error.field.startswith("parts."):
        n = error.field.split(".", 1)[1]
        given = parts[int(n)] if parts is not None and n.isdigit() and int(n) < len(parts) else None
        value = "valueDecimal" if given is not None and given.value_decimal is not None else "value"
        return ["split", "parts", n, value]
    return [default]


async def _apply(
    db: Any, event: Event, expense: Expense, data: ExpenseData, shares: list[ExpenseShare] | None
) -> list[ExpenseShare] | None:
    """Validates and applies `data`; returns new shares when the split must be recomputed."""
    errors: list[DomainError] = []
    assert event.id is not None
    if data.parts is not None and len(data.parts) > MAX_PARTS:
        raise DomainError(
            ExpenseErrorCode.INVALID_SPLIT, f"At most {MAX_PARTS} parts.", ["split", "parts"]
        )
    amount = _apply_details(event, expense, data, errors)
    refs = [p.participant for p in data.parts or []]
    if data.paid_by_id is not None:
        refs.append(data.paid_by_id)
    found = await participants_named(db, event.id, refs)  # one query: the payer and the parts
    if data.paid_by_id is not None:
        _apply_payer(expense, data.paid_by_id, found[-1], errors)
    new_shares = None
    if data.split_mode is not None or data.parts is not None or amount is not None:
        new_shares = await _split(db, event, expense, data, found, shares, errors)
    if errors:
        raise DomainErrors(errors)
    return new_shares


def _apply_details(
    event: Event, expense: Expense, data: ExpenseData, errors: list[DomainError]
) -> str | None:
    """Everything but the payer and the split; the amount given, if any."""
    if data.title is not None:
        expense.title = checked_title(data.title, errors, max_len=TITLE_MAX)
    if data.currency is not None:
        _check_currency(event, data.currency, errors)
    amount = one_amount(data.amount, data.amount_decimal, ["amount"], errors)
    if amount is not None:
        field = "amount" if data.amount_decimal is None else "amountDecimal"
        _apply_amount(event, expense, amount, field, errors)
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
    return amount


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


def _apply_amount(
    event: Event, expense: Expense, amount: str, field: str, errors: list[DomainError]
) -> None:
    try:
        expense.amount_minor = money.parse_amount(amount, event.currency)
    except money.MoneyError as exc:
        errors.append(DomainError(ExpenseErrorCode(exc.code), exc.message, field))


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
    expense: Expense, paid_by: PersonRef, payer: Participant | None, errors: list[DomainError]
) -> None:
    if as_person(paid_by).of_wrong_kind:
        errors.append(_wrong_kind(["paidById"]))
    elif payer is None or not payer.is_active:
        errors.append(
            DomainError(
                ExpenseErrorCode.UNKNOWN_PARTICIPANT, "Not an active participant.", "paidById"
            )
        )
    else:
        expense.paid_by_id = key_of(payer)


async def _split(
    db: Any,
    event: Event,
    expense: Expense,
    data: ExpenseData,
    found: list[Participant | None],
    shares: list[ExpenseShare] | None,
    errors: list[DomainError],
) -> list[ExpenseShare] | None:
    mode = data.split_mode or money.SplitMode(expense.split_mode)
    parts: list[tuple[int, str | None]]
    if data.parts is not None:
        parts = _given_parts(data.parts, found, errors)
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
    if errors or expense.amount_minor <= 0:
        return None
    try:
        allocated = money.allocate(expense.amount_minor, mode, parts, event.currency)
    except money.MoneyError as exc:
        errors.append(
            DomainError(ExpenseErrorCode(exc.code), exc.message, _field(exc, "split", data.parts))
        )
        return None
    expense.split_mode = mode.value
    values = dict(parts)
    return [
        ExpenseShare(expense_id=0, participant_id=pid, share_minor=amount, value=values.get(pid))
        for pid, amount in allocated.items()
    ]


def _given_parts(
    given: list[SplitPart], found: list[Participant | None], errors: list[DomainError]
) -> list[tuple[int, str | None]]:
    """(participant id, value text) per part; a part naming no active participant of the
    event, or giving its value twice, is an error at its place."""
    parts: list[tuple[int, str | None]] = []
    for n, (part, member) in enumerate(zip(given, found, strict=False)):
        at = ["split", "parts", str(n)]
        value = one_amount(part.value, part.value_decimal, [*at, "value"], errors)
        if as_person(part.participant).of_wrong_kind:
            errors.append(_wrong_kind([*at, "participantId"]))
        elif member is None or not member.is_active:
            errors.append(
                DomainError(
                    ExpenseErrorCode.UNKNOWN_PARTICIPANT,
                    "Not an active participant.",
                    [*at, "participantId"],
                )
            )
        else:
            parts.append((key_of(member), value))
    return parts


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
            ("amountDecimal", data.amount_decimal if data.amount is None else data.amount),
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
    from_ref: PersonRef,
    to_ref: PersonRef,
    amount: str | None,
    client_mutation_id: str | None = None,
    amount_decimal: Decimal | None = None,
) -> Settlement:
    """A reimbursement, recorded by one of the two parties or an organizer. The amount comes
    once: `amount_decimal`, or the deprecated text `amount`."""
    return await idempotency.once(
        deps,
        viewer.user_id,
        "recordSettlement",
        client_mutation_id,
        [event_id, as_person(from_ref), as_person(to_ref), amount, amount_decimal],
        lambda remember: _add_settlement(
            deps, viewer, event_id, (from_ref, to_ref), (amount, amount_decimal), remember
        ),
        one_in_my_events(deps, viewer, Settlement),
    )


def _settlement_amount(
    event: Event, given: tuple[str | None, Decimal | None], errors: list[DomainError]
) -> int:
    text, exact = given
    amount = one_amount(text, exact, ["amount"], errors)
    field = "amount" if exact is None else "amountDecimal"
    if amount is None:
        if text is None and exact is None:
            errors.append(DomainError(ExpenseErrorCode.REQUIRED, "Required.", "amountDecimal"))
        return 0
    try:
        return money.parse_amount(amount, event.currency)
    except money.MoneyError as exc:
        errors.append(DomainError(ExpenseErrorCode(exc.code), exc.message, field))
        return 0


async def _add_settlement(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    refs: tuple[PersonRef, PersonRef],
    amount: tuple[str | None, Decimal | None],
    remember: idempotency.Remember,
) -> Settlement:
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.PARTICIPANT)
        errors: list[DomainError] = []
        minor = _settlement_amount(event, amount, errors)
        parties = await participants_named(db, event_id, refs)
        for field, ref, party in zip(("fromId", "toId"), refs, parties, strict=True):
            if as_person(ref).of_wrong_kind:
                errors.append(_wrong_kind([field]))
            elif party is None:
                errors.append(
                    DomainError(
                        ExpenseErrorCode.UNKNOWN_PARTICIPANT,
                        "Not a participant of this event.",
                        field,
                    )
                )
        from_id, to_id = (key_of(p) if p else 0 for p in parties)
        if parties[0] is not None and from_id == to_id:
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
