"""Events and their participants: types, inputs, payloads, root fields."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from resolvers import events as uc
from resolvers.errors import BadRequest, NotFound
from schema.accounts import User
from schema.common import (
    Connection,
    UserError,
    attempt,
    connection,
    decode_cursor,
    encode_cursor,
    page_size,
)
from stores import events as rows

if TYPE_CHECKING:
    from schema.activity import ActivityEntry
    from schema.chat import Message
    from schema.expenses import Balance, Expense, Settlement, Transfer
    from schema.invitations import Invitation, JoinRequest
    from schema.media import Album
    from schema.tasks import Task, TaskStatus

EXPENSES = "schema.expenses"
TASKS = "schema.tasks"


@strawberry.enum
class EventStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"


@strawberry.enum
class EventVisibility(enum.Enum):
    PRIVATE = "PRIVATE"
    UNLISTED = "UNLISTED"


@strawberry.enum
class ParticipantRole(enum.Enum):
    OWNER = "OWNER"
    ORGANIZER = "ORGANIZER"
    PARTICIPANT = "PARTICIPANT"


@strawberry.enum
class Rsvp(enum.Enum):
    GOING = "GOING"
    MAYBE = "MAYBE"
    DECLINED = "DECLINED"


@strawberry.enum
class ParticipantState(enum.Enum):
    ACTIVE = "ACTIVE"
    LEFT = "LEFT"
    REMOVED = "REMOVED"


@strawberry.enum
class EventWhen(enum.Enum):
    UPCOMING = "UPCOMING"
    PAST = "PAST"
    ALL = "ALL"


@strawberry.enum
class EventErrorCode(enum.Enum):
    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_DATES = "INVALID_DATES"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    INVALID_LOCATION = "INVALID_LOCATION"
    INVALID_CAPACITY = "INVALID_CAPACITY"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    CAPACITY_BELOW_PARTICIPANTS = "CAPACITY_BELOW_PARTICIPANTS"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    EVENT_FULL = "EVENT_FULL"
    STALE = "STALE"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    OWNER_CANNOT_LEAVE = "OWNER_CANNOT_LEAVE"
    CANNOT_REMOVE_SELF = "CANNOT_REMOVE_SELF"
    PARTICIPANT_NOT_FOUND = "PARTICIPANT_NOT_FOUND"
    INVALID_ROLE = "INVALID_ROLE"
    INVALID_INVITE_LINK = "INVALID_INVITE_LINK"
    REMOVED_FROM_EVENT = "REMOVED_FROM_EVENT"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    INVALID_EMAIL = "INVALID_EMAIL"
    ALREADY_PARTICIPANT = "ALREADY_PARTICIPANT"
    INVITATION_NOT_PENDING = "INVITATION_NOT_PENDING"
    JOIN_REQUEST_NOT_PENDING = "JOIN_REQUEST_NOT_PENDING"
    UNKNOWN_PARTICIPANT = "UNKNOWN_PARTICIPANT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    SELF_VALIDATION = "SELF_VALIDATION"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    CURRENCY_LOCKED = "CURRENCY_LOCKED"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
    ZERO_AMOUNT = "ZERO_AMOUNT"
    SPLIT_MISMATCH = "SPLIT_MISMATCH"
    INVALID_SPLIT = "INVALID_SPLIT"


@strawberry.type
class EventError(UserError):
    code: EventErrorCode
    retry_after_seconds: int | None = None


async def _run(op: Any) -> tuple[Any, list[EventError]]:
    return await attempt(op, EventError, EventErrorCode)


def decode_id(gid: relay.GlobalID, type_name: str) -> int:
    """A global id of the expected type, else NOT_FOUND (like any id you may not see)."""
    if gid.type_name != type_name:
        raise NotFound(f"{type_name} not found.")
    try:
        return int(gid.node_id)
    except ValueError:
        raise NotFound(f"{type_name} not found.") from None


async def visible_rows(
    info: Info,
    model: Any,
    node_ids: Iterable[str],
    minimum: rows.ParticipantRole = rows.ParticipantRole.PARTICIPANT,
) -> list[Any | None]:
    """node(id:) for things that belong to an event: rows whose event the viewer takes part in
    with at least `minimum`, else None (like a missing id)."""
    ids = [int(i) if i.isdigit() else 0 for i in node_ids]
    found = await info.context.loaders.rows(model).load_many(ids)
    access = await info.context.loaders.event_access.load_many(
        [r.event_id if r is not None else 0 for r in found]
    )
    return [
        r if r is not None and a and uc.has_role(a[1], minimum) else None
        for r, a in zip(found, access, strict=True)
    ]


async def roster(info: Info, event_id: int) -> dict[int, Participant]:
    """The participants of an event the viewer already sees, as GraphQL objects by id, built
    once per request: relations inside the event (assignees, payers, shares, balances) are then
    plain attributes, resolved without an await per reference."""
    memo = info.context.loaders.memo
    key = ("roster", event_id)
    found: dict[int, Participant] | None = memo.get(key)
    if found is None:
        everyone = await info.context.loaders.participants_by_event.load(event_id)
        accounts = await info.context.loaders.user_by_id.load_many(
            [p.user_id for p in everyone if p.user_id is not None]
        )
        by_user = {u.id: User(row=u) for u in accounts if u is not None}
        found = memo[key] = {
            p.id: Participant.of(p, account=by_user.get(p.user_id) if p.user_id else None)
            for p in everyone
            if p.id is not None
        }
    return found


def person(people: dict[int, Participant], participant_id: int | None) -> Participant | None:
    """A participant of a roster by id (None for no id or an unknown one)."""
    return people.get(participant_id) if participant_id is not None else None


# --- types -------------------------------------------------------------------------------------


class Unloaded(enum.Enum):
    """A relation not loaded with the object (its resolver loads it)."""

    UNLOADED = "UNLOADED"


UNLOADED = Unloaded.UNLOADED


@strawberry.type
class Location:
    name: str | None
    address: str | None
    latitude: float | None
    longitude: float | None


@strawberry.type(description="A member of an event; stays listed in history after leaving.")
class Participant(relay.Node):
    """Plain fields, filled once from the row: an event page lists hundreds of participant
    references (assignees, payers, shares, balances), and plain attributes cost graphql-core a
    lookup where a resolver costs a call through Strawberry's field machinery."""

    row: strawberry.Private[rows.Participant]
    display_name: str
    role: ParticipantRole
    rsvp: Rsvp
    state: ParticipantState
    joined_at: datetime
    left_at: datetime | None
    account: strawberry.Private[User | None | Unloaded] = UNLOADED

    @classmethod
    def of(cls, row: rows.Participant, account: User | None | Unloaded = UNLOADED) -> Participant:
        return cls(
            row=row,
            display_name=row.display_name,
            role=ParticipantRole(row.role),
            rsvp=Rsvp(row.rsvp),
            state=ParticipantState(row.state),
            joined_at=row.joined_at,
            left_at=row.left_at,
            account=account,
        )

    @classmethod
    def resolve_id(cls, root: Participant, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Participant | None]:
        ids = [int(i) if i.isdigit() else 0 for i in node_ids]
        found = await info.context.loaders.participant_by_id.load_many(ids)
        event_ids = [p.event_id if p else 0 for p in found]
        visible = await info.context.loaders.event_access.load_many(event_ids)
        return [
            Participant.of(p) if p and v and uc.role_of(v[1]) else None
            for p, v in zip(found, visible, strict=True)
        ]

    @strawberry.field(
        description="Null once the account is deleted (the display name stays).",
        graphql_type=User | None,
    )
    def user(self, info: Info) -> Awaitable[User | None] | User | None:
        if self.row.user_id is None:
            return None
        if not isinstance(self.account, Unloaded):
            return self.account  # loaded with the roster: no await per participant
        return self._load_user(info, self.row.user_id)

    @staticmethod
    async def _load_user(info: Info, user_id: int) -> User | None:
        user = await info.context.loaders.user_by_id.load(user_id)
        return User(row=user) if user else None


@strawberry.type(description="A shareable link to join an event (organizers see them).")
class InviteLink(relay.Node):
    row: strawberry.Private[rows.InviteLink]

    @classmethod
    def resolve_id(cls, root: InviteLink, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[InviteLink | None]:
        found = await visible_rows(info, rows.InviteLink, node_ids, rows.ParticipantRole.ORGANIZER)
        return [InviteLink(row=r) if r else None for r in found]

    @strawberry.field
    def role(self) -> ParticipantRole:
        return ParticipantRole(self.row.role)

    @strawberry.field
    def expires_at(self) -> datetime | None:
        return self.row.expires_at

    @strawberry.field
    def max_uses(self) -> int | None:
        return self.row.max_uses

    @strawberry.field
    def uses(self) -> int:
        return self.row.uses

    @strawberry.field
    def revoked_at(self) -> datetime | None:
        return self.row.revoked_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(
    description="An event. Outsiders of an UNLISTED event see only its public "
    "fields (the others are null)."
)
class Event(relay.Node):
    row: strawberry.Private[rows.Event]
    membership: strawberry.Private[rows.Participant | None]

    @classmethod
    def resolve_id(cls, root: Event, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Event | None]:
        ids = [int(i) if i.isdigit() else 0 for i in node_ids]
        found = await info.context.loaders.event_access.load_many(ids)
        return [Event(row=f[0], membership=f[1]) if f else None for f in found]

    @property
    def is_member(self) -> bool:
        return uc.role_of(self.membership) is not None

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field
    def ends_at(self) -> datetime:
        return self.row.ends_at

    @strawberry.field
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field
    def status(self) -> EventStatus:
        return EventStatus(self.row.status)

    @strawberry.field
    def visibility(self) -> EventVisibility:
        return EventVisibility(self.row.visibility)

    @strawberry.field
    def capacity(self) -> int | None:
        return self.row.capacity

    @strawberry.field
    def currency(self) -> str:
        return self.row.currency

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="For `expectedVersion` in updates.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="Participants only.")
    def description(self) -> str | None:
        return self.row.description if self.is_member else None

    @strawberry.field(description="Participants only.")
    def location(self) -> Location | None:
        r = self.row
        if not self.is_member or (
            r.location_name is None and r.location_address is None and r.latitude is None
        ):
            return None
        return Location(
            name=r.location_name,
            address=r.location_address,
            latitude=float(r.latitude) if r.latitude is not None else None,
            longitude=float(r.longitude) if r.longitude is not None else None,
        )

    @strawberry.field
    def viewer_role(self) -> ParticipantRole | None:
        role = uc.role_of(self.membership)
        return ParticipantRole(role.value) if role else None

    @strawberry.field
    def viewer_participation(self) -> Participant | None:
        return Participant.of(self.membership) if self.is_member and self.membership else None

    async def _participants(self, info: Info) -> list[rows.Participant]:
        everyone = await info.context.loaders.participants_by_event.load(self.row.id)
        return [p for p in everyone if p.is_active]

    @strawberry.field
    async def participant_count(self, info: Info) -> int:
        return len(await self._participants(info))

    @strawberry.field
    async def owner(self, info: Info) -> User | None:
        owner = next(
            (
                p
                for p in await self._participants(info)
                if p.role == rows.ParticipantRole.OWNER.value
            ),
            None,
        )
        if owner is None or owner.user_id is None:
            return None
        user = await info.context.loaders.user_by_id.load(owner.user_id)
        return User(row=user) if user else None

    @strawberry.field(description="Participants only; in creation order.")
    async def tasks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: Annotated[TaskStatus, strawberry.lazy(TASKS)] | None = None,
        assignee_id: relay.GlobalID | None = None,
    ) -> Connection[Annotated[Task, strawberry.lazy(TASKS)]] | None:
        from schema.tasks import tasks

        if not self.is_member:
            return None
        size = page_size(first)
        start = _offset(after)
        found = await info.context.loaders.tasks_by_event.load(self.row.id)
        if status is not None:
            found = [t for t in found if t.status == status.value]
        if assignee_id is not None:
            wanted = decode_id(assignee_id, "Participant")
            assigned = await info.context.loaders.assignees_by_task.load_many([t.id for t in found])
            found = [t for t, ids in zip(found, assigned, strict=True) if wanted in ids]
        return _window(await tasks(info, found[: start + size + 1]), start, size)

    @strawberry.field(description="Participants only; most recent first.")
    async def expenses(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[Expense, strawberry.lazy(EXPENSES)]] | None:
        from schema.expenses import expenses

        if not self.is_member:
            return None
        size = page_size(first)
        start = _offset(after)
        ledger = await info.context.loaders.ledger_by_event.load(self.row.id)
        return _window(await expenses(info, ledger.expenses[: start + size + 1]), start, size)

    async def _nets(self, info: Info) -> tuple[list[int], dict[int, Any]]:
        members = [p.id for p in await self._participants(info)]
        ledger = await info.context.loaders.ledger_by_event.load(self.row.id)
        found = ledger.balances(members)
        order = members + sorted(k for k in found if k not in members)
        return order, found

    @strawberry.field(
        description="Participants only: per participant, including those who left with a history."
    )
    async def balances(
        self, info: Info
    ) -> list[Annotated[Balance, strawberry.lazy(EXPENSES)]] | None:
        from schema.expenses import Balance

        if not self.is_member:
            return None
        order, found = await self._nets(info)
        people = await roster(info, self.row.id or 0)
        return [Balance.of(people.get(pid), found[pid], self.row.currency) for pid in order]

    @strawberry.field(
        description="Participants only: few transfers that settle everyone; "
        "paying one does not reshuffle the others."
    )
    async def settlement_plan(
        self, info: Info
    ) -> list[Annotated[Transfer, strawberry.lazy(EXPENSES)]] | None:
        from resolvers.money import settlement_plan
        from schema.expenses import Transfer, to_money

        if not self.is_member:
            return None
        order, found = await self._nets(info)
        plan = settlement_plan({pid: found[pid].net for pid in order}, order)
        people = await roster(info, self.row.id or 0)
        return [
            Transfer(from_=people.get(a), to=people.get(b), amount=to_money(m, self.row.currency))
            for a, b, m in plan
        ]

    @strawberry.field(description="Participants only: recorded reimbursements, oldest first.")
    async def settlements(
        self, info: Info
    ) -> list[Annotated[Settlement, strawberry.lazy(EXPENSES)]] | None:
        from schema.expenses import Settlement

        if not self.is_member:
            return None
        ledger = await info.context.loaders.ledger_by_event.load(self.row.id)
        people = await roster(info, self.row.id or 0)
        return [Settlement.of(s, people) for s in ledger.settlements]

    @strawberry.field(description="Organizers and owner; null for others. Newest first.")
    async def invitations(
        self, info: Info
    ) -> list[Annotated[Invitation, strawberry.lazy("schema.invitations")]] | None:
        from schema.invitations import Invitation

        if not uc.has_role(self.membership, rows.ParticipantRole.ORGANIZER):
            return None
        found = await info.context.loaders.invitations_by_event.load(self.row.id)
        return [Invitation(row=r) for r in found]

    @strawberry.field(description="Organizers and owner; null for others. Newest first.")
    async def join_requests(
        self, info: Info
    ) -> list[Annotated[JoinRequest, strawberry.lazy("schema.invitations")]] | None:
        from schema.invitations import JoinRequest

        if not uc.has_role(self.membership, rows.ParticipantRole.ORGANIZER):
            return None
        found = await info.context.loaders.join_requests_by_event.load(self.row.id)
        return [JoinRequest(row=r) for r in found]

    @strawberry.field(description="Participants only: the photo albums, the default one first.")
    async def albums(
        self,
        info: Info,
    ) -> list[Annotated[Album, strawberry.lazy("schema.media")]] | None:
        from schema.media import event_albums

        if not self.is_member:
            return None
        return await event_albums(info, self.row.id or 0)

    @strawberry.field(
        description="Participants only: the chat, newest first. `before` pages "
        "back; `around: messageId` opens at a message."
    )
    async def messages(
        self,
        info: Info,
        last: int | None = None,
        before: str | None = None,
        around: relay.GlobalID | None = None,
    ) -> Connection[Annotated[Message, strawberry.lazy("schema.chat")]] | None:
        from schema.chat import event_messages

        if not self.is_member:
            return None
        return await event_messages(info, self.row.id or 0, last, before, around)

    @strawberry.field(
        description="Participants only: others' messages after your read marker "
        "(deleted ones don't count), at most 1000."
    )
    async def chat_unread_count(self, info: Info) -> int | None:
        from resolvers import chat as chat_uc

        if not self.is_member:
            return None
        return await chat_uc.unread_counts(
            info.context.deps, info.context.require_viewer(), self.row.id or 0, mentions_only=False
        )

    @strawberry.field(description="Participants only: unread messages that mention you.")
    async def mentions_unread_count(self, info: Info) -> int | None:
        from resolvers import chat as chat_uc

        if not self.is_member:
            return None
        return await chat_uc.unread_counts(
            info.context.deps, info.context.require_viewer(), self.row.id or 0, mentions_only=True
        )

    @strawberry.field(
        description="Participants only: who has the app open now (with at least "
        "one live connection), except those who hide it."
    )
    async def online_participants(self, info: Info) -> list[Participant] | None:
        from resolvers import presence

        if not self.is_member:
            return None
        everyone = await info.context.loaders.participants_by_event.load(self.row.id or 0)
        active = [p for p in everyone if p.user_id is not None and uc.role_of(p) is not None]
        shown = await presence.shown_online(
            info.context.deps,
            info.context.require_viewer(),
            [p.user_id for p in active if p.user_id],
        )
        people = await roster(info, self.row.id or 0)
        return [people[p.id] for p in active if p.user_id in shown and p.id in people]

    @strawberry.field(description="Participants only: what happened, newest first.")
    async def activity(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[ActivityEntry, strawberry.lazy("schema.activity")]] | None:
        from schema.activity import activity

        if not self.is_member:
            return None
        return await activity(info, self.row.id or 0, first, after)

    @strawberry.field(description="Organizers and owner; empty for others.")
    async def invite_links(self, info: Info) -> list[InviteLink]:
        if not uc.has_role(self.membership, rows.ParticipantRole.ORGANIZER):
            return []
        links = await uc.invite_links_of(
            info.context.deps, info.context.require_viewer(), self.row.id or 0
        )
        return [InviteLink(row=link) for link in links]

    @strawberry.field(description="Active participants in join order (participants only).")
    async def participants(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        role: ParticipantRole | None = None,
    ) -> Connection[Participant] | None:
        if not self.is_member:
            return None
        size = page_size(first)
        start = _offset(after)
        members = await self._participants(info)
        if role is not None:
            members = [p for p in members if p.role == role.value]
        people = await roster(info, self.row.id or 0)
        return _window([people[p.id or 0] for p in members], start, size)


def _offset(after: str | None) -> int:
    if after is None:
        return 0
    parts = decode_cursor(after, arity=1)
    assert parts is not None
    if not isinstance(parts[0], int) or parts[0] < 0:
        raise BadRequest("Invalid cursor.")
    return parts[0] + 1


def _window(items: list[Any], start: int, size: int) -> Connection[Any]:
    """A page of an in-memory list (relations loaded whole by a dataloader)."""
    window = items[start : start + size + 1]
    positions = {id(item): start + n for n, item in enumerate(window)}
    return connection(
        window, size, lambda node: encode_cursor(positions[id(node)]), has_previous=start > 0
    )


# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input
class LocationInput:
    name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@strawberry.input
class CreateEventInput:
    title: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    description: str = ""
    timezone: str = "UTC"
    location: LocationInput | None = None
    visibility: EventVisibility = EventVisibility.PRIVATE
    capacity: int | None = None
    client_mutation_id: str | None = None


@strawberry.input
class UpdateEventInput:
    event_id: relay.GlobalID
    title: str | None = None
    description: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    location: LocationInput | None = strawberry.field(
        default=None, description="Replaces the location; see clearLocation."
    )
    clear_location: bool = False
    visibility: EventVisibility | None = None
    capacity: int | None = None
    clear_capacity: bool = False
    currency: str | None = None
    expected_version: int | None = None


@strawberry.input
class EventRefInput:
    event_id: relay.GlobalID
    expected_version: int | None = None


@strawberry.input
class SetRsvpInput:
    event_id: relay.GlobalID
    status: Rsvp


@strawberry.input
class ParticipantRefInput:
    event_id: relay.GlobalID
    participant_id: relay.GlobalID


@strawberry.input
class UpdateParticipantRoleInput:
    event_id: relay.GlobalID
    participant_id: relay.GlobalID
    role: ParticipantRole


@strawberry.input
class MyEventsFilter:
    when: EventWhen = EventWhen.UPCOMING
    role: ParticipantRole | None = None
    status: EventStatus | None = None


@strawberry.input
class CreateInviteLinkInput:
    event_id: relay.GlobalID
    role: ParticipantRole = ParticipantRole.PARTICIPANT
    expires_at: datetime | None = None
    max_uses: int | None = None


@strawberry.input
class JoinWithInviteLinkInput:
    token: str


@strawberry.input
class RevokeInviteLinkInput:
    invite_link_id: relay.GlobalID


@strawberry.type
class CreateInviteLinkPayload:
    invite_link: InviteLink | None
    token: str | None = strawberry.field(description="Shown once: share it; only a hash is kept.")
    errors: list[EventError]


@strawberry.type
class InviteLinkPayload:
    invite_link: InviteLink | None
    errors: list[EventError]


@strawberry.type
class JoinEventPayload:
    event: Event | None
    participant: Participant | None
    errors: list[EventError]


@strawberry.type
class EventPayload:
    event: Event | None
    errors: list[EventError]


@strawberry.type
class DeleteEventPayload:
    deleted_event_id: relay.GlobalID | None
    errors: list[EventError]


@strawberry.type
class ParticipantPayload:
    participant: Participant | None
    errors: list[EventError]


@strawberry.type
class TransferOwnershipPayload:
    owner: Participant | None
    previous_owner: Participant | None
    errors: list[EventError]


def _location(loc: LocationInput | None) -> uc.LocationData | None:
    if loc is None:
        return None
    return uc.LocationData(
        name=loc.name, address=loc.address, latitude=loc.latitude, longitude=loc.longitude
    )


async def _fresh_event(
    info: Info, row: rows.Event | None, errors: list[EventError]
) -> EventPayload:
    if row is None or row.id is None:
        return EventPayload(event=None, errors=errors)
    info.context.loaders.event_access.clear(row.id)
    found = await info.context.loaders.event_access.load(row.id)
    return EventPayload(
        event=Event(row=found[0], membership=found[1]) if found else None, errors=errors
    )


def _participant_payload(
    row: rows.Participant | None, errors: list[EventError]
) -> ParticipantPayload:
    return ParticipantPayload(participant=Participant.of(row) if row else None, errors=errors)


# --- root fields -------------------------------------------------------------------------------


@strawberry.type
class EventQuery:
    @strawberry.field(
        description="An event you take part in, or an UNLISTED one (public "
        "fields). Null for anything else."
    )
    async def event(self, info: Info, id: relay.GlobalID) -> Event | None:
        info.context.viewer_or_none()  # a rejected token is an error, not anonymity
        if id.type_name != "Event" or not id.node_id.isdigit():
            return None
        found = await info.context.loaders.event_access.load(int(id.node_id))
        return Event(row=found[0], membership=found[1]) if found else None

    @strawberry.field(
        description="Events you take part in, ordered by start (PAST: most recent first)."
    )
    async def my_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: MyEventsFilter | None = None,
    ) -> Connection[Event]:
        viewer = info.context.require_viewer()
        size = page_size(first)
        flt = filter or MyEventsFilter()
        cursor = None
        parts = decode_cursor(after, arity=2)
        if parts is not None:
            try:
                cursor = (datetime.fromisoformat(parts[0]), int(parts[1]))
            except (TypeError, ValueError):
                raise BadRequest("Invalid cursor.") from None
        found = await uc.my_events(
            info.context.deps,
            viewer,
            uc.MyEventsFilter(
                when=flt.when.value,
                role=rows.ParticipantRole(flt.role.value) if flt.role else None,
                status=rows.EventStatus(flt.status.value) if flt.status else None,
            ),
            size + 1,
            cursor,
        )
        for event, membership in found:  # prime the access loader: no second read
            info.context.loaders.event_access.prime(event.id, (event, membership))
        return connection(
            [Event(row=e, membership=p) for e, p in found],
            size,
            lambda n: encode_cursor(n.row.starts_at.isoformat(), n.row.id),
            has_previous=after is not None,
        )


@strawberry.type
class EventMutation:
    @strawberry.mutation(description="Creates an event; you become its owner.")
    async def create_event(self, info: Info, input: CreateEventInput) -> EventPayload:
        viewer = info.context.require_viewer()
        data = uc.EventData(
            title=input.title,
            description=input.description,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            timezone=input.timezone,
            location=_location(input.location),
            visibility=rows.Visibility(input.visibility.value),
            capacity=input.capacity,
            currency=input.currency,
        )
        row, errors = await _run(
            uc.create_event(info.context.deps, viewer, data, input.client_mutation_id)
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(description="Organizers and owner. Only the fields given change.")
    async def update_event(self, info: Info, input: UpdateEventInput) -> EventPayload:
        viewer = info.context.require_viewer()
        event_id = decode_id(input.event_id, "Event")
        data = uc.EventData(
            title=input.title,
            description=input.description,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            timezone=input.timezone,
            location=_location(input.location),
            clear_location=input.clear_location,
            visibility=rows.Visibility(input.visibility.value) if input.visibility else None,
            capacity=input.capacity,
            clear_capacity=input.clear_capacity,
            currency=input.currency,
        )
        row, errors = await _run(
            uc.update_event(info.context.deps, viewer, event_id, data, input.expected_version)
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(description="Organizers and owner: status CANCELLED, kept for history.")
    async def cancel_event(self, info: Info, input: EventRefInput) -> EventPayload:
        viewer = info.context.require_viewer()
        row, errors = await _run(
            uc.cancel_event(
                info.context.deps,
                viewer,
                decode_id(input.event_id, "Event"),
                input.expected_version,
            )
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(description="Owner only: removes the event and all that belongs to it.")
    async def delete_event(self, info: Info, input: EventRefInput) -> DeleteEventPayload:
        viewer = info.context.require_viewer()
        _, errors = await _run(
            uc.delete_event(info.context.deps, viewer, decode_id(input.event_id, "Event"))
        )
        return DeleteEventPayload(
            deleted_event_id=None if errors else input.event_id, errors=errors
        )

    @strawberry.mutation
    async def set_rsvp(self, info: Info, input: SetRsvpInput) -> ParticipantPayload:
        viewer = info.context.require_viewer()
        return _participant_payload(
            *await _run(
                uc.set_rsvp(
                    info.context.deps,
                    viewer,
                    decode_id(input.event_id, "Event"),
                    rows.Rsvp(input.status.value),
                )
            )
        )

    @strawberry.mutation(description="Leave an event (the owner must transfer ownership first).")
    async def leave_event(self, info: Info, input: EventRefInput) -> ParticipantPayload:
        viewer = info.context.require_viewer()
        return _participant_payload(
            *await _run(
                uc.leave_event(info.context.deps, viewer, decode_id(input.event_id, "Event"))
            )
        )

    @strawberry.mutation(
        description="Organizers remove participants; the owner anyone. "
        "Their history (expenses, tasks) keeps their name."
    )
    async def remove_participant(
        self, info: Info, input: ParticipantRefInput
    ) -> ParticipantPayload:
        viewer = info.context.require_viewer()
        return _participant_payload(
            *await _run(
                uc.remove_participant(
                    info.context.deps,
                    viewer,
                    decode_id(input.event_id, "Event"),
                    decode_id(input.participant_id, "Participant"),
                )
            )
        )

    @strawberry.mutation(description="Owner only: ORGANIZER or PARTICIPANT.")
    async def update_participant_role(
        self, info: Info, input: UpdateParticipantRoleInput
    ) -> ParticipantPayload:
        viewer = info.context.require_viewer()
        return _participant_payload(
            *await _run(
                uc.update_participant_role(
                    info.context.deps,
                    viewer,
                    decode_id(input.event_id, "Event"),
                    decode_id(input.participant_id, "Participant"),
                    rows.ParticipantRole(input.role.value),
                )
            )
        )

    @strawberry.mutation(description="Owner only: the participant becomes owner, you organizer.")
    async def transfer_ownership(
        self, info: Info, input: ParticipantRefInput
    ) -> TransferOwnershipPayload:
        viewer = info.context.require_viewer()
        result, errors = await _run(
            uc.transfer_ownership(
                info.context.deps,
                viewer,
                decode_id(input.event_id, "Event"),
                decode_id(input.participant_id, "Participant"),
            )
        )
        if result is None:
            return TransferOwnershipPayload(owner=None, previous_owner=None, errors=errors)
        return TransferOwnershipPayload(
            owner=Participant.of(result[0]), previous_owner=Participant.of(result[1]), errors=[]
        )

    @strawberry.mutation(description="Organizers: a link anyone signed in can use to join.")
    async def create_invite_link(
        self, info: Info, input: CreateInviteLinkInput
    ) -> CreateInviteLinkPayload:
        viewer = info.context.require_viewer()
        result, errors = await _run(
            uc.create_invite_link(
                info.context.deps,
                viewer,
                decode_id(input.event_id, "Event"),
                rows.ParticipantRole(input.role.value),
                input.expires_at,
                input.max_uses,
            )
        )
        if result is None:
            return CreateInviteLinkPayload(invite_link=None, token=None, errors=errors)
        return CreateInviteLinkPayload(
            invite_link=InviteLink(row=result[0]), token=result[1], errors=[]
        )

    @strawberry.mutation
    async def revoke_invite_link(
        self, info: Info, input: RevokeInviteLinkInput
    ) -> InviteLinkPayload:
        viewer = info.context.require_viewer()
        link, errors = await _run(
            uc.revoke_invite_link(
                info.context.deps, viewer, decode_id(input.invite_link_id, "InviteLink")
            )
        )
        return InviteLinkPayload(invite_link=InviteLink(row=link) if link else None, errors=errors)

    @strawberry.mutation(description="Joins the event of an invite link (no-op if already in).")
    async def join_with_invite_link(
        self, info: Info, input: JoinWithInviteLinkInput
    ) -> JoinEventPayload:
        viewer = info.context.require_viewer()
        result, errors = await _run(
            uc.join_with_invite_link(info.context.deps, viewer, input.token)
        )
        if result is None:
            return JoinEventPayload(event=None, participant=None, errors=errors)
        event, member = result
        return JoinEventPayload(
            event=Event(row=event, membership=member), participant=Participant.of(member), errors=[]
        )
