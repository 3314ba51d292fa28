"""Polls in chat (issue 18, "Planning together"): a message may carry a poll that the event's
participants vote on, live.

The poll lives inside its message (stores.chat.Poll): each vote or close is a change of that
message, numbered like an edit or a reaction (`feed.numbered`, bumping `changed_seq`), so the
open `chatEvents` streams get it and a replay with `after:` shows the poll as it is now.

A vote replaces the voter's choice with one single-document update of the voter's own key, so
votes of different people never overwrite each other, and a failed write leaves the previous
choice whole (a retry is the same update). Votes are keyed by user id: guests without an
account will be user rows too. In an anonymous poll nobody, not even its author, is told who
voted: the schema shows counts only, and the published change names no voter.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from resolvers import chat_feed as feed
from resolvers.chat import ChatErrorCode, _member, _message, send
from resolvers.chat_feed import Change
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, Forbidden
from resolvers.core.rates import rate_limit
from resolvers.core.text import refuse_controls
from resolvers.events import has_role
from stores import chat as store
from stores.events import ParticipantRole

MIN_OPTIONS = 2
MAX_OPTIONS = 10
MAX_QUESTION = 300
MAX_OPTION = 100
MAX_OPEN_DAYS = 90


@dataclass(frozen=True)
class PollDraft:
    """A poll as asked for in sendMessage, not checked yet."""

    question: str
    options: Sequence[str] = field(default_factory=tuple)
    multiple_choice: bool = False
    anonymous: bool = False
    closes_at: datetime | None = None


def _invalid(message: str, *path: str) -> DomainError:
    return DomainError(ChatErrorCode.INVALID_INPUT, message, ["poll", *path])


def checked_poll(draft: PollDraft, now: datetime) -> store.Poll:
    """The poll to store, or the first thing wrong with it (`field` under `poll`). The number
    of options is checked before any option is read: a huge list costs nothing more."""
    question = draft.question.strip()
    if not question:
        raise DomainError(ChatErrorCode.REQUIRED, "Ask a question.", ["poll", "question"])
    if len(question) > MAX_QUESTION:
        raise DomainError(
            ChatErrorCode.VALUE_TOO_LONG,
            f"At most {MAX_QUESTION} characters.",
            ["poll", "question"],
        )
    refuse_controls(question, ["poll", "question"])
    if not MIN_OPTIONS <= len(draft.options) <= MAX_OPTIONS:
        raise _invalid(f"{MIN_OPTIONS} to {MAX_OPTIONS} options.", "options")
    options: list[store.PollOption] = []
    seen: set[str] = set()
    for index, raw in enumerate(draft.options):
        text = raw.strip()
        if not 1 <= len(text) <= MAX_OPTION:
            raise _invalid(f"1 to {MAX_OPTION} characters.", "options", str(index))
        refuse_controls(text, ["poll", "options", str(index)])
        folded = unicodedata.normalize("NFC", text).casefold()
        if folded in seen:
            raise _invalid("Each option once.", "options", str(index))
        seen.add(folded)
        options.append(store.PollOption(id=f"o{index + 1}", text=text))
    closes_at = draft.closes_at
    if closes_at is not None:
        if closes_at.tzinfo is None:
            raise _invalid("Give the time with its offset (e.g. Z).", "closesAt")
        if not now < closes_at <= now + timedelta(days=MAX_OPEN_DAYS):
            raise _invalid(f"In the future, at most {MAX_OPEN_DAYS} days ahead.", "closesAt")
    return store.Poll(
        question=question,
        options=options,
        multiple_choice=draft.multiple_choice,
        anonymous=draft.anonymous,
        closes_at=closes_at,
    )


async def send_with_poll(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    body: str,
    reply_to_id: str | None,
    client_id: str | None,
    attachment_ids: Sequence[str],
    draft: PollDraft,
) -> store.ChatMessage:
    """sendMessage with a poll: members only (checked before the poll, as without one)."""
    await _member(deps, viewer, event_id)
    poll = checked_poll(draft, deps.clock())
    return await send(deps, viewer, event_id, body, reply_to_id, client_id, attachment_ids, poll)


async def _poll_message(
    deps: Deps, viewer: Viewer, message_id: str
) -> tuple[store.ChatMessage, store.Poll, bool]:
    """The message and its poll, for a member of its event; whether the viewer is an
    organizer. Deleted, no poll or closed: the payload error."""
    message, me = await _message(deps, viewer, message_id)
    if message.deleted_at is not None:
        raise DomainError(ChatErrorCode.MESSAGE_DELETED, "This message was deleted.", "messageId")
    if message.poll is None:
        raise DomainError(ChatErrorCode.NOT_A_POLL, "This message has no poll.", "messageId")
    return message, message.poll, has_role(me, ParticipantRole.ORGANIZER)


def _closed() -> DomainError:
    return DomainError(ChatErrorCode.POLL_CLOSED, "This poll is closed.", "messageId")


def checked_choice(poll: store.Poll, option_ids: Sequence[str]) -> list[str]:
    """The chosen option ids in the poll's order (a repeated id counts once)."""
    if len(option_ids) > len(poll.options):
        raise DomainError(
            ChatErrorCode.INVALID_INPUT, "More options than the poll has.", "optionIds"
        )
    known = {o.id for o in poll.options}
    for index, option_id in enumerate(option_ids):
        if option_id not in known:
            raise DomainError(
                ChatErrorCode.INVALID_INPUT,
                "No such option in this poll.",
                ["optionIds", str(index)],
            )
    chosen = set(option_ids)
    if len(chosen) > 1 and not poll.multiple_choice:
        raise DomainError(ChatErrorCode.INVALID_INPUT, "This poll takes one option.", "optionIds")
    return [o.id for o in poll.options if o.id in chosen]


async def vote(
    deps: Deps, viewer: Viewer, message_id: str, option_ids: Sequence[str]
) -> store.ChatMessage:
    """Replaces the viewer's choice (an empty list withdraws it); the same choice again
    changes nothing."""
    message, poll, _ = await _poll_message(deps, viewer, message_id)
    choice = checked_choice(poll, option_ids)
    if poll.is_closed(deps.clock()):
        raise _closed()
    if poll.choice_of(viewer.user_id) == choice:
        return message
    await rate_limit(deps, "chat-vote", str(viewer.user_id), deps.settings.rate_chat_send)
    changed = await feed.numbered(
        deps,
        message.event_id,
        lambda seq: store.vote(message, viewer.user_id, choice, seq),
    )
    if changed is None:  # deleted or closed meanwhile
        return _refused(await store.by_id(message_id))
    await _publish(deps, changed, None if poll.anonymous else viewer.user_id)
    return changed


async def close(deps: Deps, viewer: Viewer, message_id: str) -> store.ChatMessage:
    """Its author or an organizer closes the poll for good; closing a closed poll changes
    nothing."""
    message, poll, organizer = await _poll_message(deps, viewer, message_id)
    if message.author_user_id != viewer.user_id and not organizer:
        raise Forbidden("Only the author or an organizer closes a poll.")
    if poll.closed_at is not None:
        return message
    await rate_limit(deps, "chat-vote", str(viewer.user_id), deps.settings.rate_chat_send)
    changed = await feed.numbered(
        deps,
        message.event_id,
        lambda seq: store.close_poll(message, viewer.user_id, deps.clock(), seq),
    )
    if changed is None:  # deleted or closed meanwhile
        now = await store.by_id(message_id)
        if now is not None and now.deleted_at is None and now.poll is not None:
            return now
        return _refused(now)
    await _publish(deps, changed, None)
    return changed


def _refused(now: store.ChatMessage | None) -> store.ChatMessage:
    if now is None or now.deleted_at is not None or now.poll is None:
        raise DomainError(ChatErrorCode.MESSAGE_DELETED, "This message was deleted.", "messageId")
    raise _closed()


async def _publish(deps: Deps, message: store.ChatMessage, voter: int | None) -> None:
    await feed.publish(
        deps,
        Change(
            kind="poll",
            event_id=message.event_id,
            seq=message.changed_seq,
            message=message,
            user_id=voter,
        ),
    )
