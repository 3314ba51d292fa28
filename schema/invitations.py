"""Invitations and join requests: types, inputs, payloads, root fields."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from resolvers import invitations as uc
from schema.accounts import User
from schema.events import (
    Event,
    EventError,
    Participant,
    ParticipantRole,
    _run,
    decode_id,
    visible_rows,
)
from stores import events as event_rows
from stores import invitations as rows
from stores.db import utcnow


@strawberry.enum
class InvitationStatus(enum.Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@strawberry.enum
class JoinRequestStatus(enum.Enum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


@strawberry.type
class Invitation(relay.Node):
    row: strawberry.Private[rows.Invitation]

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
        mine = {str(i.id): i for i in await uc.my_invitations(info.context.deps, viewer, None)}
        return [Invitation(row=mine[i]) if i in mine else None for i in node_ids]

    @strawberry.field
    async def event(self, info: Info) -> Event | None:
        """Visible to the invitee: public fields, like an UNLISTED event."""
        found = await info.context.loaders.event_access.load(self.row.event_id)
        if found:
            return Event(row=found[0], membership=found[1])
        event = await info.context.loaders.event_by_id.load(self.row.event_id)
        return Event(row=event, membership=None) if event else None

    @strawberry.field
    async def inviter(self, info: Info) -> User | None:
        if self.row.inviter_user_id is None:
            return None
        user = await info.context.loaders.user_by_id.load(self.row.inviter_user_id)
        return User(row=user) if user else None

    @strawberry.field
    async def invitee(self, info: Info) -> User | None:
        if self.row.invitee_user_id is None:
            return None
        user = await info.context.loaders.user_by_id.load(self.row.invitee_user_id)
        return User(row=user) if user else None

    @strawberry.field(description="For invitations sent to an address without an account.")
    def invitee_email(self) -> str | None:
        return self.row.invitee_email

    @strawberry.field
    def role(self) -> ParticipantRole:
        return ParticipantRole(self.row.role)

    @strawberry.field
    def message(self) -> str:
        return self.row.message

    @strawberry.field
    def status(self) -> InvitationStatus:
        return InvitationStatus(self.row.effective_status(utcnow()).value)

    @strawberry.field
    def expires_at(self) -> datetime:
        return self.row.expires_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type
class JoinRequest(relay.Node):
    row: strawberry.Private[rows.JoinRequest]

    @classmethod
    def resolve_id(cls, root: JoinRequest, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[JoinRequest | None]:
        found = await visible_rows(
            info, rows.JoinRequest, node_ids, event_rows.ParticipantRole.ORGANIZER
        )
        return [JoinRequest(row=r) if r else None for r in found]

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        user = await info.context.loaders.user_by_id.load(self.row.user_id)
        return User(row=user) if user else None

    @strawberry.field
    def message(self) -> str:
        return self.row.message

    @strawberry.field
    def status(self) -> JoinRequestStatus:
        return JoinRequestStatus(self.row.status)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at


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


@strawberry.input
class InvitationRefInput:
    invitation_id: relay.GlobalID


@strawberry.input
class RequestToJoinInput:
    event_id: relay.GlobalID
    message: str = ""


@strawberry.input
class JoinRequestRefInput:
    join_request_id: relay.GlobalID


@strawberry.type
class InviteParticipantsPayload:
    invitations: list[Invitation]
    errors: list[EventError]


@strawberry.type
class InvitationPayload:
    invitation: Invitation | None
    errors: list[EventError]


@strawberry.type
class AcceptInvitationPayload:
    event: Event | None
    participant: Participant | None
    errors: list[EventError]


@strawberry.type
class JoinRequestPayload:
    join_request: JoinRequest | None
    participant: Participant | None = None
    errors: list[EventError]


def _invitee(value: InviteeInput) -> uc.Invitee:
    user_id = None
    if value.user_id:
        user_id = (
            int(value.user_id.node_id)
            if (value.user_id.type_name == "User" and value.user_id.node_id.isdigit())
            else -1
        )
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
        viewer = info.context.require_viewer()
        found, errors = await _run(
            uc.invite(
                info.context.deps,
                viewer,
                decode_id(input.event_id, "Event"),
                [_invitee(i) for i in input.invitees],
                event_rows.ParticipantRole(input.role.value),
                input.message,
            )
        )
        return InviteParticipantsPayload(
            invitations=[Invitation(row=r) for r in found or []], errors=errors
        )

    @strawberry.mutation(description="Idempotent: accepting twice gives one participation.")
    async def accept_invitation(
        self, info: Info, input: InvitationRefInput
    ) -> AcceptInvitationPayload:
        viewer = info.context.require_viewer()
        result, errors = await _run(
            uc.accept(info.context.deps, viewer, decode_id(input.invitation_id, "Invitation"))
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
        viewer = info.context.require_viewer()
        row, errors = await _run(
            uc.decline(info.context.deps, viewer, decode_id(input.invitation_id, "Invitation"))
        )
        return InvitationPayload(invitation=Invitation(row=row) if row else None, errors=errors)

    @strawberry.mutation(description="Organizers and owner: withdraw a pending invitation.")
    async def revoke_invitation(self, info: Info, input: InvitationRefInput) -> InvitationPayload:
        viewer = info.context.require_viewer()
        row, errors = await _run(
            uc.revoke(info.context.deps, viewer, decode_id(input.invitation_id, "Invitation"))
        )
        return InvitationPayload(invitation=Invitation(row=row) if row else None, errors=errors)

    @strawberry.mutation(description="Ask to join an UNLISTED event; organizers decide.")
    async def request_to_join(self, info: Info, input: RequestToJoinInput) -> JoinRequestPayload:
        viewer = info.context.require_viewer()
        row, errors = await _run(
            uc.request_to_join(
                info.context.deps, viewer, decode_id(input.event_id, "Event"), input.message
            )
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
    viewer = info.context.require_viewer()
    result, errors = await _run(
        uc.decide_join_request(
            info.context.deps, viewer, decode_id(input.join_request_id, "JoinRequest"), approve
        )
    )
    if result is None:
        return JoinRequestPayload(join_request=None, participant=None, errors=errors)
    request, member = result
    return JoinRequestPayload(
        join_request=JoinRequest(row=request),
        participant=Participant.of(member) if member else None,
        errors=[],
    )
