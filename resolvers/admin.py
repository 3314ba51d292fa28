"""Administration use cases: users, moderation, statistics, the audit log, instance settings.

Every use case starts with `require_admin` (a fresh read: a demoted or disabled admin loses
access at once). MySQL actions write their audit entry in the action's own unit of work;
moderation of documents (chat, media, comments) writes it right after the document change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers import albums as albums_uc
from resolvers import chat as chat_uc
from resolvers import media as media_uc
from resolvers import sessions
from resolvers.accounts import is_admin, require_admin, users_changed
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, NotFound
from resolvers.core.text import checked_message
from resolvers.events import event_changed, not_cancelled
from resolvers.projections import record_event
from stores import accounts as accounts_store
from stores import admin as store
from stores import chat as chat_store
from stores import events as events_store
from stores import media as media_store
from stores.accounts import Role, User
from stores.admin import AuditEntry, InstanceSettings
from stores.events import Event, EventStatus

REASON_MAX = 500
BANNER_MAX = 500
ACTIVE_DAYS = 30


class AdminErrorCode(StrEnum):
    """What administration mutations report in `errors`."""

    USER_NOT_FOUND = "USER_NOT_FOUND"
    LAST_ADMIN = "LAST_ADMIN"
    REQUIRED = "REQUIRED"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_INPUT = "INVALID_INPUT"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    MEDIA_REMOVED = "MEDIA_REMOVED"
    RATE_LIMITED = "RATE_LIMITED"


def audit(
    db: AsyncSession,
    actor: User,
    action: str,
    target_type: str,
    target_id: Any,
    reason: str = "",
    **details: Any,
) -> None:
    """Records an admin action (who, what, target, reason, when) with the action's own commit."""
    store.add_audit_entry(
        db,
        AuditEntry(
            actor_id=actor.id or 0,
            actor_username=actor.username,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            reason=reason[:REASON_MAX],
            details=json.dumps(details, default=str, sort_keys=True),
        ),
    )


async def _audit_now(
    deps: Deps,
    actor: User,
    action: str,
    target_type: str,
    target_id: Any,
    reason: str,
    **details: Any,
) -> None:
    async with deps.db.unit_of_work() as db:
        audit(db, actor, action, target_type, target_id, reason, **details)


def checked_reason(reason: str | None, *, required: bool) -> str:
    return checked_message(reason or "", max_len=REASON_MAX, field="reason", required=required)


# --- users -------------------------------------------------------------------------------------


async def users(
    deps: Deps,
    viewer: Viewer | None,
    *,
    first: int,
    after_id: int | None,
    search: str | None,
    role: str | None,
    active: bool | None,
) -> list[User]:
    await require_admin(deps, viewer)
    async with deps.db.reader() as db:
        return await store.users_page(
            db,
            limit=first,
            after_id=after_id,
            search=(search or "").strip() or None,
            role=role,
            active=active,
        )


async def _target(db: AsyncSession, user_id: int) -> User:
    user = await accounts_store.user_by_id(db, user_id, for_update=True)
    if user is None:
        raise DomainError(AdminErrorCode.USER_NOT_FOUND, "No such user.", "userId")
    return user


async def _keep_an_admin(db: AsyncSession, user: User) -> None:
    """The instance never loses its last active admin (to a demotion or a disabling)."""
    if user.role != Role.ADMIN.value or not user.is_active:
        return
    if set(await store.active_admin_ids(db, for_update=True)) <= {user.id}:
        raise DomainError(
            AdminErrorCode.LAST_ADMIN,
            "This is the last active administrator: make another one first.",
            "userId",
        )


async def set_user_status(
    deps: Deps, viewer: Viewer | None, user_id: int, active: bool, reason: str | None
) -> User:
    """Disabling keeps the account's data, revokes all its sessions at once (their sockets
    close) and refuses sign-in; enabling lets them sign in again."""
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=not active)
    revoked: list[str] = []
    async with deps.db.unit_of_work() as db:
        user = await _target(db, user_id)
        if user.is_active == active:
            return user
        if not active:
            await _keep_an_admin(db, user)
            revoked = await accounts_store.revoke_sessions(db, user_id, "account_disabled")
        user.is_active = active
        user.disabled_at = None if active else deps.clock()
        user.disabled_reason = None if active else text
        saved = await accounts_store.save_user(db, user)
        audit(
            db,
            admin,
            "user.enabled" if active else "user.disabled",
            "USER",
            user_id,
            text,
            sessions_revoked=len(revoked),
        )
    await users_changed(deps, user_id)
    await sessions.announce_revoked(deps, revoked)
    return saved


async def set_user_role(
    deps: Deps, viewer: Viewer | None, user_id: int, role: str, reason: str | None
) -> User:
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=False)
    async with deps.db.unit_of_work() as db:
        user = await _target(db, user_id)
        if user.role == role:
            return user
        if role != Role.ADMIN.value:
            await _keep_an_admin(db, user)
        previous, user.role = user.role, role
        saved = await accounts_store.save_user(db, user)
        audit(db, admin, "user.role_changed", "USER", user_id, text, before=previous, after=role)
    await users_changed(deps, user_id)
    return saved


# --- statistics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    users_total: int
    users_active: int
    users_disabled: int
    events_upcoming: int
    events_past: int
    events_cancelled: int
    messages_recent: int
    media_recent: int
    outbox_pending: int
    dispatcher_lag_s: float
    window_days: int
    at: datetime


async def stats(deps: Deps, viewer: Viewer | None) -> Stats:
    await require_admin(deps, viewer)
    now = deps.clock()
    since = now - timedelta(days=ACTIVE_DAYS)
    async with deps.db.reader() as db:
        counts = await store.sql_counts(db, now=now, since=since)
        oldest = await store.oldest_pending_outbox(db, now=now)
    messages = await chat_store.count_since(since)
    media = await media_store.count_since(since)
    return Stats(
        users_total=counts["users"],
        users_active=counts["active"],
        users_disabled=counts["disabled"],
        events_upcoming=counts["upcoming"],
        events_past=counts["past"],
        events_cancelled=counts["cancelled"],
        messages_recent=messages,
        media_recent=media,
        outbox_pending=counts["outbox"],
        dispatcher_lag_s=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        window_days=ACTIVE_DAYS,
        at=now,
    )


# --- audit log ---------------------------------------------------------------------------------


async def audit_log(
    deps: Deps,
    viewer: Viewer | None,
    *,
    first: int,
    before_id: int | None,
    actor_id: int | None,
    action: str | None,
) -> list[AuditEntry]:
    await require_admin(deps, viewer)
    async with deps.db.reader() as db:
        return await store.audit_page(
            db, limit=first, before_id=before_id, actor_id=actor_id, action=action
        )


# --- instance settings -------------------------------------------------------------------------


async def instance(deps: Deps) -> InstanceSettings:
    """Readable by anyone (no account needed)."""
    async with deps.db.reader() as db:
        return await store.instance_settings(db)


async def registrations_open(deps: Deps) -> bool:
    return (await instance(deps)).registrations_open


async def update_instance(
    deps: Deps,
    viewer: Viewer | None,
    *,
    registrations_open: bool | None,
    banner: str | None,
    clear_banner: bool,
    reason: str | None,
) -> InstanceSettings:
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=False)
    new_banner = (
        checked_message(
            banner or "", max_len=BANNER_MAX, field="banner", required=False, multiline=False
        )
        if banner is not None
        else None
    )
    async with deps.db.unit_of_work() as db:
        row = await store.instance_settings(db, for_update=True)
        changed: dict[str, Any] = {}
        if registrations_open is not None and registrations_open != row.registrations_open:
            changed["registrationsOpen"] = row.registrations_open = registrations_open
        if clear_banner or new_banner is not None:
            value = new_banner or None
            if value != row.banner:
                changed["banner"] = row.banner = value
        if not changed:
            return row
        row.updated_by = admin.id
        saved = await store.save_instance_settings(db, row)
        audit(db, admin, "instance.updated", "INSTANCE", "instance", text, **changed)
        return saved


# --- moderation --------------------------------------------------------------------------------


async def remove_message(
    deps: Deps, viewer: Viewer | None, message_id: str, reason: str
) -> chat_store.ChatMessage:
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=True)
    message = await chat_store.by_id(message_id)
    if message is None:
        raise NotFound("No such message.")
    if message.deleted_at is not None:
        return message
    removed = await chat_uc.tombstone(deps, message, admin.id or 0, by_admin=True)
    await _audit_now(
        deps,
        admin,
        "message.removed",
        "MESSAGE",
        message_id,
        text,
        event_id=message.event_id,
        author_id=message.author_user_id,
    )
    return removed


async def remove_media(
    deps: Deps, viewer: Viewer | None, media_id: str, reason: str
) -> media_store.Media:
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=True)
    media = (await media_store.media_by_ids([media_id]))[0]
    if media is None:
        raise NotFound("No such media.")
    if await media_uc.remove_by_admin(deps, media):
        await _audit_now(
            deps,
            admin,
            "media.removed",
            "MEDIA",
            media_id,
            text,
            event_id=media.event_id,
            uploader_id=media.uploader_user_id,
        )
    return (await media_store.media_by_ids([media_id]))[0] or media


async def remove_comment(
    deps: Deps, viewer: Viewer | None, comment_id: str, reason: str
) -> media_store.MediaComment:
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=True)
    comment = await media_store.comment_by_id(comment_id)
    if comment is None:
        raise NotFound("No such comment.")
    if await albums_uc.remove_comment_by_admin(comment, deps.clock()):
        await _audit_now(
            deps,
            admin,
            "comment.removed",
            "MEDIA_COMMENT",
            comment_id,
            text,
            event_id=comment.event_id,
            author_id=comment.author_user_id,
            media_id=comment.media_id,
        )
    return await media_store.comment_by_id(comment_id) or comment


async def cancel_event(deps: Deps, viewer: Viewer | None, event_id: int, reason: str) -> Event:
    """Any event, whoever organises it; participants are told like for any cancellation."""
    admin = await require_admin(deps, viewer)
    text = checked_reason(reason, required=True)
    async with deps.db.unit_of_work() as db:
        event = await events_store.lock_event(db, event_id)
        if event is None:
            raise NotFound("No such event.")
        not_cancelled(event)
        event.status = EventStatus.CANCELLED.value
        record_event(
            db, "event.cancelled", event_id, admin.id, title=event.title, by_admin=True, reason=text
        )
        saved = await events_store.save_event(db, event)
        audit(db, admin, "event.cancelled", "EVENT", event_id, text, title=event.title)
    await event_changed(deps, event_id)
    return saved


async def audit_entries(
    deps: Deps, viewer: Viewer | None, ids: list[int]
) -> list[AuditEntry | None]:
    """node(id:) for audit entries: admins only (None for anyone else, like missing ids)."""
    if not await is_admin(deps, viewer):
        return [None] * len(ids)
    async with deps.db.reader() as db:
        found = {e.id: e for e in await store.audit_entries(db, ids)}
    return [found.get(i) for i in ids]
