"""Payload errors of events and of the domains inside an event: tasks, expenses, invitations.
Each has its own code enum (defined once, in its resolvers module)."""

from __future__ import annotations

import strawberry

from resolvers.events import EventErrorCode
from resolvers.expenses import ExpenseErrorCode
from resolvers.invitations import InvitationErrorCode
from resolvers.tasks import TaskErrorCode
from schema.core import UserError, documented_enum

# Texts shared by several domains' codes (each domain's enum lists its own).
_REQUIRED = "A required input field is missing (see `field`)."
_INVALID_TITLE = "The title is blank, has a line break or control character, or is too long."
_TOO_LONG = "A text is longer than its limit (see `field` and the message)."
_CANCELLED = "The event is cancelled: its content can no longer change."
_STALE = (
    "`expectedVersion` is not the current version: someone changed it since you read it. "
    "Reload, then retry."
)
_DUPLICATE = (
    "This `clientMutationId` was already used with other arguments (within 24 hours); use a "
    "new key for a new request."
)
_UNKNOWN_PARTICIPANT = (
    "A person argument names no active participant of this event (an unknown or removed "
    "participant, or a user who is not in it); `field` points at the entry."
)
_DATES = "A time without its UTC offset, or one in the wrong order (see the message)."

documented_enum(  # one definition: resolvers.events
    EventErrorCode,
    {
        EventErrorCode.REQUIRED: _REQUIRED,
        EventErrorCode.INVALID_INPUT: "A value is out of range or malformed (e.g. `maxUses` "
        "outside 1 to 10000, a bad `clientMutationId`, a control character); see `field`.",
        EventErrorCode.INVALID_TITLE: _INVALID_TITLE + " Titles have 1 to 200 characters.",
        EventErrorCode.VALUE_TOO_LONG: _TOO_LONG,
        EventErrorCode.INVALID_DATES: _DATES + " An event ends after it starts; an invite "
        "link expires in the future.",
        EventErrorCode.INVALID_TIMEZONE: "`timezone` is not an IANA time zone name "
        '(e.g. "Europe/Paris").',
        EventErrorCode.INVALID_LOCATION: "Latitude outside −90..90, longitude outside "
        "−180..180, or only one of the two given.",
        EventErrorCode.INVALID_CAPACITY: "`capacity` is outside 1 to 100000.",
        EventErrorCode.INVALID_CURRENCY: "`currency` is not a supported ISO 4217 code.",
        EventErrorCode.CAPACITY_BELOW_PARTICIPANTS: "The new capacity is below the number of "
        "active participants.",
        EventErrorCode.EVENT_CANCELLED: _CANCELLED,
        EventErrorCode.EVENT_FULL: "The event has reached its capacity: nobody more can join.",
        EventErrorCode.STALE: _STALE + " Also when the ownership changed concurrently.",
        EventErrorCode.DUPLICATE_REQUEST: _DUPLICATE,
        EventErrorCode.OWNER_CANNOT_LEAVE: "The owner must transfer the ownership "
        "(`transferOwnership`) before leaving.",
        EventErrorCode.CANNOT_REMOVE_SELF: "You cannot remove yourself: use `leaveEvent`.",
        EventErrorCode.PARTICIPANT_NOT_FOUND: "`participantId` names no active participant of "
        "this event (nor the User id of one).",
        EventErrorCode.INVALID_ROLE: "A role that cannot be given this way: OWNER goes only "
        "through `transferOwnership`; invite links cannot make owners; the owner's own role "
        "does not change.",
        EventErrorCode.INVALID_INVITE_LINK: "The invite link's token is unknown, expired, "
        "revoked or used up.",
        EventErrorCode.REMOVED_FROM_EVENT: "You were removed from this event: an invite link "
        "does not bring you back (ask an organizer for an invitation).",
        EventErrorCode.CURRENCY_LOCKED: "The currency cannot change once the event has "
        "expenses or settlements.",
    },
    description="Why an event or participant mutation changed nothing (in `EventError.code`).",
)

documented_enum(  # one definition: resolvers.tasks
    TaskErrorCode,
    {
        TaskErrorCode.REQUIRED: _REQUIRED,
        TaskErrorCode.INVALID_INPUT: "A value is malformed: an assignee id of another kind "
        "than Participant or User, more than 50 assignees, a control character or a bad "
        "`clientMutationId`; see `field`.",
        TaskErrorCode.INVALID_TITLE: _INVALID_TITLE + " Titles have 1 to 200 characters.",
        TaskErrorCode.VALUE_TOO_LONG: _TOO_LONG + " Descriptions have at most 5000.",
        TaskErrorCode.INVALID_DATES: "`dueAt` has no UTC offset.",
        TaskErrorCode.EVENT_CANCELLED: _CANCELLED,
        TaskErrorCode.STALE: _STALE,
        TaskErrorCode.DUPLICATE_REQUEST: _DUPLICATE,
        TaskErrorCode.UNKNOWN_PARTICIPANT: _UNKNOWN_PARTICIPANT,
        TaskErrorCode.INVALID_TRANSITION: "The task is not in a status this step starts from "
        "(complete: TODO; validate: DONE; reopen: DONE or VALIDATED).",
        TaskErrorCode.SELF_VALIDATION: "Who completed a task cannot validate it: another "
        "organizer must.",
    },
    description="Why a task mutation changed nothing (in `TaskError.code`).",
)

documented_enum(  # one definition: resolvers.expenses
    ExpenseErrorCode,
    {
        ExpenseErrorCode.REQUIRED: _REQUIRED,
        ExpenseErrorCode.INVALID_INPUT: "A value is malformed: an amount given both as "
        "`amountDecimal` and `amount` (or a part's value twice), a person id of another kind "
        "than Participant or User, a settlement to oneself, a control character or a bad "
        "`clientMutationId`; see `field`.",
        ExpenseErrorCode.INVALID_TITLE: _INVALID_TITLE + " Titles have 1 to 200 characters.",
        ExpenseErrorCode.VALUE_TOO_LONG: _TOO_LONG + " Notes have at most 1000.",
        ExpenseErrorCode.INVALID_DATES: "`spentAt` has no UTC offset.",
        ExpenseErrorCode.INVALID_CURRENCY: "The currency is not supported.",
        ExpenseErrorCode.EVENT_CANCELLED: _CANCELLED,
        ExpenseErrorCode.STALE: _STALE,
        ExpenseErrorCode.DUPLICATE_REQUEST: _DUPLICATE,
        ExpenseErrorCode.UNKNOWN_PARTICIPANT: _UNKNOWN_PARTICIPANT
        + " Settlements accept past participants too.",
        ExpenseErrorCode.CURRENCY_MISMATCH: "`currency` is not the event's: an event's "
        "money is all in its own currency.",
        ExpenseErrorCode.INVALID_AMOUNT: "The amount is not a plain decimal (no exponent, "
        "NaN or infinity), has more decimals than the currency (EUR 2, JPY 0), or is too "
        "large (10^12 minor units or more).",
        ExpenseErrorCode.NEGATIVE_AMOUNT: "The amount is below zero.",
        ExpenseErrorCode.ZERO_AMOUNT: "The amount is zero.",
        ExpenseErrorCode.SPLIT_MISMATCH: "EXACT parts do not add up to the amount, or PERCENT "
        "parts not to 100; the message gives the totals.",
        ExpenseErrorCode.INVALID_SPLIT: "The split cannot be used: no parts, more than 200, a "
        "person twice, or a part's value malformed or out of range for the mode.",
    },
    description="Why an expense or settlement mutation changed nothing (in `ExpenseError.code`).",
)

documented_enum(  # one definition: resolvers.invitations
    InvitationErrorCode,
    {
        InvitationErrorCode.INVALID_INPUT: "Malformed input: not 1 to 50 invitees, an invitee "
        "with not exactly one of userId/username/email, a control character or a bad "
        "`clientMutationId`; see `field`.",
        InvitationErrorCode.VALUE_TOO_LONG: "`message` is longer than 500 characters.",
        InvitationErrorCode.EVENT_CANCELLED: _CANCELLED,
        InvitationErrorCode.EVENT_FULL: "The event has reached its capacity: accepting or "
        "approving would exceed it.",
        InvitationErrorCode.INVALID_ROLE: "Invitations cannot make owners.",
        InvitationErrorCode.USER_NOT_FOUND: "No active account has this user id or username "
        "(`field` points at the invitee).",
        InvitationErrorCode.INVALID_EMAIL: "The invitee's email address is not valid.",
        InvitationErrorCode.ALREADY_PARTICIPANT: "The invitee (or you, asking to join) is "
        "already an active participant of the event.",
        InvitationErrorCode.RATE_LIMITED: "Too many invitations sent in the last hour (mailed "
        "invitations have a tighter limit); retry after `retryAfterSeconds`. Nothing was sent.",
        InvitationErrorCode.INVITATION_NOT_PENDING: "The invitation was already accepted, "
        "declined, revoked, or has expired.",
        InvitationErrorCode.JOIN_REQUEST_NOT_PENDING: "The join request was already approved "
        "or rejected.",
        InvitationErrorCode.DUPLICATE_REQUEST: _DUPLICATE,
    },
    description="Why an invitation or join-request mutation changed nothing (in "
    "`InvitationError.code`).",
)

_MESSAGE = "What went wrong, in English, for people (do not parse it: use `code`)."
_RETRY = "Seconds to wait before retrying (RATE_LIMITED only); null otherwise."


@strawberry.type(description="An expected failure of an event or participant mutation.")
class EventError(UserError):
    codes = EventErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    message: str = strawberry.field(description=_MESSAGE)
    code: EventErrorCode = strawberry.field(description="What went wrong, for programs.")
    retry_after_seconds: int | None = strawberry.field(default=None, description=_RETRY)


@strawberry.type(description="An expected failure of a task mutation.")
class TaskError(UserError):
    codes = TaskErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    message: str = strawberry.field(description=_MESSAGE)
    code: TaskErrorCode = strawberry.field(description="What went wrong, for programs.")
    retry_after_seconds: int | None = strawberry.field(default=None, description=_RETRY)


@strawberry.type(description="An expected failure of an expense or settlement mutation.")
class ExpenseError(UserError):
    codes = ExpenseErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    message: str = strawberry.field(description=_MESSAGE)
    code: ExpenseErrorCode = strawberry.field(description="What went wrong, for programs.")
    retry_after_seconds: int | None = strawberry.field(default=None, description=_RETRY)


@strawberry.type(description="An expected failure of an invitation or join-request mutation.")
class InvitationError(UserError):
    codes = InvitationErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    message: str = strawberry.field(description=_MESSAGE)
    code: InvitationErrorCode = strawberry.field(description="What went wrong, for programs.")
    retry_after_seconds: int | None = strawberry.field(default=None, description=_RETRY)
