"""The Event type and the types it shows that show it back (invite links, invitations, join
requests). Root fields and mutations: schema/event_operations.py."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from resolvers import chat as chat_uc
from resolvers import events as uc
from resolvers import invitations as invitations_uc
from resolvers import presence
from resolvers.money import settlement_plan
from schema.accounts import User
from schema.activity import ActivityEntry, activity
from schema.chat import Message, event_messages
from schema.context import Info
from schema.core import (
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    connection,
    cursor_int,
    decode_cursor,
    decode_node_keys,
    documented_enum,
    encode_cursor,
    page_size,
)
from schema.date_polls import DatePoll, build_poll
from schema.expenses import Balance, Expense, Settlement, Transfer, expenses, to_money
from schema.media import Album, Media, event_albums
from schema.participants import PERSON_ID, Participant, participant_key, roster, visible_rows
from schema.tasks import Task, tasks
from stores import events as rows
from stores import invitations as invitation_rows
from stores.db import key_of, utcnow
from stores.events import EventStatus, ParticipantRole
from stores.events import Visibility as EventVisibility
from stores.invitations import InvitationStatus, JoinRequestStatus
from stores.tasks import TaskStatus

documented_enum(  # one definition: stores.events
    EventStatus,
    {
        EventStatus.ACTIVE: "Going ahead (or took place).",
        EventStatus.CANCELLED: "Cancelled by an organizer (`cancelEvent`): kept for history, "
        "read-only (changes answer EVENT_CANCELLED).",
    },
    name="EventStatus",
    description="Whether an event still goes ahead.",
)

documented_enum(  # one definition: stores.events
    EventVisibility,
    {
        EventVisibility.PRIVATE: "Only its participants see it; others join by invitation or "
        "invite link.",
        EventVisibility.UNLISTED: "Also anyone holding its `shareToken` sees its public fields "
        "(`eventByShareToken`) and may ask to join (`requestToJoin`).",
    },
    name="EventVisibility",
    description="Who can see an event besides its participants. Events are never listed publicly.",
)


class EventWhen(enum.Enum):
    UPCOMING = "UPCOMING"
    PAST = "PAST"
    ALL = "ALL"


documented_enum(
    EventWhen,
    {
        EventWhen.UPCOMING: "Events starting from now on, soonest first.",
        EventWhen.PAST: "Events that started before now, most recent first.",
        EventWhen.ALL: "Every event, by start time.",
    },
    description="Which of your events `myEvents` lists, by their start time.",
)


# --- types -------------------------------------------------------------------------------------


@strawberry.type(description="Where an event takes place; any part may be missing.")
class Location:
    name: str | None = strawberry.field(description="The place's name (at most 200 characters).")
    address: str | None = strawberry.field(
        description="The postal address, one line (at most 500 characters)."
    )
    latitude: float | None = strawberry.field(
        description="WGS 84 latitude in degrees (−90 to 90, 6 decimals); with `longitude`."
    )
    longitude: float | None = strawberry.field(
        description="WGS 84 longitude in degrees (−180 to 180, 6 decimals); with `latitude`."
    )


@strawberry.type(
    description="A shareable link to join an event, for signed-in users (`joinWithInviteLink`). "
    "Only organizers and the owner see them; the token itself is shown once, at creation."
)
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

    @strawberry.field(
        description="The role its users get (PARTICIPANT, or ORGANIZER on the owner's links)."
    )
    def role(self) -> ParticipantRole:
        return ParticipantRole(self.row.role)

    @strawberry.field(description="When it stops working (ISO-8601); null: never.")
    def expires_at(self) -> datetime | None:
        return self.row.expires_at

    @strawberry.field(description="How many joins it allows (1 to 10000); null: unlimited.")
    def max_uses(self) -> int | None:
        return self.row.max_uses

    @strawberry.field(description="How many people joined with it.")
    def uses(self) -> int:
        return self.row.uses

    @strawberry.field(
        description="When an organizer revoked it (it no longer works); null while valid."
    )
    def revoked_at(self) -> datetime | None:
        return self.row.revoked_at

    @strawberry.field(description="When it was created (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(
    description="An event. Outsiders reach an UNLISTED event only through its "
    "`shareToken` (`eventByShareToken`) and see only its public fields (the others are null)."
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
        ids = decode_node_keys(node_ids)
        found = await info.context.loaders.event_access.load_many(ids)
        return [Event(row=f[0], membership=f[1]) if f else None for f in found]

    @property
    def is_member(self) -> bool:
        return uc.role_of(self.membership) is not None

    @strawberry.field(
        description="The event's name (1 to 200 characters). Public: also shown to invitees and "
        "share-token holders."
    )
    def title(self) -> str:
        return self.row.title

    @strawberry.field(description="When it starts (ISO-8601 with offset, stored in UTC). Public.")
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field(
        description="When it ends (ISO-8601 with offset, never before `startsAt`). Public."
    )
    def ends_at(self) -> datetime:
        return self.row.ends_at

    @strawberry.field(
        description='The IANA time zone it takes place in (e.g. "Europe/Paris"), for showing local '
        "times. Public."
    )
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field(description="ACTIVE or CANCELLED. Public.")
    def status(self) -> EventStatus:
        return EventStatus(self.row.status)

    @strawberry.field(description="Who besides its participants may see it. Public.")
    def visibility(self) -> EventVisibility:
        return EventVisibility(self.row.visibility)

    @strawberry.field(
        description="The most active participants it admits (1 to 100000); null: no limit. Public."
    )
    def capacity(self) -> int | None:
        return self.row.capacity

    @strawberry.field(
        description='ISO 4217 code of the event\'s money ("EUR"): every expense and settlement '
        "is in it. Public."
    )
    def currency(self) -> str:
        return self.row.currency

    @strawberry.field(description="When it was created (ISO-8601, UTC). Public.")
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When it last changed (ISO-8601, UTC). Public.")
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="For `expectedVersion` in updates.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(
        description="Participants only: the unguessable token that lets anyone who has it "
        "see this event's public fields and ask to join while it is UNLISTED "
        "(`eventByShareToken`, `requestToJoin`). Event ids are not secret; this is."
    )
    def share_token(self) -> str | None:
        return self.row.share_token if self.is_member else None

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

    @strawberry.field(
        description="Your role in it; null if you do not take part (or are not signed in)."
    )
    def viewer_role(self) -> ParticipantRole | None:
        role = uc.role_of(self.membership)
        return ParticipantRole(role.value) if role else None

    @strawberry.field(
        description="Your participation (to use its id); null if you do not take part."
    )
    def viewer_participation(self) -> Participant | None:
        return Participant.of(self.membership) if self.is_member and self.membership else None

    async def _participants(self, info: Info) -> list[rows.Participant]:
        everyone = await info.context.loaders.participants_by_event.load(key_of(self.row))
        return [p for p in everyone if p.is_active]

    @strawberry.field(description="How many active participants it has. Public.")
    async def participant_count(self, info: Info) -> int:
        return len(await self._participants(info))

    @strawberry.field(description="The owner's account; null if deleted. Public.")
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

    @strawberry.field(
        description="Its cover image (one of its media, chosen by an organizer with "
        "`setEventCover`); null when none, when that media was deleted, and for outsiders. "
        "Participants only; shown in `myEvents` too."
    )
    async def cover(self, info: Info) -> Media | None:
        if not self.is_member or self.row.cover_media_id is None:
            return None
        found = await info.context.loaders.media.load(self.row.cover_media_id)
        if found is None or found.event_id != self.row.id or found.removed_at is not None:
            return None
        return Media(doc=found)

    @strawberry.field(
        description="Its date poll (where participants choose the date); null when it has none. "
        "Participants only."
    )
    async def date_poll(self, info: Info) -> DatePoll | None:
        if not self.is_member or self.membership is None:
            return None
        content = await info.context.loaders.date_poll_by_event.load(key_of(self.row))
        return await build_poll(info, content, self.membership) if content else None

    @strawberry.field(description="Participants only; in creation order.")
    async def tasks(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
        status: Annotated[
            TaskStatus | None, strawberry.argument(description="Only tasks in this status.")
        ] = None,
        assignee_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Only tasks assigned to this person. "
                + PERSON_ID.replace(
                    "; any other id is refused with a payload error at this field",
                    "; another id matches no task",
                )
            ),
        ] = None,
    ) -> Connection[Task] | None:

        if not self.is_member:
            return None
        size = page_size(first)
        start = _offset(after)
        found = await info.context.loaders.tasks_by_event.load(key_of(self.row))
        if status is not None:
            found = [t for t in found if t.status == status.value]
        if assignee_id is not None:
            wanted = await participant_key(info, key_of(self.row), assignee_id)
            assigned = await info.context.loaders.assignees_by_task.load_many(
                [key_of(t) for t in found]
            )
            found = [t for t, ids in zip(found, assigned, strict=True) if wanted in ids]
        return _window(await tasks(info, found[: start + size + 1]), start, size)

    @strawberry.field(description="Participants only; most recent first.")
    async def expenses(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Expense] | None:

        if not self.is_member:
            return None
        size = page_size(first)
        start = _offset(after)
        ledger = await info.context.loaders.ledger_by_event.load(key_of(self.row))
        return _window(await expenses(info, ledger.expenses[: start + size + 1]), start, size)

    async def _nets(self, info: Info) -> tuple[list[int], dict[int, Any]]:
        members = [key_of(p) for p in await self._participants(info)]
        ledger = await info.context.loaders.ledger_by_event.load(key_of(self.row))
        found = ledger.balances(members)
        order = members + sorted(k for k in found if k not in members)
        return order, found

    @strawberry.field(
        description="Participants only: per participant, including those who left with a history."
    )
    async def balances(self, info: Info) -> list[Balance] | None:

        if not self.is_member:
            return None
        order, found = await self._nets(info)
        people = await roster(info, self.row.id or 0)
        return [Balance.of(people.get(pid), found[pid], self.row.currency) for pid in order]

    @strawberry.field(
        description="Participants only: few transfers that settle everyone; "
        "paying one does not reshuffle the others."
    )
    async def settlement_plan(self, info: Info) -> list[Transfer] | None:

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
    async def settlements(self, info: Info) -> list[Settlement] | None:

        if not self.is_member:
            return None
        ledger = await info.context.loaders.ledger_by_event.load(key_of(self.row))
        people = await roster(info, self.row.id or 0)
        return [Settlement.of(s, people) for s in ledger.settlements]

    @strawberry.field(description="Organizers and owner; null for others. Newest first.")
    async def invitations(self, info: Info) -> list[Invitation] | None:

        if not uc.has_role(self.membership, rows.ParticipantRole.ORGANIZER):
            return None
        found = await info.context.loaders.invitations_by_event.load(key_of(self.row))
        return [Invitation(row=r) for r in found]

    @strawberry.field(description="Organizers and owner; null for others. Newest first.")
    async def join_requests(self, info: Info) -> list[JoinRequest] | None:

        if not uc.has_role(self.membership, rows.ParticipantRole.ORGANIZER):
            return None
        found = await info.context.loaders.join_requests_by_event.load(key_of(self.row))
        return [JoinRequest(row=r) for r in found]

    @strawberry.field(description="Participants only: the photo albums, the default one first.")
    async def albums(
        self,
        info: Info,
    ) -> list[Album] | None:

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
        last: Annotated[
            int | None,
            strawberry.argument(description="Page size: 0 to 100, default 20 (newest first)."),
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(
                description="The `startCursor` of the page you have: the page of older "
                "messages before it. Malformed: BAD_USER_INPUT."
            ),
        ] = None,
        around: Annotated[
            relay.GlobalID | None,
            strawberry.argument(
                description="A Message id of this event: the page that holds it (e.g. to "
                "open a mention)."
            ),
        ] = None,
    ) -> Connection[Message] | None:

        if not self.is_member:
            return None
        return await event_messages(info, self.row.id or 0, last, before, around)

    @strawberry.field(
        description="Participants only: others' messages after your read marker "
        "(deleted ones don't count), at most 1000."
    )
    async def chat_unread_count(self, info: Info) -> int | None:

        if not self.is_member:
            return None
        return await chat_uc.unread_counts(
            info.context.deps, info.context.require_viewer(), self.row.id or 0, mentions_only=False
        )

    @strawberry.field(description="Participants only: unread messages that mention you.")
    async def mentions_unread_count(self, info: Info) -> int | None:

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
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[ActivityEntry] | None:

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
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
        role: Annotated[
            ParticipantRole | None,
            strawberry.argument(description="Only participants with this role."),
        ] = None,
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
    return cursor_int(parts[0]) + 1


def _window(items: list[Any], start: int, size: int) -> Connection[Any]:
    """A page of an in-memory list (relations loaded whole by a dataloader)."""
    window = items[start : start + size + 1]
    positions = {id(item): start + n for n, item in enumerate(window)}
    return connection(
        window, size, lambda node: encode_cursor(positions[id(node)]), has_previous=start > 0
    )


# --- invitations and join requests (each shows its event) -----------------------------------


documented_enum(  # one definition: stores.invitations
    InvitationStatus,
    {
        InvitationStatus.PENDING: "Sent, not yet answered, not expired.",
        InvitationStatus.ACCEPTED: "The invitee accepted and became a participant.",
        InvitationStatus.DECLINED: "The invitee declined.",
        InvitationStatus.REVOKED: "An organizer withdrew it before it was answered.",
        InvitationStatus.EXPIRED: "Not answered within 14 days; it can no longer be accepted.",
    },
    name="InvitationStatus",
    description="Where an invitation is.",
)

documented_enum(  # one definition: stores.invitations
    JoinRequestStatus,
    {
        JoinRequestStatus.PENDING: "Waiting for an organizer.",
        JoinRequestStatus.APPROVED: "Approved: the requester became a participant.",
        JoinRequestStatus.REJECTED: "Rejected by an organizer.",
    },
    name="JoinRequestStatus",
    description="Where a request to join an event is.",
)


@strawberry.type(
    description="An invitation to join an event, sent to an account or an email address. Seen "
    "by its invitee (`myInvitations`) and by the event's organizers (`Event.invitations`)."
)
class Invitation(relay.Node):
    row: strawberry.Private[invitation_rows.Invitation]

    @classmethod
    def resolve_id(cls, root: Invitation, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Invitation | None]:
        viewer = info.context.viewer
        if viewer is None:
            return [None for _ in node_ids]
        mine = {
            str(i.id): i
            for i in await invitations_uc.my_invitations(info.context.deps, viewer, None)
        }
        return [Invitation(row=mine[i]) if i in mine else None for i in node_ids]

    @strawberry.field(
        description="To its participants, the event; to an invitee who is not one, its public "
        "fields while the invitation is PENDING, and null once it is declined, revoked or "
        "expired."
    )
    async def event(self, info: Info) -> Event | None:
        found = await info.context.loaders.event_access.load(self.row.event_id)
        if found:
            return Event(row=found[0], membership=found[1])
        if self.row.effective_status(utcnow()) is not InvitationStatus.PENDING:
            return None  # a closed invitation opens nothing: not even the current title
        event = await info.context.loaders.event_by_id.load(self.row.event_id)
        return Event(row=event, membership=None) if event else None

    @strawberry.field(description="Who sent it; null if their account is deleted.")
    async def inviter(self, info: Info) -> User | None:
        if self.row.inviter_user_id is None:
            return None
        user = await info.context.loaders.user_by_id.load(self.row.inviter_user_id)
        return User(row=user) if user else None

    @strawberry.field(
        description="The account invited; null for an invitation mailed to an address without an "
        "account (see `inviteeEmail`) until it is accepted."
    )
    async def invitee(self, info: Info) -> User | None:
        if self.row.invitee_user_id is None:
            return None
        user = await info.context.loaders.user_by_id.load(self.row.invitee_user_id)
        return User(row=user) if user else None

    @strawberry.field(description="For invitations sent to an address without an account.")
    def invitee_email(self) -> str | None:
        return self.row.invitee_email

    @strawberry.field(description="The role accepting gives (PARTICIPANT or ORGANIZER).")
    def role(self) -> ParticipantRole:
        return ParticipantRole(self.row.role)

    @strawberry.field(description="The inviter's note (at most 500 characters; may be empty).")
    def message(self) -> str:
        return self.row.message

    @strawberry.field(
        description="PENDING until answered; EXPIRED once `expiresAt` passed unanswered."
    )
    def status(self) -> InvitationStatus:
        return InvitationStatus(self.row.effective_status(utcnow()).value)

    @strawberry.field(description="When it expires: 14 days after it was sent (ISO-8601, UTC).")
    def expires_at(self) -> datetime:
        return self.row.expires_at

    @strawberry.field(description="When it was sent (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(
    description="A signed-in user's request to join an UNLISTED event, decided by its "
    "organizers (who see it in `Event.joinRequests`)."
)
class JoinRequest(relay.Node):
    row: strawberry.Private[invitation_rows.JoinRequest]

    @classmethod
    def resolve_id(cls, root: JoinRequest, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[JoinRequest | None]:
        found = await visible_rows(
            info, invitation_rows.JoinRequest, node_ids, rows.ParticipantRole.ORGANIZER
        )
        return [JoinRequest(row=r) if r else None for r in found]

    @strawberry.field(description="Who asks to join; null if their account is deleted.")
    async def user(self, info: Info) -> User | None:
        user = await info.context.loaders.user_by_id.load(self.row.user_id)
        return User(row=user) if user else None

    @strawberry.field(
        description="Their note to the organizers (at most 500 characters; may be empty)."
    )
    def message(self) -> str:
        return self.row.message

    @strawberry.field(description="PENDING until an organizer approves or rejects it.")
    def status(self) -> JoinRequestStatus:
        return JoinRequestStatus(self.row.status)

    @strawberry.field(description="When it was made (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.row.created_at
