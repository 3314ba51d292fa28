"""Expenses, shares, balances, the settlement plan and settlements."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry import relay
from strawberry.types import Info

from resolvers import expenses as uc
from resolvers import money
from schema.events import (
    EventError,
    Participant,
    _run,
    decode_id,
    participant_in_event,
    visible_rows,
)
from stores import expenses as rows


@strawberry.type(description="An exact amount: `amount` is a decimal string such as \"12.50\".")
class Money:
    amount: Decimal
    currency: str


def to_money(minor: int, currency: str) -> Money:
    return Money(amount=Decimal(money.format_amount(minor, currency)), currency=currency)


@strawberry.enum
class SplitMode(enum.Enum):
    EQUAL = "EQUAL"
    SHARES = "SHARES"
    EXACT = "EXACT"
    PERCENT = "PERCENT"


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
    row: strawberry.Private[rows.ExpenseShare]
    currency: strawberry.Private[str]
    event_id: strawberry.Private[int]

    @strawberry.field
    async def participant(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.event_id, self.row.participant_id)

    @strawberry.field
    def amount(self) -> Money:
        return to_money(self.row.share_minor, self.currency)

    @strawberry.field(description="What was asked: weight, percentage or exact amount.")
    def value(self) -> str | None:
        return self.row.value


@strawberry.type
class Expense(relay.Node):
    row: strawberry.Private[rows.Expense]
    share_rows: strawberry.Private[list[rows.ExpenseShare]]

    @classmethod
    def resolve_id(cls, root: Expense, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Expense | None]:
        found = await visible_rows(info, rows.Expense, node_ids)
        ledgers = await info.context.loaders.ledger_by_event.load_many(
            [r.event_id if r else 0 for r in found])
        return [Expense(row=r, share_rows=ledger.shares.get(r.id, [])) if r else None
                for r, ledger in zip(found, ledgers, strict=True)]

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def amount(self) -> Money:
        return to_money(self.row.amount_minor, self.row.currency)

    @strawberry.field
    async def paid_by(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.paid_by_id)

    @strawberry.field
    def spent_at(self) -> datetime:
        return self.row.spent_at

    @strawberry.field
    def category(self) -> ExpenseCategory:
        return ExpenseCategory(self.row.category)

    @strawberry.field
    def note(self) -> str:
        return self.row.note

    @strawberry.field
    def split_mode(self) -> SplitMode:
        return SplitMode(self.row.split_mode)

    @strawberry.field
    def shares(self) -> list[ExpenseShare]:
        return [ExpenseShare(row=s, currency=self.row.currency, event_id=self.row.event_id)
                for s in self.share_rows]

    @strawberry.field
    async def created_by(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.created_by_id)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def version(self) -> int:
        return self.row.version


@strawberry.type(description="paid + sent − owed − received = net (positive: is owed money).")
class Balance:
    event_id: strawberry.Private[int]
    participant_id: strawberry.Private[int]
    currency: strawberry.Private[str]
    balance: strawberry.Private[money.Balance]

    @strawberry.field
    async def participant(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.event_id, self.participant_id)

    @strawberry.field
    def paid(self) -> Money:
        return to_money(self.balance.paid, self.currency)

    @strawberry.field
    def owed(self) -> Money:
        return to_money(self.balance.owed, self.currency)

    @strawberry.field(description="Reimbursements sent to others.")
    def sent(self) -> Money:
        return to_money(self.balance.sent, self.currency)

    @strawberry.field(description="Reimbursements received from others.")
    def received(self) -> Money:
        return to_money(self.balance.received, self.currency)

    @strawberry.field
    def net(self) -> Money:
        return to_money(self.balance.net, self.currency)


@strawberry.type(description="A suggested payment from one participant to another.")
class Transfer:
    event_id: strawberry.Private[int]
    from_id: strawberry.Private[int]
    to_id: strawberry.Private[int]
    minor: strawberry.Private[int]
    currency: strawberry.Private[str]

    @strawberry.field(name="from")
    async def from_(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.event_id, self.from_id)

    @strawberry.field
    async def to(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.event_id, self.to_id)

    @strawberry.field
    def amount(self) -> Money:
        return to_money(self.minor, self.currency)


@strawberry.type
class Settlement(relay.Node):
    row: strawberry.Private[rows.Settlement]

    @classmethod
    def resolve_id(cls, root: Settlement, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Settlement | None]:
        found = await visible_rows(info, rows.Settlement, node_ids)
        return [Settlement(row=r) if r else None for r in found]

    @strawberry.field(name="from")
    async def from_(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.from_id)

    @strawberry.field
    async def to(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.to_id)

    @strawberry.field
    def amount(self) -> Money:
        return to_money(self.row.amount_minor, self.row.currency)

    @strawberry.field
    async def recorded_by(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.recorded_by_id)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.input
class SplitPartInput:
    participant_id: relay.GlobalID
    value: str | None = strawberry.field(
        default=None, description="SHARES: weight; PERCENT: percentage; EXACT: amount.")


@strawberry.input
class SplitInput:
    mode: SplitMode
    parts: list[SplitPartInput] = strawberry.field(
        default_factory=list, description="EQUAL with no parts: every active participant.")


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


@strawberry.type
class ExpensePayload:
    expense: Expense | None
    errors: list[EventError]


@strawberry.type
class DeleteExpensePayload:
    deleted_expense_id: relay.GlobalID | None
    errors: list[EventError]


@strawberry.type
class SettlementPayload:
    settlement: Settlement | None
    errors: list[EventError]


def _split(split: SplitInput | None) -> tuple[money.SplitMode | None,
                                              list[tuple[int, str | None]] | None]:
    if split is None:
        return None, None
    parts = [(decode_id(p.participant_id, "Participant"), p.value) for p in split.parts]
    return money.SplitMode(split.mode.value), parts or None


async def _expense_payload(info: Info, row: rows.Expense | None,
                           errors: list[EventError]) -> ExpensePayload:
    if row is None or row.id is None:
        return ExpensePayload(expense=None, errors=errors)
    ledger = (await uc.ledgers_of(info.context.deps, [row.event_id]))[0]
    return ExpensePayload(expense=Expense(row=row, share_rows=ledger.shares.get(row.id, [])),
                          errors=errors)


@strawberry.type
class ExpenseMutation:
    @strawberry.mutation(description="Any participant. Shares add up to the amount exactly.")
    async def create_expense(self, info: Info, input: CreateExpenseInput) -> ExpensePayload:
        viewer = info.context.require_viewer()
        mode, parts = _split(input.split)
        data = uc.ExpenseData(
            title=input.title, amount=input.amount, currency=input.currency,
            paid_by_id=decode_id(input.paid_by_id, "Participant"), spent_at=input.spent_at,
            category=input.category.value, note=input.note, split_mode=mode, parts=parts)
        row, errors = await _run(uc.create_expense(
            info.context.deps, viewer, decode_id(input.event_id, "Event"), data))
        return await _expense_payload(info, row, errors)

    @strawberry.mutation(description="Who created or paid it, or an organizer.")
    async def update_expense(self, info: Info, input: UpdateExpenseInput) -> ExpensePayload:
        viewer = info.context.require_viewer()
        mode, parts = _split(input.split)
        data = uc.ExpenseData(
            title=input.title, amount=input.amount,
            paid_by_id=decode_id(input.paid_by_id, "Participant") if input.paid_by_id else None,
            spent_at=input.spent_at, category=input.category.value if input.category else None,
            note=input.note, split_mode=mode, parts=parts)
        row, errors = await _run(uc.update_expense(
            info.context.deps, viewer, decode_id(input.expense_id, "Expense"), data,
            input.expected_version))
        return await _expense_payload(info, row, errors)

    @strawberry.mutation
    async def delete_expense(self, info: Info, input: ExpenseRefInput) -> DeleteExpensePayload:
        viewer = info.context.require_viewer()
        _, errors = await _run(uc.delete_expense(info.context.deps, viewer,
                                                 decode_id(input.expense_id, "Expense")))
        return DeleteExpensePayload(deleted_expense_id=None if errors else input.expense_id,
                                    errors=errors)

    @strawberry.mutation(description="A reimbursement between two participants.")
    async def record_settlement(self, info: Info,
                                input: RecordSettlementInput) -> SettlementPayload:
        viewer = info.context.require_viewer()
        row, errors = await _run(uc.record_settlement(
            info.context.deps, viewer, decode_id(input.event_id, "Event"),
            decode_id(input.from_id, "Participant"), decode_id(input.to_id, "Participant"),
            input.amount))
        return SettlementPayload(settlement=Settlement(row=row) if row else None, errors=errors)
