"""Administration: user management, moderation, statistics, the audit log and the instance
settings. Every field and mutation here is for admins only (FORBIDDEN for others,
UNAUTHENTICATED without an account), except `instance`, which anyone may read."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from resolvers import admin as uc
from resolvers.admin import AdminErrorCode
from resolvers.core.errors import BadRequest
from schema.accounts import User, UserStatus
from schema.chat import Message
from schema.context import Info
from schema.core import (
    Connection,
    UserError,
    connection,
    cursor_int,
    decode_cursor,
    decode_document_id,
    decode_global_id,
    decode_node_keys,
    encode_cursor,
    global_id,
    page_size,
    run,
)
from schema.events import Event
from schema.media import Media, MediaComment
from stores.accounts import Role
from stores.admin import AuditEntry as AuditRow
from stores.admin import InstanceSettings

TARGET_TYPES = {
    "USER": "User",
    "EVENT": "Event",
    "MESSAGE": "Message",
    "MEDIA": "Media",
    "MEDIA_COMMENT": "MediaComment",
    "ARTICLE": "Article",
}


@strawberry.enum(description="What an administrator did.")
class AdminAction(enum.Enum):
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_ROLE_CHANGED = "user.role_changed"
    MESSAGE_REMOVED = "message.removed"
    MEDIA_REMOVED = "media.removed"
    COMMENT_REMOVED = "comment.removed"
    EVENT_CANCELLED = "event.cancelled"
    INSTANCE_UPDATED = "instance.updated"
    ARTICLE_CREATED = "article.created"
    ARTICLE_UPDATED = "article.updated"
    ARTICLE_PUBLISHED = "article.published"
    ARTICLE_SCHEDULED = "article.scheduled"
    ARTICLE_UNPUBLISHED = "article.unpublished"
    ARTICLE_DELETED = "article.deleted"


strawberry.enum(AdminErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class AdminError(UserError):
    codes = AdminErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: AdminErrorCode
    retry_after_seconds: int | None = None


def _id_cursor(after: str | None) -> int | None:
    """The row id in an `after` cursor; a malformed one is BAD_USER_INPUT (never a 500)."""
    cursor = decode_cursor(after, arity=1)
    if cursor is None:
        return None
    if not isinstance(cursor[0], int):
        raise BadRequest("Invalid cursor.")
    return cursor_int(cursor[0])


# --- types -------------------------------------------------------------------------------------


@strawberry.type(description="What an operator looks at first. Recent = the last `windowDays`.")
class AdminStats:
    users_total: int
    users_active: int = strawberry.field(
        description="Accounts that used a session in the last `windowDays` days."
    )
    users_disabled: int
    events_upcoming: int = strawberry.field(description="Not cancelled, not started yet.")
    events_past: int = strawberry.field(description="Not cancelled, already over.")
    events_cancelled: int
    messages_recent: int
    media_recent: int
    outbox_pending: int = strawberry.field(
        description="Domain events not handled yet by the dispatcher."
    )
    dispatcher_lag_seconds: float = strawberry.field(
        description="Age of the oldest domain event the dispatcher should have handled (0 when "
        "it is up to date)."
    )
    window_days: int
    computed_at: datetime


@strawberry.type(description="An administrator's action. Entries cannot be changed or deleted.")
class AuditEntry(relay.Node):
    row: strawberry.Private[AuditRow]

    @classmethod
    def resolve_id(cls, root: AuditEntry, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AuditEntry | None]:
        rows = await uc.audit_entries(
            info.context.deps, info.context.viewer, decode_node_keys(node_ids)
        )
        return [AuditEntry(row=r) if r is not None else None for r in rows]

    @strawberry.field(description="Null once that account is deleted (see actorUsername).")
    async def actor(self, info: Info) -> User | None:
        row = await info.context.loaders.user_by_id.load(self.row.actor_id)
        return User(row=row) if row is not None else None

    @strawberry.field(description="The actor's username when they acted.")
    def actor_username(self) -> str:
        return self.row.actor_username

    @strawberry.field
    def action(self) -> AdminAction:
        return AdminAction(self.row.action)

    @strawberry.field(
        description="USER, EVENT, MESSAGE, MEDIA, MEDIA_COMMENT, ARTICLE or INSTANCE."
    )
    def target_type(self) -> str:
        return self.row.target_type

    @strawberry.field(
        description="The global id of the target (for node(id:)), null for the instance settings."
    )
    def target_id(self) -> strawberry.ID | None:
        type_name = TARGET_TYPES.get(self.row.target_type)
        return global_id(type_name, self.row.target_id) if type_name else None

    @strawberry.field
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(description="What changed (e.g. the role before and after).")
    def details(self) -> JSON:
        return cast("JSON", self.row.details_dict())

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(description="Settings of this IVEN instance, readable by anyone.")
class Instance:
    row: strawberry.Private[InstanceSettings]

    @strawberry.field(description="A message to show to everyone, or null.")
    def banner(self) -> str | None:
        return self.row.banner

    @strawberry.field(description="Whether `register` accepts new accounts.")
    def registrations_open(self) -> bool:
        return self.row.registrations_open

    @strawberry.field
    def updated_at(self) -> datetime | None:
        return self.row.updated_at if self.row.version else None


# --- inputs and payloads -----------------------------------------------------------------------


@strawberry.input
class SetUserStatusInput:
    user_id: relay.GlobalID
    status: UserStatus
    reason: str | None = strawberry.field(
        default=None, description="Required to disable (shown in the audit log)."
    )


@strawberry.input
class SetUserRoleInput:
    user_id: relay.GlobalID
    role: Role
    reason: str | None = None


@strawberry.type
class AdminUserPayload:
    user: User | None
    errors: list[AdminError]


@strawberry.input
class UpdateInstanceSettingsInput:
    registrations_open: bool | None = None
    banner: str | None = strawberry.field(default=None, description="Replaces the banner.")
    clear_banner: bool = strawberry.field(default=False, description="Removes the banner.")
    reason: str | None = None


@strawberry.type
class InstanceSettingsPayload:
    instance: Instance | None
    errors: list[AdminError]


@strawberry.input
class AdminRemoveMessageInput:
    message_id: relay.GlobalID
    reason: str


@strawberry.type
class AdminRemoveMessagePayload:
    message: Message | None = strawberry.field(description="Its tombstone.")
    errors: list[AdminError]


@strawberry.input
class AdminRemoveMediaInput:
    media_id: relay.GlobalID
    reason: str


@strawberry.type
class AdminRemoveMediaPayload:
    media: Media | None = strawberry.field(description="Its tombstone.")
    errors: list[AdminError]


@strawberry.input
class AdminRemoveMediaCommentInput:
    comment_id: relay.GlobalID
    reason: str


@strawberry.type
class AdminRemoveMediaCommentPayload:
    comment: MediaComment | None = strawberry.field(description="Its tombstone.")
    errors: list[AdminError]


@strawberry.input
class AdminCancelEventInput:
    event_id: relay.GlobalID
    reason: str


@strawberry.type
class AdminCancelEventPayload:
    event: Event | None
    errors: list[AdminError]


# --- fields ------------------------------------------------------------------------------------


@strawberry.type
class AdminQuery:
    @strawberry.field(
        description="Admins only. Accounts, newest first; `search` matches username, email or name."
    )
    async def admin_users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
        role: Role | None = None,
        status: UserStatus | None = None,
    ) -> Connection[User]:
        size = page_size(first)
        after_id = _id_cursor(after)
        rows = await uc.users(
            info.context.deps,
            info.context.viewer_or_none(),
            first=size + 1,
            after_id=after_id,
            search=search,
            role=role.value if role else None,
            active=None if status is None else status == UserStatus.ACTIVE,
        )
        return connection(
            [User(row=r) for r in rows],
            size,
            lambda u: encode_cursor(u.row.id),
            has_previous=after_id is not None,
        )

    @strawberry.field(description="Admins only.")
    async def admin_stats(self, info: Info) -> AdminStats:
        s = await uc.stats(info.context.deps, info.context.viewer_or_none())
        return AdminStats(
            users_total=s.users_total,
            users_active=s.users_active,
            users_disabled=s.users_disabled,
            events_upcoming=s.events_upcoming,
            events_past=s.events_past,
            events_cancelled=s.events_cancelled,
            messages_recent=s.messages_recent,
            media_recent=s.media_recent,
            outbox_pending=s.outbox_pending,
            dispatcher_lag_seconds=s.dispatcher_lag_s,
            window_days=s.window_days,
            computed_at=s.at,
        )

    @strawberry.field(description="Admins only. Newest first.")
    async def admin_audit_log(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        actor_id: relay.GlobalID | None = None,
        action: AdminAction | None = None,
    ) -> Connection[AuditEntry]:
        size = page_size(first)
        before_id = _id_cursor(after)
        rows = await uc.audit_log(
            info.context.deps,
            info.context.viewer_or_none(),
            first=size + 1,
            before_id=before_id,
            actor_id=decode_global_id(actor_id, "User") if actor_id is not None else None,
            action=action.value if action else None,
        )
        return connection(
            [AuditEntry(row=r) for r in rows],
            size,
            lambda e: encode_cursor(e.row.id),
            has_previous=before_id is not None,
        )

    @strawberry.field(description="The instance's public settings (no account needed).")
    async def instance(self, info: Info) -> Instance:
        return Instance(row=await uc.instance(info.context.deps))


@strawberry.type
class AdminMutation:
    @strawberry.mutation(
        description="Admins only. Disabling revokes every session of the "
        "account at once (its sockets close) and keeps its data."
    )
    async def set_user_status(self, info: Info, input: SetUserStatusInput) -> AdminUserPayload:
        user, errors = await run(
            AdminError,
            uc.set_user_status(
                info.context.deps,
                info.context.viewer_or_none(),
                decode_global_id(input.user_id, "User"),
                input.status == UserStatus.ACTIVE,
                input.reason,
            ),
        )
        return AdminUserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(description="Admins only. The last active admin cannot be demoted.")
    async def set_user_role(self, info: Info, input: SetUserRoleInput) -> AdminUserPayload:
        user, errors = await run(
            AdminError,
            uc.set_user_role(
                info.context.deps,
                info.context.viewer_or_none(),
                decode_global_id(input.user_id, "User"),
                input.role.value,
                input.reason,
            ),
        )
        return AdminUserPayload(user=User(row=user) if user else None, errors=errors)

    @strawberry.mutation(description="Admins only.")
    async def update_instance_settings(
        self, info: Info, input: UpdateInstanceSettingsInput
    ) -> InstanceSettingsPayload:
        row, errors = await run(
            AdminError,
            uc.update_instance(
                info.context.deps,
                info.context.viewer_or_none(),
                registrations_open=input.registrations_open,
                banner=input.banner,
                clear_banner=input.clear_banner,
                reason=input.reason,
            ),
        )
        return InstanceSettingsPayload(instance=Instance(row=row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Admins only. Any chat message; a tombstone saying an "
        "administrator removed it stays in the chat."
    )
    async def admin_remove_message(
        self, info: Info, input: AdminRemoveMessageInput
    ) -> AdminRemoveMessagePayload:
        doc, errors = await run(
            AdminError,
            uc.remove_message(
                info.context.deps,
                info.context.viewer_or_none(),
                decode_document_id(input.message_id, "Message"),
                input.reason,
            ),
        )
        return AdminRemoveMessagePayload(message=Message(doc=doc) if doc else None, errors=errors)

    @strawberry.mutation(
        description="Admins only. Any media: its files, metadata, comments "
        "and likes go; a tombstone stays in its album."
    )
    async def admin_remove_media(
        self, info: Info, input: AdminRemoveMediaInput
    ) -> AdminRemoveMediaPayload:
        doc, errors = await run(
            AdminError,
            uc.remove_media(
                info.context.deps,
                info.context.viewer_or_none(),
                decode_document_id(input.media_id, "Media"),
                input.reason,
            ),
        )
        return AdminRemoveMediaPayload(media=Media(doc=doc) if doc else None, errors=errors)

    @strawberry.mutation(description="Admins only. Any media comment; a tombstone stays.")
    async def admin_remove_media_comment(
        self, info: Info, input: AdminRemoveMediaCommentInput
    ) -> AdminRemoveMediaCommentPayload:
        doc, errors = await run(
            AdminError,
            uc.remove_comment(
                info.context.deps,
                info.context.viewer_or_none(),
                decode_document_id(input.comment_id, "MediaComment"),
                input.reason,
            ),
        )
        return AdminRemoveMediaCommentPayload(
            comment=MediaComment(doc=doc) if doc else None, errors=errors
        )

    @strawberry.mutation(description="Admins only. Any event; its participants are told.")
    async def admin_cancel_event(
        self, info: Info, input: AdminCancelEventInput
    ) -> AdminCancelEventPayload:
        row, errors = await run(
            AdminError,
            uc.cancel_event(
                info.context.deps,
                info.context.viewer_or_none(),
                decode_global_id(input.event_id, "Event"),
                input.reason,
            ),
        )
        return AdminCancelEventPayload(
            event=Event(row=row, membership=None) if row else None, errors=errors
        )
