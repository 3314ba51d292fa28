"""Date polls: types, inputs, payloads, mutations and the live stream of changes."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import date_polls as uc
from resolvers.events import has_role
from schema.context import Info
from schema.core import (
    CLIENT_MUTATION_ID,
    UserError,
    decode_global_id,
    decode_node_keys,
    documented_enum,
    global_id,
    mutate,
)
from schema.participants import Participant, roster
from stores import date_polls as rows
from stores import events as event_rows
from stores.date_polls import DateChoice, DatePollStatus
from stores.db import key_of

documented_enum(  # one definition: stores.date_polls
    DatePollStatus,
    {
        DatePollStatus.OPEN: "Taking votes (until its deadline, if it has one).",
        DatePollStatus.CLOSED: "Closed: the event was moved to `chosenOption`.",
    },
    description="Whether a date poll still takes votes.",
)
documented_enum(  # one definition: stores.date_polls
    DateChoice,
    {
        DateChoice.YES: "This time suits me.",
        DateChoice.IF_NEED_BE: "I can make it if I must (only when the poll allows it).",
        DateChoice.NO: "I cannot make it.",
    },
    name="DatePollChoice",
    description="A participant's answer for one proposed time.",
)


class DatePollOptionOrder(enum.Enum):
    START = "START"
    RANK = "RANK"


documented_enum(
    DatePollOptionOrder,
    {
        DatePollOptionOrder.START: "Earliest first.",
        DatePollOptionOrder.RANK: "Best first: most YES, then most IF_NEED_BE, then earliest.",
    },
    description="How a date poll's options are ordered.",
)

documented_enum(  # one definition: resolvers.date_polls
    uc.DatePollErrorCode,
    {
        uc.DatePollErrorCode.REQUIRED: "A required input is missing or empty (see `field`).",
        uc.DatePollErrorCode.INVALID_INPUT: "A value is out of range or malformed: fewer than "
        "2 options, a duration outside 0 to 43200 minutes, both an end and a duration, two "
        "choices for one option, more than 50 entries, a bad `clientMutationId`; see `field`.",
        uc.DatePollErrorCode.INVALID_DATES: "A time without its UTC offset, an option in the "
        "past or ending before it starts (or lasting more than 30 days), or a deadline in the "
        "past; see `field`.",
        uc.DatePollErrorCode.TOO_MANY_OPTIONS: "A poll has at most 50 options.",
        uc.DatePollErrorCode.DUPLICATE_OPTION: "The same start and end are proposed twice.",
        uc.DatePollErrorCode.OPTION_NOT_FOUND: "An option id names no option of this poll.",
        uc.DatePollErrorCode.IF_NEED_BE_NOT_ALLOWED: "This poll takes YES or NO only.",
        uc.DatePollErrorCode.POLL_EXISTS: "The event already has a date poll (one per event): "
        "change, reopen or delete it.",
        uc.DatePollErrorCode.POLL_CLOSED: "The poll is closed (or its deadline has passed): "
        "no more votes or changes; an organizer may reopen it.",
        uc.DatePollErrorCode.POLL_OPEN: "The poll is open already.",
        uc.DatePollErrorCode.EVENT_STARTED: "The event has started: its poll cannot reopen.",
        uc.DatePollErrorCode.EVENT_CANCELLED: "The event is cancelled: its poll can no longer "
        "change.",
        uc.DatePollErrorCode.STALE: "`expectedVersion` is not the poll's current version: "
        "someone changed it since you read it. Reload, then retry.",
        uc.DatePollErrorCode.RATE_LIMITED: "Too many votes in a short time: wait "
        "`retryAfterSeconds`.",
        uc.DatePollErrorCode.DUPLICATE_REQUEST: "This `clientMutationId` was already used with "
        "other arguments (within 24 hours); use a new key for a new request.",
    },
    description="Why a date poll mutation changed nothing (in `DatePollError.code`).",
)


@strawberry.type(description="An expected failure of a date poll mutation.")
class DatePollError(UserError):
    codes = uc.DatePollErrorCode
    code: uc.DatePollErrorCode = strawberry.field(description="What went wrong.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With RATE_LIMITED: when to try again; otherwise null."
    )


@strawberry.type(description="One participant's answer for one option of a date poll.")
class DatePollVote:
    participant: Participant = strawberry.field(description="Who answered.")
    choice: DateChoice = strawberry.field(description="Their answer.")


HIDDEN_COUNT = (
    "null while the poll hides its votes from you (`votesVisible` false: an open poll with "
    "`hideVotes`, to everyone but organizers)."
)


@strawberry.type(
    description="A proposed time of a date poll, with its tally. Visible to the event's "
    "participants."
)
class DatePollOption(relay.Node):
    row: strawberry.Private[rows.DatePollOption]
    starts_at: datetime = strawberry.field(description="When the event would start (UTC).")
    ends_at: datetime = strawberry.field(description="When the event would end (UTC).")
    rank: int = strawberry.field(
        description="Its place in the ranking (1: the best; ties broken by the earlier start). "
        "While votes are hidden from you, the order of the options by start."
    )
    yes_count: int | None = strawberry.field(description="How many answered YES; " + HIDDEN_COUNT)
    if_need_be_count: int | None = strawberry.field(
        description="How many answered IF_NEED_BE; " + HIDDEN_COUNT
    )
    no_count: int | None = strawberry.field(description="How many answered NO; " + HIDDEN_COUNT)
    votes: list[DatePollVote] = strawberry.field(
        description="Who answered what (participants in joining order); empty while the poll "
        "hides its votes from you."
    )
    viewer_choice: DateChoice | None = strawberry.field(
        description="Your answer for this option; null if you have not answered it."
    )

    @classmethod
    def resolve_id(cls, root: DatePollOption, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[DatePollOption | None]:
        found = await info.context.loaders.rows(rows.DatePollOption).load_many(
            decode_node_keys(node_ids)
        )
        polls = await info.context.loaders.rows(rows.DatePoll).load_many(
            [o.poll_id if o is not None else 0 for o in found]
        )
        result: list[DatePollOption | None] = []
        for option, poll in zip(found, polls, strict=True):
            built = await date_poll_of_event(info, poll.event_id) if poll is not None else None
            result.append(
                next((o for o in built.options_by_start if o.row.id == option.id), None)
                if built is not None and option is not None
                else None
            )
        return result


@strawberry.type(
    description="A vote on an event's date: organizers propose times, participants answer "
    "each one, and closing the poll moves the event to the chosen time. Visible to the "
    "event's participants."
)
class DatePoll(relay.Node):
    content: strawberry.Private[uc.PollContent]
    options_by_start: strawberry.Private[list[DatePollOption]]
    options_ranked: strawberry.Private[list[DatePollOption]]
    event_id: strawberry.ID = strawberry.field(description="The event it decides (an Event id).")
    status: DatePollStatus = strawberry.field(description="Whether it still takes votes.")
    deadline: datetime | None = strawberry.field(
        description="When it closes by itself with its best option; null: only an organizer "
        "closes it."
    )
    hide_votes: bool = strawberry.field(
        description="True: while open, participants see only their own answers (organizers "
        "see everything); once closed, everyone sees everything."
    )
    allow_if_need_be: bool = strawberry.field(description="Whether IF_NEED_BE answers count.")
    votes_visible: bool = strawberry.field(
        description="Whether you see the tallies and who answered what."
    )
    voter_count: int = strawberry.field(description="How many participants answered.")
    viewer_has_voted: bool = strawberry.field(
        description="Whether you answered at least one option."
    )
    chosen_option: DatePollOption | None = strawberry.field(
        description="The option the poll was closed with; null while open."
    )
    created_at: datetime = strawberry.field(description="When it was opened (UTC).")
    closed_at: datetime | None = strawberry.field(description="When it closed; null while open.")
    version: int = strawberry.field(
        description="Increases on every change of its options or settings (not on votes); pass "
        "it as `expectedVersion`."
    )

    @classmethod
    def resolve_id(cls, root: DatePoll, *, info: Info) -> str:
        return str(root.content.poll.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[DatePoll | None]:
        found = await info.context.loaders.rows(rows.DatePoll).load_many(decode_node_keys(node_ids))
        result: list[DatePoll | None] = []
        for poll in found:
            built = await date_poll_of_event(info, poll.event_id) if poll is not None else None
            result.append(built if built is not None and poll.id == built.content.poll.id else None)
        return result

    @strawberry.field(
        description="The proposed times (2 to 50), earliest first or best first (`orderBy`)."
    )
    def options(
        self,
        order_by: Annotated[
            DatePollOptionOrder,
            strawberry.argument(description="START (default) or RANK."),
        ] = DatePollOptionOrder.START,
    ) -> list[DatePollOption]:
        if order_by is DatePollOptionOrder.RANK:
            return self.options_ranked
        return self.options_by_start


async def date_poll_of_event(info: Info, event_id: int) -> DatePoll | None:
    """The event's poll as the viewer sees it; None when there is none or the viewer does not
    take part in the event."""
    access = await info.context.loaders.event_access.load(event_id)
    if access is None or access[1] is None:
        return None
    content = await info.context.loaders.date_poll_by_event.load(event_id)
    if content is None:
        return None
    return await build_poll(info, content, access[1])


async def build_poll(info: Info, content: uc.PollContent, me: event_rows.Participant) -> DatePoll:
    poll = content.poll
    people = await roster(info, poll.event_id)
    visible = (
        not poll.hide_votes
        or poll.status == DatePollStatus.CLOSED.value
        or has_role(me, event_rows.ParticipantRole.ORGANIZER)
    )
    my_id = me.id
    by_id: dict[int, DatePollOption] = {}
    for place, option in enumerate(content.options, start=1):
        tally = content.tallies[key_of(option)]
        by_id[key_of(option)] = DatePollOption(
            row=option,
            starts_at=option.starts_at,
            ends_at=option.ends_at,
            rank=tally.rank if visible else place,
            yes_count=tally.yes if visible else None,
            if_need_be_count=tally.if_need_be if visible else None,
            no_count=tally.no if visible else None,
            votes=[
                DatePollVote(participant=people[pid], choice=choice)
                for pid, choice in sorted(tally.voters.items())
                if pid in people
            ]
            if visible
            else [],
            viewer_choice=tally.voters.get(my_id) if my_id is not None else None,
        )
    by_start = list(by_id.values())
    ranked = [by_id[key_of(t.option)] for t in content.ranking] if visible else by_start
    return DatePoll(
        content=content,
        options_by_start=by_start,
        options_ranked=ranked,
        event_id=global_id("Event", poll.event_id),
        status=DatePollStatus(poll.status),
        deadline=poll.deadline,
        hide_votes=poll.hide_votes,
        allow_if_need_be=poll.allow_if_need_be,
        votes_visible=visible,
        voter_count=len(content.voter_ids),
        viewer_has_voted=my_id in content.voter_ids,
        chosen_option=by_id.get(poll.chosen_option_id or 0),
        created_at=poll.created_at,
        closed_at=poll.closed_at,
        version=poll.version,
    )


# --- inputs and payloads ------------------------------------------------------------------------

POLL_ID = "The date poll (a DatePoll id); one you cannot see is a top-level NOT_FOUND."
EXPECTED_VERSION = (
    "The `version` you last read: if the poll changed since, nothing changes and STALE comes back."
)


@strawberry.input(description="A proposed time for the event.")
class DatePollOptionInput:
    starts_at: datetime = strawberry.field(
        description="When the event would start: ISO-8601 with its UTC offset (the event's "
        "time zone, say), in the future."
    )
    ends_at: datetime | None = strawberry.field(
        default=None,
        description="When it would end (not before `startsAt`, within 30 days). Give this or "
        "`durationMinutes`; neither: the event's current duration.",
    )
    duration_minutes: int | None = strawberry.field(
        default=None,
        description="How long it would last, 0 to 43200 minutes (instead of `endsAt`).",
    )


@strawberry.input(description="A new date poll on an event.")
class CreateDatePollInput:
    event_id: relay.GlobalID = strawberry.field(
        description="The event (an Event id); one you are not in is a top-level NOT_FOUND."
    )
    options: list[DatePollOptionInput] = strawberry.field(
        description="The proposed times: 2 to 50, all different (else INVALID_INPUT, "
        "TOO_MANY_OPTIONS or DUPLICATE_OPTION at the entry)."
    )
    deadline: datetime | None = strawberry.field(
        default=None,
        description="When the poll closes by itself with its best option (in the future); "
        "none by default.",
    )
    hide_votes: bool = strawberry.field(
        default=False,
        description="True: participants see only their own answers until the poll closes.",
    )
    allow_if_need_be: bool = strawberry.field(
        default=True, description="Whether participants may answer IF_NEED_BE."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="Changes to an open date poll: only the fields given change.")
class UpdateDatePollInput:
    poll_id: relay.GlobalID = strawberry.field(description=POLL_ID)
    add_options: list[DatePollOptionInput] = strawberry.field(
        default_factory=list, description="Times to propose as well (the poll keeps 2 to 50)."
    )
    remove_option_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list,
        description="Options to withdraw (DatePollOption ids), with their votes.",
    )
    deadline: datetime | None = strawberry.field(
        default=None, description="A new deadline, in the future."
    )
    clear_deadline: bool = strawberry.field(
        default=False, description="True removes the deadline (`deadline` is then ignored)."
    )
    hide_votes: bool | None = strawberry.field(
        default=None, description="Hide the votes until the poll closes, or show them."
    )
    allow_if_need_be: bool | None = strawberry.field(
        default=None,
        description="Allow IF_NEED_BE answers from now on (those given stay counted).",
    )
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input(description="One answer of a ballot.")
class DatePollVoteInput:
    option_id: relay.GlobalID = strawberry.field(description="The option (a DatePollOption id).")
    choice: DateChoice = strawberry.field(description="Your answer for it.")


@strawberry.input(description="Your answers in a date poll.")
class VoteDatePollInput:
    poll_id: relay.GlobalID = strawberry.field(description=POLL_ID)
    votes: list[DatePollVoteInput] = strawberry.field(
        description="1 to 50 answers, one per option; they replace your earlier answers for "
        "those options (the others keep theirs)."
    )


@strawberry.input(description="Closes a date poll and moves the event to a time.")
class CloseDatePollInput:
    poll_id: relay.GlobalID = strawberry.field(description=POLL_ID)
    option_id: relay.GlobalID | None = strawberry.field(
        default=None,
        description="The chosen option (a DatePollOption id); null: the best one (rank 1).",
    )
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input(description="Opens a closed date poll again.")
class ReopenDatePollInput:
    poll_id: relay.GlobalID = strawberry.field(description=POLL_ID)
    deadline: datetime | None = strawberry.field(
        default=None,
        description="A new deadline, in the future; without one, a deadline that has passed "
        "is removed.",
    )
    expected_version: int | None = strawberry.field(default=None, description=EXPECTED_VERSION)


@strawberry.input(description="Deletes a date poll.")
class DeleteDatePollInput:
    poll_id: relay.GlobalID = strawberry.field(description=POLL_ID)


@strawberry.type(description="The result of a date poll mutation.")
class DatePollPayload:
    date_poll: DatePoll | None = strawberry.field(
        description="The poll after the change; null when `errors` is not empty."
    )
    errors: list[DatePollError] = strawberry.field(
        description="Why nothing changed; empty on success."
    )


@strawberry.type(description="The result of `deleteDatePoll`.")
class DeleteDatePollPayload:
    deleted_date_poll_id: strawberry.ID | None = strawberry.field(
        description="The id of the deleted poll; null when `errors` is not empty."
    )
    errors: list[DatePollError] = strawberry.field(
        description="Why nothing changed; empty on success."
    )


async def _payload(
    info: Info, poll: rows.DatePoll | None, errors: list[DatePollError]
) -> DatePollPayload:
    if poll is None:
        return DatePollPayload(date_poll=None, errors=errors)
    info.context.loaders.date_poll_by_event.clear(poll.event_id)
    return DatePollPayload(date_poll=await date_poll_of_event(info, poll.event_id), errors=[])


def _options(items: Iterable[DatePollOptionInput]) -> tuple[uc.OptionData, ...]:
    return tuple(
        uc.OptionData(starts_at=o.starts_at, ends_at=o.ends_at, duration_minutes=o.duration_minutes)
        for o in items
    )


def _option_id(gid: relay.GlobalID) -> int:
    return decode_global_id(gid, "DatePollOption")


ORGANIZERS = (
    " Organizers only (participants: FORBIDDEN; outsiders: NOT_FOUND; signed out: UNAUTHENTICATED)."
)


@strawberry.type
class DatePollMutation:
    @strawberry.mutation(
        description="Opens the event's date poll (one per event)." + ORGANIZERS + " In "
        "`errors`: INVALID_INPUT, INVALID_DATES, TOO_MANY_OPTIONS, DUPLICATE_OPTION, "
        "POLL_EXISTS, EVENT_CANCELLED, DUPLICATE_REQUEST."
    )
    async def create_date_poll(
        self,
        info: Info,
        input: Annotated[CreateDatePollInput, strawberry.argument(description="The poll.")],
    ) -> DatePollPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                DatePollError,
                uc.create_date_poll,
                decode_global_id(input.event_id, "Event"),
                _options(input.options),
                uc.PollSettings(
                    deadline=input.deadline,
                    hide_votes=input.hide_votes,
                    allow_if_need_be=input.allow_if_need_be,
                ),
                input.client_mutation_id,
            ),
        )

    @strawberry.mutation(
        description="Changes an open date poll: options, deadline, settings."
        + ORGANIZERS
        + " In `errors`: INVALID_INPUT, INVALID_DATES, TOO_MANY_OPTIONS, DUPLICATE_OPTION, "
        "OPTION_NOT_FOUND, POLL_CLOSED, EVENT_CANCELLED, STALE."
    )
    async def update_date_poll(
        self,
        info: Info,
        input: Annotated[UpdateDatePollInput, strawberry.argument(description="The changes.")],
    ) -> DatePollPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                DatePollError,
                uc.update_date_poll,
                decode_global_id(input.poll_id, "DatePoll"),
                uc.PollChanges(
                    settings=uc.PollSettings(
                        deadline=input.deadline,
                        clear_deadline=input.clear_deadline,
                        hide_votes=input.hide_votes,
                        allow_if_need_be=input.allow_if_need_be,
                    ),
                    add_options=_options(input.add_options),
                    remove_option_ids=tuple(_option_id(i) for i in input.remove_option_ids),
                ),
                input.expected_version,
            ),
        )

    @strawberry.mutation(
        description="Records your answers in an open date poll (change them until it closes). "
        "Active participants of the event (outsiders: NOT_FOUND; signed out: "
        "UNAUTHENTICATED). In `errors`: REQUIRED, INVALID_INPUT, OPTION_NOT_FOUND, "
        "IF_NEED_BE_NOT_ALLOWED, POLL_CLOSED, EVENT_CANCELLED, RATE_LIMITED."
    )
    async def vote_date_poll(
        self,
        info: Info,
        input: Annotated[VoteDatePollInput, strawberry.argument(description="Your answers.")],
    ) -> DatePollPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                DatePollError,
                uc.vote,
                decode_global_id(input.poll_id, "DatePoll"),
                [(_option_id(v.option_id), v.choice) for v in input.votes],
            ),
        )

    @strawberry.mutation(
        description="Closes an open date poll with an option (default: the best) and moves "
        "the event there, in one transaction: everyone is notified (EVENT_DATE_CHOSEN) and "
        "calendars update (the event's version goes up)." + ORGANIZERS + " In `errors`: "
        "OPTION_NOT_FOUND, POLL_CLOSED, EVENT_CANCELLED, STALE."
    )
    async def close_date_poll(
        self,
        info: Info,
        input: Annotated[CloseDatePollInput, strawberry.argument(description="The poll.")],
    ) -> DatePollPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                DatePollError,
                uc.close_date_poll,
                decode_global_id(input.poll_id, "DatePoll"),
                _option_id(input.option_id) if input.option_id is not None else None,
                input.expected_version,
            ),
        )

    @strawberry.mutation(
        description="Opens a closed date poll again, its votes kept, until the event starts "
        "(the event keeps its date until the poll closes again)." + ORGANIZERS + " In "
        "`errors`: POLL_OPEN, EVENT_STARTED, INVALID_DATES, EVENT_CANCELLED, STALE."
    )
    async def reopen_date_poll(
        self,
        info: Info,
        input: Annotated[ReopenDatePollInput, strawberry.argument(description="The poll.")],
    ) -> DatePollPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                DatePollError,
                uc.reopen_date_poll,
                decode_global_id(input.poll_id, "DatePoll"),
                uc.PollSettings(deadline=input.deadline),
                input.expected_version,
            ),
        )

    @strawberry.mutation(
        description="Deletes a date poll with its options and votes (the event keeps its "
        "date)." + ORGANIZERS
    )
    async def delete_date_poll(
        self,
        info: Info,
        input: Annotated[DeleteDatePollInput, strawberry.argument(description="The poll.")],
    ) -> DeleteDatePollPayload:
        deleted, errors = await mutate(
            info, DatePollError, uc.delete_date_poll, decode_global_id(input.poll_id, "DatePoll")
        )
        return DeleteDatePollPayload(
            deleted_date_poll_id=global_id("DatePoll", deleted) if deleted else None,
            errors=errors,
        )


@strawberry.type
class DatePollSubscription:
    @strawberry.subscription(
        description="The event's date poll as it is now, then again after every change (votes, "
        "options, settings, closing, reopening; null once deleted or before one exists). "
        "Participants only: an event you are not in is NOT_FOUND; losing your place ends the "
        "stream with FORBIDDEN. The server closes the socket (4401) when your session ends or "
        "your token expires."
    )
    async def date_poll_changed(
        self,
        info: Info,
        event_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The event (an Event id).")
        ],
    ) -> AsyncGenerator[DatePoll | None, None]:
        viewer = info.context.require_viewer()
        key = decode_global_id(event_id, "Event")
        loaders = info.context.loaders
        async for _ in uc.changes(info.context.deps, viewer, key):
            loaders.event_access.clear(key)
            loaders.date_poll_by_event.clear(key)
            loaders.participants_by_event.clear(key)
            loaders.memo.clear()
            yield await date_poll_of_event(info, key)
        await info.context.end_session()
