"""Event use cases: create/update/cancel/delete, membership (RSVP, leave, roles, ownership).

Who may do what (outsiders get NOT_FOUND, as for a random id; an UNLISTED event opens its
public fields to outsiders only through its share token, see `event_by_share_token`):
participant — see, RSVP, leave; organizer — edit/cancel the event, remove participants;
owner — change roles, transfer ownership, delete the event.
"""

from __future__ import annotations

import asyncio
import functools
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property, partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.exc import IntegrityError

from resolvers import money
from resolvers.accounts import is_admin
from resolvers.core import idempotency
from resolvers.core.background import after_commit
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.text import checked_line, checked_text, checked_title
from resolvers.projections import record_event
from stores import accounts as account_store
from stores import events as store
from stores import expenses as expense_store
from stores.db import key_of, retry_transaction, rows_by_ids, utcnow
from stores.events import (
    Event,
    EventStatus,
    InviteLink,
    Participant,
    ParticipantRole,
    ParticipantState,
    Rsvp,
    Visibility,
)
from stores.projections import ActivityEntry, activity_page

RANK = {ParticipantRole.PARTICIPANT: 1, ParticipantRole.ORGANIZER: 2, ParticipantRole.OWNER: 3}
TITLE_MAX = 200
DESCRIPTION_MAX = 5000
CAPACITY_MAX = 100_000


class EventErrorCode(StrEnum):
    """What event and participant mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_DATES = "INVALID_DATES"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    INVALID_LOCATION = "INVALID_LOCATION"
    INVALID_CAPACITY = "INVALID_CAPACITY"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    CAPACITY_BELOW_PARTICIPANTS = "CAPACITY_BELOW_PARTICIPANTS"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    EVENT_FULL = "EVENT_FULL"
    STALE = "STALE"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    OWNER_CANNOT_LEAVE = "OWNER_CANNOT_LEAVE"
    CANNOT_REMOVE_SELF = "CANNOT_REMOVE_SELF"
    PARTICIPANT_NOT_FOUND = "PARTICIPANT_NOT_FOUND"
    INVALID_ROLE = "INVALID_ROLE"
    INVALID_INVITE_LINK = "INVALID_INVITE_LINK"
    REMOVED_FROM_EVENT = "REMOVED_FROM_EVENT"
    CURRENCY_LOCKED = "CURRENCY_LOCKED"


def role_of(participant: Participant | None) -> ParticipantRole | None:
    if participant is None or not participant.is_active:
        return None
    return ParticipantRole(participant.role)


def has_role(participant: Participant | None, minimum: ParticipantRole) -> bool:
    role = role_of(participant)
    return role is not None and RANK[role] >= RANK[minimum]


# --- validation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationData:
    name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass
class EventData:
    title: str | None = None
    description: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    timezone: str | None = None
    location: LocationData | None = None
    clear_location: bool = False
    visibility: Visibility | None = None
    capacity: int | None = None
    clear_capacity: bool = False
    currency: str | None = None


def _coordinate(
    value: float | None, limit: int, field: str, errors: list[DomainError]
) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value)).quantize(Decimal("0.000001"))
    except InvalidOperation:
        number = Decimal(1000)
    if not -limit <= number <= limit:
        errors.append(
            DomainError(EventErrorCode.INVALID_LOCATION, f"Between -{limit} and {limit}.", field)
        )
        return None
    return number


def _apply(event: Event, data: EventData) -> None:
    """Validates `data` and copies it onto `event`; raises every problem at once."""
    errors: list[DomainError] = []
    if data.title is not None:
        event.title = checked_title(data.title, errors, max_len=TITLE_MAX)
    if data.description is not None:
        event.description = checked_text(
            data.description, errors, max_len=DESCRIPTION_MAX, field="description"
        )
    _apply_dates(event, data, errors)
    _apply_timezone(event, data.timezone, errors)
    _apply_location(event, data, errors)
    if data.visibility is not None:
        event.visibility = data.visibility.value
    _apply_capacity(event, data, errors)
    _apply_currency(event, data.currency, errors)
    if errors:
        for e in errors:  # nested input fields are reported as paths
            if e.field and len(e.field) == 1 and "." in e.field[0]:
                e.field = e.field[0].split(".")
        raise DomainErrors(errors)


def _apply_dates(event: Event, data: EventData, errors: list[DomainError]) -> None:
    # A naive time is refused rather than guessed; the order check then runs on whatever the
    # event ends up with, so changing only one end is checked against the stored other.
    for name, value in (("startsAt", data.starts_at), ("endsAt", data.ends_at)):
        if value is not None and value.tzinfo is None:
            errors.append(
                DomainError(
                    EventErrorCode.INVALID_DATES, "Give the time with its UTC offset.", name
                )
            )
    if data.starts_at is not None and data.starts_at.tzinfo is not None:
        event.starts_at = data.starts_at
    if data.ends_at is not None and data.ends_at.tzinfo is not None:
        event.ends_at = data.ends_at
    if (
        getattr(event, "starts_at", None)
        and getattr(event, "ends_at", None)
        and event.ends_at < event.starts_at
    ):
        errors.append(
            DomainError(
                EventErrorCode.INVALID_DATES, "The event must end after it starts.", "endsAt"
            )
        )


def _apply_timezone(event: Event, timezone: str | None, errors: list[DomainError]) -> None:
    if timezone is None:
        return
    try:
        zoneinfo.ZoneInfo(timezone)
        event.timezone = timezone
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(
            DomainError(EventErrorCode.INVALID_TIMEZONE, "Use an IANA time zone.", "timezone")
        )


def _apply_location(event: Event, data: EventData, errors: list[DomainError]) -> None:
    if data.clear_location:
        event.location_name = event.location_address = None
        event.latitude = event.longitude = None
        return
    if data.location is None:
        return
    loc = data.location
    _check_location(loc, errors)
    event.location_name = loc.name.strip() if loc.name else None
    event.location_address = loc.address.strip() if loc.address else None
    event.latitude = _coordinate(loc.latitude, 90, "location.latitude", errors)
    event.longitude = _coordinate(loc.longitude, 180, "location.longitude", errors)


def _check_location(loc: LocationData, errors: list[DomainError]) -> None:
    """Lengths and the latitude/longitude pair; the coordinates' ranges are `_coordinate`'s."""
    if loc.name is not None and len(loc.name) > 200:
        errors.append(
            DomainError(
                EventErrorCode.VALUE_TOO_LONG, "At most 200 characters.", ["location", "name"]
            )
        )
    if loc.address is not None and len(loc.address) > 500:
        errors.append(
            DomainError(
                EventErrorCode.VALUE_TOO_LONG,
                "At most 500 characters.",
                ["location", "address"],
            )
        )
    for part, value in (("name", loc.name), ("address", loc.address)):
        if value is not None and (error := checked_line(value, ["location", part])):
            errors.append(error)
    if (loc.latitude is None) != (loc.longitude is None):
        errors.append(
            DomainError(
                EventErrorCode.INVALID_LOCATION,
                "Give both latitude and longitude.",
                ["location", "latitude"],
            )
        )


def _apply_capacity(event: Event, data: EventData, errors: list[DomainError]) -> None:
    if data.clear_capacity:
        event.capacity = None
    elif data.capacity is not None:
        if not 1 <= data.capacity <= CAPACITY_MAX:
            errors.append(
                DomainError(
                    EventErrorCode.INVALID_CAPACITY, f"Between 1 and {CAPACITY_MAX}.", "capacity"
                )
            )
        event.capacity = data.capacity


def _apply_currency(event: Event, currency: str | None, errors: list[DomainError]) -> None:
    if currency is None:
        return
    code = currency.strip().upper()
    if not money.is_supported_currency(code):
        errors.append(
            DomainError(EventErrorCode.INVALID_CURRENCY, "Unsupported currency code.", "currency")
        )
    event.currency = code


# --- access ------------------------------------------------------------------------------------


EVENT_CACHE = "event"
PARTICIPANTS_CACHE = "event-participants"


async def access(
    deps: Deps, viewer: Viewer | None, event_ids: Sequence[int]
) -> list[tuple[Event, Participant | None] | None]:
    """Batch function: each event the viewer takes part in, with their membership (None for
    any other event, UNLISTED ones included: event ids are sequential, so an outsider reaches
    an UNLISTED event only through its share token, see `event_by_share_token`).

    Membership is always read from MySQL; the event rows of a member's events come from the
    Redis read cache."""
    ids = list(dict.fromkeys(event_ids))
    if viewer is None or not ids:
        return [None for _ in event_ids]
    async with deps.db.reader() as db:
        mine = await store.memberships(db, viewer.user_id, ids)
        member_of = {p.event_id: p for p in mine}
        rows = await cached_events(deps, db, [i for i in ids if i in member_of])
    found: dict[int, tuple[Event, Participant | None]] = {
        e.id: (e, member_of[e.id]) for e in rows if e.id is not None
    }
    return [found.get(i) for i in event_ids]


async def rows_in_my_events(
    deps: Deps,
    viewer: Viewer,
    model: Any,
    ids: Sequence[int],
    minimum: ParticipantRole = ParticipantRole.PARTICIPANT,
) -> list[Any]:
    """Rows (with an `event_id`) by id, kept only where the viewer takes part in their event
    with at least `minimum`: what a retried create answers (resolvers/core/idempotency.py)."""
    async with deps.db.reader() as db:
        found = await rows_by_ids(db, model, ids)
    seen = await access(deps, viewer, [r.event_id for r in found])
    return [r for r, a in zip(found, seen, strict=True) if a and has_role(a[1], minimum)]


def one_in_my_events(
    deps: Deps,
    viewer: Viewer,
    model: Any,
    minimum: ParticipantRole = ParticipantRole.PARTICIPANT,
) -> Callable[[list[int]], Awaitable[Any]]:
    """The `load` of a retried create of one row: that row, if the viewer still sees it."""

    async def load(ids: list[int]) -> Any:
        found = await rows_in_my_events(deps, viewer, model, ids[:1], minimum)
        return found[0] if found else None

    return load


async def visible_user_ids(deps: Deps, viewer: Viewer | None, user_ids: Sequence[int]) -> set[int]:
    """Which of these users the viewer may look up by id (`node`/`nodes` on User): themself
    and the people they take part in an event with; admins everyone; anonymous nobody.
    Elsewhere a user is only shown next to something the viewer may see (a participant, an
    author, an invitation), so an id alone never lists accounts."""
    wanted = {u for u in user_ids if u}
    if viewer is None or not wanted:
        return set()
    if await is_admin(deps, viewer):
        return wanted
    others = sorted(wanted - {viewer.user_id})
    async with deps.db.reader() as db:
        fellows = await store.users_sharing_an_event(db, viewer.user_id, others)
    return fellows | (wanted & {viewer.user_id})


SHARE_TOKEN_MAX = 64


def _share_token(token: str) -> str | None:
    """The token as looked up, or None when it cannot be one (empty, or too long)."""
    token = token.strip()
    return token if token and len(token) <= SHARE_TOKEN_MAX else None


def _token_opens(event: Event, me: Participant | None) -> bool:
    """What a share token opens: any event to its members; to anyone else (anonymous
    included), an UNLISTED one only (its public fields)."""
    return role_of(me) is not None or event.visibility == Visibility.UNLISTED.value


async def event_by_share_token(
    deps: Deps, viewer: Viewer | None, token: str
) -> tuple[Event, Participant | None] | None:
    """The event a share token opens (`_token_opens`), with the viewer's participation; None
    for anything else."""
    key = _share_token(token)
    if key is None:
        return None
    async with deps.db.reader() as db:
        event = await store.event_by_share_token(db, key)
        if event is None or event.id is None:
            return None
        me = await store.participant_for_user(db, event.id, viewer.user_id) if viewer else None
    if not _token_opens(event, me):
        return None
    return event, me if role_of(me) is not None else None


async def locked_by_share_token(
    db: Any, token: str, viewer: Viewer
) -> tuple[Event, Participant | None]:
    """Like `member_or_hidden`, for the event a share token opens (`_token_opens`)."""
    key = _share_token(token)
    event = await store.event_by_share_token(db, key, for_update=True) if key else None
    if event is None or event.id is None:
        raise NotFound("Event not found.")
    me = await store.participant_for_user(db, event.id, viewer.user_id, for_update=True)
    if not _token_opens(event, me):
        raise NotFound("Event not found.")
    return event, me


async def cached_events(deps: Deps, db: Any, ids: list[int]) -> list[Event]:
    cached = await deps.read_cache.get_many(EVENT_CACHE, ids)
    rows = [store.from_cached(Event, c) for c in cached if c is not None]
    missing = [i for i, c in zip(ids, cached, strict=True) if c is None]
    if missing:
        fresh = await store.events_by_ids(db, missing)
        await deps.read_cache.set_many(EVENT_CACHE, {e.id: store.to_cached(e) for e in fresh})
        rows += fresh
    return rows


async def event_changed(deps: Deps, event_id: int, *, participants: bool = False) -> None:
    """After a commit: drop the cached copies now, and again shortly after, in case a reader
    that read the old rows before the commit stores them after this first delete."""
    areas = [EVENT_CACHE, PARTICIPANTS_CACHE] if participants else [EVENT_CACHE]

    async def drop() -> None:
        for area in areas:
            await deps.read_cache.delete(area, event_id)

    await drop()

    async def later() -> None:
        await asyncio.sleep(0.5)
        await drop()

    after_commit(later())


P = ParamSpec("P")
R = TypeVar("R")


def invalidates(
    *, participants: bool
) -> Callable[
    [Callable[Concatenate[Deps, Viewer, int, P], Awaitable[R]]],
    Callable[Concatenate[Deps, Viewer, int, P], Awaitable[R]],
]:
    """For use cases `(deps, viewer, event_id, ...)`: after success, drop the cached copies."""

    def wrap(
        fn: Callable[Concatenate[Deps, Viewer, int, P], Awaitable[R]],
    ) -> Callable[Concatenate[Deps, Viewer, int, P], Awaitable[R]]:
        @functools.wraps(fn)
        async def run(
            deps: Deps, viewer: Viewer, event_id: int, /, *args: P.args, **kwargs: P.kwargs
        ) -> R:
            result = await fn(deps, viewer, event_id, *args, **kwargs)
            await event_changed(deps, event_id, participants=participants)
            return result

        return run

    return wrap


async def member_or_hidden(
    db: Any, event_id: int, viewer: Viewer, *, hidden: str = "Event not found."
) -> tuple[Event, Participant | None]:
    """Locks the event row: membership changes of one event are serialised. An event the
    viewer does not take part in raises NOT_FOUND with `hidden`, the message a missing object
    of the requested kind gets, so that nothing tells an existing object from a random id
    (UNLISTED events included: their sequential id is no secret, their share token is).
    The returned membership is therefore an active one."""
    event = await store.lock_event(db, event_id)
    if event is None:
        raise NotFound(hidden)
    me = await store.participant_for_user(db, event_id, viewer.user_id, for_update=True)
    if role_of(me) is None:
        raise NotFound(hidden)
    return event, me


def require(participant: Participant | None, minimum: ParticipantRole) -> Participant:
    if not has_role(participant, minimum):
        raise Forbidden()
    assert participant is not None
    return participant


def not_cancelled(event: Event) -> None:
    if event.status == EventStatus.CANCELLED.value:
        raise DomainError(EventErrorCode.EVENT_CANCELLED, "This event is cancelled.")


def _check_version(event: Event, expected: int | None) -> None:
    if expected is not None and expected != event.version:
        raise DomainError(
            EventErrorCode.STALE,
            "The event changed since you read it; reload it.",
            "expectedVersion",
        )


async def _display_name(db: Any, user_id: int) -> str:
    user = await account_store.user_by_id(db, user_id)
    if user is None:
        raise NotFound("User not found.")
    return f"{user.first_name} {user.last_name}".strip()[:161]


# --- events ------------------------------------------------------------------------------------


async def create_event(
    deps: Deps, viewer: Viewer, data: EventData, client_mutation_id: str | None = None
) -> Event:
    missing = [
        f
        for f, v in (
            ("title", data.title),
            ("startsAt", data.starts_at),
            ("endsAt", data.ends_at),
            ("currency", data.currency),
        )
        if v is None
    ]
    if missing:
        raise DomainErrors([DomainError(EventErrorCode.REQUIRED, "Required.", f) for f in missing])
    event = Event(title="", starts_at=utcnow(), ends_at=utcnow(), timezone="UTC", currency="EUR")
    _apply(event, data)

    async def create(remember: idempotency.Remember) -> Event:
        async with deps.db.unit_of_work() as db:
            fresh = await store.add_event(db, event)
            assert fresh.id is not None
            owner = Participant(
                event_id=fresh.id,
                user_id=viewer.user_id,
                display_name=await _display_name(db, viewer.user_id),
            )
            owner.set_role(ParticipantRole.OWNER)
            await store.add_participant(db, owner)
            record_event(db, "event.created", fresh.id, viewer.user_id, title=fresh.title)
            await remember(db, fresh.id)
        return fresh

    async def load(ids: list[int]) -> Event | None:
        found = (await access(deps, viewer, ids[:1]))[0]
        return found[0] if found else None

    return await idempotency.once(
        deps, viewer.user_id, "createEvent", client_mutation_id, [data], create, load
    )


@invalidates(participants=False)
async def update_event(
    deps: Deps, viewer: Viewer, event_id: int, data: EventData, expected_version: int | None
) -> Event:
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        require(me, ParticipantRole.ORGANIZER)
        _check_version(event, expected_version)
        previous_currency = event.currency
        before = _tracked(event)
        _apply(event, data)
        if event.currency != previous_currency and await expense_store.has_money(db, event_id):
            raise DomainError(
                EventErrorCode.CURRENCY_LOCKED,
                "The currency cannot change once expenses or settlements are recorded.",
                "currency",
            )
        if event.capacity is not None and event.capacity < await store.active_count(db, event_id):
            raise DomainError(
                EventErrorCode.CAPACITY_BELOW_PARTICIPANTS,
                "The event already has more participants than that.",
                "capacity",
            )
        changed = sorted(k for k, v in _tracked(event).items() if before[k] != v)
        if changed:
            record_event(
                db, "event.updated", event_id, viewer.user_id, changed=changed, title=event.title
            )
        return await store.save_event(db, event)


@invalidates(participants=False)
async def cancel_event(
    deps: Deps, viewer: Viewer, event_id: int, expected_version: int | None
) -> Event:
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        require(me, ParticipantRole.ORGANIZER)
        _check_version(event, expected_version)
        not_cancelled(event)
        event.status = EventStatus.CANCELLED.value
        record_event(db, "event.cancelled", event_id, viewer.user_id, title=event.title)
        return await store.save_event(db, event)


@invalidates(participants=True)
async def delete_event(deps: Deps, viewer: Viewer, event_id: int) -> None:
    async with deps.db.unit_of_work() as db:
        _, me = await member_or_hidden(db, event_id, viewer)
        require(me, ParticipantRole.OWNER)
        await store.delete_event(db, event_id)
        record_event(db, "event.deleted", event_id, viewer.user_id)


# --- membership --------------------------------------------------------------------------------


@invalidates(participants=True)
async def set_rsvp(deps: Deps, viewer: Viewer, event_id: int, rsvp: Rsvp) -> Participant:
    async with deps.db.unit_of_work() as db:
        event, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.PARTICIPANT)
        not_cancelled(event)
        mine.rsvp = rsvp.value
        return await store.save_participant(db, mine)


@invalidates(participants=True)
async def leave_event(deps: Deps, viewer: Viewer, event_id: int) -> Participant:
    async with deps.db.unit_of_work() as db:
        _, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.PARTICIPANT)
        if role_of(mine) is ParticipantRole.OWNER:
            raise DomainError(
                EventErrorCode.OWNER_CANNOT_LEAVE,
                "Transfer the ownership to someone else before leaving.",
            )
        _end_membership(mine, ParticipantState.LEFT)
        record_event(
            db,
            "participant.left",
            event_id,
            viewer.user_id,
            mine.id,
            user_id=mine.user_id,
            name=mine.display_name,
        )
        return await store.save_participant(db, mine)


def _tracked(event: Event) -> dict[str, Any]:
    """The fields whose change is worth telling participants (activity, notifications)."""
    return {
        "title": event.title,
        "description": event.description,
        "startsAt": event.starts_at,
        "endsAt": event.ends_at,
        "location": (event.location_name, event.location_address, event.latitude, event.longitude),
        "capacity": event.capacity,
        "visibility": event.visibility,
        "currency": event.currency,
    }


def _end_membership(participant: Participant, state: ParticipantState) -> None:
    participant.state = state.value
    participant.left_at = utcnow()
    participant.set_role(ParticipantRole.PARTICIPANT)


async def _target(db: Any, event_id: int, participant_id: int) -> Participant:
    target = await store.participant_by_id(db, participant_id, for_update=True)
    if target is None or target.event_id != event_id or not target.is_active:
        raise DomainError(
            EventErrorCode.PARTICIPANT_NOT_FOUND,
            "No active participant with this id.",
            "participantId",
        )
    return target


@invalidates(participants=True)
async def remove_participant(
    deps: Deps, viewer: Viewer, event_id: int, participant_id: int
) -> Participant:
    async with deps.db.unit_of_work() as db:
        _, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.ORGANIZER)
        target = await _target(db, event_id, participant_id)
        if target.id == mine.id:
            raise DomainError(
                EventErrorCode.CANNOT_REMOVE_SELF, "Use leaveEvent to leave.", "participantId"
            )
        if RANK[ParticipantRole(target.role)] >= RANK[ParticipantRole(mine.role)]:
            raise Forbidden("Only the owner can remove organizers.")
        _end_membership(target, ParticipantState.REMOVED)
        record_event(
            db,
            "participant.removed",
            event_id,
            viewer.user_id,
            target.id,
            user_id=target.user_id,
            name=target.display_name,
        )
        return await store.save_participant(db, target)


@invalidates(participants=True)
async def update_participant_role(
    deps: Deps, viewer: Viewer, event_id: int, participant_id: int, role: ParticipantRole
) -> Participant:
    if role is ParticipantRole.OWNER:
        raise DomainError(
            EventErrorCode.INVALID_ROLE, "Use transferOwnership to change the owner.", "role"
        )
    async with deps.db.unit_of_work() as db:
        _, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.OWNER)
        target = await _target(db, event_id, participant_id)
        if target.id == mine.id:
            raise DomainError(
                EventErrorCode.INVALID_ROLE,
                "Use transferOwnership to change the owner.",
                "participantId",
            )
        previous = target.role
        target.set_role(role)
        if previous != role.value:
            record_event(
                db,
                "participant.role_changed",
                event_id,
                viewer.user_id,
                target.id,
                user_id=target.user_id,
                name=target.display_name,
                role=role.value,
                previous_role=previous,
            )
        return await store.save_participant(db, target)


@invalidates(participants=True)
async def transfer_ownership(
    deps: Deps, viewer: Viewer, event_id: int, participant_id: int
) -> tuple[Participant, Participant]:
    """The new owner and the previous one (now an organizer), in one transaction."""
    async with deps.db.unit_of_work() as db:
        _, me = await member_or_hidden(db, event_id, viewer)
        mine = require(me, ParticipantRole.OWNER)
        target = await _target(db, event_id, participant_id)
        if target.id == mine.id:
            raise DomainError(
                EventErrorCode.INVALID_ROLE, "You already own this event.", "participantId"
            )
        mine.set_role(ParticipantRole.ORGANIZER)
        await store.save_participant(db, mine)
        target.set_role(ParticipantRole.OWNER)
        try:
            await store.save_participant(db, target)
        except IntegrityError:  # the one-owner constraint: someone changed owners concurrently
            raise DomainError(
                EventErrorCode.STALE, "The ownership changed meanwhile; reload."
            ) from None
        record_event(
            db,
            "ownership.transferred",
            event_id,
            viewer.user_id,
            target.id,
            user_id=target.user_id,
            name=target.display_name,
            previous_owner_user_id=mine.user_id,
        )
        return target, mine


# --- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyEventsFilter:
    when: str = "UPCOMING"  # UPCOMING | PAST | ALL
    role: ParticipantRole | None = None
    status: EventStatus | None = None


async def my_events(
    deps: Deps, viewer: Viewer, flt: MyEventsFilter, limit: int, after: tuple[datetime, int] | None
) -> list[tuple[Event, Participant]]:
    now = utcnow()
    async with deps.db.reader() as db:
        return await store.my_events_page(
            db,
            viewer.user_id,
            limit=limit,
            after=after,
            starts_after=now if flt.when == "UPCOMING" else None,
            starts_before=now if flt.when == "PAST" else None,
            role=flt.role,
            status=flt.status,
            descending=flt.when == "PAST",
        )


async def participants_of(deps: Deps, event_ids: Sequence[int]) -> list[list[Participant]]:
    """Batch function: every participant per event (those who left too: history keeps their
    name), in join order, through the read cache. Relations of tasks and expenses are looked
    up here, so an event's children cost no extra statement. Callers check membership."""
    ids = list(event_ids)
    cached = await deps.read_cache.get_many(PARTICIPANTS_CACHE, ids)
    grouped: dict[int, list[Participant]] = {}
    for i, c in zip(ids, cached, strict=True):
        if c is not None:
            grouped[i] = [store.from_cached(Participant, p) for p in c]
    missing = [i for i in ids if i not in grouped]
    if missing:
        async with deps.db.reader() as db:
            rows = await store.participants_of_events(db, missing, active_only=False)
        fresh: dict[int, list[Participant]] = {i: [] for i in missing}
        for p in rows:
            fresh[p.event_id].append(p)
        await deps.read_cache.set_many(
            PARTICIPANTS_CACHE,
            {i: [store.to_cached(p) for p in members] for i, members in fresh.items()},
        )
        grouped.update(fresh)
    return [grouped[i] for i in ids]


async def participants_by_id(deps: Deps, ids: Sequence[int]) -> list[Participant | None]:
    async with deps.db.reader() as db:
        rows = await store.participants_by_ids(db, list(ids))
    by_id = {p.id: p for p in rows}
    return [by_id.get(i) for i in ids]


# --- invite links ------------------------------------------------------------------------------

LINK_MAX_USES = 10_000


async def create_invite_link(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    role: ParticipantRole,
    expires_at: datetime | None,
    max_uses: int | None,
    client_mutation_id: str | None = None,
) -> tuple[InviteLink, str]:
    """Organizers invite as PARTICIPANT; the owner may also hand out ORGANIZER links. With a
    clientMutationId the token is derived from it, so that a retry hands out the same one."""
    errors = []
    if role is ParticipantRole.OWNER:
        errors.append(DomainError(EventErrorCode.INVALID_ROLE, "Links cannot make owners.", "role"))
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        errors.append(
            DomainError(
                EventErrorCode.INVALID_DATES, "Give a future time with its UTC offset.", "expiresAt"
            )
        )
    if max_uses is not None and not 1 <= max_uses <= LINK_MAX_USES:
        errors.append(
            DomainError(EventErrorCode.INVALID_INPUT, f"Between 1 and {LINK_MAX_USES}.", "maxUses")
        )
    if errors:
        raise DomainErrors(errors)
    token = idempotency.secret(deps, viewer.user_id, client_mutation_id, "invite-link")

    async def create(remember: idempotency.Remember) -> tuple[InviteLink, str]:
        async with deps.db.unit_of_work() as db:
            event, me = await member_or_hidden(db, event_id, viewer)
            mine = require(me, ParticipantRole.ORGANIZER)
            if role is ParticipantRole.ORGANIZER:
                require(mine, ParticipantRole.OWNER)
            not_cancelled(event)
            try:
                link = await store.add_invite_link(
                    db,
                    InviteLink(
                        event_id=event_id,
                        token_hash=deps.tokens.keyed_hash(token),
                        role=role.value,
                        created_by_id=mine.id,
                        expires_at=expires_at,
                        max_uses=max_uses,
                    ),
                )
            except IntegrityError:
                if client_mutation_id is None:
                    raise
                raise idempotency.KeyTaken from None  # a twin's token: the same key's
            await remember(db, key_of(link))
        return link, token

    async def load(ids: list[int]) -> tuple[InviteLink, str] | None:
        found = await one_in_my_events(deps, viewer, InviteLink, ParticipantRole.ORGANIZER)(ids)
        return (found, token) if found else None

    return await idempotency.once(
        deps,
        viewer.user_id,
        "createInviteLink",
        client_mutation_id,
        [event_id, role, expires_at, max_uses],
        create,
        load,
    )


async def revoke_invite_link(deps: Deps, viewer: Viewer, link_id: int) -> InviteLink:
    async with deps.db.unit_of_work() as db:
        link = await store.invite_link_by_id(db, link_id)
        if link is None:
            raise NotFound("Invite link not found.")
        _, me = await member_or_hidden(db, link.event_id, viewer, hidden="Invite link not found.")
        if role_of(me) is None:
            raise NotFound("Invite link not found.")
        require(me, ParticipantRole.ORGANIZER)
        if link.revoked_at is None:
            link.revoked_at = utcnow()
            await store.save_invite_link(db, link)
        return link


async def join_with_invite_link(
    deps: Deps, viewer: Viewer, token: str
) -> tuple[Event, Participant]:
    event, member = await retry_transaction(lambda: _join_with_invite_link(deps, viewer, token))
    await event_changed(deps, member.event_id, participants=True)
    return event, member


async def _join_with_invite_link(
    deps: Deps, viewer: Viewer, token: str
) -> tuple[Event, Participant]:
    invalid = DomainError(
        EventErrorCode.INVALID_INVITE_LINK,
        "This invite link is not valid (expired, revoked or used up).",
        "token",
    )
    try:
        async with deps.db.unit_of_work() as db:
            link = await store.invite_link_by_hash(db, deps.tokens.keyed_hash(token.strip()))
            if link is None:
                raise invalid
            event = await store.lock_event(db, link.event_id)
            if event is None:
                raise invalid
            existing = await store.participant_for_user(
                db, event.id or 0, viewer.user_id, for_update=True
            )
            if existing is not None and existing.is_active:
                return event, existing  # joining twice is a no-op
            if not link.usable(utcnow()):
                raise invalid
            not_cancelled(event)
            if existing is not None and existing.state == ParticipantState.REMOVED.value:
                raise DomainError(
                    EventErrorCode.REMOVED_FROM_EVENT,
                    "You were removed from this event; ask an organizer.",
                )
            member = await admit(db, event, viewer, ParticipantRole(link.role), existing)
            link.uses += 1
            await store.save_invite_link(db, link)
            return event, member
    except IntegrityError:  # a concurrent join of the same user won: one participation
        async with deps.db.reader() as db:
            link = await store.invite_link_by_hash(db, deps.tokens.keyed_hash(token.strip()))
            winner = await store.participant_for_user(
                db, link.event_id if link else 0, viewer.user_id
            )
            event = await store.lock_event(db, link.event_id) if link else None
        if winner is None or event is None:
            raise
        return event, winner


async def admit(
    db: Any, event: Event, viewer: Viewer, role: ParticipantRole, existing: Participant | None
) -> Participant:
    """Adds (or re-activates) the viewer as a participant, within capacity."""
    assert event.id is not None
    if event.capacity is not None and await store.active_count(db, event.id) >= event.capacity:
        raise DomainError(EventErrorCode.EVENT_FULL, "This event is full.")
    name = await _display_name(db, viewer.user_id)
    if existing is not None:
        existing.state = ParticipantState.ACTIVE.value
        existing.left_at = None
        existing.joined_at = utcnow()
        existing.rsvp = Rsvp.GOING.value
        existing.display_name = name
        existing.set_role(role)
        joined = await store.save_participant(db, existing)
    else:
        member = Participant(event_id=event.id, user_id=viewer.user_id, display_name=name)
        member.set_role(role)
        joined = await store.add_participant(db, member)
    record_event(
        db,
        "participant.joined",
        event.id,
        viewer.user_id,
        joined.id,
        user_id=viewer.user_id,
        name=name,
        role=role.value,
    )
    return joined


async def activity_of(
    deps: Deps, event_id: int, first: int, before_seq: int | None
) -> list[ActivityEntry]:
    """The event's activity feed, newest first (callers check the viewer takes part)."""
    return await activity_page(event_id, first=first, before_seq=before_seq)


async def invite_links_of(deps: Deps, viewer: Viewer, event_id: int) -> list[InviteLink]:
    async with deps.db.reader() as db:
        me = await store.participant_for_user(db, event_id, viewer.user_id)
        if not has_role(me, ParticipantRole.ORGANIZER):
            return []
        return await store.invite_links_of_event(db, event_id)


async def events_by_id(deps: Deps, ids: Sequence[int]) -> list[Event | None]:
    """Unscoped: callers must already know the viewer may see these events."""
    async with deps.db.reader() as db:
        rows = await store.events_by_ids(db, list(ids))
    by_id = {e.id: e for e in rows}
    return [by_id.get(i) for i in ids]


async def rows_by_id(deps: Deps, model: Any, ids: Sequence[int]) -> list[Any | None]:
    """Batch function for node(id:) of event children; the schema checks membership."""
    async with deps.db.reader() as db:
        rows = await rows_by_ids(db, model, list(ids))
    by_id = {r.id: r for r in rows}
    return [by_id.get(i) for i in ids]


class EventLoaders(LoaderBase):
    _by_model: dict[Any, DataLoader[int, Any]]

    def rows(self, model: Any) -> DataLoader[int, Any]:
        """Rows of an event child table by id (node lookups), one loader per table."""
        by_model = self.__dict__.setdefault("_by_model", {})
        loader: DataLoader[int, Any] | None = by_model.get(model)
        if loader is None:
            loader = by_model[model] = DataLoader(partial(rows_by_id, self.deps, model))
        return loader

    @cached_property
    def event_access(self) -> DataLoader[int, tuple[Event, Participant | None] | None]:
        """Scoped to the viewer: an event they may not see loads as None."""
        return self.scoped(access)

    @cached_property
    def participants_by_event(self) -> DataLoader[int, list[Participant]]:
        return self.batched(participants_of)

    @cached_property
    def participant_by_id(self) -> DataLoader[int, Participant | None]:
        return self.batched(participants_by_id)

    @cached_property
    def event_by_id(self) -> DataLoader[int, Event | None]:
        """Unscoped: only for events the viewer was invited to (public fields)."""
        return self.batched(events_by_id)
