"""Participants of an event: the type, the per-request roster every event relation reads its
people from, and node lookups of things that belong to an event."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.relay.types import GlobalIDValueError

from resolvers import events as uc
from resolvers.people import PersonId
from schema.accounts import User
from schema.context import Info
from schema.core import NO_INT_KEY, decode_global_id, decode_node_keys, documented_enum
from stores import events as rows
from stores.db import key_of
from stores.events import ParticipantRole, ParticipantState, Rsvp

documented_enum(  # one definition: stores.events
    ParticipantRole,
    {
        ParticipantRole.OWNER: "The one who owns the event (exactly one): everything organizers "
        "may, plus deleting the event, changing roles, giving ORGANIZER invitations and links, "
        "and transferring the ownership.",
        ParticipantRole.ORGANIZER: "Runs the event: edits and cancels it, invites, decides join "
        "requests, removes participants, validates tasks, edits anyone's tasks and expenses.",
        ParticipantRole.PARTICIPANT: "Takes part: sees everything inside the event, adds tasks, "
        "expenses and messages, edits their own.",
    },
    name="ParticipantRole",
    description="What a participant may do in an event; each role may do all the roles below "
    "it may.",
)

documented_enum(  # one definition: stores.events
    Rsvp,
    {
        Rsvp.GOING: "Will come (the answer on joining).",
        Rsvp.MAYBE: "Not sure yet.",
        Rsvp.DECLINED: "Will not come (still a participant: see `leaveEvent` to leave).",
    },
    name="Rsvp",
    description="A participant's answer to the event, set with `setRsvp`.",
)

documented_enum(  # one definition: stores.events
    ParticipantState,
    {
        ParticipantState.ACTIVE: "In the event now.",
        ParticipantState.LEFT: "Left on their own (`leaveEvent`); may come back by invitation, "
        "invite link or join request.",
        ParticipantState.REMOVED: "Removed by an organizer or the owner; an invite link does "
        "not bring them back.",
    },
    name="ParticipantState",
    description="Whether a participant is still in the event. Those who left or were removed "
    "stay listed in history (their tasks, expenses and balances keep their name).",
)


class Unloaded(enum.Enum):
    """A relation not loaded with the object (its resolver loads it)."""

    UNLOADED = "UNLOADED"


UNLOADED = Unloaded.UNLOADED


@strawberry.type(
    description="A person's membership of one event (one per user and event; its id is not "
    "the user's). Stays listed in history after leaving. Visible to the event's participants."
)
class Participant(relay.Node):
    """Plain fields, filled once from the row: an event page lists hundreds of participant
    references (assignees, payers, shares, balances), and plain attributes cost graphql-core a
    lookup where a resolver costs a call through Strawberry's field machinery."""

    row: strawberry.Private[rows.Participant]
    display_name: str = strawberry.field(
        description="The name shown in the event: the account's first and last name when they "
        "joined (kept after the account is deleted)."
    )
    role: ParticipantRole = strawberry.field(
        description="What they may do (PARTICIPANT once they left or were removed)."
    )
    rsvp: Rsvp = strawberry.field(description="Their answer to the event.")
    state: ParticipantState = strawberry.field(description="Whether they are still in the event.")
    joined_at: datetime = strawberry.field(description="When they (last) joined (ISO-8601, UTC).")
    left_at: datetime | None = strawberry.field(
        description="When they left or were removed; null while ACTIVE."
    )
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
        ids = decode_node_keys(node_ids)
        found = await info.context.loaders.participant_by_id.load_many(ids)
        event_ids = [p.event_id if p else 0 for p in found]
        visible = await info.context.loaders.event_access.load_many(event_ids)
        return [
            Participant.of(p) if p and v and uc.role_of(v[1]) else None
            for p, v in zip(found, visible, strict=True)
        ]

    @strawberry.field(
        description="Their account (a User); null once the account is deleted (the display "
        "name stays).",
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


async def visible_rows(
    info: Info,
    model: Any,
    node_ids: Iterable[str],
    minimum: rows.ParticipantRole = rows.ParticipantRole.PARTICIPANT,
) -> list[Any | None]:
    """node(id:) for things that belong to an event: rows whose event the viewer takes part in
    with at least `minimum`, else None (like a missing id)."""
    ids = decode_node_keys(node_ids)
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


PERSON_ID = (
    "Accepts a Participant id of this event or the User id of one of its participants (the "
    "same person); any other id is refused with a payload error at this field."
)


def person_id(raw: str) -> PersonId:
    """A person argument (a Participant or a User id), decoded; any other id, malformed ones
    included, decodes to a PersonId with neither key, which the use case reports at its field
    (a payload error, where a GlobalID argument would fail the whole request)."""
    try:
        gid = relay.GlobalID.from_id(raw)
    except GlobalIDValueError:
        return PersonId()
    return PersonId(
        participant_id=decode_global_id(gid, "Participant"), user_id=decode_global_id(gid, "User")
    )


async def participant_key(info: Info, event_id: int, raw: str) -> int:
    """The participant of the event a person argument names (a Participant id, or the User id
    of one of its participants), else NO_INT_KEY: the use case then answers as for an unknown
    participant. Reads the roster the request's loader already holds (no authorisation is
    needed: the key only reaches a use case, which checks the viewer's membership first)."""
    who = person_id(raw)
    if who.participant_id or not who.user_id:
        return who.participant_id
    everyone = await info.context.loaders.participants_by_event.load(event_id)
    return next((key_of(p) for p in everyone if p.user_id == who.user_id), NO_INT_KEY)
