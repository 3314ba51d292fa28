"""Event chat: sending, editing, deleting, replies, reactions and history.

Who may read and write is decided by the viewer's membership read fresh from MySQL on every
call (the same rule as every other child of an event); authors are shown from the user
snapshots. Messages live in MongoDB only, so a mention's notification is recorded in the outbox
right after the message is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property

from aiodataloader import DataLoader
from redis.exceptions import RedisError

from resolvers import chat_feed as feed
from resolvers import presence
from resolvers.chat_feed import Change
from resolvers.core.background import in_background
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    NotFound,
    StreamErrorCode,
    Unavailable,
)
from resolvers.core.loading import LoaderBase
from resolvers.core.rates import rate_limit
from resolvers.core.text import checked_message, refuse_controls
from resolvers.events import access, has_role, role_of
from resolvers.projections import record_event_once
from stores import accounts as accounts_store
from stores import chat as store
from stores import events as events_store
from stores import media as media_store
from stores.events import ParticipantRole
from stores.mongo import is_unreachable
from stores.redis import key

log = logging.getLogger("iven.chat")

MAX_BODY = 4000
MAX_CLIENT_ID = 64
MENTION = re.compile(r"(?<![\w.])@([A-Za-z0-9_.]{3,30})")


class ChatErrorCode(StrEnum):
    """What chat mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_EMOJI = "INVALID_EMOJI"
    MESSAGE_NOT_FOUND = "MESSAGE_NOT_FOUND"
    MESSAGE_DELETED = "MESSAGE_DELETED"
    MEDIA_NOT_FOUND = "MEDIA_NOT_FOUND"
    STALE = "STALE"
    RATE_LIMITED = "RATE_LIMITED"
    POLL_CLOSED = "POLL_CLOSED"
    NOT_A_POLL = "NOT_A_POLL"


async def _member(deps: Deps, viewer: Viewer, event_id: int) -> events_store.Participant:
    """The viewer's active participation, else NOT_FOUND (like a missing event)."""
    found = (await access(deps, viewer, [event_id]))[0]
    if found is None or role_of(found[1]) is None or found[1] is None:
        raise NotFound("Event not found.")
    return found[1]


async def _message(
    deps: Deps, viewer: Viewer, message_id: str
) -> tuple[store.ChatMessage, events_store.Participant]:
    message = await store.by_id(message_id)
    if message is None:
        raise NotFound("Message not found.")
    try:
        me = await _member(deps, viewer, message.event_id)
    except NotFound:
        raise NotFound("Message not found.") from None
    return message, me


def checked_body(body: str) -> str:
    return checked_message(body, max_len=MAX_BODY, field="body")


async def _mentions(deps: Deps, event_id: int, body: str) -> list[int]:
    names = {m.lower() for m in MENTION.findall(body)}
    if not names:
        return []
    async with deps.db.reader() as db:
        members = await events_store.participants_of_events(db, [event_id], active_only=True)
        users = await accounts_store.users_by_ids(
            db, [p.user_id for p in members if p.user_id is not None]
        )
    return sorted(u.id for u in users if u.id is not None and u.username_key in names)


MAX_ATTACHMENTS = 10


async def _checked_attachments(event_id: int, ids: Sequence[str]) -> list[str]:
    if len(ids) > MAX_ATTACHMENTS:
        raise DomainError(
            ChatErrorCode.INVALID_INPUT, f"At most {MAX_ATTACHMENTS} attachments.", "attachmentIds"
        )
    unique = list(dict.fromkeys(ids))
    for index, found in enumerate(await media_store.media_by_ids(unique)):
        if found is None or found.event_id != event_id or found.removed_at is not None:
            raise DomainError(
                ChatErrorCode.MEDIA_NOT_FOUND,
                "No such media in this event.",
                ["attachmentIds", str(index)],
            )
    return unique


def _check_client_id(client_id: str) -> None:
    if not 1 <= len(client_id) <= MAX_CLIENT_ID:
        raise DomainError(
            ChatErrorCode.INVALID_INPUT, f"1 to {MAX_CLIENT_ID} characters.", "clientId"
        )
    refuse_controls(client_id, "clientId")


async def send(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    body: str,
    reply_to_id: str | None,
    client_id: str | None,
    attachment_ids: Sequence[str] = (),
    poll: store.Poll | None = None,
) -> store.ChatMessage:
    """Posts a message (with its poll, checked by resolvers.chat_polls.send)."""
    await _member(deps, viewer, event_id)
    attachments = await _checked_attachments(event_id, attachment_ids)
    text = checked_body(body) if body.strip() or not (attachments or poll) else ""
    if client_id is not None:
        _check_client_id(client_id)
    client_key = f"{event_id}:{viewer.user_id}:{client_id}" if client_id else None
    if client_key is not None:
        first = await store.by_client_key(client_key)
        if first is not None:  # a retried send: the first try may have failed to publish it
            await _republish(deps, first)
            await _record_mentions(deps, viewer, first)
            return first
    await rate_limit(deps, "chat-send", str(viewer.user_id), deps.settings.rate_chat_send)
    if reply_to_id is not None:
        parent = await store.by_id(reply_to_id)
        if parent is None or parent.event_id != event_id:
            raise DomainError(
                ChatErrorCode.MESSAGE_NOT_FOUND, "No such message in this chat.", "replyToId"
            )
    mentions = [u for u in await _mentions(deps, event_id, text) if u != viewer.user_id]

    async def write(seq: int) -> tuple[store.ChatMessage, bool] | None:
        found, created = await store.add(
            store.ChatMessage(
                event_id=event_id,
                author_user_id=viewer.user_id,
                body=text,
                mentions=mentions,
                reply_to_id=reply_to_id,
                client_key=client_key,
                created_at=deps.clock(),
                seq=seq,
                changed_seq=seq,
                attachment_ids=attachments,
                poll=poll,
            )
        )
        # `found` under this very number: the driver retried our insert after a broken
        # connection, and the first try had stored it
        return (found, True) if created or found.seq == seq else None

    stored = await feed.numbered(deps, event_id, write)
    if stored is None:  # the same client id won a race
        first = await store.by_client_key(client_key or "")
        if first is None:
            raise DomainError(
                ChatErrorCode.STALE, "The message could not be stored; send it again.", "body"
            )
        await _republish(deps, first)
        await _record_mentions(deps, viewer, first)
        return first
    message, created = stored
    await feed.publish(
        deps, Change(kind="added", event_id=event_id, seq=message.seq, message=message)
    )
    await stop_typing(deps, viewer, event_id)
    if created:
        await _record_mentions(deps, viewer, message)
    return message


async def _record_mentions(deps: Deps, viewer: Viewer, message: store.ChatMessage) -> None:
    """The mentions' notification (recorded again by a retried send, notified once)."""
    mentions = [u for u in message.mentions if u != viewer.user_id]
    if mentions:
        await record_event_once(
            deps,
            f"chat.mentioned:{message.id}",
            "chat.mentioned",
            message.event_id,
            viewer.user_id,
            None,
            message_id=str(message.id),
            user_ids=mentions,
            excerpt=message.body[:140],
        )


async def _republish(deps: Deps, message: store.ChatMessage) -> None:
    """Publishes a stored message again under its own number: each feed delivers a number
    once, so this only reaches sockets that have not had it."""
    kind = "deleted" if message.deleted_at is not None else "added"
    await feed.publish(
        deps, Change(kind=kind, event_id=message.event_id, seq=message.seq, message=message)
    )


async def edit(deps: Deps, viewer: Viewer, message_id: str, body: str) -> store.ChatMessage:
    message, _ = await _message(deps, viewer, message_id)
    if message.author_user_id != viewer.user_id:
        raise Forbidden("Only the author edits a message.")
    if message.deleted_at is not None:
        raise DomainError(ChatErrorCode.MESSAGE_DELETED, "This message was deleted.", "messageId")
    text = checked_body(body)
    if text == message.body:
        return message
    edited = await feed.numbered(
        deps, message.event_id, lambda seq: store.edit(message, text, deps.clock(), seq)
    )
    if edited is None:  # changed meanwhile (edited again or deleted)
        raise DomainError(
            ChatErrorCode.STALE, "The message changed meanwhile; reload it.", "messageId"
        )
    await feed.publish(
        deps,
        Change(kind="edited", event_id=edited.event_id, seq=edited.changed_seq, message=edited),
    )
    return edited


async def delete(deps: Deps, viewer: Viewer, message_id: str) -> store.ChatMessage:
    message, me = await _message(deps, viewer, message_id)
    if message.author_user_id != viewer.user_id and not has_role(me, ParticipantRole.ORGANIZER):
        raise Forbidden("Only the author or an organizer deletes a message.")
    return await tombstone(deps, message, viewer.user_id)


async def tombstone(
    deps: Deps, message: store.ChatMessage, by_user_id: int, *, by_admin: bool = False
) -> store.ChatMessage:
    """Deletes it for everyone, leaving a tombstone (told live to the chat's subscribers);
    deleting a tombstone again changes nothing."""
    if message.deleted_at is not None:
        return message
    deleted = await feed.numbered(
        deps,
        message.event_id,
        lambda seq: store.tombstone(message, by_user_id, deps.clock(), seq, by_admin=by_admin),
    )
    if deleted is None:
        return await store.by_id(str(message.id)) or message
    await feed.publish(
        deps,
        Change(kind="deleted", event_id=deleted.event_id, seq=deleted.changed_seq, message=deleted),
    )
    return deleted


JOINERS = {"\u200d", "\ufe0f", "\ufe0e"}


def checked_emoji(emoji: str) -> str:
    """One emoji (with its modifiers, joiners and tags), nothing else."""
    text = emoji.strip()
    pictographs = 0
    for ch in text:
        category = unicodedata.category(ch)
        if category == "So":
            pictographs += 1
        elif not (category in ("Sk", "Mn", "Me") or ch in JOINERS or 0xE0020 <= ord(ch) <= 0xE007F):
            raise DomainError(ChatErrorCode.INVALID_EMOJI, "Use one emoji.", "emoji")
    if not 1 <= len(text) <= 16 or pictographs == 0:
        raise DomainError(ChatErrorCode.INVALID_EMOJI, "Use one emoji.", "emoji")
    return text


async def toggle_reaction(
    deps: Deps, viewer: Viewer, message_id: str, emoji: str
) -> store.ChatMessage:
    message, _ = await _message(deps, viewer, message_id)
    symbol = checked_emoji(emoji)
    if message.deleted_at is not None:
        raise DomainError(ChatErrorCode.MESSAGE_DELETED, "This message was deleted.", "messageId")
    present = viewer.user_id in message.reactions.get(symbol, [])
    if not present and symbol not in message.reactions and len(message.reactions) >= 50:
        raise DomainError(
            ChatErrorCode.INVALID_EMOJI, "Too many different reactions here.", "emoji"
        )
    changed = await feed.numbered(
        deps,
        message.event_id,
        lambda seq: store.toggle_reaction(message, symbol, viewer.user_id, not present, seq),
    )
    if changed is None:
        raise DomainError(ChatErrorCode.MESSAGE_DELETED, "This message was deleted.", "messageId")
    await feed.publish(
        deps,
        Change(
            kind="reaction",
            event_id=changed.event_id,
            seq=changed.changed_seq,
            message=changed,
            user_id=viewer.user_id,
            emoji=symbol,
            added=not present,
        ),
    )
    return changed


async def history(
    deps: Deps, viewer: Viewer, event_id: int, last: int, before: tuple[datetime, str] | None
) -> list[store.ChatMessage]:
    await _member(deps, viewer, event_id)
    return await store.history(event_id, last=last, before=before)


async def around(
    deps: Deps, viewer: Viewer, event_id: int, message_id: str, size: int
) -> tuple[list[store.ChatMessage], list[store.ChatMessage]]:
    """Older (newest first, including the anchor) and newer (oldest first) than the anchor."""
    await _member(deps, viewer, event_id)
    anchor = await store.by_id(message_id)
    if anchor is None or anchor.event_id != event_id:
        raise NotFound("Message not found.")
    key = (anchor.created_at, str(anchor.id))
    half = max(1, size // 2)
    newer = await store.newer(event_id, first=size - half, after=key)
    older = await store.history(event_id, last=half - 1, before=key) if half > 1 else []
    return [anchor, *older], newer


async def replies(
    deps: Deps,
    viewer: Viewer,
    parent: store.ChatMessage,
    first: int,
    after: tuple[datetime, str] | None,
) -> list[store.ChatMessage]:
    await _member(deps, viewer, parent.event_id)
    return await store.replies(str(parent.id), first=first, after=after)


async def messages_by_id(deps: Deps, ids: Sequence[str]) -> list[store.ChatMessage | None]:
    """Batch function (callers check membership)."""
    found = {str(m.id): m for m in await store.by_ids(list(ids))}
    return [found.get(i) for i in ids]


# --- read statuses -----------------------------------------------------------------------------

UNREAD_CAP = 1000  # counts stop there ("999+" in a client)


async def mark_read(
    deps: Deps, viewer: Viewer, event_id: int, message_id: str
) -> store.ReadMarker | None:
    """Moves the viewer's marker to the message; never backwards (then it stays put)."""
    await _member(deps, viewer, event_id)
    message = await store.by_id(message_id)
    if message is None or message.event_id != event_id:
        raise DomainError(
            ChatErrorCode.MESSAGE_NOT_FOUND, "No such message in this chat.", "upToMessageId"
        )
    moved = await feed.numbered(
        deps,
        event_id,
        lambda seq: store.move_marker(event_id, viewer.user_id, message, seq, deps.clock()),
    )
    if moved is None:
        return await store.marker(event_id, viewer.user_id)
    settings = await chat_settings(deps, viewer.user_id)
    await feed.publish(
        deps,
        Change(
            kind="read",
            event_id=event_id,
            seq=moved.seq,
            user_id=viewer.user_id,
            message_id=moved.message_id,
            at=moved.at,
            only_user=None if settings.send_read_receipts else viewer.user_id,
        ),
    )
    return moved


async def unread_counts(deps: Deps, viewer: Viewer, event_id: int, *, mentions_only: bool) -> int:
    """Others' live messages after the viewer's marker (at most UNREAD_CAP); callers have
    checked membership."""
    marker = await store.marker(event_id, viewer.user_id)
    return await store.unread_count(
        event_id, viewer.user_id, marker, mentions_only=mentions_only, cap=UNREAD_CAP
    )


async def seen_by(
    deps: Deps, viewer: Viewer, message: store.ChatMessage, first: int
) -> list[tuple[int, datetime]] | None:
    """Who read up to the message (user id, when), for its author only (None for others);
    people who hide read receipts are left out."""
    if message.author_user_id != viewer.user_id:
        return None
    await _member(deps, viewer, message.event_id)
    markers = [
        m for m in await store.readers_of(message, first * 2 + 10) if m.user_id != viewer.user_id
    ]
    settings = await store.settings_of([m.user_id for m in markers])
    shown = [
        (m.user_id, m.updated_at)
        for m in markers
        if settings.get(m.user_id) is None or settings[m.user_id].send_read_receipts
    ]
    return shown[:first]


# --- settings, typing --------------------------------------------------------------------------

TYPING_TIMEOUT_S = 6


async def chat_settings(deps: Deps, user_id: int) -> store.ChatSettings:
    return (await store.settings_of([user_id])).get(user_id) or store.ChatSettings(user_id=user_id)


async def update_settings(
    deps: Deps, viewer: Viewer, show_presence: bool | None, send_read_receipts: bool | None
) -> store.ChatSettings:
    changes = {
        k: v
        for k, v in (("show_presence", show_presence), ("send_read_receipts", send_read_receipts))
        if v is not None
    }
    if not changes:
        return await chat_settings(deps, viewer.user_id)
    before = await chat_settings(deps, viewer.user_id)
    saved = await store.save_settings(viewer.user_id, changes, deps.clock())
    if before.show_presence != saved.show_presence:
        await presence.tracker(deps).visibility_changed(viewer.user_id, saved.show_presence)
    return saved


def _typing_key(event_id: int, user_id: int) -> str:
    return key("typing", event_id, user_id)


async def set_typing(deps: Deps, viewer: Viewer, event_id: int, typing: bool) -> bool:
    """Tells the others (never the typer); typing ends by itself after TYPING_TIMEOUT_S
    unless refreshed. Returns whether anything was sent."""
    await _member(deps, viewer, event_id)
    await rate_limit(deps, "chat-typing", str(viewer.user_id), "60/10")
    k = _typing_key(event_id, viewer.user_id)
    if not typing:
        return await stop_typing(deps, viewer, event_id)
    now = deps.clock()
    expires = now.timestamp() + TYPING_TIMEOUT_S
    await deps.redis.set(k, str(expires), ex=TYPING_TIMEOUT_S + 2)
    expires_at = datetime.fromtimestamp(expires, UTC)
    await feed.publish(
        deps,
        Change(
            kind="typing",
            event_id=event_id,
            user_id=viewer.user_id,
            active=True,
            expires_at=expires_at,
            not_user=viewer.user_id,
        ),
    )
    asyncio.get_running_loop().call_later(
        TYPING_TIMEOUT_S + 0.05, in_background, _expire_typing(deps, viewer, event_id, expires)
    )
    return True


async def _expire_typing(deps: Deps, viewer: Viewer, event_id: int, expires: float) -> None:
    value = await deps.redis.get(_typing_key(event_id, viewer.user_id))
    if value is not None and float(value) > expires:
        return  # refreshed meanwhile: that one's timer will do it
    await stop_typing(deps, viewer, event_id)


async def stop_typing(deps: Deps, viewer: Viewer, event_id: int) -> bool:
    """Sends `isTyping: false` if the viewer was marked typing (not when Redis fails: the
    marker expires by itself)."""
    try:
        if not await deps.redis.delete(_typing_key(event_id, viewer.user_id)):
            return False
    except RedisError:
        log.warning("typing marker not cleared", extra={"event_id": event_id})
        return False
    await feed.publish(
        deps,
        Change(
            kind="typing",
            event_id=event_id,
            user_id=viewer.user_id,
            active=False,
            not_user=viewer.user_id,
        ),
    )
    return True


# --- the live stream ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def subscription(
    deps: Deps, viewer: Viewer, event_id: int, after: int | None, group: feed.Group
) -> AsyncIterator[feed.Subscriber]:
    """A `chatEvents` subscriber for a participant (checked now, and on every delivery)."""
    await may_subscribe(deps, viewer, event_id, after)

    def ended(sub: feed.Subscriber, reason: str) -> None:
        if isinstance(group, feed.QueueGroup):
            group.queue.put_nowait(reason)

    sub = feed.Subscriber(
        event_id, viewer.user_id, viewer.session_id, viewer.expires_at, group, ended
    )
    hub = feed.hub(deps)
    await hub.join(sub, after)
    try:
        yield sub
    finally:
        hub.leave(sub)


async def may_subscribe(deps: Deps, viewer: Viewer, event_id: int, after: int | None) -> None:
    await _member(deps, viewer, event_id)
    if after is None:
        return
    try:
        current = await store.current_seq(event_id)
    except Exception as exc:
        if is_unreachable(exc):
            raise Unavailable() from exc
        raise
    if after > current:
        raise BadRequest("This cursor is not from this chat.")


def ended_error(reason: str) -> Exception:
    if reason == feed.NOT_A_MEMBER:
        return Forbidden("You are no longer a participant of this event.")
    return DomainError(
        StreamErrorCode.CURSOR_TOO_OLD,
        "Too much happened since this cursor: reload the history.",
        "after",
    )


class ChatLoaders(LoaderBase):
    @cached_property
    def chat_message(self) -> DataLoader[str, store.ChatMessage | None]:
        return self.batched(messages_by_id)
