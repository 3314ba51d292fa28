"""Invitations and join requests: inputs, payloads, root fields (the types live with Event in
schema/events.py: each shows the other)."""

from __future__ import annotations

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


@strawberry.input(one_of=True, description="One of userId, username or email.")
class InviteeInput:
    user_id: relay.GlobalID | None = strawberry.UNSET
    username: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET


@strawberry.input
class InviteParticipantsInput:
    event_id: relay.GlobalID
    invitees: list[InviteeInput]
    role: ParticipantRole = ParticipantRole.PARTICIPANT
    message: str = ""
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input
class InvitationRefInput:
    invitation_id: relay.GlobalID


@strawberry.input(description="Outsiders give the event's shareToken (its id alone opens nothing).")
class RequestToJoinInput:
    event_id: relay.GlobalID | None = None
    share_token: str | None = None
    message: str = ""


@strawberry.input
class JoinRequestRefInput:
    join_request_id: relay.GlobalID


@strawberry.type
class InviteParticipantsPayload:
    invitations: list[Invitation]
    errors: list[InvitationError]


@strawberry.type
class InvitationPayload:
    invitation: Invitation | None
    errors: list[InvitationError]


@strawberry.type
class AcceptInvitationPayload:
    event: Event | None
    participant: Participant | None
    errors: list[InvitationError]


@strawberry.type
class JoinRequestPayload:
    join_request: JoinRequest | None
    participant: Participant | None = None
    errors: list[InvitationError]


def _invitee(value: InviteeInput) -> uc.Invitee:
    user_id = None
    if value.user_id:
        user_id = decode_global_id(value.user_id, "User")
    return uc.Invitee(user_id=user_id, username=value.username or None, email=value.email or None)


@strawberry.type
class InvitationQuery:
    @strawberry.field(description="Invitations addressed to you (by account or email).")
    async def my_invitations(
        self, info: Info, status: InvitationStatus | None = None
    ) -> list[Invitation]:
        viewer = info.context.require_viewer()
        found = await uc.my_invitations(
            info.context.deps, viewer, rows.InvitationStatus(status.value) if status else None
        )
        return [Invitation(row=r) for r in found]


@strawberry.type
class InvitationMutation:
    @strawberry.mutation(
        description="Organizers and owner (ORGANIZER invitations: owner). All "
        "or nothing; invitations expire after 14 days."
    )
    async def invite_participants(
        self, info: Info, input: InviteParticipantsInput
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

    @strawberry.mutation(description="Idempotent: accepting twice gives one participation.")
    async def accept_invitation(
        self, info: Info, input: InvitationRefInput
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

    @strawberry.mutation
    async def decline_invitation(self, info: Info, input: InvitationRefInput) -> InvitationPayload:
        row, errors = await mutate(
            info, InvitationError, uc.decline, decode_global_id(input.invitation_id, "Invitation")
        )
        return InvitationPayload(invitation=Invitation(row=row) if row else None, errors=errors)

    @strawberry.mutation(description="Organizers and owner: withdraw a pending invitation.")
    async def revoke_invitation(self, info: Info, input: InvitationRefInput) -> InvitationPayload:
        row, errors = await mutate(
            info, InvitationError, uc.revoke, decode_global_id(input.invitation_id, "Invitation")
        )
        return InvitationPayload(invitation=Invitation(row=row) if row else None, errors=errors)

    @strawberry.mutation(description="Ask to join an UNLISTED event; organizers decide.")
    async def request_to_join(self, info: Info, input: RequestToJoinInput) -> JoinRequestPayload:
        row, errors = await mutate(
            info,
            InvitationError,
            uc.request_to_join,
            decode_global_id(input.event_id, "Event") if input.event_id else NO_INT_KEY,
            input.message,
            input.share_token,
        )
        return JoinRequestPayload(join_request=JoinRequest(row=row) if row else None, errors=errors)

    @strawberry.mutation
    async def approve_join_request(
        self, info: Info, input: JoinRequestRefInput
    ) -> JoinRequestPayload:
        return await _decide(info, input, approve=True)

    @strawberry.mutation
    async def reject_join_request(
        self, info: Info, input: JoinRequestRefInput
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
