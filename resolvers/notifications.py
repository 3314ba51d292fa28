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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, NotFound
from resolvers.dispatcher import DomainEvent
from resolvers.money import format_amount
from resolvers.projections import EVENT, display_name, record_event
from resolvers.sessions import REVOKED_CHANNEL, guard
from stores import accounts as accounts_store
from stores import events as events_store
from stores import notifications as store
from stores import outbox as outbox_store
from stores.db import utcnow
from stores.mail import Mail
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
    p = event.payload
    subject = p.get("subject_id")

    def users(participant_ids: Sequence[int]) -> list[int]:
        return [
            people[i].user_id
            for i in participant_ids
            if i in people and people[i].user_id is not None
        ]

    t = event.type
    if t == "invitation.sent" and p.get("invitee_user_id"):
        return [
            Message(
                Kind.INVITATION_RECEIVED,
                [p["invitee_user_id"]],
                f"{actor} invites you to {title}",
                target_type="INVITATION",
                target_id=subject,
            )
        ]
    if t in ("invitation.accepted", "invitation.declined"):
        kind = Kind.INVITATION_ACCEPTED if t.endswith("accepted") else Kind.INVITATION_DECLINED
        verb = "accepted" if kind is Kind.INVITATION_ACCEPTED else "declined"
        return [
            Message(
                kind,
                [p["inviter_user_id"]],
                f"{actor} {verb} your invitation to {title}",
                target_type="EVENT",
                target_id=event.aggregate_id,
            )
        ]
    if t == "join_request.created":
        return [
            Message(
                Kind.JOIN_REQUEST,
                organizers,
                f"{actor} asks to join {title}",
                target_type="JOIN_REQUEST",
                target_id=subject,
            )
        ]
    if t == "participant.role_changed" and p.get("user_id"):
        role = str(p.get("role", "")).lower()
        return [
            Message(
                Kind.ROLE_CHANGED,
                [p["user_id"]],
                f"You are now {role} of {title}",
                target_type="EVENT",
                target_id=event.aggregate_id,
            )
        ]
    if t == "participant.removed" and p.get("user_id"):
        return [Message(Kind.REMOVED_FROM_EVENT, [p["user_id"]], f"You were removed from {title}")]
    if t in ("task.created", "task.assigned") and p.get("assignee_ids"):
        return [
            Message(
                Kind.TASK_ASSIGNED,
                users(p["assignee_ids"]),
                f"{actor} assigned you “{p.get('title', '')}” in {title}",
                target_type="TASK",
                target_id=subject,
            )
        ]
    if t == "task.completed":
        return [
            Message(
                Kind.TASK_COMPLETED,
                organizers,
                f"{actor} completed “{p.get('title', '')}” in {title}",
                target_type="TASK",
                target_id=subject,
            )
        ]
    if t == "task.validated" and p.get("completed_by_id"):
        return [
            Message(
                Kind.TASK_VALIDATED,
                users([p["completed_by_id"]]),
                f"{actor} validated “{p.get('title', '')}” in {title}",
                target_type="TASK",
                target_id=subject,
            )
        ]
    if t in ("expense.added", "expense.edited"):
        kind = Kind.EXPENSE_ADDED if t == "expense.added" else Kind.EXPENSE_EDITED
        verb = "added" if kind is Kind.EXPENSE_ADDED else "edited"
        involved = {*p.get("participant_ids", []), p.get("paid_by_id")}
        return [
            Message(
                kind,
                users([i for i in involved if i is not None]),
                f"{actor} {verb} “{p.get('title', '')}” "
                f"({_money(p.get('amount_minor', 0), p.get('currency', 'EUR'))}) "
                f"in {title}",
                target_type="EXPENSE",
                target_id=subject,
            )
        ]
    if t == "settlement.recorded":
        amount = _money(p.get("amount_minor", 0), p.get("currency", "EUR"))
        return [
            Message(
                Kind.SETTLEMENT_RECORDED,
                users([p["from_id"], p["to_id"]]),
                f"{actor} recorded a payment of {amount} in {title}",
                target_type="SETTLEMENT",
                target_id=subject,
            )
        ]
    if t == "event.updated" and PLACE_AND_TIME & set(p.get("changed", [])):
        what = ", ".join(
            sorted(
                {
                    "date" if c in ("startsAt", "endsAt") else "place"
                    for c in PLACE_AND_TIME & set(p["changed"])
                }
            )
        )
        return [
            Message(
                Kind.EVENT_UPDATED,
                members,
                f"{title} changed: {what}",
                target_type="EVENT",
                target_id=event.aggregate_id,
            )
        ]
    if t == "event.cancelled":
        return [
            Message(
                Kind.EVENT_CANCELLED,
                members,
                f"{title} is cancelled",
                target_type="EVENT",
                target_id=event.aggregate_id,
            )
        ]
    if t == "chat.mentioned":
        return [
            Message(
                Kind.MENTIONED,
                list(p.get("user_ids", [])),
                f"{actor} mentioned you in {title}",
                body=str(p.get("excerpt", "")),
                target_type="EVENT",
                target_id=event.aggregate_id,
            )
        ]
    if t == "media.added":
        count = int(p.get("count", 1))
        what = "a file" if count == 1 else f"{count} files"
        if p.get("kinds") == ["IMAGE"]:
            what = "a photo" if count == 1 else f"{count} photos"
        return [
            Message(
                Kind.MEDIA_ADDED,
                members,
                f"{actor} added {what} to {title}",
                target_type="MEDIA",
                target_id=subject,
            )
        ]
    if t in ("media.commented", "media.liked") and p.get("uploader_user_id"):
        if t == "media.commented":
            return [
                Message(
                    Kind.MEDIA_COMMENTED,
                    [p["uploader_user_id"]],
                    f"{actor} commented on your photo in {title}",
                    body=str(p.get("excerpt", "")),
                    target_type="MEDIA",
                    target_id=subject,
                )
            ]
        return [
            Message(
                Kind.MEDIA_LIKED,
                [p["uploader_user_id"]],
                f"{actor} liked your photo in {title}",
                target_type="MEDIA",
                target_id=subject,
            )
        ]
    if t == "event.reminder":
        return [
            Message(
                Kind.EVENT_REMINDER,
                members,
                f"{title} starts in less than 24 hours",
                target_type="EVENT",
                target_id=event.aggregate_id,
            )
        ]
    return []


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
    if await store.already_from(user_id, event.id):
        return  # a redelivery of this outbox row
    channels = await channels_of(user_id, message.kind)
    if not channels.in_app and not channels.email:
        return
    group_key = f"{message.kind.value}:{event.aggregate_id}:{user_id}"
    doc = None
    if message.kind in GROUPED:
        doc = await store.merge_into_group(
            group_key,
            now - GRACE,
            event.id,
            now,
            message.title,
            message.body,
            event.actor_user_id,
            actor,
        )
        if doc is not None:
            doc.title = GROUPED[message.kind].format(n=doc.occurrences, event=row.title)
            await doc.save()
    if doc is None:
        email_state, due = "NONE", None
        if channels.email:
            async with deps.db.reader() as db:
                user = await accounts_store.user_by_id(db, user_id)
            if user is not None:
                email_state, due = "PENDING", email_time(now, user.timezone, row.starts_at)
        doc = await store.add(
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
                created_at=now,
                updated_at=now,
                email_state=email_state,
                email_due_at=due,
                archived_at=None if channels.in_app else now,
                read_at=None if channels.in_app else now,
            )
        )
    if channels.in_app:
        await publish(deps, user_id, str(doc.id))


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
                subject=doc.title,
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
    """The periodic work of a dispatcher process: reminders, due emails, and dropping outbox
    rows handled more than a week ago."""

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
        await send_due_emails(self.deps)
        async with self.deps.db.unit_of_work() as db:
            await outbox_store.purge_handled(db, self.deps.clock() - OUTBOX_RETENTION)

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


async def received(deps: Deps, viewer: Viewer) -> AsyncIterator[tuple[store.Notification, int]]:
    """Each new (or newly grouped) notification of the viewer with the unread count, from any
    process; ends when the session is revoked or the token expires."""
    async with (
        deps.broadcast.subscribe(channel(viewer.user_id)) as queue,
        deps.broadcast.subscribe(REVOKED_CHANNEL) as revoked,
    ):
        if not await guard(deps).is_active(viewer):
            return
        while True:
            left = (viewer.expires_at - utcnow()).total_seconds()
            if left <= 0:
                return
            getter = asyncio.ensure_future(queue.get())
            stopper = asyncio.ensure_future(revoked.get())
            done, pending = await asyncio.wait(
                {getter, stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if stopper in done and viewer.session_id in stopper.result().get("sids", []):
                return
            if getter in done:
                found = await store.by_ids(viewer.user_id, [getter.result().get("id", "")])
                if found:
                    yield found[0], await store.unread_count(viewer.user_id)
