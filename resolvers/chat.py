"""Event chat: sending, editing, deleting, replies, reactions and history.

Who may read and write is decided by the viewer's membership read fresh from MySQL on every
call (the same rule as every other child of an event); authors are shown from the user
snapshots. Messages live in MongoDB only, so a mention's notification is recorded in the outbox
right after the message is stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime

from resolvers.accounts import rate_limit
from resolvers.deps import Deps, Viewer
from resolvers.errors import DomainError, Forbidden, NotFound
from resolvers.events import access, has_role, role_of
from resolvers.notifications import clock
from resolvers.projections import record_event
from stores import accounts as accounts_store
from stores import chat as store
from stores import events as events_store
from stores.events import ParticipantRole

MAX_BODY = 4000
MAX_CLIENT_ID = 64
MENTION = re.compile(r"(?<![\w.])@([A-Za-z0-9_.]{3,30})")


async def _member(deps: Deps, viewer: Viewer, event_id: int) -> events_store.Participant:
    """The viewer's active participation, else NOT_FOUND (like a missing event)."""
    found = (await access(deps, viewer, [event_id]))[0]
    if found is None or role_of(found[1]) is None or found[1] is None:
        raise NotFound("Event not found.")
    return found[1]


async def _message(deps: Deps, viewer: Viewer, message_id: str
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
    text = body.strip()
    if not text:
        raise DomainError("REQUIRED", "Write something.", "body")
    if len(text) > MAX_BODY:
        raise DomainError("VALUE_TOO_LONG", f"At most {MAX_BODY} characters.", "body")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise DomainError("INVALID_INPUT", "Control characters are not allowed.", "body")
    return text


async def _mentions(deps: Deps, event_id: int, body: str) -> list[int]:
    names = {m.lower() for m in MENTION.findall(body)}
    if not names:
        return []
    async with deps.db.reader() as db:
        members = await events_store.participants_of_events(db, [event_id], active_only=True)
        users = await accounts_store.users_by_ids(
            db, [p.user_id for p in members if p.user_id is not None])
    return sorted(u.id for u in users if u.id is not None and u.username_key in names)


async def send(deps: Deps, viewer: Viewer, event_id: int, body: str, reply_to_id: str | None,
               client_id: str | None) -> store.ChatMessage:
    await _member(deps, viewer, event_id)
    text = checked_body(body)
    if client_id is not None and not 1 <= len(client_id) <= MAX_CLIENT_ID:
        raise DomainError("INVALID_INPUT", f"1 to {MAX_CLIENT_ID} characters.", "clientId")
    client_key = f"{event_id}:{viewer.user_id}:{client_id}" if client_id else None
    if client_key is not None:
        first = await store.by_client_key(client_key)
        if first is not None:
            return first  # a retried send
    await rate_limit(deps, "chat-send", str(viewer.user_id), deps.settings.rate_chat_send)
    if reply_to_id is not None:
        parent = await store.by_id(reply_to_id)
        if parent is None or parent.event_id != event_id:
            raise DomainError("MESSAGE_NOT_FOUND", "No such message in this chat.", "replyToId")
    mentions = [u for u in await _mentions(deps, event_id, text) if u != viewer.user_id]
    message, created = await store.add(store.ChatMessage(
        event_id=event_id, author_user_id=viewer.user_id, body=text, mentions=mentions,
        reply_to_id=reply_to_id, client_key=client_key, created_at=clock(deps)))
    if created and mentions:
        async with deps.db.unit_of_work() as db:
            record_event(db, "chat.mentioned", event_id, viewer.user_id, None,
                         message_id=str(message.id), user_ids=mentions,
                         excerpt=text[:140])
    return message


async def edit(deps: Deps, viewer: Viewer, message_id: str, body: str) -> store.ChatMessage:
    message, _ = await _message(deps, viewer, message_id)
    if message.author_user_id != viewer.user_id:
        raise Forbidden("Only the author edits a message.")
    if message.deleted_at is not None:
        raise DomainError("MESSAGE_DELETED", "This message was deleted.", "messageId")
    text = checked_body(body)
    if text == message.body:
        return message
    edited = await store.edit(message, text, clock(deps))
    if edited is None:  # changed meanwhile (edited again or deleted)
        raise DomainError("STALE", "The message changed meanwhile; reload it.", "messageId")
    return edited


async def delete(deps: Deps, viewer: Viewer, message_id: str) -> store.ChatMessage:
    message, me = await _message(deps, viewer, message_id)
    if message.author_user_id != viewer.user_id and not has_role(me, ParticipantRole.ORGANIZER):
        raise Forbidden("Only the author or an organizer deletes a message.")
    if message.deleted_at is not None:
        return message
    return await store.tombstone(message, viewer.user_id, clock(deps)) or message


JOINERS = {"\u200d", "\ufe0f", "\ufe0e"}


def checked_emoji(emoji: str) -> str:
    """One emoji (with its modifiers, joiners and tags), nothing else."""
    text = emoji.strip()
    pictographs = 0
    for ch in text:
        category = unicodedata.category(ch)
        if category == "So":
            pictographs += 1
        elif not (category in ("Sk", "Mn", "Me") or ch in JOINERS
                  or 0xE0020 <= ord(ch) <= 0xE007F):
            raise DomainError("INVALID_EMOJI", "Use one emoji.", "emoji")
    if not 1 <= len(text) <= 16 or pictographs == 0:
        raise DomainError("INVALID_EMOJI", "Use one emoji.", "emoji")
    return text


async def toggle_reaction(deps: Deps, viewer: Viewer, message_id: str,
                          emoji: str) -> store.ChatMessage:
    message, _ = await _message(deps, viewer, message_id)
    symbol = checked_emoji(emoji)
    if message.deleted_at is not None:
        raise DomainError("MESSAGE_DELETED", "This message was deleted.", "messageId")
    present = viewer.user_id in message.reactions.get(symbol, [])
    if not present and symbol not in message.reactions and len(message.reactions) >= 50:
        raise DomainError("INVALID_EMOJI", "Too many different reactions here.", "emoji")
    changed = await store.toggle_reaction(message, symbol, viewer.user_id, not present)
    return changed or message


async def history(deps: Deps, viewer: Viewer, event_id: int, last: int,
                  before: tuple[datetime, str] | None) -> list[store.ChatMessage]:
    await _member(deps, viewer, event_id)
    return await store.history(event_id, last=last, before=before)


async def around(deps: Deps, viewer: Viewer, event_id: int, message_id: str,
                 size: int) -> tuple[list[store.ChatMessage], list[store.ChatMessage]]:
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


async def replies(deps: Deps, viewer: Viewer, parent: store.ChatMessage, first: int,
                  after: tuple[datetime, str] | None) -> list[store.ChatMessage]:
    await _member(deps, viewer, parent.event_id)
    return await store.replies(str(parent.id), first=first, after=after)


async def messages_by_id(deps: Deps, ids: Sequence[str]) -> list[store.ChatMessage | None]:
    """Batch function (callers check membership)."""
    found = {str(m.id): m for m in await store.by_ids(list(ids))}
    return [found.get(i) for i in ids]
