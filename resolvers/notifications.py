"""Notifications: who is told what about each domain event, grouping, email with quiet hours,
the 24 h reminder, preferences, and the inbox use cases.

The handler (`notify`) runs from the outbox dispatcher, so a notification exists only for a
committed change, and redelivery is harmless (each notification lists its outbox ids). The
clock is `deps.clock()`, i.e. `deps.clock()` (tests replace it).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from resolvers import date_polls
from resolvers.core import idempotency
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import (
    DomainError,
    NotFound,
    StreamEnded,
    StreamErrorCode,
    Unavailable,
)
from resolvers.dispatcher import DomainEvent
from resolvers.money import format_amount
from resolvers.projections import EVENT, display_name, record_event
from resolvers.sessions import REVOKED_CHANNEL, guard
from stores import accounts as accounts_store
from stores import events as events_store
from stores import notifications as store
from stores import outbox as outbox_store
from stores.db import utcnow
from stores.mail import Mail, subject_text
from stores.mongo import is_unreachable
from stores.redis import key

log = logging.getLogger("iven.notifications")

GRACE = timedelta(minutes=2)
QUIET_START, QUIET_END = 22, 8
REMINDER_AHEAD = timedelta(hours=24)
OUTBOX_RETENTION = timedelta(days=7)


class NotificationErrorCode(StrEnum):
    """What notification mutations report in `errors`."""

    INVALID_INPUT = "INVALID_INPUT"


class Kind(enum.Enum):
    INVITATION_RECEIVED = "INVITATION_RECEIVED"
    INVITATION_ACCEPTED = "INVITATION_ACCEPTED"
    INVITATION_DECLINED = "INVITATION_DECLINED"
    JOIN_REQUEST = "JOIN_REQUEST"
    ROLE_CHANGED = "ROLE_CHANGED"
    REMOVED_FROM_EVENT = "REMOVED_FROM_EVENT"
    TASK_ASSIGNED = "TASK_ASSIGNED"
    TASK_COMPLETED = "TASK_COMPLETED"
    TASK_VALIDATED = "TASK_VALIDATED"
    EXPENSE_ADDED = "EXPENSE_ADDED"
    EXPENSE_EDITED = "EXPENSE_EDITED"
    SETTLEMENT_RECORDED = "SETTLEMENT_RECORDED"
    EVENT_UPDATED = "EVENT_UPDATED"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    EVENT_REMINDER = "EVENT_REMINDER"
    EVENT_DATE_CHOSEN = "EVENT_DATE_CHOSEN"
    DATE_POLL_OPENED = "DATE_POLL_OPENED"
    DATE_POLL_REMINDER = "DATE_POLL_REMINDER"
    MENTIONED = "MENTIONED"
    MEDIA_ADDED = "MEDIA_ADDED"
    MEDIA_COMMENTED = "MEDIA_COMMENTED"
    MEDIA_LIKED = "MEDIA_LIKED"


EMAIL_BY_DEFAULT = {Kind.INVITATION_RECEIVED, Kind.EVENT_CANCELLED}
# what the grouped title says when several merge: "3 new expenses in Ski weekend"
GROUPED = {
    Kind.JOIN_REQUEST: "{n} people ask to join {event}",
    Kind.TASK_ASSIGNED: "{n} tasks assigned to you in {event}",
    Kind.TASK_COMPLETED: "{n} tasks completed in {event}",
    Kind.EXPENSE_ADDED: "{n} new expenses in {event}",
    Kind.EXPENSE_EDITED: "{n} expenses edited in {event}",
    Kind.SETTLEMENT_RECORDED: "{n} payments recorded in {event}",
    Kind.EVENT_UPDATED: "{event} changed {n} times",
    Kind.MENTIONED: "{n} mentions of you in {event}",
    Kind.MEDIA_ADDED: "{n} new uploads of photos and files in {event}",
    Kind.MEDIA_COMMENTED: "{n} comments on your photos in {event}",
    Kind.MEDIA_LIKED: "{n} likes on your photos in {event}",
}
PLACE_AND_TIME = {"startsAt", "endsAt", "location"}


@dataclass(frozen=True)
class Message:
    kind: Kind
    user_ids: list[int]
    title: str
    body: str = ""
    target_type: str | None = None
    target_id: int | str | None = None


def _money(minor: int, currency: str) -> str:
    return f"{format_amount(minor, currency)} {currency}"


def messages(
    event: DomainEvent,
    title: str,
    actor: str,
    people: dict[int, Any],
    organizers: list[int],
    members: list[int],
) -> list[Message]:
    """Who hears about `event` and what they read. `people`: participant id → row."""
    build = _MESSAGE_BUILDERS.get(event.type)
    if build is None:
        return []
    return build(_About(event, title, actor, people, organizers, members))


@dataclass(frozen=True)
class _About:
    """What a message builder knows of one domain event: `title` is the event's, `actor` the
    display name of who did it."""

    event: DomainEvent
    title: str
    actor: str
    people: dict[int, Any]
    organizers: list[int]
    members: list[int]

    @property
    def p(self) -> dict[str, Any]:
        return self.event.payload

    @property
    def subject(self) -> Any:
        return self.p.get("subject_id")

    def users(self, participant_ids: Sequence[int]) -> list[int]:
        """Accounts of these participants; guests without an account are skipped."""
        return [
            self.people[i].user_id
            for i in participant_ids
            if i in self.people and self.people[i].user_id is not None
        ]


def _invitation_sent(a: _About) -> list[Message]:
    if not a.p.get("invitee_user_id"):  # invited by email: the mail is the message
        return []
    return [
        Message(
            Kind.INVITATION_RECEIVED,
            [a.p["invitee_user_id"]],
            f"{a.actor} invites you to {a.title}",
            target_type="INVITATION",
            target_id=a.subject,
        )
    ]


def _invitation_answered(a: _About) -> list[Message]:
    t = a.event.type
    kind = Kind.INVITATION_ACCEPTED if t.endswith("accepted") else Kind.INVITATION_DECLINED
    verb = "accepted" if kind is Kind.INVITATION_ACCEPTED else "declined"
    return [
        Message(
            kind,
            [a.p["inviter_user_id"]],
            f"{a.actor} {verb} your invitation to {a.title}",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _join_requested(a: _About) -> list[Message]:
    return [
        Message(
            Kind.JOIN_REQUEST,
            a.organizers,
            f"{a.actor} asks to join {a.title}",
            target_type="JOIN_REQUEST",
            target_id=a.subject,
        )
    ]


def _role_changed(a: _About) -> list[Message]:
    if not a.p.get("user_id"):
        return []
    role = str(a.p.get("role", "")).lower()
    return [
        Message(
            Kind.ROLE_CHANGED,
            [a.p["user_id"]],
            f"You are now {role} of {a.title}",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _removed(a: _About) -> list[Message]:
    if not a.p.get("user_id"):
        return []
    return [Message(Kind.REMOVED_FROM_EVENT, [a.p["user_id"]], f"You were removed from {a.title}")]


def _task_assigned(a: _About) -> list[Message]:
    if not a.p.get("assignee_ids"):
        return []
    return [
        Message(
            Kind.TASK_ASSIGNED,
            a.users(a.p["assignee_ids"]),
            f"{a.actor} assigned you “{a.p.get('title', '')}” in {a.title}",
            target_type="TASK",
            target_id=a.subject,
        )
    ]


def _task_completed(a: _About) -> list[Message]:
    return [
        Message(
            Kind.TASK_COMPLETED,
            a.organizers,
            f"{a.actor} completed “{a.p.get('title', '')}” in {a.title}",
            target_type="TASK",
            target_id=a.subject,
        )
    ]


def _task_validated(a: _About) -> list[Message]:
    if not a.p.get("completed_by_id"):
        return []
    return [
        Message(
            Kind.TASK_VALIDATED,
            a.users([a.p["completed_by_id"]]),
            f"{a.actor} validated “{a.p.get('title', '')}” in {a.title}",
            target_type="TASK",
            target_id=a.subject,
        )
    ]


def _expense_changed(a: _About) -> list[Message]:
    p = a.p
    kind = Kind.EXPENSE_ADDED if a.event.type == "expense.added" else Kind.EXPENSE_EDITED
    verb = "added" if kind is Kind.EXPENSE_ADDED else "edited"
    involved = {*p.get("participant_ids", []), p.get("paid_by_id")}
    return [
        Message(
            kind,
            a.users([i for i in involved if i is not None]),
            f"{a.actor} {verb} “{p.get('title', '')}” "
            f"({_money(p.get('amount_minor', 0), p.get('currency', 'EUR'))}) "
            f"in {a.title}",
            target_type="EXPENSE",
            target_id=a.subject,
        )
    ]


def _settlement_recorded(a: _About) -> list[Message]:
    amount = _money(a.p.get("amount_minor", 0), a.p.get("currency", "EUR"))
    return [
        Message(
            Kind.SETTLEMENT_RECORDED,
            a.users([a.p["from_id"], a.p["to_id"]]),
            f"{a.actor} recorded a payment of {amount} in {a.title}",
            target_type="SETTLEMENT",
            target_id=a.subject,
        )
    ]


def _event_updated(a: _About) -> list[Message]:
    if not PLACE_AND_TIME & set(a.p.get("changed", [])):  # other edits are not worth a message
        return []
    what = ", ".join(
        sorted(
            {
                "date" if c in ("startsAt", "endsAt") else "place"
                for c in PLACE_AND_TIME & set(a.p["changed"])
            }
        )
    )
    return [
        Message(
            Kind.EVENT_UPDATED,
            a.members,
            f"{a.title} changed: {what}",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _event_cancelled(a: _About) -> list[Message]:
    return [
        Message(
            Kind.EVENT_CANCELLED,
            a.members,
            f"{a.title} is cancelled",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _mentioned(a: _About) -> list[Message]:
    return [
        Message(
            Kind.MENTIONED,
            list(a.p.get("user_ids", [])),
            f"{a.actor} mentioned you in {a.title}",
            body=str(a.p.get("excerpt", "")),
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _media_added(a: _About) -> list[Message]:
    count = int(a.p.get("count", 1))
    what = "a file" if count == 1 else f"{count} files"
    if a.p.get("kinds") == ["IMAGE"]:
        what = "a photo" if count == 1 else f"{count} photos"
    return [
        Message(
            Kind.MEDIA_ADDED,
            a.members,
            f"{a.actor} added {what} to {a.title}",
            target_type="MEDIA",
            target_id=a.subject,
        )
    ]


def _media_reacted(a: _About) -> list[Message]:
    if not a.p.get("uploader_user_id"):
        return []
    if a.event.type == "media.commented":
        return [
            Message(
                Kind.MEDIA_COMMENTED,
                [a.p["uploader_user_id"]],
                f"{a.actor} commented on your photo in {a.title}",
                body=str(a.p.get("excerpt", "")),
                target_type="MEDIA",
                target_id=a.subject,
            )
        ]
    return [
        Message(
            Kind.MEDIA_LIKED,
            [a.p["uploader_user_id"]],
            f"{a.actor} liked your photo in {a.title}",
            target_type="MEDIA",
            target_id=a.subject,
        )
    ]


def _event_reminder(a: _About) -> list[Message]:
    return [
        Message(
            Kind.EVENT_REMINDER,
            a.members,
            f"{a.title} starts in less than 24 hours",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _date_chosen(a: _About) -> list[Message]:
    when = _when(a.p.get("starts_at"))
    return [
        Message(
            Kind.EVENT_DATE_CHOSEN,
            a.members,
            f"{a.title}: the date is chosen" + (f" ({when})" if when else ""),
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _date_poll_opened(a: _About) -> list[Message]:
    verb = "reopened the date poll of" if a.p.get("reopened") else "asks when to hold"
    return [
        Message(
            Kind.DATE_POLL_OPENED,
            a.members,
            f"{a.actor} {verb} {a.title}: vote for the dates that suit you",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _date_poll_reminder(a: _About) -> list[Message]:
    return [
        Message(
            Kind.DATE_POLL_REMINDER,
            [u for u in a.p.get("user_ids", []) if u in set(a.members)],
            f"The date poll of {a.title} closes in less than 24 hours: you have not voted yet",
            target_type="EVENT",
            target_id=a.event.aggregate_id,
        )
    ]


def _when(iso: Any) -> str:
    try:
        return datetime.fromisoformat(str(iso)).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return ""


# domain event type → who is told what; other types notify nobody
_MESSAGE_BUILDERS = {
    "invitation.sent": _invitation_sent,
    "invitation.accepted": _invitation_answered,
    "invitation.declined": _invitation_answered,
    "join_request.created": _join_requested,
    "participant.role_changed": _role_changed,
    "participant.removed": _removed,
    "task.created": _task_assigned,
    "task.assigned": _task_assigned,
    "task.completed": _task_completed,
    "task.validated": _task_validated,
    "expense.added": _expense_changed,
    "expense.edited": _expense_changed,
    "settlement.recorded": _settlement_recorded,
    "event.updated": _event_updated,
    "event.cancelled": _event_cancelled,
    "chat.mentioned": _mentioned,
    "media.added": _media_added,
    "media.commented": _media_reacted,
    "media.liked": _media_reacted,
    "event.reminder": _event_reminder,
    "event.date_chosen": _date_chosen,
    "date_poll.opened": _date_poll_opened,
    "date_poll.reminder": _date_poll_reminder,
}


def email_time(now: datetime, timezone: str, event_start: datetime | None) -> datetime:
    """When an email may go: now, or the end of the user's quiet hours (22:00-08:00 in their
    timezone) unless the event takes place today for them."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    if QUIET_END <= local.hour < QUIET_START:
        return now
    if event_start is not None and event_start.astimezone(zone).date() == local.date():
        return now
    end = local.replace(hour=QUIET_END, minute=0, second=0, microsecond=0)
    if local.hour >= QUIET_START:
        end += timedelta(days=1)
    return end.astimezone(UTC)


async def channels_of(user_id: int, kind: Kind) -> store.Channels:
    prefs = await store.preferences(user_id)
    found = prefs.types.get(kind.value) if prefs is not None else None
    return found or store.Channels(in_app=True, email=kind in EMAIL_BY_DEFAULT)


async def notify(deps: Deps, event: DomainEvent) -> None:
    """The dispatcher handler."""
    if event.aggregate_type != EVENT:
        return
    async with deps.db.reader() as db:
        found = await events_store.events_by_ids(db, [event.aggregate_id])
        people = {
            p.id or 0: p
            for p in await events_store.participants_of_events(
                db, [event.aggregate_id], active_only=False
            )
        }
        actor_row = (
            await accounts_store.user_by_id(db, event.actor_user_id)
            if event.actor_user_id
            else None
        )
    if not found:
        return
    row = found[0]
    actor = display_name(actor_row) if actor_row is not None else "Someone"
    active = [(p, p.user_id) for p in people.values() if p.is_active and p.user_id is not None]
    organizers = [u for p, u in active if p.role in ("OWNER", "ORGANIZER")]
    members = [u for _, u in active]
    now = deps.clock()
    for message in messages(event, row.title, actor, people, organizers, members):
        for user_id in dict.fromkeys(message.user_ids):
            if user_id is None or user_id == event.actor_user_id:
                continue
            await _deliver(deps, event, message, user_id, row, actor, now)


async def _deliver(
    deps: Deps,
    event: DomainEvent,
    message: Message,
    user_id: int,
    row: events_store.Event,
    actor: str,
    now: datetime,
) -> None:
    """Makes (or merges) the user's notification of `event`, once: the delivery
    "<user>:<outbox id>" is a unique key of the notifications, so a redelivery or another
    dispatcher delivering the same row at the same moment changes nothing and pushes nothing."""
    if await store.already_delivered(store.delivery_key(user_id, event.once)):
        return  # a redelivery of this outbox row (the unique key decides in a race)
    channels = await channels_of(user_id, message.kind)
    if not channels.in_app and not channels.email:
        return
    try:
        doc = await _merge_or_add(deps, event, message, user_id, row, actor, now, channels)
    except store.AlreadyDelivered:
        return  # done already, pushed by whoever did it
    if channels.in_app:
        await publish(deps, user_id, str(doc.id))


async def _merge_or_add(
    deps: Deps,
    event: DomainEvent,
    message: Message,
    user_id: int,
    row: events_store.Event,
    actor: str,
    now: datetime,
    channels: store.Channels,
) -> store.Notification:
    group_key = f"{message.kind.value}:{event.aggregate_id}:{user_id}"
    if message.kind in GROUPED:
        merged = await store.merge_into_group(
            group_key,
            now - GRACE,
            event.id,
            now,
            message.title,
            message.body,
            event.actor_user_id,
            actor,
            store.delivery_key(user_id, event.once),
        )
        if merged is not None:
            merged.title = GROUPED[message.kind].format(n=merged.occurrences, event=row.title)
            await store.set_group_title(merged.id, merged.occurrences, merged.title)
            return merged
    email_state, due = "NONE", None
    if channels.email:
        async with deps.db.reader() as db:
            user = await accounts_store.user_by_id(db, user_id)
        if user is not None:
            email_state, due = "PENDING", email_time(now, user.timezone, row.starts_at)
    return await store.add(
        store.Notification(
            user_id=user_id,
            type=message.kind.value,
            group_key=group_key,
            event_id=event.aggregate_id,
            title=message.title,
            body=message.body,
            target_type=message.target_type,
            target_id=message.target_id,
            actor_user_id=event.actor_user_id,
            actor_name=actor,
            sources=[event.id],
            deliveries=[store.delivery_key(user_id, event.once)],
            created_at=now,
            updated_at=now,
            email_state=email_state,
            email_due_at=due,
            archived_at=None if channels.in_app else now,
            read_at=None if channels.in_app else now,
        )
    )


def channel(user_id: int) -> str:
    return key("notify", user_id)


async def publish(deps: Deps, user_id: int, notification_id: str) -> None:
    try:
        await deps.broadcast.publish(channel(user_id), {"id": notification_id})
    except RedisError:
        log.warning("notification not pushed live", extra={"user_id": user_id})


# --- scheduled work: due emails, reminders ----------------------------------------------------


async def send_due_emails(deps: Deps) -> int:
    sent = 0
    for doc in await store.emails_due(deps.clock()):
        if not await store.claim_email(doc.id):
            continue  # another process took it
        async with deps.db.reader() as db:
            user = await accounts_store.user_by_id(db, doc.user_id)
        if user is None:
            continue
        link = f"{deps.settings.public_url.rstrip('/')}/notifications"
        await deps.mailer.send(
            Mail(
                to=user.email,
                subject=subject_text(doc.title),  # cleaned and capped: a one-line header
                body=f"{doc.title}\n\n{doc.body}\n\nSee it on IVEN: {link}\n",
            )
        )
        sent += 1
    return sent


async def remind(deps: Deps) -> int:
    """Records an `event.reminder` for each event starting within 24 h (once per start time,
    in the same transaction that marks it: exactly once, across restarts and processes)."""
    now = deps.clock()
    async with deps.db.unit_of_work() as db:
        due = await events_store.claim_reminders(
            db, now, now + REMINDER_AHEAD, deps.db.dialect != "sqlite"
        )
        for event in due:
            record_event(
                db, "event.reminder", event.id or 0, None, starts_at=event.starts_at.isoformat()
            )
    return len(due)


class Jobs:
    """The periodic work of a dispatcher process: reminders, closing date polls at their
    deadline and reminding their non-voters, due emails, dropping outbox rows
    handled more than a week ago and idempotency keys older than a day."""

    def __init__(self, deps: Deps, every_s: float = 5.0) -> None:
        self.deps = deps
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="iven-notification-jobs")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def run_once(self) -> None:
        await remind(self.deps)
        await date_polls.close_due(self.deps)
        await date_polls.remind_non_voters(self.deps)
        await send_due_emails(self.deps)
        async with self.deps.db.unit_of_work() as db:
            await outbox_store.purge_handled(db, self.deps.clock() - OUTBOX_RETENTION)
        await idempotency.forget_expired(self.deps)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification jobs failed")
            await asyncio.sleep(self.every_s)


# --- the inbox ---------------------------------------------------------------------------------


async def inbox(
    deps: Deps, viewer: Viewer, first: int, before: tuple[datetime, str] | None, unread_only: bool
) -> list[store.Notification]:
    return await store.page(viewer.user_id, first=first, before=before, unread_only=unread_only)


async def unread_count(deps: Deps, viewer: Viewer) -> int:
    return await store.unread_count(viewer.user_id)


async def mark_read(deps: Deps, viewer: Viewer, ids: list[str] | None, every: bool) -> int:
    if every == (ids is not None):
        raise DomainError(
            NotificationErrorCode.INVALID_INPUT, "Give either `ids` or `all: true`.", "ids"
        )
    if ids is not None and len(ids) > 100:
        raise DomainError(NotificationErrorCode.INVALID_INPUT, "At most 100 ids at once.", "ids")
    await store.mark_read(viewer.user_id, ids, deps.clock())
    return await store.unread_count(viewer.user_id)


async def archive(deps: Deps, viewer: Viewer, notification_id: str) -> store.Notification:
    found = await store.archive(viewer.user_id, notification_id, deps.clock())
    if found is None:
        raise NotFound("No such notification.")
    return found


async def preferences(deps: Deps, viewer: Viewer) -> list[tuple[Kind, store.Channels]]:
    return [(kind, await channels_of(viewer.user_id, kind)) for kind in Kind]


async def update_preferences(
    deps: Deps, viewer: Viewer, changes: Sequence[tuple[Kind, bool, bool]]
) -> list[tuple[Kind, store.Channels]]:
    if len(changes) > len(Kind):
        raise DomainError(
            NotificationErrorCode.INVALID_INPUT, "One entry per type at most.", "preferences"
        )
    prefs = await store.preferences(viewer.user_id) or store.NotificationPreferences(
        id=str(viewer.user_id)
    )
    for kind, in_app, email in changes:
        prefs.types[kind.value] = store.Channels(in_app=in_app, email=email)
    await store.save_preferences(prefs)
    return await preferences(deps, viewer)


REPLAY_LIMIT = 100  # notifications a resuming stream replays; more: reload the inbox
CATCH_UP_S = 5.0  # how often an open stream reads what a lost push did not bring
CATCH_UP_MARGIN = timedelta(seconds=10)  # writers' clocks and late inserts: read back so far
NO_ID = "0" * 24  # an ObjectId below every other: a position "at this time, before all"
SENT_KEPT = 500  # (id, version) pairs a stream remembers having sent


class _Sent:
    """What a stream sent: each notification once per version (`updated_at`), whether it came
    from the replay, a push or a catch-up read."""

    def __init__(self, floor: tuple[datetime, str]) -> None:
        self.floor = floor  # the stream's start (time, id): nothing at or before is caught up
        self.high = floor[0]  # the newest `updated_at` sent
        self.versions: dict[str, datetime] = {}

    def fresh(self, doc: store.Notification) -> bool:
        seen = self.versions.get(str(doc.id))
        return seen is None or doc.updated_at > seen

    def add(self, doc: store.Notification) -> None:
        if len(self.versions) >= SENT_KEPT:
            oldest = sorted(self.versions, key=self.versions.__getitem__)[: SENT_KEPT // 2]
            for key_ in oldest:
                del self.versions[key_]
        self.versions[str(doc.id)] = doc.updated_at
        self.high = max(self.high, doc.updated_at)


async def received(
    deps: Deps, viewer: Viewer, after: tuple[datetime, str] | None = None
) -> AsyncIterator[tuple[store.Notification, int]]:
    """Each new (or newly grouped) notification of the viewer with the unread count, from any
    process; ends when the session is revoked or the token expires.

    With `after` (a cursor of the `notifications` connection, or of this stream), first what
    changed since, oldest first (more than REPLAY_LIMIT: CURSOR_TOO_OLD, reload the inbox).
    A push lost by Redis is caught up by a read every CATCH_UP_S. Each version of a
    notification is sent once. The document store out of reach: Unavailable (retry, resuming
    from the last cursor)."""
    try:
        async for item in _received(deps, viewer, after):
            yield item
    except Exception as exc:
        if is_unreachable(exc):
            raise Unavailable(
                "Notifications are unavailable for now: resume from your last cursor."
            ) from exc
        raise


async def _received(
    deps: Deps, viewer: Viewer, after: tuple[datetime, str] | None
) -> AsyncIterator[tuple[store.Notification, int]]:
    async with (
        deps.broadcast.subscribe(channel(viewer.user_id)) as queue,
        deps.broadcast.subscribe(REVOKED_CHANNEL) as revoked,
    ):
        if not await guard(deps).is_active(viewer):
            return
        if after is not None and after[0].tzinfo is None:
            after = (after[0].replace(tzinfo=UTC), after[1])  # a cursor's time is UTC
        now = deps.clock()
        # documents keep milliseconds: one made in this very millisecond is not older
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        stream = _Stream(viewer, queue, revoked, after if after is not None else (now, NO_ID))
        if after is not None:
            missed = await store.updated_since(viewer.user_id, after, REPLAY_LIMIT + 1)
            if len(missed) > REPLAY_LIMIT:
                raise StreamEnded(
                    StreamErrorCode.CURSOR_TOO_OLD,
                    "Too much happened since this cursor: reload the notifications.",
                )
            unread = await store.unread_count(viewer.user_id) if missed else 0
            for doc in missed:
                stream.sent.add(doc)
                yield doc, unread
        while (found := await stream.next_batch()) is not None:
            for doc in found:
                if stream.sent.fresh(doc):
                    stream.sent.add(doc)
                    yield doc, await store.unread_count(viewer.user_id)


class _Stream:
    """The live part of one `notificationReceived`: pushes, and a catch-up read every
    CATCH_UP_S for pushes Redis lost."""

    def __init__(
        self,
        viewer: Viewer,
        queue: asyncio.Queue[Any],
        revoked: asyncio.Queue[Any],
        floor: tuple[datetime, str],
    ) -> None:
        self.viewer = viewer
        self.queue = queue
        self.revoked = revoked
        self.sent = _Sent(floor)
        self.next_catch_up = time.monotonic() + CATCH_UP_S

    async def next_batch(self) -> list[store.Notification] | None:
        """What to look at next (maybe nothing); None when the stream ends (session revoked,
        token expired)."""
        viewer = self.viewer
        left = (viewer.expires_at - utcnow()).total_seconds()
        if left <= 0:
            return None
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(self.revoked.get())
        wait = min(left, max(0.0, self.next_catch_up - time.monotonic()))
        try:
            done, _ = await asyncio.wait(
                {getter, stopper}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
        finally:  # cancelled too when the stream is (its socket closed): none is left pending
            for task in (getter, stopper):
                if not task.done():
                    task.cancel()
        if stopper in done and viewer.session_id in stopper.result().get("sids", []):
            return None
        if getter in done:
            return await store.by_ids(viewer.user_id, [getter.result().get("id", "")])
        if time.monotonic() < self.next_catch_up:
            return []
        self.next_catch_up = time.monotonic() + CATCH_UP_S
        since = max(self.sent.floor, (self.sent.high - CATCH_UP_MARGIN, NO_ID))
        return await store.updated_since(viewer.user_id, since, REPLAY_LIMIT)
