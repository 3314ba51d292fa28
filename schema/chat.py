"""Event chat: messages, replies, reactions, history (`Event.messages`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from resolvers import chat as uc
from resolvers import chat_feed
from resolvers import chat_polls as polls_uc
from resolvers import events as events_uc
from resolvers.chat import ChatErrorCode
from resolvers.chat_feed import Change
from resolvers.core.errors import BadRequest
from schema.accounts import User
from schema.authors import ChatAuthor, chat_person
from schema.chat_polls import ClosePollInput, Poll, PollInput, VotePollInput
from schema.context import Info
from schema.core import (
    MAX_PAGE,
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    Edge,
    PageInfo,
    UserError,
    connection,
    cursor_int,
    decode_cursor,
    decode_document_id,
    decode_global_id,
    decode_time_cursor,
    documented_enum,
    encode_cursor,
    mutate,
    page_size,
)
from schema.media import Media
from stores import chat as store

C = ChatErrorCode
documented_enum(  # the GraphQL enum: one definition, in resolvers
    ChatErrorCode,
    {
        C.REQUIRED: "`body` is empty (sendMessage without attachments or poll, editMessage), "
        "or `poll.question` is.",
        C.VALUE_TOO_LONG: f"`body` is longer than {uc.MAX_BODY} characters, or "
        f"`poll.question` longer than {polls_uc.MAX_QUESTION}.",
        C.INVALID_INPUT: "`body` holds control characters (newlines and tabs are fine), "
        f"more than {uc.MAX_ATTACHMENTS} `attachmentIds`, a `clientId` that is not 1 to "
        f"{uc.MAX_CLIENT_ID} characters of one line, a `poll` that breaks one of PollInput's "
        "rules (`field` names the part), or votePoll `optionIds` that are not options of the "
        "poll, or several in a single-choice poll.",
        C.INVALID_EMOJI: "toggleReaction: `emoji` is not exactly one emoji (with its "
        "modifiers, up to 16 characters), or the message already has 50 different reactions.",
        C.MESSAGE_NOT_FOUND: "`replyToId` or `upToMessageId` is not a message of this chat.",
        C.MESSAGE_DELETED: "editMessage, toggleReaction, votePoll or closePoll on a deleted "
        "message.",
        C.MEDIA_NOT_FOUND: "An `attachmentIds` entry is not a media of this event (or was "
        "removed by an administrator); `field` ends with its index.",
        C.STALE: "The message changed meanwhile (editMessage racing another edit or a "
        "deletion): reload it; or a send could not be stored: send it again (same `clientId`).",
        C.RATE_LIMITED: "Too many messages (30 per 10 seconds by default) or typing signals "
        "(60 per 10 seconds), or poll votes (as many as messages): wait `retryAfterSeconds`.",
        C.POLL_CLOSED: "votePoll on a poll that is closed (`closesAt` passed, or closed with "
        "closePoll).",
        C.NOT_A_POLL: "votePoll or closePoll on a message that carries no poll.",
    },
    description="Why a chat mutation changed nothing (`errors[].code`).",
)


@strawberry.type(description="An expected failure of a chat mutation; nothing was changed.")
class ChatError(UserError):
    codes = ChatErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: ChatErrorCode = strawberry.field(description="What went wrong.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="With RATE_LIMITED: seconds to wait before trying again."
    )


@strawberry.type(description="An earlier version of an edited message.")
class MessageEdit:
    body: str = strawberry.field(description="The text as it was before this edit.")
    edited_at: datetime = strawberry.field(description="When it was replaced (ISO-8601, UTC).")


@strawberry.type(description="One emoji's reactions on a message.")
class Reaction:
    emoji: str = strawberry.field(description="The emoji, as sent to toggleReaction.")
    count: int = strawberry.field(description="How many people reacted with it (at least 1).")
    viewer_reacted: bool = strawberry.field(description="Whether you are one of them.")
    user_ids: strawberry.Private[list[int]]

    @strawberry.field(description="Who reacted, earliest first (the first `first` of them).")
    async def users(
        self,
        info: Info,
        first: Annotated[
            int,
            strawberry.argument(description=f"How many, 0 to {MAX_PAGE} (default 10)."),
        ] = 10,
    ) -> list[User]:
        size = page_size(first)
        rows = await info.context.loaders.user_by_id.load_many(self.user_ids[:size])
        return [User(row=r) for r in rows if r is not None]


@strawberry.type(description="Someone who has read up to a message.")
class SeenBy:
    person: ChatAuthor = strawberry.field(description="Who read it.")
    at: datetime = strawberry.field(
        description="When they last moved their read marker (ISO-8601, UTC)."
    )


def _cursor(message: Message) -> str:
    return encode_cursor(message.doc.created_at.isoformat(), str(message.doc.id))


@strawberry.type(
    description="A message in an event's chat; participants only (`node(id:)` answers null "
    "to others). A deleted one stays as a tombstone (`deleted`, empty body)."
)
class Message(relay.Node):
    doc: strawberry.Private[store.ChatMessage]

    @classmethod
    def resolve_id(cls, root: Message, *, info: Info) -> str:
        return str(root.doc.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Message | None]:
        found = await uc.messages_by_id(info.context.deps, list(node_ids))
        access = await info.context.loaders.event_access.load_many(
            [m.event_id if m else 0 for m in found]
        )
        return [
            Message(doc=m) if m and a and events_uc.role_of(a[1]) else None
            for m, a in zip(found, access, strict=True)
        ]

    @strawberry.field(
        description=f"The text (plain, up to {uc.MAX_BODY} characters, newlines kept); empty "
        "once deleted, or for a message of attachments only."
    )
    def body(self) -> str:
        return self.doc.body

    @strawberry.field(description="Whether it was deleted (a tombstone).")
    def deleted(self) -> bool:
        return self.doc.deleted_at is not None

    @strawberry.field(description="When it was sent (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field(description="When it was last edited; null if never.")
    def edited_at(self) -> datetime | None:
        return self.doc.edited_at

    @strawberry.field(description="When it was deleted; null unless deleted.")
    def deleted_at(self) -> datetime | None:
        return self.doc.deleted_at

    @strawberry.field(description="True when an administrator deleted it (moderation).")
    def removed_by_admin(self) -> bool:
        return self.doc.removed_by_admin

    @strawberry.field(description="Earlier versions, oldest first.")
    def edits(self) -> list[MessageEdit]:
        return [MessageEdit(body=e.body, edited_at=e.edited_at) for e in self.doc.edits]

    @strawberry.field(
        description='Who sent it (as they are named now; "Deleted user" once their '
        "account is gone)."
    )
    async def author(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.doc.author_user_id)

    @strawberry.field(
        description="Who has read up to this message (not those who hide read "
        "receipts), earliest first. Only its author sees it: null "
        "for others."
    )
    async def seen_by(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description=PAGE_FIRST),
        ] = None,
    ) -> list[SeenBy] | None:
        viewer = info.context.require_viewer()
        found = await uc.seen_by(info.context.deps, viewer, self.doc, page_size(first))
        if found is None:
            return None
        # together, so the snapshot loader batches them
        people = await asyncio.gather(*(chat_person(info, user_id) for user_id, _ in found))
        return [SeenBy(person=p, at=at) for p, (_, at) in zip(people, found, strict=True)]

    @strawberry.field(
        description="Media shared with the message (deleted or removed ones are left out)."
    )
    async def attachments(
        self,
        info: Info,
    ) -> list[Media]:
        if not self.doc.attachment_ids:
            return []
        found = await info.context.loaders.media.load_many(self.doc.attachment_ids)
        return [Media(doc=m) for m in found if m is not None and m.removed_at is None]

    @strawberry.field(
        description="Participants mentioned with @username (3 to 30 letters, digits, `_` or "
        "`.`), except the author; each is notified (MENTIONED)."
    )
    async def mentions(self, info: Info) -> list[User]:
        rows = await info.context.loaders.user_by_id.load_many(self.doc.mentions)
        return [User(row=r) for r in rows if r is not None]

    @strawberry.field(description="The message this one answers; null if none.")
    async def reply_to(self, info: Info) -> Message | None:
        if self.doc.reply_to_id is None:
            return None
        found = await info.context.loaders.chat_message.load(self.doc.reply_to_id)
        return Message(doc=found) if found is not None else None

    @strawberry.field(description="The poll it carries; null if none (or once deleted).")
    def poll(self) -> Poll | None:
        return Poll(poll=self.doc.poll) if self.doc.poll is not None else None

    @strawberry.field(description="How many messages answer this one (`replies`).")
    def reply_count(self) -> int:
        return self.doc.reply_count

    @strawberry.field(description="The thread under this message, oldest first.")
    async def replies(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description=PAGE_FIRST),
        ] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Message]:
        viewer = info.context.require_viewer()
        size = page_size(first)
        found = await uc.replies(
            info.context.deps, viewer, self.doc, size + 1, decode_time_cursor(after)
        )
        return connection(
            [Message(doc=m) for m in found], size, _cursor, has_previous=after is not None
        )

    @strawberry.field(description="The reactions, one entry per emoji.")
    def reactions(self, info: Info) -> list[Reaction]:
        viewer = info.context.viewer
        me = viewer.user_id if viewer is not None else None
        return [
            Reaction(
                emoji=emoji, count=len(users), viewer_reacted=me in users, user_ids=list(users)
            )
            for emoji, users in self.doc.reactions.items()
            if users
        ]


async def event_messages(
    info: Info, event_id: int, last: int | None, before: str | None, around: relay.GlobalID | None
) -> Connection[Message]:
    """Newest first. `before` pages back into history; `around` opens at a message."""
    viewer = info.context.require_viewer()
    size = page_size(last, argument="last")
    if around is not None:
        if around.type_name != "Message":
            raise BadRequest("`around` must be a message id.")
        older, newer = await uc.around(
            info.context.deps, viewer, event_id, decode_document_id(around, "Message"), max(size, 1)
        )
        items = [Message(doc=m) for m in [*reversed(newer), *older]]
        edges = [Edge(cursor=_cursor(m), node=m) for m in items]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(older) >= max(1, size // 2),
                has_previous_page=len(newer) >= max(size, 1) - max(1, size // 2),
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
    found = await uc.history(
        info.context.deps, viewer, event_id, size + 1, decode_time_cursor(before)
    )
    return connection(
        [Message(doc=m) for m in found], size, _cursor, has_previous=before is not None
    )


_BODY = (
    f"Plain text, 1 to {uc.MAX_BODY} characters after trimming; newlines and tabs are kept, "
    "other control characters refused. @username mentions a participant."
)


@strawberry.input(description="A message to post.")
class SendMessageInput:
    event_id: relay.GlobalID = strawberry.field(description="The event whose chat it goes to.")
    body: str = strawberry.field(description=f"{_BODY} May be empty with attachments or a poll.")
    reply_to_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A message of this chat to answer (starts or joins its thread)."
    )
    client_id: str | None = strawberry.field(
        default=None,
        description=f"Your id for this send (1 to {uc.MAX_CLIENT_ID} characters): a retry "
        "with the same id returns the same message instead of posting it twice.",
    )
    attachment_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description=f"Media of this event to show with the message (at most "
        f"{uc.MAX_ATTACHMENTS}; the body may then be empty). Upload them first with "
        "uploadMedia.",
    )
    poll: PollInput | None = strawberry.field(
        default=None, description="A poll the message carries (the body may then be empty)."
    )


@strawberry.input(description="A new text for one of your messages.")
class EditMessageInput:
    message_id: relay.GlobalID = strawberry.field(description="Your message to edit.")
    body: str = strawberry.field(description=_BODY)


@strawberry.input(description="One message.")
class MessageRefInput:
    message_id: relay.GlobalID = strawberry.field(description="The message's id.")


@strawberry.input(description="A reaction to add or take back.")
class ToggleReactionInput:
    message_id: relay.GlobalID = strawberry.field(description="The message to react to.")
    emoji: str = strawberry.field(
        description="Exactly one emoji, with its skin-tone modifiers and joiners (e.g. "
        '"👍🏽"); up to 16 characters.'
    )


@strawberry.type(description="The result of a mutation on one message.")
class MessagePayload:
    message: Message | None = strawberry.field(
        description="The message as it is now; null when there are errors."
    )
    errors: list[ChatError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


def _message_id(gid: relay.GlobalID) -> str:
    return decode_document_id(gid, "Message")


def _payload(doc: Any, errors: list[ChatError]) -> MessagePayload:
    return MessagePayload(message=Message(doc=doc) if doc is not None else None, errors=errors)


@strawberry.type
class ChatMutation:
    @strawberry.mutation(
        description="Participants: posts to an event's chat; everyone watching `chatEvents` "
        "gets it, mentioned people are notified. Not a participant: NOT_FOUND. Errors: "
        "REQUIRED, VALUE_TOO_LONG, INVALID_INPUT, MESSAGE_NOT_FOUND, MEDIA_NOT_FOUND, STALE, "
        "RATE_LIMITED."
    )
    async def send_message(
        self,
        info: Info,
        input: Annotated[SendMessageInput, strawberry.argument(description="The message.")],
    ) -> MessagePayload:
        reply_to = _message_id(input.reply_to_id) if input.reply_to_id is not None else None
        event_id = decode_global_id(input.event_id, "Event")
        attachments = [decode_document_id(g, "Media") for g in input.attachment_ids or []]
        if input.poll is not None:
            return _payload(
                *await mutate(
                    info,
                    ChatError,
                    polls_uc.send_with_poll,
                    event_id,
                    input.body,
                    reply_to,
                    input.client_id,
                    attachments,
                    input.poll.draft(),
                )
            )
        return _payload(
            *await mutate(
                info,
                ChatError,
                uc.send,
                event_id,
                input.body,
                reply_to,
                input.client_id,
                attachments,
            )
        )

    @strawberry.mutation(
        description="The author changes the text; the old one is kept in `edits`. Someone "
        "else: FORBIDDEN; not a participant: NOT_FOUND. Errors: REQUIRED, VALUE_TOO_LONG, "
        "INVALID_INPUT, MESSAGE_DELETED, STALE."
    )
    async def edit_message(
        self,
        info: Info,
        input: Annotated[EditMessageInput, strawberry.argument(description="The new text.")],
    ) -> MessagePayload:
        return _payload(
            *await mutate(info, ChatError, uc.edit, _message_id(input.message_id), input.body)
        )

    @strawberry.mutation(
        description="The author or an organizer deletes a message for everyone; a tombstone "
        "stays (`deleted`, empty body). Deleting again changes nothing. Someone else: "
        "FORBIDDEN; not a participant: NOT_FOUND."
    )
    async def delete_message(
        self,
        info: Info,
        input: Annotated[MessageRefInput, strawberry.argument(description="The message.")],
    ) -> MessagePayload:
        return _payload(*await mutate(info, ChatError, uc.delete, _message_id(input.message_id)))

    @strawberry.mutation(
        description="Participants: adds your reaction with this emoji, or takes it back if "
        "you had it. Not a participant: NOT_FOUND. Errors: INVALID_EMOJI, MESSAGE_DELETED."
    )
    async def toggle_reaction(
        self,
        info: Info,
        input: Annotated[
            ToggleReactionInput, strawberry.argument(description="The message and the emoji.")
        ],
    ) -> MessagePayload:
        return _payload(
            *await mutate(
                info, ChatError, uc.toggle_reaction, _message_id(input.message_id), input.emoji
            )
        )


@strawberry.type
class ChatPollMutation:
    @strawberry.mutation(
        description="Participants: votes in a message's poll, replacing your earlier choice "
        "(an empty `optionIds` withdraws it); everyone watching `chatEvents` gets the new "
        "counts (MessagePollChanged). Not a participant: NOT_FOUND. Errors: INVALID_INPUT, "
        "POLL_CLOSED, NOT_A_POLL, MESSAGE_DELETED, RATE_LIMITED."
    )
    async def vote_poll(
        self,
        info: Info,
        input: Annotated[VotePollInput, strawberry.argument(description="The poll and choice.")],
    ) -> MessagePayload:
        return _payload(
            *await mutate(
                info,
                ChatError,
                polls_uc.vote,
                _message_id(input.message_id),
                [str(i) for i in input.option_ids],
            )
        )

    @strawberry.mutation(
        description="The poll's author or an organizer closes it for good: no more votes. "
        "Closing again changes nothing. Someone else: FORBIDDEN; not a participant: "
        "NOT_FOUND. Errors: NOT_A_POLL, MESSAGE_DELETED, RATE_LIMITED."
    )
    async def close_poll(
        self,
        info: Info,
        input: Annotated[ClosePollInput, strawberry.argument(description="The poll.")],
    ) -> MessagePayload:
        return _payload(
            *await mutate(info, ChatError, polls_uc.close, _message_id(input.message_id))
        )


# --- read statuses, settings, typing -----------------------------------------------------------


@strawberry.type(description="How far you have read an event's chat.")
class ReadMarker:
    up_to_message_id: relay.GlobalID = strawberry.field(
        description="The last message you have read (a Message id)."
    )
    at: datetime = strawberry.field(description="When the marked message was sent.")


@strawberry.input(description="Where you have read up to.")
class MarkChatReadInput:
    event_id: relay.GlobalID = strawberry.field(description="The event whose chat you read.")
    up_to_message_id: relay.GlobalID = strawberry.field(
        description="The last message you have read (of this chat)."
    )


@strawberry.type(description="The result of markChatRead.")
class MarkChatReadPayload:
    marker: ReadMarker | None = strawberry.field(
        description="Your marker: unchanged when it was already further. Null when there "
        "are errors."
    )
    errors: list[ChatError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="Your privacy choices in every chat.")
class ChatSettings:
    show_presence: bool = strawberry.field(
        description="Others see when you are online (and your last-seen time)."
    )
    send_read_receipts: bool = strawberry.field(
        description="Others see that you read their messages (`seenBy`, `ReadMarkerMoved`)."
    )


@strawberry.input(description="The choices to change; null or absent ones stay as they are.")
class UpdateChatSettingsInput:
    show_presence: bool | None = strawberry.field(
        default=None, description="Let others see when you are online (default true)."
    )
    send_read_receipts: bool | None = strawberry.field(
        default=None, description="Let others see that you read their messages (default true)."
    )


@strawberry.type(description="The result of updateChatSettings.")
class ChatSettingsPayload:
    settings: ChatSettings | None = strawberry.field(
        description="Your settings afterwards; null when there are errors."
    )
    errors: list[ChatError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.input(description="Whether you are typing in an event's chat.")
class SetTypingInput:
    event_id: relay.GlobalID = strawberry.field(description="The event whose chat you type in.")
    is_typing: bool = strawberry.field(
        description="True while typing (send again every few seconds); false when you stop."
    )


@strawberry.type(description="The result of setTyping.")
class SetTypingPayload:
    ok: bool = strawberry.field(description="True when it was accepted (no errors).")
    errors: list[ChatError] = strawberry.field(
        description="Why nothing was sent (RATE_LIMITED); empty on success."
    )


def _marker(found: Any) -> ReadMarker | None:
    if found is None:
        return None
    return ReadMarker(up_to_message_id=relay.GlobalID("Message", found.message_id), at=found.at)


def _settings(found: Any) -> ChatSettings:
    return ChatSettings(
        show_presence=found.show_presence, send_read_receipts=found.send_read_receipts
    )


@strawberry.type
class ChatStatusMutation:
    @strawberry.mutation(
        description="Participants: moves your read marker up to this message (never back); "
        "`chatUnreadCount` counts from there, and others see it in `seenBy` unless you turned "
        "read receipts off. Not a participant: NOT_FOUND. Errors: MESSAGE_NOT_FOUND."
    )
    async def mark_chat_read(
        self,
        info: Info,
        input: Annotated[MarkChatReadInput, strawberry.argument(description="Where you are.")],
    ) -> MarkChatReadPayload:
        found, errors = await mutate(
            info,
            ChatError,
            uc.mark_read,
            decode_global_id(input.event_id, "Event"),
            _message_id(input.up_to_message_id),
        )
        return MarkChatReadPayload(marker=_marker(found), errors=errors)

    @strawberry.mutation(
        description="Participants: tells the others in the chat that you are typing (or "
        f"stopped). Ends by itself after {uc.TYPING_TIMEOUT_S} seconds unless sent again; "
        "sending a message stops it. Not a participant: NOT_FOUND. Errors: RATE_LIMITED (60 "
        "per 10 seconds)."
    )
    async def set_typing(
        self,
        info: Info,
        input: Annotated[SetTypingInput, strawberry.argument(description="Typing or not.")],
    ) -> SetTypingPayload:
        _, errors = await mutate(
            info,
            ChatError,
            uc.set_typing,
            decode_global_id(input.event_id, "Event"),
            input.is_typing,
        )
        return SetTypingPayload(ok=not errors, errors=errors)

    @strawberry.mutation(
        description="Signed in: changes your presence and read-receipt choices (all chats)."
    )
    async def update_chat_settings(
        self,
        info: Info,
        input: Annotated[
            UpdateChatSettingsInput, strawberry.argument(description="The choices to change.")
        ],
    ) -> ChatSettingsPayload:
        found, errors = await mutate(
            info, ChatError, uc.update_settings, input.show_presence, input.send_read_receipts
        )
        return ChatSettingsPayload(settings=_settings(found) if found else None, errors=errors)


@strawberry.type
class ChatQuery:
    @strawberry.field(description="Signed in: your chat settings.")
    async def chat_settings(self, info: Info) -> ChatSettings:
        viewer = info.context.require_viewer()
        return _settings(await uc.chat_settings(info.context.deps, viewer.user_id))


# --- the live stream ---------------------------------------------------------------------------


def chat_cursor(position: int) -> str:
    return encode_cursor("chat", position)


def decode_chat_cursor(cursor: str | None) -> int | None:
    parts = decode_cursor(cursor, arity=2)
    if parts is None:
        return None
    if parts[0] != "chat" or not isinstance(parts[1], int):
        raise BadRequest("Invalid cursor.")
    return cursor_int(parts[1])


_CURSOR = "Where the stream is (opaque): give it as `after` to resume from here."


@strawberry.type(description="A new message (or, in a replay, one sent while you were away).")
class MessageAdded:
    cursor: str = strawberry.field(description=_CURSOR)
    message: Message = strawberry.field(description="The new message.")


@strawberry.type(
    description="A message's text changed (in a replay: it changed, and this is how it is now)."
)
class MessageEdited:
    cursor: str = strawberry.field(description=_CURSOR)
    message: Message = strawberry.field(description="The message as it is now.")


@strawberry.type(description="A message was deleted: `message` is its tombstone.")
class MessageDeleted:
    cursor: str = strawberry.field(description=_CURSOR)
    message: Message = strawberry.field(description="The tombstone (`deleted`, empty body).")


@strawberry.type(
    description="Someone added or took back a reaction. In a replay, `emoji`, "
    "`added` and `reactor` are null: `message.reactions` is the state."
)
class ReactionChanged:
    cursor: str = strawberry.field(description=_CURSOR)
    message: Message = strawberry.field(description="The message with its reactions now.")
    emoji: str | None = strawberry.field(description="The emoji (null in a replay).")
    added: bool | None = strawberry.field(
        description="True: added; false: taken back (null in a replay)."
    )
    user_id: strawberry.Private[int | None]

    @strawberry.field(description="Who reacted (null in a replay).")
    async def reactor(self, info: Info) -> ChatAuthor | None:
        return await chat_person(info, self.user_id) if self.user_id is not None else None


@strawberry.type(
    description="A poll changed: someone voted (or changed or withdrew their vote) or it was "
    "closed. `message.poll` is the state; in a replay it is how the poll is now."
)
class MessagePollChanged:
    cursor: str = strawberry.field(description=_CURSOR)
    message: Message = strawberry.field(description="The message with its poll now.")
    user_id: strawberry.Private[int | None]

    @strawberry.field(
        description="Who voted; null in an anonymous poll, when it was closed, and in a replay."
    )
    async def voter(self, info: Info) -> ChatAuthor | None:
        return await chat_person(info, self.user_id) if self.user_id is not None else None


@strawberry.type(description="Someone read up to a message.")
class ReadMarkerMoved:
    cursor: str = strawberry.field(description=_CURSOR)
    up_to_message_id: relay.GlobalID = strawberry.field(
        description="The last message they have read (a Message id)."
    )
    user_id: strawberry.Private[int]

    @strawberry.field(
        description="Who read it (you see others' only if they send read receipts; always "
        "your own, e.g. from another device)."
    )
    async def reader(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.user_id)


@strawberry.type(
    description="Someone started or stopped typing (never your own). Typing "
    "ends by itself at `expiresAt` if not renewed."
)
class TypingChanged:
    cursor: str = strawberry.field(
        description=f"{_CURSOR} Typing is not replayed: this only marks the position."
    )
    is_typing: bool = strawberry.field(description="True: started (or still); false: stopped.")
    expires_at: datetime | None = strawberry.field(
        description="When typing ends unless renewed; null when it stopped."
    )
    user_id: strawberry.Private[int]

    @strawberry.field(description="Who is typing.")
    async def user(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.user_id)


@strawberry.type(description="A participant came online or went offline.")
class PresenceChanged:
    cursor: str = strawberry.field(
        description=f"{_CURSOR} Presence is not replayed: this only marks the position."
    )
    online: bool = strawberry.field(description="True: came online; false: went offline.")
    at: datetime = strawberry.field(description="When it changed (ISO-8601).")
    user_id: strawberry.Private[int]

    @strawberry.field(description="Who (only people who show their presence; see ChatSettings).")
    async def user(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.user_id)


ChatEvent = Annotated[
    MessageAdded
    | MessageEdited
    | MessageDeleted
    | ReactionChanged
    | MessagePollChanged
    | ReadMarkerMoved
    | TypingChanged
    | PresenceChanged,
    strawberry.union(
        "ChatEvent",
        description="Something that happened in an event's chat (`chatEvents`); select the "
        "members you need with `... on MessageAdded { … }`.",
    ),
]


def chat_event(change: Change) -> Any:
    """The schema object for a change of the feed."""
    cursor = chat_cursor(change.position)
    kind = change.kind
    if change.message is not None:
        message = Message(doc=change.message)
        if kind == "added":
            return MessageAdded(cursor=cursor, message=message)
        if kind == "deleted":
            return MessageDeleted(cursor=cursor, message=message)
        if kind == "reaction":
            return ReactionChanged(
                cursor=cursor,
                message=message,
                emoji=change.emoji,
                added=change.added,
                user_id=change.user_id,
            )
        if kind == "poll":
            return MessagePollChanged(cursor=cursor, message=message, user_id=change.user_id)
        return MessageEdited(cursor=cursor, message=message)
    if kind == "read":
        return ReadMarkerMoved(
            cursor=cursor,
            user_id=change.user_id or 0,
            up_to_message_id=relay.GlobalID("Message", change.message_id or ""),
        )
    if kind == "typing":
        return TypingChanged(
            cursor=cursor,
            user_id=change.user_id or 0,
            is_typing=bool(change.active),
            expires_at=change.expires_at,
        )
    return PresenceChanged(
        cursor=cursor,
        user_id=change.user_id or 0,
        online=bool(change.active),
        at=change.at or change.expires_at or datetime.now().astimezone(),
    )


# Fields whose value is the same for every participant who watches the chat: a selection made
# only of these is rendered once per change for all its subscribers (iven_gql/ws.py). Anything
# else (viewerReacted, seenBy, replies, User fields...) is rendered per viewer.
SHARED_FIELDS = frozenset(
    {
        *(
            f"{t}.{f}"
            for t in ("MessageAdded", "MessageEdited", "MessageDeleted")
            for f in ("cursor", "message")
        ),
        "ReactionChanged.cursor",
        "ReactionChanged.message",
        "ReactionChanged.emoji",
        "ReactionChanged.added",
        "ReactionChanged.reactor",
        "MessagePollChanged.cursor",
        "MessagePollChanged.message",
        "MessagePollChanged.voter",
        *(
            f"Poll.{f}"
            for f in (
                "question",
                "options",
                "multipleChoice",
                "anonymous",
                "closesAt",
                "closed",
                "totalVoters",
            )
        ),
        *(f"PollOption.{f}" for f in ("id", "text", "voteCount", "voters")),
        "ReadMarkerMoved.cursor",
        "ReadMarkerMoved.upToMessageId",
        "ReadMarkerMoved.reader",
        "TypingChanged.cursor",
        "TypingChanged.isTyping",
        "TypingChanged.expiresAt",
        "TypingChanged.user",
        "PresenceChanged.cursor",
        "PresenceChanged.online",
        "PresenceChanged.at",
        "PresenceChanged.user",
        *(
            f"Message.{f}"
            for f in (
                "id",
                "body",
                "deleted",
                "createdAt",
                "editedAt",
                "deletedAt",
                "removedByAdmin",
                "edits",
                "author",
                "replyTo",
                "replyCount",
                "reactions",
                "poll",
            )
        ),
        "MessageEdit.body",
        "MessageEdit.editedAt",
        "Reaction.emoji",
        "Reaction.count",
        "ChatAuthor.displayName",
        "ChatAuthor.username",
        "ChatAuthor.avatarUrl",
        "Subscription.chatEvents",
    }
)


@strawberry.type
class ChatSubscription:
    @strawberry.subscription(
        description="Everything that happens in an event's chat, live, for participants "
        "(NOT_FOUND for others). With `after` (the last `cursor` you got), first what you "
        "missed since: messages added, edited, deleted, reacted to or voted on, and read "
        "markers, each once as it is now; too much missed: the stream ends with "
        "CURSOR_TOO_OLD (reload the history). Ends with FORBIDDEN when you leave the event, "
        "SERVICE_UNAVAILABLE when the "
        "chat cannot be read (resume with your last cursor), BAD_USER_INPUT for a malformed "
        "cursor or one of another chat. The server closes the socket (4401) when your session "
        "ends or your token expires (refresh, then reconnect); over SSE the stream ends with "
        "UNAUTHENTICATED."
    )
    async def chat_events(
        self,
        info: Info,
        event_id: Annotated[
            relay.GlobalID, strawberry.argument(description="The event whose chat to follow.")
        ],
        after: Annotated[
            str | None,
            strawberry.argument(
                description="The last `cursor` this stream gave you, to resume without a gap; "
                "null: only what happens from now."
            ),
        ] = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        viewer = info.context.require_viewer()
        event = decode_global_id(event_id, "Event")
        position = decode_chat_cursor(after)
        group = chat_feed.QueueGroup()
        async with uc.subscription(info.context.deps, viewer, event, position, group):
            while True:
                item = await group.queue.get()
                if isinstance(item, str):
                    break
                yield chat_event(item)
        if item == chat_feed.SESSION_ENDED:
            await info.context.end_session()
            return
        raise uc.ended_error(item)
