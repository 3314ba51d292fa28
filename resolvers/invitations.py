"""Invitations (by account, username or email) and join requests for UNLISTED events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy.exc import IntegrityError

from resolvers import accounts as accounts_uc
from resolvers.core import idempotency
from resolvers.core.background import after_commit
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.rates import rate_limit
from resolvers.core.text import refuse_controls
from resolvers.events import (
    admit,
    event_changed,
    has_role,
    locked_by_share_token,
    member_or_hidden,
    not_cancelled,
    require,
    role_of,
    rows_in_my_events,
)
from resolvers.projections import record_event
from stores import accounts as account_store
from stores import events as event_store
from stores import invitations as store
from stores.db import key_of, retry_transaction, utcnow
from stores.events import Event, Participant, ParticipantRole, ParticipantState, Visibility
from stores.invitations import (
    Invitation,
    InvitationStatus,
    JoinRequest,
    JoinRequestStatus,
    invitation_key,
)
from stores.mail import Mail, subject_text

INVITATION_TTL = timedelta(days=14)
MAX_INVITEES = 50


class InvitationErrorCode(StrEnum):
    """What invitation and join-request mutations report in `errors`."""

    INVALID_INPUT = "INVALID_INPUT"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    EVENT_FULL = "EVENT_FULL"
    INVALID_ROLE = "INVALID_ROLE"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    INVALID_EMAIL = "INVALID_EMAIL"
    ALREADY_PARTICIPANT = "ALREADY_PARTICIPANT"
    RATE_LIMITED = "RATE_LIMITED"
    INVITATION_NOT_PENDING = "INVITATION_NOT_PENDING"
    JOIN_REQUEST_NOT_PENDING = "JOIN_REQUEST_NOT_PENDING"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"


@dataclass(frozen=True)
class Invitee:
    user_id: int | None = None
    username: str | None = None
    email: str | None = None


async def _resolve_invitee(
    db: Any, index: int, invitee: Invitee
) -> tuple[int | None, str | None, DomainError | None]:
    """(user id, email for someone without an account, error)."""
    field = ["invitees", str(index)]
    given = [v for v in (invitee.user_id, invitee.username, invitee.email) if v is not None]
    if len(given) != 1:
        return (
            None,
            None,
            DomainError(
                InvitationErrorCode.INVALID_INPUT,
                "Give exactly one of userId, username or email.",
                field,
            ),
        )
    if invitee.user_id is not None:
        user = await account_store.user_by_id(db, invitee.user_id)
    elif invitee.username is not None:
        user = await account_store.user_by_username(db, invitee.username.strip())
    else:
        email = accounts_uc.normalise_email(invitee.email or "")
        if accounts_uc.check_email(email) is not None:
            return (
                None,
                None,
                DomainError(
                    InvitationErrorCode.INVALID_EMAIL,
                    "Enter a valid email address.",
                    [*field, "email"],
                ),
            )
        user = await account_store.user_by_email(db, email)
        if user is None:
            return None, email, None
    if user is None or not user.is_active:
        return None, None, DomainError(InvitationErrorCode.USER_NOT_FOUND, "No such user.", field)
    return user.id, None, None


async def invite(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    invitees: Sequence[Invitee],
    role: ParticipantRole,
    message: str,
    client_mutation_id: str | None = None,
) -> list[Invitation]:
    """All or nothing: any bad invitee reports an error and nothing is created. Inviting
    someone who already has a pending invitation returns that one."""
    _check_invite_input(invitees, role, message)

    async def load(ids: list[int]) -> list[Invitation] | None:
        found = await rows_in_my_events(deps, viewer, Invitation, ids, ParticipantRole.ORGANIZER)
        return sorted(found, key=lambda i: ids.index(key_of(i))) or None

    return await idempotency.once(
        deps,
        viewer.user_id,
        "inviteParticipants",
        client_mutation_id,
        [event_id, list(invitees), role, message],
        lambda remember: _invite(deps, viewer, event_id, invitees, role, message, remember),
        load,
    )


async def _invite(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    invitees: Sequence[Invitee],
    role: ParticipantRole,
    message: str,
    remember: idempotency.Remember,
) -> list[Invitation]:
    mails: list[Mail] = []
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.ORGANIZER)
        if role is ParticipantRole.ORGANIZER:
            require(mine, ParticipantRole.OWNER)
        not_cancelled(event)
        targets = await _invite_targets(db, event_id, invitees)
        pending = {
            target: await _unexpired_pending(db, invitation_key(event_id, *target))
            for target in targets
        }
        await _within_invitation_limits(deps, viewer, [t for t, p in pending.items() if not p])
        created = []
        for user_id, email in targets:
            key = invitation_key(event_id, user_id, email)
            existing = pending[(user_id, email)]
            if existing is not None:
                created.append(existing)
                continue
            invitation = Invitation(
                event_id=event_id,
                inviter_user_id=viewer.user_id,
                invitee_user_id=user_id,
                invitee_email=email,
                role=role.value,
                message=message.strip(),
                pending_key=key,
                expires_at=utcnow() + INVITATION_TTL,
            )
            await _send(db, viewer, invitation, role)
            created.append(invitation)
            if email is not None:
                mails.append(_invitation_mail(deps, event, mine, email))
        await remember(db, *(key_of(i) for i in created))
    for mail in mails:
        after_commit(deps.mailer.send(mail))
    return created


async def _within_invitation_limits(
    deps: Deps, viewer: Viewer, new: Sequence[tuple[int | None, str | None]]
) -> None:
    """Per sender and hour, each new invitation counts (a batch counts all of its invitees),
    and those mailed to addresses without an account count again under a tighter limit.
    Over either: RATE_LIMITED with the wait, and nothing is created or mailed. Without Redis
    the limiter allows (stores/redis.py)."""
    sender = str(viewer.user_id)
    mailed = sum(1 for _, email in new if email is not None)
    if mailed:
        await rate_limit(
            deps, "invite-email", sender, deps.settings.rate_invite_email, "invitees", cost=mailed
        )
    if new:
        await rate_limit(
            deps, "invite", sender, deps.settings.rate_invite_sender, "invitees", cost=len(new)
        )


def _check_invite_input(invitees: Sequence[Invitee], role: ParticipantRole, message: str) -> None:
    if not 1 <= len(invitees) <= MAX_INVITEES:
        raise DomainError(
            InvitationErrorCode.INVALID_INPUT,
            f"Invite 1 to {MAX_INVITEES} people at once.",
            "invitees",
        )
    if role is ParticipantRole.OWNER:
        raise DomainError(
            InvitationErrorCode.INVALID_ROLE, "Invitations cannot make owners.", "role"
        )
    if len(message) > 500:
        raise DomainError(InvitationErrorCode.VALUE_TOO_LONG, "At most 500 characters.", "message")
    refuse_controls(message, "message", multiline=True)


async def _invite_targets(
    db: Any, event_id: int, invitees: Sequence[Invitee]
) -> list[tuple[int | None, str | None]]:
    """Distinct (user id, email for someone without an account) pairs; every bad invitee is
    reported at once, so nothing is created unless all of them are fine."""
    errors: list[DomainError] = []
    targets: list[tuple[int | None, str | None]] = []
    for index, invitee in enumerate(invitees):
        user_id, email, error = await _resolve_invitee(db, index, invitee)
        if error is None and user_id is not None:
            error = await _already_participant(db, event_id, index, user_id)
        if error is not None:
            errors.append(error)
        elif (user_id, email) not in targets:
            targets.append((user_id, email))
    if errors:
        raise DomainErrors(errors)
    return targets


async def _already_participant(
    db: Any, event_id: int, index: int, user_id: int
) -> DomainError | None:
    member = await event_store.participant_for_user(db, event_id, user_id)
    if member is not None and member.is_active:
        return DomainError(
            InvitationErrorCode.ALREADY_PARTICIPANT,
            "Already in this event.",
            ["invitees", str(index)],
        )
    return None


async def _unexpired_pending(db: Any, key: str) -> Invitation | None:
    """The pending invitation holding `key`, unless it has expired."""
    existing = await store.pending_invitation(db, key)
    if existing is not None and existing.expires_at > utcnow():
        return existing
    if existing is not None:  # expired: free the key for a new one
        existing.close(InvitationStatus.EXPIRED)
        await store.save(db, existing)
    return None


async def _send(db: Any, viewer: Viewer, invitation: Invitation, role: ParticipantRole) -> None:
    await store.add(db, invitation)
    record_event(
        db,
        "invitation.sent",
        invitation.event_id,
        viewer.user_id,
        invitation.id,
        invitee_user_id=invitation.invitee_user_id,
        role=role.value,
    )


def _invitation_mail(deps: Deps, event: Event, inviter: Participant, email: str) -> Mail:
    link = f"{deps.settings.public_url.rstrip('/')}/register?email={email}"
    return Mail(
        to=email,
        # the sender's own words stay out of the subject: only the cleaned, capped title
        subject=f'Invitation to "{subject_text(event.title)}" on IVEN',
        body=f'{inviter.display_name} invites you to "{event.title}" on IVEN.\n'
        f"Create your account with this address to answer: {link}\n",
    )


async def my_invitations(
    deps: Deps, viewer: Viewer, status: InvitationStatus | None
) -> list[Invitation]:
    async with deps.db.reader() as db:
        user = await account_store.user_by_id(db, viewer.user_id)
        if user is None:
            return []
        stored = None
        if status in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            stored = [InvitationStatus.PENDING.value]
        elif status is not None:
            stored = [status.value]
        rows = await store.invitations_for(db, viewer.user_id, user.email, stored)
    now = utcnow()
    return [r for r in rows if status is None or r.effective_status(now) is status]


async def _my_invitation(db: Any, viewer: Viewer, invitation_id: int) -> Invitation:
    invitation = await store.invitation_by_id(db, invitation_id)
    user = await account_store.user_by_id(db, viewer.user_id)
    if (
        invitation is None
        or user is None
        or (invitation.invitee_user_id != viewer.user_id and invitation.invitee_email != user.email)
    ):
        raise NotFound("Invitation not found.")
    return invitation


async def accept(deps: Deps, viewer: Viewer, invitation_id: int) -> tuple[Event, Participant]:
    """Idempotent: accepting again returns the same participation."""
    event, member = await retry_transaction(lambda: _accept(deps, viewer, invitation_id))
    await event_changed(deps, member.event_id, participants=True)
    return event, member


async def _accept(deps: Deps, viewer: Viewer, invitation_id: int) -> tuple[Event, Participant]:
    try:
        async with deps.db.unit_of_work() as db:
            invitation = await _my_invitation(db, viewer, invitation_id)
            event = await event_store.lock_event(db, invitation.event_id)
            assert event is not None
            member = await event_store.participant_for_user(
                db, invitation.event_id, viewer.user_id, for_update=True
            )
            if (
                invitation.status == InvitationStatus.ACCEPTED.value
                and member is not None
                and member.is_active
            ):
                return event, member
            status = invitation.effective_status(utcnow())
            if status is not InvitationStatus.PENDING:
                raise DomainError(
                    InvitationErrorCode.INVITATION_NOT_PENDING,
                    f"This invitation is {status.value.lower()}.",
                )
            not_cancelled(event)
            if member is None or not member.is_active:
                member = await admit(db, event, viewer, ParticipantRole(invitation.role), member)
            invitation.invitee_user_id = viewer.user_id
            invitation.close(InvitationStatus.ACCEPTED)
            await store.save(db, invitation)
            record_event(
                db,
                "invitation.accepted",
                event.id or 0,
                viewer.user_id,
                invitation.id,
                inviter_user_id=invitation.inviter_user_id,
            )
            return event, member
    except IntegrityError:  # a concurrent accept created the participation first
        async with deps.db.reader() as db:
            again = await store.invitation_by_id(db, invitation_id)
            event = await event_store.lock_event(db, again.event_id) if again else None
            member = await event_store.participant_for_user(
                db, again.event_id if again else 0, viewer.user_id
            )
        if event is None or member is None:
            raise
        return event, member


async def decline(deps: Deps, viewer: Viewer, invitation_id: int) -> Invitation:
    async with deps.db.unit_of_work() as db:
        invitation = await _my_invitation(db, viewer, invitation_id)
        status = invitation.effective_status(utcnow())
        if status is InvitationStatus.DECLINED:
            return invitation
        if status is not InvitationStatus.PENDING:
            raise DomainError(
                InvitationErrorCode.INVITATION_NOT_PENDING,
                f"This invitation is {status.value.lower()}.",
            )
        invitation.close(InvitationStatus.DECLINED)
        await store.save(db, invitation)
        record_event(
            db,
            "invitation.declined",
            invitation.event_id,
            viewer.user_id,
            invitation.id,
            inviter_user_id=invitation.inviter_user_id,
        )
        return invitation


async def revoke(deps: Deps, viewer: Viewer, invitation_id: int) -> Invitation:
    async with deps.db.unit_of_work() as db:
        invitation = await store.invitation_by_id(db, invitation_id)
        if invitation is None:
            raise NotFound("Invitation not found.")
        _, me = await member_or_hidden(
            db, invitation.event_id, viewer, hidden="Invitation not found."
        )
        if role_of(me) is None:
            raise NotFound("Invitation not found.")
        require(me, ParticipantRole.ORGANIZER)
        if invitation.effective_status(utcnow()) is not InvitationStatus.PENDING:
            raise DomainError(
                InvitationErrorCode.INVITATION_NOT_PENDING,
                "Only pending invitations can be revoked.",
            )
        invitation.close(InvitationStatus.REVOKED)
        await store.save(db, invitation)
        return invitation


# --- join requests -----------------------------------------------------------------------------


async def request_to_join(
    deps: Deps, viewer: Viewer, event_id: int, message: str, share_token: str | None = None
) -> JoinRequest:
    """Outsiders name the event by its share token (its sequential id opens nothing to them);
    an id given with it must be the same event's."""
    if len(message) > 500:
        raise DomainError(InvitationErrorCode.VALUE_TOO_LONG, "At most 500 characters.", "message")
    refuse_controls(message, "message", multiline=True)
    async with deps.db.unit_of_work() as db:
        if share_token is not None:
            event, me = await locked_by_share_token(db, share_token, viewer)
            if event_id and event_id != event.id:
                raise NotFound("Event not found.")
        else:
            event, me = await member_or_hidden(db, event_id, viewer)
        if role_of(me) is not None:
            raise DomainError(
                InvitationErrorCode.ALREADY_PARTICIPANT, "You are already in this event."
            )
        if event.visibility != Visibility.UNLISTED.value or event.id is None:
            raise NotFound("Event not found.")
        event_id = event.id
        not_cancelled(event)
        existing = await store.pending_join_request(db, event_id, viewer.user_id)
        if existing is not None:
            return existing
        request = JoinRequest(
            event_id=event_id,
            user_id=viewer.user_id,
            message=message.strip(),
            pending_key=f"{event_id}:{viewer.user_id}",
        )
        await store.add(db, request)
        record_event(db, "join_request.created", event_id, viewer.user_id, request.id)
        return request


async def decide_join_request(
    deps: Deps, viewer: Viewer, request_id: int, approve: bool
) -> tuple[JoinRequest, Participant | None]:
    request, member = await _decide_join_request(deps, viewer, request_id, approve)
    if member is not None:
        await event_changed(deps, request.event_id, participants=True)
    return request, member


async def _decide_join_request(
    deps: Deps, viewer: Viewer, request_id: int, approve: bool
) -> tuple[JoinRequest, Participant | None]:
    async with deps.db.unit_of_work() as db:
        request = await store.join_request_by_id(db, request_id)
        if request is None:
            raise NotFound("Join request not found.")
        event, me = await member_or_hidden(
            db, request.event_id, viewer, hidden="Join request not found."
        )
        if not has_role(me, ParticipantRole.ORGANIZER):
            raise Forbidden() if role_of(me) else NotFound("Join request not found.")
        if request.status != JoinRequestStatus.PENDING.value:
            raise DomainError(
                InvitationErrorCode.JOIN_REQUEST_NOT_PENDING, "This request was already decided."
            )
        member = None
        if approve:
            not_cancelled(event)
            existing = await event_store.participant_for_user(
                db, request.event_id, request.user_id, for_update=True
            )
            requester = Viewer(user_id=request.user_id, session_id="", expires_at=utcnow())
            if existing is None or existing.state != ParticipantState.ACTIVE.value:
                member = await admit(db, event, requester, ParticipantRole.PARTICIPANT, existing)
            else:
                member = existing
        request.status = (
            JoinRequestStatus.APPROVED if approve else JoinRequestStatus.REJECTED
        ).value
        request.pending_key = None
        request.decided_at = utcnow()
        request.decided_by_user_id = viewer.user_id
        await store.save(db, request)
        record_event(
            db,
            f"join_request.{request.status.lower()}",
            request.event_id,
            viewer.user_id,
            request.id,
            requester_user_id=request.user_id,
        )
        return request, member


async def invitations_of(deps: Deps, event_ids: Sequence[int]) -> list[list[Invitation]]:
    """Batch function (callers check the viewer is an organizer)."""
    async with deps.db.reader() as db:
        rows = await store.invitations_of_events(db, list(event_ids))
    grouped: dict[int, list[Invitation]] = {i: [] for i in event_ids}
    for r in rows:
        grouped[r.event_id].append(r)
    return [grouped[i] for i in event_ids]


async def join_requests_of(deps: Deps, event_ids: Sequence[int]) -> list[list[JoinRequest]]:
    async with deps.db.reader() as db:
        rows = await store.join_requests_of_events(db, list(event_ids))
    grouped: dict[int, list[JoinRequest]] = {i: [] for i in event_ids}
    for r in rows:
        grouped[r.event_id].append(r)
    return [grouped[i] for i in event_ids]


class InvitationLoaders(LoaderBase):
    @cached_property
    def invitations_by_event(self) -> DataLoader[int, list[Invitation]]:
        return self.batched(invitations_of)

    @cached_property
    def join_requests_by_event(self) -> DataLoader[int, list[JoinRequest]]:
        return self.batched(join_requests_of)
