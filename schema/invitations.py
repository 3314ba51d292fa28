"""Invitations and join requests: inputs, payloads, root fields (the types live with Event in
schema/events.py: each shows the other)."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import invitations as uc
from schema.context import Info
from schema.core import CLIENT_MUTATION_ID, NO_INT_KEY, decode_global_id, mutate
from schema.event_errors import InvitationError
from schema.events import Event, Invitation, JoinRequest
from schema.participants import Participant
from stores import events as event_rows
from stores import invitations as rows
from stores.events import ParticipantRole
from stores.invitations import InvitationStatus

_ERRORS = "Why nothing changed; empty on success."
_INVITATION_ID = "The invitation (an Invitation id); one not addressed to you is NOT_FOUND."
_JOIN_REQUEST_ID = (
    "The join request (a JoinRequest id); one of an event you are not in is NOT_FOUND, one "
    "of an event you do not organise FORBIDDEN."
)


@strawberry.input(
    one_of=True,
    description="Who to invite: exactly one of userId, username or email (else INVALID_INPUT).",
)
class InviteeInput:
    user_id: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET,
        description="An account's User id (no active account: USER_NOT_FOUND).",
    )
    username: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="An account's username (no active account: USER_NOT_FOUND).",
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="An email address (INVALID_EMAIL if malformed): its account is invited, or "
        "if it has none, a mail invites the address to register.",
    )


@strawberry.input(description="Invitations to an event.")
class InviteParticipantsInput:
    event_id: relay.GlobalID = strawberry.field(
        description="The event (an Event id); one you are not in is a top-level NOT_FOUND."
    )
    invitees: list[InviteeInput] = strawberry.field(
        description="1 to 50 people (else INVALID_INPUT); errors point at their index. "
        "Someone already invited and pending gets that invitation back."
    )
    role: ParticipantRole = strawberry.field(
        default=ParticipantRole.PARTICIPANT,
        description="The role accepting gives: PARTICIPANT, or ORGANIZER (owner only: else "
        "FORBIDDEN). OWNER: INVALID_ROLE.",
    )
    message: str = strawberry.field(
        default="", description="A note to the invitees: at most 500 characters (VALUE_TOO_LONG)."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="Names one invitation.")
class InvitationRefInput:
    invitation_id: relay.GlobalID = strawberry.field(description=_INVITATION_ID)


@strawberry.input(
    description="A request to join an UNLISTED event. Outsiders give the event's shareToken "
    "(its id alone opens nothing)."
)
class RequestToJoinInput:
    event_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The event (an Event id); with a shareToken it must be the same event "
        "(else NOT_FOUND).",
    )
    share_token: str | None = strawberry.field(
        default=None,
        description="The event's `shareToken`; unknown, or not an UNLISTED event's: NOT_FOUND.",
    )
    message: str = strawberry.field(
        default="",
        description="A note to the organizers: at most 500 characters (VALUE_TOO_LONG).",
    )


@strawberry.input(description="Names one join request.")
class JoinRequestRefInput:
    join_request_id: relay.GlobalID = strawberry.field(description=_JOIN_REQUEST_ID)


@strawberry.type(description="The result of inviting people.")
class InviteParticipantsPayload:
    invitations: list[Invitation] = strawberry.field(
        description="One invitation per distinct invitee, in order; empty on errors."
    )
    errors: list[InvitationError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of declining or revoking an invitation.")
class InvitationPayload:
    invitation: Invitation | None = strawberry.field(
        description="The invitation as saved; null on errors."
    )
    errors: list[InvitationError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of accepting an invitation.")
class AcceptInvitationPayload:
    event: Event | None = strawberry.field(description="The event joined; null on errors.")
    participant: Participant | None = strawberry.field(
        description="Your participation; null on errors."
    )
    errors: list[InvitationError] = strawberry.field(description=_ERRORS)


@strawberry.type(description="The result of asking to join, or of deciding a join request.")
class JoinRequestPayload:
    join_request: JoinRequest | None = strawberry.field(
        description="The join request as saved; null on errors."
    )
    participant: Participant | None = strawberry.field(
        default=None,
        description="The requester's participation once approved; null otherwise.",
    )
    errors: list[InvitationError] = strawberry.field(description=_ERRORS)


def _invitee(value: InviteeInput) -> uc.Invitee:
    user_id = None
    if value.user_id:
        user_id = decode_global_id(value.user_id, "User")
    return uc.Invitee(user_id=user_id, username=value.username or None, email=value.email or None)


@strawberry.type
class InvitationQuery:
    @strawberry.field(
        description="Invitations addressed to you, by account or by your email address, newest "
        "first, at most 200 (signed in only: else UNAUTHENTICATED)."
    )
    async def my_invitations(
        self,
        info: Info,
        status: Annotated[
            InvitationStatus | None,
            strawberry.argument(description="Only invitations in this status; all by default."),
        ] = None,
    ) -> list[Invitation]:
        viewer = info.context.require_viewer()
        found = await uc.my_invitations(
            info.context.deps, viewer, rows.InvitationStatus(status.value) if status else None
        )
        return [Invitation(row=r) for r in found]


@strawberry.type
class InvitationMutation:
    @strawberry.mutation(
        description="Invites people to an event: organizers and the owner (ORGANIZER "
        "invitations: the owner only; participants: FORBIDDEN). All or nothing; invitations "
        "expire after 14 days; people without an account get a mail. In `errors`: "
        "INVALID_INPUT, INVALID_ROLE, VALUE_TOO_LONG, USER_NOT_FOUND, INVALID_EMAIL, "
        "ALREADY_PARTICIPANT, RATE_LIMITED, EVENT_CANCELLED, DUPLICATE_REQUEST."
    )
    async def invite_participants(
        self,
        info: Info,
        input: Annotated[
            InviteParticipantsInput, strawberry.argument(description="The event and who to invite.")
        ],
    ) -> InviteParticipantsPayload:
        found, errors = await mutate(
            info,
            InvitationError,
            uc.invite,
            decode_global_id(input.event_id, "Event"),
            [_invitee(i) for i in input.invitees],
            event_rows.ParticipantRole(input.role.value),
            input.message,
            input.client_mutation_id,
        )
        return InviteParticipantsPayload(
            invitations=[Invitation(row=r) for r in found or []], errors=errors
        )

    @strawberry.mutation(
        description="Accepts an invitation addressed to you and joins the event with its "
        "role. Idempotent: accepting twice gives one participation. In `errors`: "
        "INVITATION_NOT_PENDING, EVENT_CANCELLED, EVENT_FULL."
    )
    async def accept_invitation(
        self,
        info: Info,
        input: Annotated[InvitationRefInput, strawberry.argument(description="The invitation.")],
    ) -> AcceptInvitationPayload:
        result, errors = await mutate(
            info, InvitationError, uc.accept, decode_global_id(input.invitation_id, "Invitation")
        )
        if result is None:
            return AcceptInvitationPayload(event=None, participant=None, errors=errors)
        return AcceptInvitationPayload(
            event=Event(row=result[0], membership=result[1]),
            participant=Participant.of(result[1]),
            errors=[],
        )

    @strawberry.mutation(
        description="Declines an invitation addressed to you (declining twice is a no-op). In"
        " `errors`: INVITATION_NOT_PENDING."
    )
    async def decline_invitation(
        self,
        info: Info,
        input: Annotated[InvitationRefInput, strawberry.argument(description="The invitation.")],
    ) -> InvitationPayload:
        row, errors = await mutate(
            info, InvitationError, uc.decline, decode_global_id(input.invitation_id, "Invitation")
        )
        return InvitationPayload(invitation=Invitation(row=row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Withdraws a pending invitation: organizers and the owner (participants: "
        "FORBIDDEN; others: NOT_FOUND). In `errors`: INVITATION_NOT_PENDING."
    )
    async def revoke_invitation(
        self,
        info: Info,
        input: Annotated[InvitationRefInput, strawberry.argument(description="The invitation.")],
    ) -> InvitationPayload:
        row, errors = await mutate(
            info, InvitationError, uc.revoke, decode_global_id(input.invitation_id, "Invitation")
        )
        return InvitationPayload(invitation=Invitation(row=row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Asks to join an UNLISTED event, which its organizers decide (asking "
        "again returns the pending request). An event you cannot see, or not UNLISTED: "
        "NOT_FOUND. In `errors`: ALREADY_PARTICIPANT, VALUE_TOO_LONG, INVALID_INPUT, "
        "EVENT_CANCELLED."
    )
    async def request_to_join(
        self,
        info: Info,
        input: Annotated[
            RequestToJoinInput, strawberry.argument(description="The event and your note.")
        ],
    ) -> JoinRequestPayload:
        row, errors = await mutate(
            info,
            InvitationError,
            uc.request_to_join,
            decode_global_id(input.event_id, "Event") if input.event_id else NO_INT_KEY,
            input.message,
            input.share_token,
        )
        return JoinRequestPayload(join_request=JoinRequest(row=row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Approves a pending join request: the requester becomes a participant. "
        "Organizers and the owner (participants: FORBIDDEN). In `errors`: "
        "JOIN_REQUEST_NOT_PENDING, EVENT_CANCELLED, EVENT_FULL."
    )
    async def approve_join_request(
        self,
        info: Info,
        input: Annotated[JoinRequestRefInput, strawberry.argument(description="The join request.")],
    ) -> JoinRequestPayload:
        return await _decide(info, input, approve=True)

    @strawberry.mutation(
        description="Rejects a pending join request. Organizers and the owner (participants: "
        "FORBIDDEN). In `errors`: JOIN_REQUEST_NOT_PENDING."
    )
    async def reject_join_request(
        self,
        info: Info,
        input: Annotated[JoinRequestRefInput, strawberry.argument(description="The join request.")],
    ) -> JoinRequestPayload:
        return await _decide(info, input, approve=False)


async def _decide(info: Info, input: JoinRequestRefInput, *, approve: bool) -> JoinRequestPayload:
    result, errors = await mutate(
        info,
        InvitationError,
        uc.decide_join_request,
        decode_global_id(input.join_request_id, "JoinRequest"),
        approve,
    )
    if result is None:
        return JoinRequestPayload(join_request=None, participant=None, errors=errors)
    request, member = result
    return JoinRequestPayload(
        join_request=JoinRequest(row=request),
        participant=Participant.of(member) if member else None,
        errors=[],
    )
