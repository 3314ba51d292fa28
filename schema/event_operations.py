"""Events: inputs, payloads, root fields and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.file_uploads import Upload

from resolvers import event_cover
from resolvers import events as uc
from resolvers.core.errors import BadRequest
from schema.context import Info
from schema.core import (
    CLIENT_MUTATION_ID,
    NO_INT_KEY,
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    connection,
    cursor_int,
    decode_cursor,
    decode_document_id,
    decode_global_id,
    encode_cursor,
    mutate,
    page_size,
)
from schema.event_errors import EventError
from schema.events import Event, EventWhen, InviteLink
from schema.media import MediaError
from schema.participants import PERSON_ID, Participant, participant_key
from stores import events as rows
from stores.db import key_of
from stores.events import EventStatus, ParticipantRole, Rsvp
from stores.events import Visibility as EventVisibility

# --- inputs and payloads -----------------------------------------------------------------------


EVENT_ID = "The event (an Event id); one you do not take part in is a top-level NOT_FOUND."
EXPECTED_VERSION = (
    "The `version` you last read: if the event changed since, nothing changes and STALE comes "
    "back. Omit to overwrite."
)
PARTICIPANT_ID = (
    "The participant acted on. " + PERSON_ID + " Nobody active of this event (or another kind "
    "of id): PARTICIPANT_NOT_FOUND."
)


@strawberry.input(description="Where an event takes place; every part is optional.")
class LocationInput:
    name: str | None = strawberry.field(
        default=None, description="The place's name: one line, at most 200 characters."
    )
    address: str | None = strawberry.field(
        default=None, description="The postal address: one line, at most 500 characters."
    )
    latitude: float | None = strawberry.field(
        default=None,
        description="WGS 84 degrees, −90 to 90 (rounded to 6 decimals); give it with "
        "`longitude` (else INVALID_LOCATION).",
    )
    longitude: float | None = strawberry.field(
        default=None,
        description="WGS 84 degrees, −180 to 180 (rounded to 6 decimals); give it with `latitude`.",
    )


@strawberry.input(description="A new event.")
class CreateEventInput:
    title: str = strawberry.field(
        description="Its name: 1 to 200 characters, one line (else INVALID_TITLE)."
    )
    starts_at: datetime = strawberry.field(
        description="When it starts: ISO-8601 with its UTC offset (else INVALID_DATES)."
    )
    ends_at: datetime = strawberry.field(
        description="When it ends: ISO-8601 with offset, not before `startsAt` (INVALID_DATES)."
    )
    currency: str = strawberry.field(
        description='ISO 4217 code of its money ("EUR", case-insensitive; INVALID_CURRENCY if '
        "unsupported). Fixed once it has expenses or settlements."
    )
    description: str = strawberry.field(
        default="", description="Details for participants: at most 5000 characters."
    )
    timezone: str = strawberry.field(
        default="UTC",
        description='IANA time zone it takes place in ("Europe/Paris"; else INVALID_TIMEZONE).',
    )
    location: LocationInput | None = strawberry.field(
        default=None, description="Where it takes place (participants only see it)."
    )
    visibility: EventVisibility = strawberry.field(
        default=EventVisibility.PRIVATE, description="Who besides participants may see it."
    )
    capacity: int | None = strawberry.field(
        default=None,
        description="The most active participants: 1 to 100000 (else INVALID_CAPACITY); none "
        "by default.",
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="Changes to an event: only the fields given change.")
class UpdateEventInput:
    event_id: relay.GlobalID = strawberry.field(description=EVENT_ID)
    title: str | None = strawberry.field(
        default=None, description="A new name: 1 to 200 characters, one line."
    )
    description: str | None = strawberry.field(
        default=None, description="New details: at most 5000 characters."
    )
    starts_at: datetime | None = strawberry.field(
        default=None,
        description="A new start, ISO-8601 with offset (checked against the stored end).",
    )
    ends_at: datetime | None = strawberry.field(
        default=None,
        description="A new end, ISO-8601 with offset, not before the start (INVALID_DATES).",
    )
    timezone: str | None = strawberry.field(
        default=None, description="A new IANA time zone (else INVALID_TIMEZONE)."
    )
    location: LocationInput | None = strawberry.field(
        default=None, description="Replaces the whole location; see clearLocation."
    )
    clear_location: bool = strawberry.field(
        default=False, description="True removes the location (`location` is then ignored)."
    )
    visibility: EventVisibility | None = strawberry.field(
        default=None, description="A new visibility."
    )
    capacity: int | None = strawberry.field(
        default=None,
        description="A new capacity, 1 to 100000, not below the active participants "
        "(CAPACITY_BELOW_PARTICIPANTS).",
    )
    clear_capacity: bool = strawberry.field(
        default=False, description="True removes the capacity limit (`capacity` is then ignored)."
    )
    currency: str | None = strawberry.field(
        default=None,
        description="A new ISO 4217 code; refused (CURRENCY_LOCKED) once the event has "
        "expenses or settlements.",
    )
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input(description="Names one event.")
class EventRefInput:
    event_id: relay.GlobalID = strawberry.field(description=EVENT_ID)
    expected_version: int | None = strawberry.field(
        default=None, description=EXPECTED_VERSION + " Ignored by deleteEvent and leaveEvent."
    )


@strawberry.input(description="Your answer to an event.")
class SetRsvpInput:
    event_id: relay.GlobalID = strawberry.field(description=EVENT_ID)
    status: Rsvp = strawberry.field(description="Your answer.")


@strawberry.input(description="Names a participant of an event.")
class ParticipantRefInput:
    event_id: relay.GlobalID = strawberry.field(description=EVENT_ID)
    participant_id: strawberry.ID = strawberry.field(description=PARTICIPANT_ID)


@strawberry.input(description="A participant's new role.")
class UpdateParticipantRoleInput:
    event_id: relay.GlobalID = strawberry.field(description=EVENT_ID)
    participant_id: strawberry.ID = strawberry.field(description=PARTICIPANT_ID)
    role: ParticipantRole = strawberry.field(
        description="ORGANIZER or PARTICIPANT (OWNER: INVALID_ROLE, use transferOwnership)."
    )


@strawberry.input(description="Which of your events `myEvents` lists.")
class MyEventsFilter:
    when: EventWhen = strawberry.field(
        default=EventWhen.UPCOMING, description="By start time; upcoming ones by default."
    )
    role: ParticipantRole | None = strawberry.field(
        default=None, description="Only events where your role is this one."
    )
    status: EventStatus | None = strawberry.field(
        default=None, description="Only events in this status."
    )


@strawberry.input(description="A new invite link.")
class CreateInviteLinkInput:
    event_id: relay.GlobalID = strawberry.field(description=EVENT_ID)
    role: ParticipantRole = strawberry.field(
        default=ParticipantRole.PARTICIPANT,
        description="The role joiners get: PARTICIPANT, or ORGANIZER (owner only; others: "
        "FORBIDDEN). OWNER: INVALID_ROLE.",
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When it stops working: a future ISO-8601 time with offset (else "
        "INVALID_DATES); never by default.",
    )
    max_uses: int | None = strawberry.field(
        default=None, description="How many joins it allows: 1 to 10000 (else INVALID_INPUT)."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="An invite link's token.")
class JoinWithInviteLinkInput:
    token: str = strawberry.field(
        description="The token `createInviteLink` returned (surrounding spaces ignored)."
    )


@strawberry.input(description="Names one invite link.")
class RevokeInviteLinkInput:
    invite_link_id: relay.GlobalID = strawberry.field(
        description="The link (an InviteLink id); one of an event you do not organise is "
        "NOT_FOUND or FORBIDDEN."
    )


_ERRORS = "Why nothing changed; empty on success."


@strawberry.type(description="The result of creating an invite link.")
class CreateInviteLinkPayload:
    invite_link: InviteLink | None = strawberry.field(description="The new link; null on errors.")
    token: str | None = strawberry.field(
        description="Shown once: share it (e.g. in a URL); only a hash is kept. A retry with "
        "the same clientMutationId gets the same token."
    )
    errors: list[EventError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of revoking an invite link.")
class InviteLinkPayload:
    invite_link: InviteLink | None = strawberry.field(
        description="The link, now revoked; null on errors."
    )
    errors: list[EventError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of joining with an invite link.")
class JoinEventPayload:
    event: Event | None = strawberry.field(description="The event joined; null on errors.")
    participant: Participant | None = strawberry.field(
        description="Your participation; null on errors."
    )
    errors: list[EventError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of an event mutation.")
class EventPayload:
    event: Event | None = strawberry.field(description="The event as saved; null on errors.")
    errors: list[EventError] = strawberry.field(description=_ERRORS)


@strawberry.input(description="An event's cover image.")
class SetEventCoverInput:
    event_id: relay.GlobalID = strawberry.field(
        description="The event (an Event id); one you are not in is a top-level NOT_FOUND."
    )
    media_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="An image of this event (a Media id) to show as its cover (else "
        "MEDIA_NOT_FOUND; another kind of file: UNSUPPORTED_MEDIA_TYPE). Null, with no "
        "`upload`: no cover.",
    )
    upload: Upload | None = strawberry.field(
        default=None,
        description="An image to share in the event's default album and show as its cover, in "
        "one request (a multipart request, as `uploadMedia`; the same checks and errors). Not "
        "with `mediaId` (INVALID_INPUT).",
    )


@strawberry.type(description="The result of `setEventCover`.")
class SetEventCoverPayload:
    event: Event | None = strawberry.field(
        description="The event with its new `cover`; null on errors."
    )
    errors: list[MediaError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of deleting an event.")
class DeleteEventPayload:
    deleted_event_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted event (drop it and its content from your cache); "
        "null on errors."
    )
    errors: list[EventError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of a participant mutation.")
class ParticipantPayload:
    participant: Participant | None = strawberry.field(
        description="The participant as saved; null on errors."
    )
    errors: list[EventError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of transferring an event's ownership.")
class TransferOwnershipPayload:
    owner: Participant | None = strawberry.field(description="The new owner; null on errors.")
    previous_owner: Participant | None = strawberry.field(
        description="You, now an organizer; null on errors."
    )
    errors: list[EventError] = strawberry.field(description=_ERRORS)


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


async def _target(
    info: Info, input: ParticipantRefInput | UpdateParticipantRoleInput
) -> tuple[int, int]:
    """(event key, participant key) of a participant mutation, signed in only (the roster is
    not read for anonymous callers)."""
    info.context.require_viewer()
    event_id = decode_global_id(input.event_id, "Event")
    return event_id, await participant_key(info, event_id, input.participant_id)


# --- root fields -------------------------------------------------------------------------------


@strawberry.type
class EventQuery:
    @strawberry.field(
        description="An event you take part in. Null for anything else (an UNLISTED "
        "event you are not in included: see eventByShareToken)."
    )
    async def event(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="An Event id.")],
    ) -> Event | None:
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
    async def event_by_share_token(
        self,
        info: Info,
        token: Annotated[
            str,
            strawberry.argument(description="An event's `shareToken` (at most 64 characters)."),
        ],
    ) -> Event | None:
        found = await uc.event_by_share_token(
            info.context.deps, info.context.viewer_or_none(), token
        )
        return Event(row=found[0], membership=found[1]) if found else None

    @strawberry.field(
        description="Events you take part in (signed in only: else UNAUTHENTICATED), by start "
        "time (PAST: most recent first)."
    )
    async def my_events(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description=PAGE_FIRST),
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description=PAGE_AFTER),
        ] = None,
        filter: Annotated[
            MyEventsFilter | None,
            strawberry.argument(description="Which events; upcoming ones by default."),
        ] = None,
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
    @strawberry.mutation(
        description="Creates an event; you become its owner (signed in only: else "
        "UNAUTHENTICATED). In "
        "`errors`: REQUIRED, INVALID_TITLE, VALUE_TOO_LONG, INVALID_INPUT, INVALID_DATES, "
        "INVALID_TIMEZONE, INVALID_LOCATION, INVALID_CAPACITY, INVALID_CURRENCY, "
        "DUPLICATE_REQUEST."
    )
    async def create_event(
        self,
        info: Info,
        input: Annotated[CreateEventInput, strawberry.argument(description="The event.")],
    ) -> EventPayload:
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

    @strawberry.mutation(
        description="Edits an event: organizers and the owner (participants: FORBIDDEN; others: "
        "NOT_FOUND). Only the fields given change. In `errors`: INVALID_TITLE, "
        "VALUE_TOO_LONG, INVALID_INPUT, INVALID_DATES, INVALID_TIMEZONE, INVALID_LOCATION, "
        "INVALID_CAPACITY, INVALID_CURRENCY, CURRENCY_LOCKED, CAPACITY_BELOW_PARTICIPANTS, "
        "STALE."
    )
    async def update_event(
        self,
        info: Info,
        input: Annotated[UpdateEventInput, strawberry.argument(description="The changes.")],
    ) -> EventPayload:
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

    @strawberry.mutation(
        description="Sets the event's cover image: one of its images (`mediaId`), or a new one "
        "uploaded on the way (`upload`), or none. Organizers and the owner (participants: "
        "FORBIDDEN; others: NOT_FOUND). In `errors`: MEDIA_NOT_FOUND, UNSUPPORTED_MEDIA_TYPE, "
        "INVALID_INPUT, and with an upload those of `uploadMedia`."
    )
    async def set_event_cover(
        self,
        info: Info,
        input: Annotated[SetEventCoverInput, strawberry.argument(description="The cover.")],
    ) -> SetEventCoverPayload:
        row, errors = await mutate(
            info,
            MediaError,
            event_cover.set_cover,
            decode_global_id(input.event_id, "Event"),
            decode_document_id(input.media_id, "Media") if input.media_id is not None else None,
            input.upload,
        )
        fresh = await _fresh_event(info, row, [])
        return SetEventCoverPayload(event=fresh.event if row else None, errors=errors)

    @strawberry.mutation(
        description="Cancels an event (status CANCELLED, kept read-only for history): "
        "organizers and the "
        "owner (participants: FORBIDDEN; others: NOT_FOUND). In `errors`: STALE, "
        "EVENT_CANCELLED (already)."
    )
    async def cancel_event(
        self,
        info: Info,
        input: Annotated[EventRefInput, strawberry.argument(description="The event.")],
    ) -> EventPayload:
        row, errors = await mutate(
            info,
            EventError,
            uc.cancel_event,
            decode_global_id(input.event_id, "Event"),
            input.expected_version,
        )
        return await _fresh_event(info, row, errors)

    @strawberry.mutation(
        description="Deletes an event and all that belongs to it: the owner only (participants and "
        "organizers: FORBIDDEN; others: NOT_FOUND). Cannot be undone."
    )
    async def delete_event(
        self,
        info: Info,
        input: Annotated[EventRefInput, strawberry.argument(description="The event.")],
    ) -> DeleteEventPayload:
        _, errors = await mutate(
            info, EventError, uc.delete_event, decode_global_id(input.event_id, "Event")
        )
        return DeleteEventPayload(
            deleted_event_id=None if errors else input.event_id, errors=errors
        )

    @strawberry.mutation(
        description="Sets your answer to an event (any participant; others: NOT_FOUND). In "
        "`errors`: "
        "EVENT_CANCELLED."
    )
    async def set_rsvp(
        self,
        info: Info,
        input: Annotated[
            SetRsvpInput, strawberry.argument(description="The event and your answer.")
        ],
    ) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info,
                EventError,
                uc.set_rsvp,
                decode_global_id(input.event_id, "Event"),
                rows.Rsvp(input.status.value),
            )
        )

    @strawberry.mutation(
        description="Leaves an event (any participant; others: NOT_FOUND); your history keeps "
        "your name. "
        "In `errors`: OWNER_CANNOT_LEAVE (transfer the ownership first)."
    )
    async def leave_event(
        self,
        info: Info,
        input: Annotated[EventRefInput, strawberry.argument(description="The event.")],
    ) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info, EventError, uc.leave_event, decode_global_id(input.event_id, "Event")
            )
        )

    @strawberry.mutation(
        description="Removes a participant: organizers remove participants, the owner anyone "
        "(otherwise FORBIDDEN). Their history (expenses, tasks) keeps their name; an invite "
        "link does not bring them back. In `errors`: PARTICIPANT_NOT_FOUND, CANNOT_REMOVE_SELF."
    )
    async def remove_participant(
        self,
        info: Info,
        input: Annotated[
            ParticipantRefInput, strawberry.argument(description="The event and the participant.")
        ],
    ) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info,
                EventError,
                uc.remove_participant,
                *await _target(info, input),
            )
        )

    @strawberry.mutation(
        description="Makes a participant ORGANIZER or PARTICIPANT: the owner only (others in "
        "the event: FORBIDDEN). In `errors`: PARTICIPANT_NOT_FOUND, INVALID_ROLE."
    )
    async def update_participant_role(
        self,
        info: Info,
        input: Annotated[
            UpdateParticipantRoleInput,
            strawberry.argument(description="The event, the participant and the role."),
        ],
    ) -> ParticipantPayload:
        return _participant_payload(
            *await mutate(
                info,
                EventError,
                uc.update_participant_role,
                *await _target(info, input),
                rows.ParticipantRole(input.role.value),
            )
        )

    @strawberry.mutation(
        description="Makes another active participant the owner and you an organizer: the "
        "owner only (others in the event: FORBIDDEN). In `errors`: PARTICIPANT_NOT_FOUND, "
        "INVALID_ROLE (yourself), STALE."
    )
    async def transfer_ownership(
        self,
        info: Info,
        input: Annotated[
            ParticipantRefInput, strawberry.argument(description="The event and the new owner.")
        ],
    ) -> TransferOwnershipPayload:
        result, errors = await mutate(
            info,
            EventError,
            uc.transfer_ownership,
            *await _target(info, input),
        )
        if result is None:
            return TransferOwnershipPayload(owner=None, previous_owner=None, errors=errors)
        return TransferOwnershipPayload(
            owner=Participant.of(result[0]), previous_owner=Participant.of(result[1]), errors=[]
        )

    @strawberry.mutation(
        description="Creates a link anyone signed in can use to join: organizers and the owner "
        "(ORGANIZER"
        " links: the owner only; others in the event: FORBIDDEN). In `errors`: INVALID_ROLE, "
        "INVALID_DATES, INVALID_INPUT, EVENT_CANCELLED, DUPLICATE_REQUEST."
    )
    async def create_invite_link(
        self,
        info: Info,
        input: Annotated[
            CreateInviteLinkInput, strawberry.argument(description="The link's settings.")
        ],
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

    @strawberry.mutation(
        description="Revokes an invite link (it stops working at once; revoking twice is a no-op): "
        "organizers and the owner (participants: FORBIDDEN; others: NOT_FOUND)."
    )
    async def revoke_invite_link(
        self,
        info: Info,
        input: Annotated[RevokeInviteLinkInput, strawberry.argument(description="The link.")],
    ) -> InviteLinkPayload:
        link, errors = await mutate(
            info,
            EventError,
            uc.revoke_invite_link,
            decode_global_id(input.invite_link_id, "InviteLink"),
        )
        return InviteLinkPayload(invite_link=InviteLink(row=link) if link else None, errors=errors)

    @strawberry.mutation(
        description="Joins the event of an invite link with the link's role (signed in only; a "
        "no-op if "
        "you are already in). In `errors`: INVALID_INVITE_LINK, EVENT_CANCELLED, EVENT_FULL, "
        "REMOVED_FROM_EVENT."
    )
    async def join_with_invite_link(
        self,
        info: Info,
        input: Annotated[
            JoinWithInviteLinkInput, strawberry.argument(description="The link's token.")
        ],
    ) -> JoinEventPayload:
        result, errors = await mutate(info, EventError, uc.join_with_invite_link, input.token)
        if result is None:
            return JoinEventPayload(event=None, participant=None, errors=errors)
        event, member = result
        return JoinEventPayload(
            event=Event(row=event, membership=member), participant=Participant.of(member), errors=[]
        )
