"""Expenses, shares, balances, the settlement plan and settlements."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import expenses as uc
from resolvers import money
from resolvers.money import SplitMode
from schema.context import Info
from schema.core import CLIENT_MUTATION_ID, decode_global_id, documented_enum, mutate
from schema.event_errors import ExpenseError
from schema.participants import PERSON_ID, Participant, person, person_id, roster, visible_rows
from stores import expenses as rows


@strawberry.type(
    description="An exact sum of money. Never a float: `amount` is a `Decimal` string with "
    'exactly the currency\'s decimals ("12.50" in EUR, "1200" in JPY).'
)
class Money:
    amount: Decimal = strawberry.field(
        description="The sum as a decimal string with the currency's number of decimals, "
        'without grouping or symbol ("1234.50"); negative only for a net balance that is owed.'
    )
    currency: str = strawberry.field(
        description='ISO 4217 code of the currency, upper case ("EUR"): always the event\'s.'
    )


def to_money(minor: int, currency: str) -> Money:
    return Money(amount=Decimal(money.format_amount(minor, currency)), currency=currency)


documented_enum(  # one definition: resolvers.money
    SplitMode,
    {
        SplitMode.EQUAL: "Everyone in the split pays the same, to one minor unit (the earlier "
        "parts take the leftover cents). Parts carry no value; no parts at all means every "
        "active participant.",
        SplitMode.SHARES: "Proportional to each part's weight: a positive decimal with at most "
        '9 digits and 6 decimals ("1", "2.5").',
        SplitMode.EXACT: "Each part's value is its exact amount in the event's currency (zero "
        "allowed); the parts must add up to the expense's amount (else SPLIT_MISMATCH).",
        SplitMode.PERCENT: "Each part's value is a percentage with at most 2 decimals "
        '("33.33"); the parts must add up to exactly 100 (else SPLIT_MISMATCH).',
    },
    name="SplitMode",
    description="How an expense's amount is divided among the parts of its split. Shares always "
    "add up to the amount exactly (largest remainder, ties to the earlier part).",
)


class ExpenseCategory(enum.Enum):
    FOOD = "FOOD"
    DRINKS = "DRINKS"
    TRANSPORT = "TRANSPORT"
    LODGING = "LODGING"
    ACTIVITIES = "ACTIVITIES"
    SUPPLIES = "SUPPLIES"
    OTHER = "OTHER"


documented_enum(
    ExpenseCategory,
    {
        ExpenseCategory.FOOD: "Groceries, restaurants, take-away.",
        ExpenseCategory.DRINKS: "Drinks, bars, cafés.",
        ExpenseCategory.TRANSPORT: "Fuel, tickets, taxis, parking, rentals.",
        ExpenseCategory.LODGING: "Hotels, rentals, camping.",
        ExpenseCategory.ACTIVITIES: "Tickets, fees, guides, equipment hire.",
        ExpenseCategory.SUPPLIES: "Things bought for the group (gear, decorations, gifts).",
        ExpenseCategory.OTHER: "Anything else (the default).",
    },
    description="What an expense was for (only for display and filtering in clients).",
)


@strawberry.type(description="One participant's share of an expense.")
class ExpenseShare:
    participant: Participant | None = strawberry.field(
        description="Who owes this share; null only if the participant is no longer visible."
    )
    amount: Money = strawberry.field(
        description="What this participant owes; the shares of an expense add up to its amount."
    )
    value: str | None = strawberry.field(
        description="What the split asked for this part, as given: a weight (SHARES), a "
        "percentage (PERCENT) or an exact amount (EXACT); null for EQUAL."
    )


@strawberry.type(
    description="Money one participant spent for others in an event, divided into shares. "
    "Visible to the event's participants."
)
class Expense(relay.Node):
    """Plain fields, participants and shares included: build with `expenses()`."""

    row: strawberry.Private[rows.Expense]
    title: str = strawberry.field(description="What was bought (1 to 200 characters).")
    amount: Money = strawberry.field(description="The total, in the event's currency.")
    paid_by: Participant | None = strawberry.field(
        description="Who paid (and is owed the others' shares)."
    )
    spent_at: datetime = strawberry.field(
        description="When the money was spent (ISO-8601 with offset); defaults to its creation."
    )
    category: ExpenseCategory = strawberry.field(description="What it was for.")
    note: str = strawberry.field(description="Free text, at most 1000 characters; may be empty.")
    split_mode: SplitMode = strawberry.field(description="How the amount was divided.")
    shares: list[ExpenseShare] = strawberry.field(
        description="Who owes what, in the order of the split's parts; adds up to `amount`."
    )
    created_by: Participant | None = strawberry.field(
        description="Who recorded it (with the payer and organizers, one who may edit it)."
    )
    created_at: datetime = strawberry.field(description="When it was recorded (ISO-8601, UTC).")
    version: int = strawberry.field(
        description="Increases on every edit; pass it as `expectedVersion` to `updateExpense`."
    )

    @classmethod
    def resolve_id(cls, root: Expense, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Expense | None]:
        found = await visible_rows(info, rows.Expense, node_ids)
        built = iter(await expenses(info, [r for r in found if r is not None]))
        return [next(built) if r else None for r in found]


async def expenses(info: Info, found: Sequence[rows.Expense]) -> list[Expense]:
    """GraphQL expenses (with their shares) for rows of events the viewer sees."""
    event_ids = sorted({e.event_id for e in found})
    ledgers = dict(
        zip(event_ids, await info.context.loaders.ledger_by_event.load_many(event_ids), strict=True)
    )
    people = {i: await roster(info, i) for i in event_ids}
    return [
        _expense(e, ledgers[e.event_id].shares.get(e.id or 0, []), people[e.event_id])
        for e in found
    ]


def _expense(
    row: rows.Expense, share_rows: list[rows.ExpenseShare], people: dict[int, Participant]
) -> Expense:
    currency = row.currency
    return Expense(
        row=row,
        title=row.title,
        amount=to_money(row.amount_minor, currency),
        paid_by=person(people, row.paid_by_id),
        spent_at=row.spent_at,
        category=ExpenseCategory(row.category),
        note=row.note,
        split_mode=SplitMode(row.split_mode),
        shares=[
            ExpenseShare(
                participant=people.get(s.participant_id),
                amount=to_money(s.share_minor, currency),
                value=s.value,
            )
            for s in share_rows
        ],
        created_by=person(people, row.created_by_id),
        created_at=row.created_at,
        version=row.version,
    )


@strawberry.type(
    description="Where one participant stands in an event's money: paid + sent − owed − "
    "received = net. A positive net is owed to them, a negative net they owe."
)
class Balance:
    participant: Participant | None = strawberry.field(
        description="Whose balance (participants who left keep theirs)."
    )
    paid: Money = strawberry.field(description="The total of the expenses they paid.")
    owed: Money = strawberry.field(description="The total of their shares of expenses.")
    sent: Money = strawberry.field(description="Reimbursements sent to others.")
    received: Money = strawberry.field(description="Reimbursements received from others.")
    net: Money = strawberry.field(
        description="Paid + sent − owed − received: positive when the others owe them, "
        "negative when they owe; the nets of an event add up to zero."
    )

    @classmethod
    def of(cls, participant: Participant | None, balance: money.Balance, currency: str) -> Balance:
        return cls(
            participant=participant,
            paid=to_money(balance.paid, currency),
            owed=to_money(balance.owed, currency),
            sent=to_money(balance.sent, currency),
            received=to_money(balance.received, currency),
            net=to_money(balance.net, currency),
        )


@strawberry.type(
    description="A suggested payment from one participant to another (part of "
    "`Event.settlementPlan`); record it with `recordSettlement` once paid."
)
class Transfer:
    from_: Participant | None = strawberry.field(name="from", description="Who should pay.")
    to: Participant | None = strawberry.field(description="Who should be paid.")
    amount: Money = strawberry.field(description="How much (always positive).")


@strawberry.type(
    description="A recorded reimbursement between two participants of an event (it moves "
    "their balances). Visible to the event's participants."
)
class Settlement(relay.Node):
    row: strawberry.Private[rows.Settlement]
    from_: Participant | None = strawberry.field(name="from", description="Who paid.")
    to: Participant | None = strawberry.field(description="Who was paid.")
    amount: Money = strawberry.field(description="How much, in the event's currency.")
    recorded_by: Participant | None = strawberry.field(
        description="Who recorded it: one of the two parties, or an organizer."
    )
    created_at: datetime = strawberry.field(description="When it was recorded (ISO-8601, UTC).")

    @classmethod
    def of(cls, row: rows.Settlement, people: dict[int, Participant]) -> Settlement:
        return cls(
            row=row,
            from_=people.get(row.from_id),
            to=people.get(row.to_id),
            amount=to_money(row.amount_minor, row.currency),
            recorded_by=person(people, row.recorded_by_id),
            created_at=row.created_at,
        )

    @classmethod
    def resolve_id(cls, root: Settlement, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Settlement | None]:
        found = await visible_rows(info, rows.Settlement, node_ids)
        return [Settlement.of(r, await roster(info, r.event_id)) if r else None for r in found]


AMOUNT_DECIMAL = (
    'The amount in the event\'s currency, as a Decimal string ("12.50"): positive, at most the '
    "currency's decimals (EUR 2, JPY 0), below 10^12 minor units. Give this or the deprecated "
    "`amount`, not both (INVALID_INPUT). Bad values: INVALID_AMOUNT, NEGATIVE_AMOUNT, ZERO_AMOUNT."
)
AMOUNT_TEXT = "Use amountDecimal (a Decimal, the scalar Money.amount answers with)."
TEXT_AMOUNT = (
    "Deprecated: the same amount as a decimal string; give `amountDecimal` instead (either, "
    "not both)."
)


@strawberry.input(description="One person's part of an expense's split.")
class SplitPartInput:
    participant_id: strawberry.ID = strawberry.field(
        description="Who takes this part. " + PERSON_ID + " Errors: UNKNOWN_PARTICIPANT (not "
        "an active participant), INVALID_INPUT (another kind of id); INVALID_SPLIT if the same "
        "person appears twice."
    )
    value_decimal: Decimal | None = strawberry.field(
        default=None,
        description="SHARES: the weight (positive, at most 6 decimals); PERCENT: the "
        "percentage (at most 2 decimals); EXACT: the amount in the event's currency; EQUAL: "
        "leave out. A bad value is INVALID_SPLIT at this field. Give this or the deprecated "
        "`value`, not both (INVALID_INPUT).",
    )
    value: str | None = strawberry.field(
        default=None,
        description="Deprecated: the same value as a decimal string; give `valueDecimal`.",
        deprecation_reason="Use valueDecimal (a Decimal, like Money.amount).",
    )


@strawberry.input(description="How an expense's amount is divided.")
class SplitInput:
    mode: SplitMode = strawberry.field(description="How the parts' values are read.")
    parts: list[SplitPartInput] = strawberry.field(
        default_factory=list,
        description="At most 200 parts, one per person. EQUAL with no parts: every active "
        "participant of the event.",
    )


@strawberry.input(description="A new expense of an event.")
class CreateExpenseInput:
    event_id: relay.GlobalID = strawberry.field(
        description="The event (an Event id); one you are not in is a top-level NOT_FOUND."
    )
    title: str = strawberry.field(description="What was bought: 1 to 200 characters, one line.")
    amount_decimal: Decimal | None = strawberry.field(
        default=None, description=AMOUNT_DECIMAL + " Required (REQUIRED) unless `amount` is given."
    )
    amount: str | None = strawberry.field(
        default=None, description=TEXT_AMOUNT, deprecation_reason=AMOUNT_TEXT
    )
    paid_by_id: strawberry.ID = strawberry.field(
        description="Who paid: an active participant. " + PERSON_ID + " Errors: "
        "UNKNOWN_PARTICIPANT, INVALID_INPUT (another kind of id)."
    )
    split: SplitInput = strawberry.field(description="Who owes what.")
    currency: str | None = strawberry.field(
        default=None,
        description="Optional check: if given it must be the event's currency (ISO 4217, "
        "case-insensitive), else CURRENCY_MISMATCH. Expenses are always in the event's currency.",
    )
    spent_at: datetime | None = strawberry.field(
        default=None,
        description="When the money was spent, ISO-8601 with its UTC offset (else "
        "INVALID_DATES); default now.",
    )
    category: ExpenseCategory = strawberry.field(
        default=ExpenseCategory.OTHER, description="What it was for."
    )
    note: str = strawberry.field(
        default="", description="Free text, at most 1000 characters (else VALUE_TOO_LONG)."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="Changes to an expense: only the fields given change.")
class UpdateExpenseInput:
    expense_id: relay.GlobalID = strawberry.field(
        description="The expense (an Expense id); one you cannot see is a top-level NOT_FOUND."
    )
    title: str | None = strawberry.field(
        default=None, description="A new title: 1 to 200 characters, one line."
    )
    amount_decimal: Decimal | None = strawberry.field(
        default=None,
        description=AMOUNT_DECIMAL + " The shares are recomputed with the current split "
        "(an EXACT split must then be given again, or SPLIT_MISMATCH).",
    )
    amount: str | None = strawberry.field(
        default=None, description=TEXT_AMOUNT, deprecation_reason=AMOUNT_TEXT
    )
    paid_by_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A new payer: an active participant. " + PERSON_ID + " Errors: "
        "UNKNOWN_PARTICIPANT, INVALID_INPUT (another kind of id).",
    )
    split: SplitInput | None = strawberry.field(
        default=None, description="A new split (replaces every share)."
    )
    spent_at: datetime | None = strawberry.field(
        default=None, description="A new time, ISO-8601 with its UTC offset (else INVALID_DATES)."
    )
    category: ExpenseCategory | None = strawberry.field(default=None, description="A new category.")
    note: str | None = strawberry.field(
        default=None, description="A new note, at most 1000 characters (else VALUE_TOO_LONG)."
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="The `version` you last read: if the expense changed since, nothing "
        "changes and STALE comes back.",
    )


@strawberry.input(description="Names one expense.")
class ExpenseRefInput:
    expense_id: relay.GlobalID = strawberry.field(
        description="The expense (an Expense id); one you cannot see is a top-level NOT_FOUND."
    )


@strawberry.input(description="A reimbursement paid by one participant to another.")
class RecordSettlementInput:
    event_id: relay.GlobalID = strawberry.field(
        description="The event (an Event id); one you are not in is a top-level NOT_FOUND."
    )
    from_id: strawberry.ID = strawberry.field(
        description="Who paid: a participant of the event, present or past. "
        + PERSON_ID
        + " Errors: UNKNOWN_PARTICIPANT, INVALID_INPUT (another kind of id)."
    )
    to_id: strawberry.ID = strawberry.field(
        description="Who was paid: another participant of the event, present or past. "
        + PERSON_ID
        + " Errors: UNKNOWN_PARTICIPANT, INVALID_INPUT (another kind of id, or the same "
        "person as fromId)."
    )
    amount_decimal: Decimal | None = strawberry.field(
        default=None, description=AMOUNT_DECIMAL + " Required (REQUIRED) unless `amount` is given."
    )
    amount: str | None = strawberry.field(
        default=None, description=TEXT_AMOUNT, deprecation_reason=AMOUNT_TEXT
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.type(description="The result of creating or editing an expense.")
class ExpensePayload:
    expense: Expense | None = strawberry.field(
        description="The expense as saved, with its new shares; null when `errors` is not empty."
    )
    errors: list[ExpenseError] = strawberry.field(
        description="Why nothing changed; empty on success."
    )


@strawberry.type(description="The result of deleting an expense.")
class DeleteExpensePayload:
    deleted_expense_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted expense (drop it from your cache); null on errors."
    )
    errors: list[ExpenseError] = strawberry.field(
        description="Why nothing changed; empty on success."
    )


@strawberry.type(description="The result of recording a settlement.")
class SettlementPayload:
    settlement: Settlement | None = strawberry.field(
        description="The settlement recorded; null when `errors` is not empty."
    )
    errors: list[ExpenseError] = strawberry.field(
        description="Why nothing changed; empty on success."
    )


def _split(
    split: SplitInput | None,
) -> tuple[money.SplitMode | None, list[uc.SplitPart] | None]:
    if split is None:
        return None, None
    parts = [
        uc.SplitPart(person_id(p.participant_id), p.value, p.value_decimal) for p in split.parts
    ]
    return money.SplitMode(split.mode.value), parts or None


async def _expense_payload(
    info: Info, row: rows.Expense | None, errors: list[ExpenseError]
) -> ExpensePayload:
    if row is None or row.id is None:
        return ExpensePayload(expense=None, errors=errors)
    info.context.loaders.ledger_by_event.clear(row.event_id)  # read what was just written
    return ExpensePayload(expense=(await expenses(info, [row]))[0], errors=errors)


EXPENSE_ERRORS = (
    "Not signed in: UNAUTHENTICATED; an event you are not in: NOT_FOUND (top-level). In "
    "`errors`: REQUIRED, INVALID_TITLE, VALUE_TOO_LONG, INVALID_DATES, INVALID_INPUT, "
    "CURRENCY_MISMATCH, INVALID_AMOUNT, NEGATIVE_AMOUNT, ZERO_AMOUNT, UNKNOWN_PARTICIPANT, "
    "INVALID_SPLIT, SPLIT_MISMATCH, EVENT_CANCELLED"
)


@strawberry.type
class ExpenseMutation:
    @strawberry.mutation(
        description="Records an expense (any participant of the event). The shares add up to "
        "the amount exactly. " + EXPENSE_ERRORS + ", DUPLICATE_REQUEST."
    )
    async def create_expense(
        self,
        info: Info,
        input: Annotated[CreateExpenseInput, strawberry.argument(description="The expense.")],
    ) -> ExpensePayload:
        mode, parts = _split(input.split)
        data = uc.ExpenseData(
            title=input.title,
            amount=input.amount,
            amount_decimal=input.amount_decimal,
            currency=input.currency,
            paid_by_id=person_id(input.paid_by_id),
            spent_at=input.spent_at,
            category=input.category.value,
            note=input.note,
            split_mode=mode,
            parts=parts,
        )
        row, errors = await mutate(
            info,
            ExpenseError,
            uc.create_expense,
            decode_global_id(input.event_id, "Event"),
            data,
            input.client_mutation_id,
        )
        return await _expense_payload(info, row, errors)

    @strawberry.mutation(
        description="Edits an expense: who created or paid it, or an organizer (others: "
        "FORBIDDEN). A new amount, payer or split recomputes the shares. "
        + EXPENSE_ERRORS
        + ", STALE."
    )
    async def update_expense(
        self,
        info: Info,
        input: Annotated[UpdateExpenseInput, strawberry.argument(description="The changes.")],
    ) -> ExpensePayload:
        mode, parts = _split(input.split)
        data = uc.ExpenseData(
            title=input.title,
            amount=input.amount,
            amount_decimal=input.amount_decimal,
            paid_by_id=person_id(input.paid_by_id) if input.paid_by_id is not None else None,
            spent_at=input.spent_at,
            category=input.category.value if input.category else None,
            note=input.note,
            split_mode=mode,
            parts=parts,
        )
        row, errors = await mutate(
            info,
            ExpenseError,
            uc.update_expense,
            decode_global_id(input.expense_id, "Expense"),
            data,
            input.expected_version,
        )
        return await _expense_payload(info, row, errors)

    @strawberry.mutation(
        description="Deletes an expense and its shares: who created or paid it, or an organizer "
        "(others: FORBIDDEN; one you cannot see: NOT_FOUND). In `errors`: EVENT_CANCELLED."
    )
    async def delete_expense(
        self,
        info: Info,
        input: Annotated[ExpenseRefInput, strawberry.argument(description="The expense.")],
    ) -> DeleteExpensePayload:
        _, errors = await mutate(
            info, ExpenseError, uc.delete_expense, decode_global_id(input.expense_id, "Expense")
        )
        return DeleteExpensePayload(
            deleted_expense_id=None if errors else input.expense_id, errors=errors
        )

    @strawberry.mutation(
        description="Records a reimbursement between two participants: one of the two, or an "
        "organizer (others: FORBIDDEN). Not signed in: UNAUTHENTICATED; an event you are not "
        "in: NOT_FOUND. In `errors`: REQUIRED, INVALID_INPUT, INVALID_AMOUNT, NEGATIVE_AMOUNT, "
        "ZERO_AMOUNT, UNKNOWN_PARTICIPANT, DUPLICATE_REQUEST."
    )
    async def record_settlement(
        self,
        info: Info,
        input: Annotated[RecordSettlementInput, strawberry.argument(description="The payment.")],
    ) -> SettlementPayload:
        row, errors = await mutate(
            info,
            ExpenseError,
            uc.record_settlement,
            decode_global_id(input.event_id, "Event"),
            person_id(input.from_id),
            person_id(input.to_id),
            input.amount,
            input.client_mutation_id,
            input.amount_decimal,
        )
        settlement = Settlement.of(row, await roster(info, row.event_id)) if row else None
        return SettlementPayload(settlement=settlement, errors=errors)
