"""Expenses, shares, balances, the settlement plan and settlements."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry import relay

from resolvers import expenses as uc
from resolvers import money
from resolvers.money import SplitMode
from schema.context import Info
from schema.core import CLIENT_MUTATION_ID, decode_global_id, mutate
from schema.event_errors import ExpenseError
from schema.participants import Participant, person, roster, visible_rows
from stores import expenses as rows


@strawberry.type(description='An exact amount: `amount` is a decimal string such as "12.50".')
class Money:
    amount: Decimal
    currency: str


def to_money(minor: int, currency: str) -> Money:
    return Money(amount=Decimal(money.format_amount(minor, currency)), currency=currency)


strawberry.enum(SplitMode, name="SplitMode")  # one definition: resolvers.money


@strawberry.enum
class ExpenseCategory(enum.Enum):
    FOOD = "FOOD"
    DRINKS = "DRINKS"
    TRANSPORT = "TRANSPORT"
    LODGING = "LODGING"
    ACTIVITIES = "ACTIVITIES"
    SUPPLIES = "SUPPLIES"
    OTHER = "OTHER"


@strawberry.type
class ExpenseShare:
    participant: Participant | None
    amount: Money
    value: str | None = strawberry.field(
        description="What was asked: weight, percentage or exact amount."
    )


@strawberry.type
class Expense(relay.Node):
    """Plain fields, participants and shares included: build with `expenses()`."""

    row: strawberry.Private[rows.Expense]
    title: str
    amount: Money
    paid_by: Participant | None
    spent_at: datetime
    category: ExpenseCategory
    note: str
    split_mode: SplitMode
    shares: list[ExpenseShare]
    created_by: Participant | None
    created_at: datetime
    version: int

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


@strawberry.type(description="paid + sent − owed − received = net (positive: is owed money).")
class Balance:
    participant: Participant | None
    paid: Money
    owed: Money
    sent: Money = strawberry.field(description="Reimbursements sent to others.")
    received: Money = strawberry.field(description="Reimbursements received from others.")
    net: Money

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


@strawberry.type(description="A suggested payment from one participant to another.")
class Transfer:
    from_: Participant | None = strawberry.field(name="from")
    to: Participant | None
    amount: Money


@strawberry.type
class Settlement(relay.Node):
    row: strawberry.Private[rows.Settlement]
    from_: Participant | None = strawberry.field(name="from")
    to: Participant | None
    amount: Money
    recorded_by: Participant | None
    created_at: datetime

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


@strawberry.input
class SplitPartInput:
    participant_id: relay.GlobalID
    value: str | None = strawberry.field(
        default=None, description="SHARES: weight; PERCENT: percentage; EXACT: amount."
    )


@strawberry.input
class SplitInput:
    mode: SplitMode
    parts: list[SplitPartInput] = strawberry.field(
        default_factory=list, description="EQUAL with no parts: every active participant."
    )


@strawberry.input
class CreateExpenseInput:
    event_id: relay.GlobalID
    title: str
    amount: str
    paid_by_id: relay.GlobalID
    split: SplitInput
    currency: str | None = None
    spent_at: datetime | None = None
    category: ExpenseCategory = ExpenseCategory.OTHER
    note: str = ""
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input
class UpdateExpenseInput:
    expense_id: relay.GlobalID
    title: str | None = None
    amount: str | None = None
    paid_by_id: relay.GlobalID | None = None
    split: SplitInput | None = None
    spent_at: datetime | None = None
    category: ExpenseCategory | None = None
    note: str | None = None
    expected_version: int | None = None


@strawberry.input
class ExpenseRefInput:
    expense_id: relay.GlobalID


@strawberry.input
class RecordSettlementInput:
    event_id: relay.GlobalID
    from_id: relay.GlobalID
    to_id: relay.GlobalID
    amount: str
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.type
class ExpensePayload:
    expense: Expense | None
    errors: list[ExpenseError]


@strawberry.type
class DeleteExpensePayload:
    deleted_expense_id: relay.GlobalID | None
    errors: list[ExpenseError]


@strawberry.type
class SettlementPayload:
    settlement: Settlement | None
    errors: list[ExpenseError]


def _split(
    split: SplitInput | None,
) -> tuple[money.SplitMode | None, list[tuple[int, str | None]] | None]:
    if split is None:
        return None, None
    parts = [(decode_global_id(p.participant_id, "Participant"), p.value) for p in split.parts]
    return money.SplitMode(split.mode.value), parts or None


async def _expense_payload(
    info: Info, row: rows.Expense | None, errors: list[ExpenseError]
) -> ExpensePayload:
    if row is None or row.id is None:
        return ExpensePayload(expense=None, errors=errors)
    info.context.loaders.ledger_by_event.clear(row.event_id)  # read what was just written
    return ExpensePayload(expense=(await expenses(info, [row]))[0], errors=errors)


@strawberry.type
class ExpenseMutation:
    @strawberry.mutation(description="Any participant. Shares add up to the amount exactly.")
    async def create_expense(self, info: Info, input: CreateExpenseInput) -> ExpensePayload:
        mode, parts = _split(input.split)
        data = uc.ExpenseData(
            title=input.title,
            amount=input.amount,
            currency=input.currency,
            paid_by_id=decode_global_id(input.paid_by_id, "Participant"),
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

    @strawberry.mutation(description="Who created or paid it, or an organizer.")
    async def update_expense(self, info: Info, input: UpdateExpenseInput) -> ExpensePayload:
        mode, parts = _split(input.split)
        data = uc.ExpenseData(
            title=input.title,
            amount=input.amount,
            paid_by_id=decode_global_id(input.paid_by_id, "Participant")
            if input.paid_by_id
            else None,
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

    @strawberry.mutation
    async def delete_expense(self, info: Info, input: ExpenseRefInput) -> DeleteExpensePayload:
        _, errors = await mutate(
            info, ExpenseError, uc.delete_expense, decode_global_id(input.expense_id, "Expense")
        )
        return DeleteExpensePayload(
            deleted_expense_id=None if errors else input.expense_id, errors=errors
        )

    @strawberry.mutation(description="A reimbursement between two participants.")
    async def record_settlement(
        self, info: Info, input: RecordSettlementInput
    ) -> SettlementPayload:
        row, errors = await mutate(
            info,
            ExpenseError,
            uc.record_settlement,
            decode_global_id(input.event_id, "Event"),
            decode_global_id(input.from_id, "Participant"),
            decode_global_id(input.to_id, "Participant"),
            input.amount,
            input.client_mutation_id,
        )
        settlement = Settlement.of(row, await roster(info, row.event_id)) if row else None
        return SettlementPayload(settlement=settlement, errors=errors)
