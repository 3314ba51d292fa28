"""Event chat: messages, replies, reactions, history (`Event.messages`)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from resolvers import chat as uc
from resolvers import events as events_uc
from resolvers.errors import BadRequest
from schema.accounts import User
from schema.common import (
    Connection,
    Edge,
    PageInfo,
    UserError,
    attempt,
    connection,
    decode_time_cursor,
    encode_cursor,
    page_size,
)
from schema.events import decode_id
from stores import chat as store


@strawberry.enum
class ChatErrorCode(enum.Enum):
    REQUIRED = "REQUIRED"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_EMOJI = "INVALID_EMOJI"
    MESSAGE_NOT_FOUND = "MESSAGE_NOT_FOUND"
    MESSAGE_DELETED = "MESSAGE_DELETED"
    STALE = "STALE"
    RATE_LIMITED = "RATE_LIMITED"


@strawberry.type
class ChatError(UserError):
    code: ChatErrorCode
    retry_after_seconds: int | None = None


@strawberry.type(description="Who wrote a message, as their profile is now.")
class ChatAuthor:
    user_id: strawberry.Private[int]
    display_name: str
    username: str | None
    avatar_url: str | None

    @strawberry.field(description="Null once the account is deleted.")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.user_id)
        return User(row=row) if row is not None else None


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


def _cursor(message: Message) -> str:
    return encode_cursor(message.doc.created_at.isoformat(), str(message.doc.id))


@strawberry.type(description="A chat message. A deleted one stays as a tombstone (`deleted`, "
                             "empty body).")
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
            [m.event_id if m else 0 for m in found])
        return [Message(doc=m) if m and a and events_uc.role_of(a[1]) else None
                for m, a in zip(found, access, strict=True)]

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

    @strawberry.field(description="Earlier versions, oldest first.")
    def edits(self) -> list[MessageEdit]:
        return [MessageEdit(body=e.body, edited_at=e.edited_at) for e in self.doc.edits]

    @strawberry.field
    async def author(self, info: Info) -> ChatAuthor:
        user_id = self.doc.author_user_id
        snapshot = await info.context.loaders.user_snapshot.load(user_id)
        if snapshot is not None and not snapshot.deleted:
            return ChatAuthor(user_id=user_id, display_name=snapshot.display_name,
                              username=snapshot.username, avatar_url=snapshot.avatar_url)
        row = await info.context.loaders.user_by_id.load(user_id)
        if row is None:
            return ChatAuthor(user_id=user_id, display_name="Deleted user", username=None,
                              avatar_url=None)
        from resolvers.projections import display_name

        return ChatAuthor(user_id=user_id, display_name=display_name(row),
                          username=row.username, avatar_url=None)

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
    async def replies(self, info: Info, first: int | None = None,
                      after: str | None = None) -> Connection[Message]:
        viewer = info.context.require_viewer()
        size = page_size(first)
        found = await uc.replies(info.context.deps, viewer, self.doc, size + 1, decode_time_cursor(after))
        return connection([Message(doc=m) for m in found], size, _cursor,
                          has_previous=after is not None)

    @strawberry.field
    def reactions(self, info: Info) -> list[Reaction]:
        viewer = info.context.viewer
        me = viewer.user_id if viewer is not None else None
        return [Reaction(emoji=emoji, count=len(users), viewer_reacted=me in users,
                         user_ids=list(users))
                for emoji, users in self.doc.reactions.items() if users]


async def event_messages(info: Info, event_id: int, last: int | None, before: str | None,
                         around: relay.GlobalID | None) -> Connection[Message]:
    """Newest first. `before` pages back into history; `around` opens at a message."""
    viewer = info.context.require_viewer()
    size = page_size(last, argument="last")
    if around is not None:
        if around.type_name != "Message":
            raise BadRequest("`around` must be a message id.")
        older, newer = await uc.around(info.context.deps, viewer, event_id, around.node_id,
                                       max(size, 1))
        items = [Message(doc=m) for m in [*reversed(newer), *older]]
        edges = [Edge(cursor=_cursor(m), node=m) for m in items]
        return Connection(edges=edges, page_info=PageInfo(
            has_next_page=len(older) >= max(1, size // 2),
            has_previous_page=len(newer) >= max(size, 1) - max(1, size // 2),
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None))
    found = await uc.history(info.context.deps, viewer, event_id, size + 1, decode_time_cursor(before))
    return connection([Message(doc=m) for m in found], size, _cursor,
                      has_previous=before is not None)


@strawberry.input
class SendMessageInput:
    event_id: relay.GlobalID
    body: str
    reply_to_id: relay.GlobalID | None = None
    client_id: str | None = strawberry.field(
        default=None, description="Your id for this send: a retry returns the same message.")


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
    return gid.node_id if gid.type_name == "Message" else ""


async def _payload(op: Any) -> MessagePayload:
    doc, errors = await attempt(op, ChatError, ChatErrorCode)
    return MessagePayload(message=Message(doc=doc) if doc is not None else None, errors=errors)


@strawberry.type
class ChatMutation:
    @strawberry.mutation(description="Posts to an event's chat (participants).")
    async def send_message(self, info: Info, input: SendMessageInput) -> MessagePayload:
        viewer = info.context.require_viewer()
        reply_to = _message_id(input.reply_to_id) if input.reply_to_id is not None else None
        return await _payload(uc.send(info.context.deps, viewer,
                                      decode_id(input.event_id, "Event"), input.body, reply_to,
                                      input.client_id))

    @strawberry.mutation(description="The author changes the text; the old one is kept.")
    async def edit_message(self, info: Info, input: EditMessageInput) -> MessagePayload:
        viewer = info.context.require_viewer()
        return await _payload(uc.edit(info.context.deps, viewer, _message_id(input.message_id),
                                      input.body))

    @strawberry.mutation(description="The author or an organizer; leaves a tombstone.")
    async def delete_message(self, info: Info, input: MessageRefInput) -> MessagePayload:
        viewer = info.context.require_viewer()
        return await _payload(uc.delete(info.context.deps, viewer,
                                        _message_id(input.message_id)))

    @strawberry.mutation(description="Adds your reaction with this emoji, or takes it back.")
    async def toggle_reaction(self, info: Info, input: ToggleReactionInput) -> MessagePayload:
        viewer = info.context.require_viewer()
        return await _payload(uc.toggle_reaction(info.context.deps, viewer,
                                                 _message_id(input.message_id), input.emoji))
