"""Events: inputs, payloads, root fields and mutations."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay

from resolvers import events as uc
from resolvers.core.errors import BadRequest
from schema.context import Info
from schema.core import (
    CLIENT_MUTATION_ID,
    NO_INT_KEY,
    Connection,
    connection,
    cursor_int,
    decode_cursor,
    decode_global_id,
    encode_cursor,
    mutate,
    page_size,
)
from schema.event_errors import EventError
from schema.events import Event, EventWhen, InviteLink
from schema.participants import Participant
from stores import events as rows
from stores.db import key_of
from stores.events import EventStatus, ParticipantRole, Rsvp
from stores.events import Visibility as EventVisibility

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
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


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
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


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
        description="An event you take part in. Null for anything else (an UNLISTED "
        "event you are not in included: see eventByShareToken)."
    )
    async def event(self, info: Info, id: relay.GlobalID) -> Event | None:
        info.context.viewer_or_none()  # a rejected token is an error, not anonymity
        event_id = decode_global_id(id, "Event")
        if event_id == NO_INT_KEY:
            return None
        found = await info.context.loaders.event_access.load(event_id)
        return Event(row=found[0], membership=found[1]) if found else None

    @strawberry.field(
        description="The event a share token (Event.shareToken) opens: an event you take "
        "part in, or an UNLISTED one (public fields), signed in or not. Null for anything else."
    )
    async def event_by_share_token(self, info: Info, token: str) -> Event | None:
        found = await uc.event_by_share_token(
            info.context.deps, info.context.viewer_or_none(), token
        )
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
                cursor = (datetime.fromisoformat(parts[0]), cursor_int(parts[1]))
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
            info.context.loaders.event_access.prime(key_of(event), (event, membership))
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
        row, errors = await mutate(
            info, EventError, uc.create_event, data, input.client_mutation_id
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(description="Organizers and owner. Only the fields given change.")
    async def update_event(self, info: Info, input: UpdateEventInput) -> EventPayload:
        event_id = decode_global_id(input.event_id, "Event")
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
        row, errors = await mutate(
            info, EventError, uc.update_event, event_id, data, input.expected_version
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(description="Organizers and owner: status CANCELLED, kept for history.")
    async def cancel_event(self, info: Info, input: EventRefInput) -> EventPayload:
        row, errors = await mutate(
            info,
            EventError,
            uc.cancel_event,
            decode_global_id(input.event_id, "Event"),
            input.expected_version,
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(description="Owner only: removes the event and all that belongs to it.")
    async def delete_event(self, info: Info, input: EventRefInput) -> DeleteEventPayload:
        _, errors = await mutate(
            info, EventError, uc.delete_event, decode_global_id(input.event_id, "Event")
        )
        return DeleteEventPayload(
            deleted_event_id=None if errors else input.event_id, errors=errors
        )

    @strawberry.mutation
    async def set_rsvp(self, info: Info, input: SetRsvpInput) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info,
                EventError,
                uc.set_rsvp,
                decode_global_id(input.event_id, "Event"),
                rows.Rsvp(input.status.value),
            )
        )

    @strawberry.mutation(description="Leave an event (the owner must transfer ownership first).")
    async def leave_event(self, info: Info, input: EventRefInput) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info, EventError, uc.leave_event, decode_global_id(input.event_id, "Event")
            )
        )

    @strawberry.mutation(
        description="Organizers remove participants; the owner anyone. "
        "Their history (expenses, tasks) keeps their name."
    )
    async def remove_participant(
        self, info: Info, input: ParticipantRefInput
    ) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info,
                EventError,
                uc.remove_participant,
                decode_global_id(input.event_id, "Event"),
                decode_global_id(input.participant_id, "Participant"),
            )
        )

    @strawberry.mutation(description="Owner only: ORGANIZER or PARTICIPANT.")
    async def update_participant_role(
        self, info: Info, input: UpdateParticipantRoleInput
    ) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info,
                EventError,
                uc.update_participant_role,
                decode_global_id(input.event_id, "Event"),
                decode_global_id(input.participant_id, "Participant"),
                rows.ParticipantRole(input.role.value),
            )
        )

    @strawberry.mutation(description="Owner only: the participant becomes owner, you organizer.")
    async def transfer_ownership(
        self, info: Info, input: ParticipantRefInput
    ) -> TransferOwnershipPayload:
        result, errors = await mutate(
            info,
            EventError,
            uc.transfer_ownership,
            decode_global_id(input.event_id, "Event"),
            decode_global_id(input.participant_id, "Participant"),
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
        result, errors = await mutate(
            info,
            EventError,
            uc.create_invite_link,
            decode_global_id(input.event_id, "Event"),
            rows.ParticipantRole(input.role.value),
            input.expires_at,
            input.max_uses,
            input.client_mutation_id,
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
        link, errors = await mutate(
            info,
            EventError,
            uc.revoke_invite_link,
            decode_global_id(input.invite_link_id, "InviteLink"),
        )
        return InviteLinkPayload(invite_link=InviteLink(row=link) if link else None, errors=errors)

    @strawberry.mutation(description="Joins the event of an invite link (no-op if already in).")
    async def join_with_invite_link(
        self, info: Info, input: JoinWithInviteLinkInput
    ) -> JoinEventPayload:
        result, errors = await mutate(info, EventError, uc.join_with_invite_link, input.token)
        if result is None:
            return JoinEventPayload(event=None, participant=None, errors=errors)
        event, member = result
        return JoinEventPayload(
            event=Event(row=event, membership=member), participant=Participant.of(member), errors=[]
        )
