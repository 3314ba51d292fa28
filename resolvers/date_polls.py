"""Date polls: an event's date chosen by vote.

An organizer proposes 2 to 50 options (a start and an end each), an optional deadline, and
settings (hide the votes until closed; allow "if need be"). Active participants vote YES,
IF_NEED_BE or NO per option and may change their votes until the poll closes. Options rank by
yes votes, then if-need-be votes, then the earliest start. Closing (an organizer, with the
option they pick or the best one; or the dispatcher at the deadline, with the best one) sets
the event's start and end in the same transaction, which bumps the event's version (the ICS
SEQUENCE) and tells everyone (`event.date_chosen`). A closed poll reopens until the event
starts. 24 hours before the deadline, who has not voted is reminded once.

Every write locks the event's row first (as every other change of an event does), then the
poll: one writer per event at a time, in one order. Live changes go out on the event's poll
channel after the commit (`datePollChanged`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader
from redis.exceptions import RedisError

from resolvers import event_content
from resolvers.core import idempotency
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.rates import rate_limit
from resolvers.events import event_changed, member_or_hidden, not_cancelled, require
from resolvers.projections import record_event
from resolvers.sessions import REVOKED_CHANNEL, guard
from stores import date_polls as store
from stores import events as events_store
from stores.date_polls import DateChoice, DatePoll, DatePollOption, DatePollStatus
from stores.db import key_of, utcnow
from stores.events import Event, EventStatus, ParticipantRole, ParticipantState
from stores.redis import key

log = logging.getLogger("iven.date_polls")

MAX_OPTIONS = 50
MIN_OPTIONS = 2
MAX_VOTES = MAX_OPTIONS  # entries of one ballot
MAX_DURATION_MIN = 30 * 24 * 60
REMIND_AHEAD = timedelta(hours=24)
HIDDEN = "Date poll not found."


class DatePollErrorCode(StrEnum):
    """What date poll mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_DATES = "INVALID_DATES"
    TOO_MANY_OPTIONS = "TOO_MANY_OPTIONS"
    DUPLICATE_OPTION = "DUPLICATE_OPTION"
    OPTION_NOT_FOUND = "OPTION_NOT_FOUND"
    IF_NEED_BE_NOT_ALLOWED = "IF_NEED_BE_NOT_ALLOWED"
    POLL_EXISTS = "POLL_EXISTS"
    POLL_CLOSED = "POLL_CLOSED"
    POLL_OPEN = "POLL_OPEN"
    EVENT_STARTED = "EVENT_STARTED"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    STALE = "STALE"
    RATE_LIMITED = "RATE_LIMITED"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"


@dataclass(frozen=True)
class OptionData:
    starts_at: datetime
    ends_at: datetime | None = None
    duration_minutes: int | None = None


@dataclass(frozen=True)
class PollSettings:
    deadline: datetime | None = None
    clear_deadline: bool = False
    hide_votes: bool | None = None
    allow_if_need_be: bool | None = None


@dataclass(frozen=True)
class PollChanges:
    settings: PollSettings = PollSettings()
    add_options: tuple[OptionData, ...] = ()
    remove_option_ids: tuple[int, ...] = ()


# --- tallies and ranking ------------------------------------------------------------------------


@dataclass
class Tally:
    """One option with its counts and its place (1: the best)."""

    option: Any  # a DatePollOption row
    yes: int = 0
    if_need_be: int = 0
    no: int = 0
    voters: dict[int, DateChoice] = field(default_factory=dict)  # participant id → choice
    rank: int = 0


def ranked(options: Sequence[Any], votes: Sequence[Any]) -> list[Tally]:
    """The options, best first: most YES, then most IF_NEED_BE, then the earliest (then the
    shortest, then the oldest option). Each option appears once, each vote counts once."""
    tallies = {key_of(o): Tally(option=o) for o in options}
    for vote in votes:
        tally = tallies.get(vote.option_id)
        if tally is None or vote.participant_id in tally.voters:
            continue
        choice = DateChoice(vote.choice)
        tally.voters[vote.participant_id] = choice
        if choice is DateChoice.YES:
            tally.yes += 1
        elif choice is DateChoice.IF_NEED_BE:
            tally.if_need_be += 1
        else:
            tally.no += 1
    order = sorted(
        tallies.values(),
        key=lambda t: (-t.yes, -t.if_need_be, t.option.starts_at, t.option.ends_at, t.option.id),
    )
    for place, tally in enumerate(order, start=1):
        tally.rank = place
    return order


@dataclass(frozen=True)
class PollContent:
    """A poll as read for the API: the row, its options (by start) and its votes."""

    poll: Any
    options: list[Any]
    votes: list[Any]

    @cached_property
    def ranking(self) -> list[Tally]:
        return ranked(self.options, self.votes)

    @cached_property
    def tallies(self) -> dict[int, Tally]:
        return {key_of(t.option): t for t in self.ranking}

    @cached_property
    def voter_ids(self) -> set[int]:
        return {v.participant_id for v in self.votes}


# --- validation ---------------------------------------------------------------------------------


def _error(code: DatePollErrorCode, message: str, *path: str) -> DomainError:
    return DomainError(code, message, list(path))


def _aware(value: datetime | None) -> bool:
    return value is None or value.tzinfo is not None


def _checked_option(
    event: Event, data: OptionData, now: datetime, at: tuple[str, str]
) -> DatePollOption | DomainError:
    """One proposed time, or why not (at `at`, the option's path in the input)."""
    if not _aware(data.starts_at) or not _aware(data.ends_at):
        return _error(DatePollErrorCode.INVALID_DATES, "Give times with their UTC offset.", *at)
    if data.ends_at is not None and data.duration_minutes is not None:
        return _error(
            DatePollErrorCode.INVALID_INPUT,
            "Give an end or a duration, not both.",
            *at,
            "durationMinutes",
        )
    if data.duration_minutes is not None:
        if not 0 <= data.duration_minutes <= MAX_DURATION_MIN:
            return _error(
                DatePollErrorCode.INVALID_INPUT,
                f"A duration is 0 to {MAX_DURATION_MIN} minutes.",
                *at,
                "durationMinutes",
            )
        ends = data.starts_at + timedelta(minutes=data.duration_minutes)
    else:
        ends = data.ends_at or data.starts_at + (event.ends_at - event.starts_at)
    if ends < data.starts_at or ends - data.starts_at > timedelta(minutes=MAX_DURATION_MIN):
        return _error(
            DatePollErrorCode.INVALID_DATES,
            "An option ends after it starts, within 30 days.",
            *at,
            "endsAt",
        )
    if data.starts_at <= now:
        return _error(
            DatePollErrorCode.INVALID_DATES, "An option starts in the future.", *at, "startsAt"
        )
    return DatePollOption(poll_id=0, starts_at=data.starts_at, ends_at=ends)


def _checked_options(
    event: Event, options: Sequence[OptionData], now: datetime, path: str
) -> list[DatePollOption]:
    errors: list[DomainError] = []
    found: list[DatePollOption] = []
    seen: set[tuple[datetime, datetime]] = set()
    for n, data in enumerate(options):
        option = _checked_option(event, data, now, (path, str(n)))
        if isinstance(option, DomainError):
            errors.append(option)
        elif (option.starts_at, option.ends_at) in seen:
            errors.append(
                _error(
                    DatePollErrorCode.DUPLICATE_OPTION,
                    "This option is already proposed.",
                    path,
                    str(n),
                )
            )
        else:
            seen.add((option.starts_at, option.ends_at))
            found.append(option)
    if errors:
        raise DomainErrors(errors)
    return found


def _check_count(count: int, path: str) -> None:
    if count > MAX_OPTIONS:
        raise _error(
            DatePollErrorCode.TOO_MANY_OPTIONS, f"A poll has at most {MAX_OPTIONS} options.", path
        )
    if count < MIN_OPTIONS:
        raise _error(
            DatePollErrorCode.INVALID_INPUT, f"A poll has at least {MIN_OPTIONS} options.", path
        )


def _apply_settings(poll: DatePoll, settings: PollSettings, now: datetime) -> None:
    if settings.clear_deadline:
        poll.deadline = None
    elif settings.deadline is not None:
        if not _aware(settings.deadline):
            raise _error(
                DatePollErrorCode.INVALID_DATES,
                "Give the deadline with its UTC offset.",
                "deadline",
            )
        if settings.deadline <= now:
            raise _error(
                DatePollErrorCode.INVALID_DATES, "The deadline is in the future.", "deadline"
            )
        poll.deadline = settings.deadline
    if settings.hide_votes is not None:
        poll.hide_votes = settings.hide_votes
    if settings.allow_if_need_be is not None:
        poll.allow_if_need_be = settings.allow_if_need_be


def _is_open(poll: DatePoll, now: datetime) -> bool:
    return poll.status == DatePollStatus.OPEN.value and (
        poll.deadline is None or poll.deadline > now
    )


def _check_open(poll: DatePoll, now: datetime) -> None:
    if not _is_open(poll, now):
        raise _error(DatePollErrorCode.POLL_CLOSED, "This poll is closed.")


def _check_version(poll: DatePoll, expected: int | None) -> None:
    if expected is not None and expected != poll.version:
        raise _error(
            DatePollErrorCode.STALE,
            "The poll changed since you read it; reload it.",
            "expectedVersion",
        )


# --- live changes -------------------------------------------------------------------------------


def channel(event_id: int) -> str:
    return key("date-poll", event_id)


async def _announce(deps: Deps, event_id: int, poll_id: int) -> None:
    """After the commit: open `datePollChanged` streams read the poll again (a lost publish
    is logged; the change is stored, and the next one or a reconnect shows it)."""
    try:
        await deps.broadcast.publish(channel(event_id), {"poll": poll_id})
    except RedisError:
        log.warning("date poll change not published", extra={"event_id": event_id})


# --- use cases ----------------------------------------------------------------------------------


async def _poll_for(
    db: Any, viewer: Viewer, poll_id: int, minimum: ParticipantRole
) -> tuple[DatePoll, Event]:
    """The poll (locked after its event, the order of every event write) and its event; a poll
    the viewer does not see is NOT_FOUND, one they may not change FORBIDDEN."""
    found = (await store.polls_by_ids(db, [poll_id])) if poll_id else []
    if not found:
        raise NotFound(HIDDEN)
    event, me = await member_or_hidden(db, found[0].event_id, viewer, hidden=HIDDEN)
    require(me, minimum)
    poll = await store.lock_poll(db, poll_id)
    if poll is None:
        raise NotFound(HIDDEN)
    return poll, event


async def create_date_poll(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    options: Sequence[OptionData],
    settings: PollSettings,
    client_mutation_id: str | None = None,
) -> DatePoll:
    now = deps.clock()

    async def create(remember: idempotency.Remember) -> DatePoll:
        async with deps.db.unit_of_work() as db:
            event, me = await member_or_hidden(db, event_id, viewer)
            require(me, ParticipantRole.ORGANIZER)
            not_cancelled(event)
            _check_count(len(options), "options")
            rows = _checked_options(event, options, now, "options")
            if await store.poll_of_event(db, event_id) is not None:
                raise _error(
                    DatePollErrorCode.POLL_EXISTS,
                    "This event already has a date poll: change it, reopen it or delete it.",
                )
            poll = DatePoll(event_id=event_id, created_by_user_id=viewer.user_id, created_at=now)
            _apply_settings(poll, settings, now)
            await store.add_poll(db, poll, rows)
            record_event(
                db, "date_poll.opened", event_id, viewer.user_id, key_of(poll), title=event.title
            )
            await remember(db, key_of(poll))
        await _announce(deps, event_id, key_of(poll))
        return poll

    async def load(ids: list[int]) -> DatePoll | None:
        async with deps.db.reader() as db:
            found = await store.polls_by_ids(db, ids[:1])
        if not found:
            return None
        async with deps.db.reader() as db:
            mine = await events_store.memberships(db, viewer.user_id, [found[0].event_id])
        return found[0] if mine else None

    return await idempotency.once(
        deps,
        viewer.user_id,
        "createDatePoll",
        client_mutation_id,
        [event_id, list(options), settings],
        create,
        load,
    )


async def update_date_poll(
    deps: Deps, viewer: Viewer, poll_id: int, changes: PollChanges, expected_version: int | None
) -> DatePoll:
    now = deps.clock()
    async with deps.db.unit_of_work() as db:
        poll, event = await _poll_for(db, viewer, poll_id, ParticipantRole.ORGANIZER)
        not_cancelled(event)
        _check_version(poll, expected_version)
        _check_open(poll, now)
        current = await store.options_of(db, [poll_id])
        known = {o.id for o in current}
        removed = list(dict.fromkeys(changes.remove_option_ids))
        for n, option_id in enumerate(removed):
            if option_id not in known:
                raise _error(
                    DatePollErrorCode.OPTION_NOT_FOUND,
                    "No such option in this poll.",
                    "removeOptionIds",
                    str(n),
                )
        added = _checked_options(event, changes.add_options, now, "addOptions")
        kept = {(o.starts_at, o.ends_at) for o in current if o.id not in removed}
        for n, option in enumerate(added):
            if (option.starts_at, option.ends_at) in kept:
                raise _error(
                    DatePollErrorCode.DUPLICATE_OPTION,
                    "This option is already proposed.",
                    "addOptions",
                    str(n),
                )
        _check_count(len(kept) + len(added), "addOptions" if added else "removeOptionIds")
        _apply_settings(poll, changes.settings, now)
        if removed:
            await store.remove_options(db, poll, removed)
        if added:
            await store.add_options(db, poll, added)
        await store.save_poll(db, poll)
    await _announce(deps, poll.event_id, poll_id)
    return poll


async def vote(
    deps: Deps, viewer: Viewer, poll_id: int, ballot: Sequence[tuple[int, DateChoice]]
) -> DatePoll:
    """Sets the viewer's choice on each option of the ballot (other options keep theirs)."""
    now = deps.clock()
    if not ballot:
        raise _error(DatePollErrorCode.REQUIRED, "Vote on at least one option.", "votes")
    if len(ballot) > MAX_VOTES:
        raise _error(
            DatePollErrorCode.INVALID_INPUT, f"At most {MAX_VOTES} options at once.", "votes"
        )
    await rate_limit(deps, "poll-vote", str(viewer.user_id), deps.settings.rate_poll_vote)
    async with deps.db.unit_of_work() as db:
        poll, event = await _poll_for(db, viewer, poll_id, ParticipantRole.PARTICIPANT)
        not_cancelled(event)
        _check_open(poll, now)
        known = {o.id for o in await store.options_of(db, [poll_id])}
        choices: dict[int, DateChoice] = {}
        errors: list[DomainError] = []
        for n, (option_id, choice) in enumerate(ballot):
            at = ("votes", str(n), "optionId")
            if option_id not in known:
                errors.append(
                    _error(DatePollErrorCode.OPTION_NOT_FOUND, "No such option in this poll.", *at)
                )
            elif option_id in choices:
                errors.append(
                    _error(DatePollErrorCode.INVALID_INPUT, "One choice per option.", *at)
                )
            elif choice is DateChoice.IF_NEED_BE and not poll.allow_if_need_be:
                errors.append(
                    _error(
                        DatePollErrorCode.IF_NEED_BE_NOT_ALLOWED,
                        "This poll takes YES or NO only.",
                        "votes",
                        str(n),
                        "choice",
                    )
                )
            else:
                choices[option_id] = choice
        if errors:
            raise DomainErrors(errors)
        me = await events_store.participant_for_user(db, poll.event_id, viewer.user_id)
        assert me is not None  # _poll_for: an active participant
        await store.set_votes(db, poll, key_of(me), choices)
    await _announce(deps, poll.event_id, poll_id)
    return poll


async def _close(
    deps: Deps, db: Any, poll: DatePoll, event: Event, option_id: int | None, actor: int | None
) -> None:
    options = await store.options_of(db, [key_of(poll)])
    if option_id is None:
        chosen = ranked(options, await store.votes_of(db, [key_of(poll)]))[0].option
    else:
        chosen = next((o for o in options if o.id == option_id), None)
        if chosen is None:
            raise _error(
                DatePollErrorCode.OPTION_NOT_FOUND, "No such option in this poll.", "optionId"
            )
    before = (event.starts_at, event.ends_at)
    event.starts_at, event.ends_at = chosen.starts_at, chosen.ends_at
    await events_store.save_event(db, event)  # a new version: the ICS SEQUENCE goes up
    poll.status = DatePollStatus.CLOSED.value
    poll.chosen_option_id = chosen.id
    poll.closed_at = deps.clock()
    await store.save_poll(db, poll)
    record_event(
        db,
        "event.date_chosen",
        key_of(event),
        actor,
        key_of(poll),
        title=event.title,
        starts_at=chosen.starts_at.isoformat(),
        ends_at=chosen.ends_at.isoformat(),
        moved=before != (chosen.starts_at, chosen.ends_at),
    )


async def close_date_poll(
    deps: Deps,
    viewer: Viewer,
    poll_id: int,
    option_id: int | None,
    expected_version: int | None,
) -> DatePoll:
    """Closes the poll with `option_id` (None: the best one) and moves the event there."""
    async with deps.db.unit_of_work() as db:
        poll, event = await _poll_for(db, viewer, poll_id, ParticipantRole.ORGANIZER)
        not_cancelled(event)
        _check_version(poll, expected_version)
        if poll.status != DatePollStatus.OPEN.value:
            raise _error(DatePollErrorCode.POLL_CLOSED, "This poll is closed already.")
        await _close(deps, db, poll, event, option_id, viewer.user_id)
    await event_changed(deps, poll.event_id)
    await _announce(deps, poll.event_id, poll_id)
    return poll


async def reopen_date_poll(
    deps: Deps,
    viewer: Viewer,
    poll_id: int,
    settings: PollSettings,
    expected_version: int | None,
) -> DatePoll:
    """Opens a closed poll again (votes kept), until the event starts. A deadline that has
    passed is dropped unless a new one is given."""
    now = deps.clock()
    async with deps.db.unit_of_work() as db:
        poll, event = await _poll_for(db, viewer, poll_id, ParticipantRole.ORGANIZER)
        not_cancelled(event)
        _check_version(poll, expected_version)
        if poll.status == DatePollStatus.OPEN.value:
            raise _error(DatePollErrorCode.POLL_OPEN, "This poll is open already.")
        if event.starts_at <= now:
            raise _error(
                DatePollErrorCode.EVENT_STARTED, "The event has started: its date is settled."
            )
        if poll.deadline is not None and poll.deadline <= now and not settings.deadline:
            poll.deadline = None
        _apply_settings(poll, settings, now)
        poll.status = DatePollStatus.OPEN.value
        poll.chosen_option_id = None
        poll.closed_at = None
        await store.save_poll(db, poll)
        record_event(
            db,
            "date_poll.opened",
            poll.event_id,
            viewer.user_id,
            poll_id,
            title=event.title,
            reopened=True,
        )
    await _announce(deps, poll.event_id, poll_id)
    return poll


async def delete_date_poll(deps: Deps, viewer: Viewer, poll_id: int) -> int:
    """Deletes the poll with its options and votes (the event's date stays as it is)."""
    async with deps.db.unit_of_work() as db:
        poll, _ = await _poll_for(db, viewer, poll_id, ParticipantRole.ORGANIZER)
        await store.delete_poll(db, poll)
    await _announce(deps, poll.event_id, poll_id)
    return poll_id


# --- scheduled work (the dispatcher's jobs) -----------------------------------------------------


async def close_due(deps: Deps, limit: int = 100) -> int:
    """Closes, with their best option, the open polls whose deadline has passed: each in its
    own transaction, after locking its event (the order of every event write); a poll closed
    or moved meanwhile is left alone."""
    now = deps.clock()
    async with deps.db.reader() as db:
        due = [(p.id, p.event_id) for p in await store.due_polls(db, now, False, limit)]
    closed = 0
    for poll_id, event_id in due:
        async with deps.db.unit_of_work() as db:
            event = await events_store.lock_event(db, event_id)
            poll = await store.lock_poll(db, poll_id or 0)
            if event is None or poll is None or poll.status != DatePollStatus.OPEN.value:
                continue
            if poll.deadline is None or poll.deadline > now:
                continue
            if event.status != EventStatus.ACTIVE.value:
                poll.status = DatePollStatus.CLOSED.value
                poll.closed_at = now
                await store.save_poll(db, poll)
                continue
            await _close(deps, db, poll, event, None, None)
        await event_changed(deps, event_id)
        await _announce(deps, event_id, poll_id or 0)
        closed += 1
    return closed


async def remind_non_voters(deps: Deps) -> int:
    """Records a `date_poll.reminder` for each open poll whose deadline is within 24 h (once
    per deadline, in the transaction that marks it), naming who has not voted yet."""
    now = deps.clock()
    async with deps.db.unit_of_work() as db:
        due = await store.claim_poll_reminders(
            db, now, now + REMIND_AHEAD, deps.db.dialect != "sqlite"
        )
        for poll in due:
            voted = await store.voter_ids(db, key_of(poll))
            people = await events_store.participants_of_events(db, [poll.event_id])
            waiting = [
                p.user_id
                for p in people
                if p.state == ParticipantState.ACTIVE.value
                and p.user_id is not None
                and p.id not in voted
            ]
            if waiting:
                record_event(
                    db,
                    "date_poll.reminder",
                    poll.event_id,
                    None,
                    key_of(poll),
                    user_ids=waiting,
                    deadline=poll.deadline.isoformat() if poll.deadline else None,
                )
    return len(due)


# --- the live stream ----------------------------------------------------------------------------


async def _member(deps: Deps, viewer: Viewer, event_id: int) -> bool:
    async with deps.db.reader() as db:
        return bool(await events_store.memberships(db, viewer.user_id, [event_id]))


async def changes(deps: Deps, viewer: Viewer, event_id: int) -> AsyncIterator[None]:
    """Yields once when the stream starts and after each change of the event's date poll
    (changes that came together once), for an active participant: the caller reads the poll
    then. An event the viewer is not in is NOT_FOUND; losing membership ends the stream with
    FORBIDDEN; a revoked session or an expired token ends it."""
    async with (
        deps.broadcast.subscribe(channel(event_id)) as queue,
        deps.broadcast.subscribe(REVOKED_CHANNEL) as revoked,
    ):
        if not await guard(deps).is_active(viewer):
            return
        if not await _member(deps, viewer, event_id):
            raise NotFound("Event not found.")
        yield None
        while await _next_change(viewer, queue, revoked):
            if not await _member(deps, viewer, event_id):
                raise Forbidden("You no longer take part in this event.")
            yield None


async def _next_change(
    viewer: Viewer, queue: asyncio.Queue[Any], revoked: asyncio.Queue[Any]
) -> bool:
    """Waits for the next change (True; what came meanwhile counts as one), or the end of the
    viewer's session or token (False)."""
    while True:
        left = (viewer.expires_at - utcnow()).total_seconds()
        if left <= 0:
            return False
        getter = asyncio.ensure_future(queue.get())
        stopper = asyncio.ensure_future(revoked.get())
        try:
            done, _ = await asyncio.wait(
                {getter, stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
        finally:  # cancelled with the stream too: nothing left pending
            for task in (getter, stopper):
                if not task.done():
                    task.cancel()
        if stopper in done and viewer.session_id in stopper.result().get("sids", []):
            return False
        if getter in done:
            while not queue.empty():
                queue.get_nowait()
            return True


# --- reads --------------------------------------------------------------------------------------


async def polls_of(deps: Deps, event_ids: Sequence[int]) -> list[PollContent | None]:
    """Each event's poll with its options and votes, through the per-process event content
    cache (callers check membership)."""

    async def fetch(ids: list[int]) -> dict[int, PollContent | None]:
        async with deps.db.reader() as db:
            polls = await store.polls_of_events(db, ids)
            poll_ids = [key_of(p) for p in polls]
            options = await store.options_of(db, poll_ids)
            votes = await store.votes_of(db, poll_ids)
        found: dict[int, PollContent | None] = dict.fromkeys(ids)
        for poll in polls:
            found[poll.event_id] = PollContent(
                poll=poll,
                options=[o for o in options if o.poll_id == poll.id],
                votes=[v for v in votes if v.poll_id == poll.id],
            )
        return found

    return list(await event_content.cache(deps, "date_polls").load(list(event_ids), fetch))


class DatePollLoaders(LoaderBase):
    @cached_property
    def date_poll_by_event(self) -> DataLoader[int, PollContent | None]:
        return self.batched(polls_of)
