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
from resolvers import events as events_uc
from resolvers.chat import ChatErrorCode
from resolvers.chat_feed import Change
from resolvers.core.errors import BadRequest
from schema.accounts import User
from schema.authors import ChatAuthor, chat_person
from schema.context import Info
from schema.core import (
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
    encode_cursor,
    mutate,
    page_size,
)
from schema.media import Media
from stores import chat as store

strawberry.enum(ChatErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class ChatError(UserError):
    codes = ChatErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: ChatErrorCode
    retry_after_seconds: int | None = None


@strawberry.type
class MessageEdit:
    body: str
    edited_at: datetime


@strawberry.type
class Reaction:
    emoji: str
    count: int
    viewer_reacted: bool
    user_ids: strawberry.Private[list[int]]

    @strawberry.field(description="Who reacted (first ones).")
    async def users(self, info: Info, first: int = 10) -> list[User]:
        size = page_size(first)
        rows = await info.context.loaders.user_by_id.load_many(self.user_ids[:size])
        return [User(row=r) for r in rows if r is not None]


@strawberry.type
class SeenBy:
    person: ChatAuthor
    at: datetime = strawberry.field(description="When they moved their read marker there.")


def _cursor(message: Message) -> str:
    return encode_cursor(message.doc.created_at.isoformat(), str(message.doc.id))


@strawberry.type(
    description="A chat message. A deleted one stays as a tombstone (`deleted`, empty body)."
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

    @strawberry.field
    def body(self) -> str:
        return self.doc.body

    @strawberry.field
    def deleted(self) -> bool:
        return self.doc.deleted_at is not None

    @strawberry.field
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field
    def edited_at(self) -> datetime | None:
        return self.doc.edited_at

    @strawberry.field
    def deleted_at(self) -> datetime | None:
        return self.doc.deleted_at

    @strawberry.field(description="True when an administrator deleted it (moderation).")
    def removed_by_admin(self) -> bool:
        return self.doc.removed_by_admin

    @strawberry.field(description="Earlier versions, oldest first.")
    def edits(self) -> list[MessageEdit]:
        return [MessageEdit(body=e.body, edited_at=e.edited_at) for e in self.doc.edits]

    @strawberry.field
    async def author(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.doc.author_user_id)

    @strawberry.field(
        description="Who has read up to this message (not those who hide read "
        "receipts), earliest first. Only its author sees it: null "
        "for others."
    )
    async def seen_by(self, info: Info, first: int | None = None) -> list[SeenBy] | None:
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

    @strawberry.field(description="People mentioned with @username.")
    async def mentions(self, info: Info) -> list[User]:
        rows = await info.context.loaders.user_by_id.load_many(self.doc.mentions)
        return [User(row=r) for r in rows if r is not None]

    @strawberry.field
    async def reply_to(self, info: Info) -> Message | None:
        if self.doc.reply_to_id is None:
            return None
        found = await info.context.loaders.chat_message.load(self.doc.reply_to_id)
        return Message(doc=found) if found is not None else None

    @strawberry.field
    def reply_count(self) -> int:
        return self.doc.reply_count

    @strawberry.field(description="The thread under this message, oldest first.")
    async def replies(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Message]:
        viewer = info.context.require_viewer()
        size = page_size(first)
        found = await uc.replies(
            info.context.deps, viewer, self.doc, size + 1, decode_time_cursor(after)
        )
        return connection(
            [Message(doc=m) for m in found], size, _cursor, has_previous=after is not None
        )

    @strawberry.field
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


@strawberry.input
class SendMessageInput:
    event_id: relay.GlobalID
    body: str
    reply_to_id: relay.GlobalID | None = None
    client_id: str | None = strawberry.field(
        default=None, description="Your id for this send: a retry returns the same message."
    )
    attachment_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="Media of this event to show with the message (at most 10; "
        "the body may then be empty).",
    )


@strawberry.input
class EditMessageInput:
    message_id: relay.GlobalID
    body: str


@strawberry.input
class MessageRefInput:
    message_id: relay.GlobalID


@strawberry.input
class ToggleReactionInput:
    message_id: relay.GlobalID
    emoji: str


@strawberry.type
class MessagePayload:
    message: Message | None
    errors: list[ChatError]


def _message_id(gid: relay.GlobalID) -> str:
    return decode_document_id(gid, "Message")


def _payload(doc: Any, errors: list[ChatError]) -> MessagePayload:
    return MessagePayload(message=Message(doc=doc) if doc is not None else None, errors=errors)


@strawberry.type
class ChatMutation:
    @strawberry.mutation(description="Posts to an event's chat (participants).")
    async def send_message(self, info: Info, input: SendMessageInput) -> MessagePayload:
        reply_to = _message_id(input.reply_to_id) if input.reply_to_id is not None else None
        return _payload(
            *await mutate(
                info,
                ChatError,
                uc.send,
                decode_global_id(input.event_id, "Event"),
                input.body,
                reply_to,
                input.client_id,
                [decode_document_id(g, "Media") for g in input.attachment_ids or []],
            )
        )

    @strawberry.mutation(description="The author changes the text; the old one is kept.")
    async def edit_message(self, info: Info, input: EditMessageInput) -> MessagePayload:
        return _payload(
            *await mutate(info, ChatError, uc.edit, _message_id(input.message_id), input.body)
        )

    @strawberry.mutation(description="The author or an organizer; leaves a tombstone.")
    async def delete_message(self, info: Info, input: MessageRefInput) -> MessagePayload:
        return _payload(*await mutate(info, ChatError, uc.delete, _message_id(input.message_id)))

    @strawberry.mutation(description="Adds your reaction with this emoji, or takes it back.")
    async def toggle_reaction(self, info: Info, input: ToggleReactionInput) -> MessagePayload:
        return _payload(
            *await mutate(
                info, ChatError, uc.toggle_reaction, _message_id(input.message_id), input.emoji
            )
        )


# --- read statuses, settings, typing -----------------------------------------------------------


@strawberry.type
class ReadMarker:
    up_to_message_id: relay.GlobalID
    at: datetime = strawberry.field(description="When the marked message was sent.")


@strawberry.input
class MarkChatReadInput:
    event_id: relay.GlobalID
    up_to_message_id: relay.GlobalID


@strawberry.type
class MarkChatReadPayload:
    marker: ReadMarker | None = strawberry.field(
        description="Your marker: unchanged when it was already further."
    )
    errors: list[ChatError]


@strawberry.type
class ChatSettings:
    show_presence: bool = strawberry.field(
        description="Others see when you are online (and your last-seen time)."
    )
    send_read_receipts: bool = strawberry.field(
        description="Others see that you read their messages (`seenBy`, `ReadMarkerMoved`)."
    )


@strawberry.input
class UpdateChatSettingsInput:
    show_presence: bool | None = None
    send_read_receipts: bool | None = None


@strawberry.type
class ChatSettingsPayload:
    settings: ChatSettings | None
    errors: list[ChatError]


@strawberry.input
class SetTypingInput:
    event_id: relay.GlobalID
    is_typing: bool


@strawberry.type
class SetTypingPayload:
    ok: bool
    errors: list[ChatError]


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
    @strawberry.mutation(description="Moves your read marker up to this message (never back).")
    async def mark_chat_read(self, info: Info, input: MarkChatReadInput) -> MarkChatReadPayload:
        found, errors = await mutate(
            info,
            ChatError,
            uc.mark_read,
            decode_global_id(input.event_id, "Event"),
            _message_id(input.up_to_message_id),
        )
        return MarkChatReadPayload(marker=_marker(found), errors=errors)

    @strawberry.mutation(
        description="Tells the others in the chat that you are typing (or "
        "stopped). Ends by itself after a few seconds unless "
        "sent again."
    )
    async def set_typing(self, info: Info, input: SetTypingInput) -> SetTypingPayload:
        _, errors = await mutate(
            info,
            ChatError,
            uc.set_typing,
            decode_global_id(input.event_id, "Event"),
            input.is_typing,
        )
        return SetTypingPayload(ok=not errors, errors=errors)

    @strawberry.mutation(description="Your presence and read-receipt choices (all chats).")
    async def update_chat_settings(
        self, info: Info, input: UpdateChatSettingsInput
    ) -> ChatSettingsPayload:
        found, errors = await mutate(
            info, ChatError, uc.update_settings, input.show_presence, input.send_read_receipts
        )
        return ChatSettingsPayload(settings=_settings(found) if found else None, errors=errors)


@strawberry.type
class ChatQuery:
    @strawberry.field(description="Your chat settings.")
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


@strawberry.type(description="A new message (or, in a replay, one sent while you were away).")
class MessageAdded:
    cursor: str
    message: Message


@strawberry.type(
    description="A message's text changed (in a replay: it changed, and this is how it is now)."
)
class MessageEdited:
    cursor: str
    message: Message


@strawberry.type(description="A message was deleted: `message` is its tombstone.")
class MessageDeleted:
    cursor: str
    message: Message


@strawberry.type(
    description="Someone added or took back a reaction. In a replay, `emoji`, "
    "`added` and `reactor` are null: `message.reactions` is the state."
)
class ReactionChanged:
    cursor: str
    message: Message
    emoji: str | None
    added: bool | None
    user_id: strawberry.Private[int | None]

    @strawberry.field(description="Who reacted (null in a replay).")
    async def reactor(self, info: Info) -> ChatAuthor | None:
        return await chat_person(info, self.user_id) if self.user_id is not None else None


@strawberry.type(description="Someone read up to a message.")
class ReadMarkerMoved:
    cursor: str
    up_to_message_id: relay.GlobalID
    user_id: strawberry.Private[int]

    @strawberry.field
    async def reader(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.user_id)


@strawberry.type(
    description="Someone started or stopped typing (never your own). Typing "
    "ends by itself at `expiresAt` if not renewed."
)
class TypingChanged:
    cursor: str
    is_typing: bool
    expires_at: datetime | None
    user_id: strawberry.Private[int]

    @strawberry.field
    async def user(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.user_id)


@strawberry.type(description="A participant came online or went offline.")
class PresenceChanged:
    cursor: str
    online: bool
    at: datetime
    user_id: strawberry.Private[int]

    @strawberry.field
    async def user(self, info: Info) -> ChatAuthor:
        return await chat_person(info, self.user_id)


ChatEvent = Annotated[
    MessageAdded
    | MessageEdited
    | MessageDeleted
    | ReactionChanged
    | ReadMarkerMoved
    | TypingChanged
    | PresenceChanged,
    strawberry.union("ChatEvent"),
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
        description="Everything that happens in an event's chat, live, "
        "for participants. With `after` (the last `cursor` you "
        "got), first what you missed since. Ends with "
        "FORBIDDEN when you leave the event; the socket closes "
        "(4401) when your session ends or token expires; over SSE the stream "
        "ends with UNAUTHENTICATED."
    )
    async def chat_events(
        self, info: Info, event_id: relay.GlobalID, after: str | None = None
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
