"""Administration: user management, moderation, statistics, the audit log and the instance
settings. Every field and mutation here is for admins only (FORBIDDEN for others,
UNAUTHENTICATED without an account), except `instance`, which anyone may read."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, cast

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
    PAGE_AFTER,
    PAGE_FIRST,
    Connection,
    UserError,
    connection,
    cursor_int,
    decode_cursor,
    decode_document_id,
    decode_global_id,
    decode_node_keys,
    documented_enum,
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
ADMINS_ONLY = "Admins only (UNAUTHENTICATED without a session, FORBIDDEN for anyone else)."
REASON_REQUIRED = (
    "Why, for the audit log: required (REQUIRED when blank), up to 500 characters; newlines are "
    "kept."
)
REASON_OPTIONAL = "Why, for the audit log: optional, up to 500 characters; newlines are kept."
MODERATION_ERRORS = (
    " An unknown id (or an id of another kind) is a top-level NOT_FOUND error. Errors: REQUIRED, "
    "VALUE_TOO_LONG, INVALID_INPUT (all about `reason`)."
)


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


documented_enum(
    AdminAction,
    {
        AdminAction.USER_DISABLED: "An account was disabled and its sessions ended "
        "(setUserStatus).",
        AdminAction.USER_ENABLED: "A disabled account was enabled again (setUserStatus).",
        AdminAction.USER_ROLE_CHANGED: "An account's role changed (setUserRole); `details` "
        "hold the role before and after.",
        AdminAction.MESSAGE_REMOVED: "A chat message was removed (adminRemoveMessage).",
        AdminAction.MEDIA_REMOVED: "A media was removed (adminRemoveMedia).",
        AdminAction.COMMENT_REMOVED: "A media comment was removed (adminRemoveMediaComment).",
        AdminAction.EVENT_CANCELLED: "An event was cancelled (adminCancelEvent).",
        AdminAction.INSTANCE_UPDATED: "The instance settings changed "
        "(updateInstanceSettings); `details` hold the new values.",
        AdminAction.ARTICLE_CREATED: "An article was created (createArticle).",
        AdminAction.ARTICLE_UPDATED: "An article was edited (updateArticle); `details` list "
        "the fields changed.",
        AdminAction.ARTICLE_PUBLISHED: "An article was made public now (publishArticle).",
        AdminAction.ARTICLE_SCHEDULED: "An article was scheduled to become public at a later "
        "time (publishArticle).",
        AdminAction.ARTICLE_UNPUBLISHED: "An article went back to draft (unpublishArticle).",
        AdminAction.ARTICLE_DELETED: "An article was deleted (deleteArticle).",
    },
    description="What an administrator did (`AuditEntry.action`).",
)

documented_enum(  # one definition: resolvers.admin
    AdminErrorCode,
    {
        AdminErrorCode.USER_NOT_FOUND: "No account has this `userId`; an id of another kind "
        "answers the same (setUserStatus, setUserRole).",
        AdminErrorCode.LAST_ADMIN: "This is the last active administrator: it can be neither "
        "disabled nor demoted; make another admin first (setUserStatus, setUserRole).",
        AdminErrorCode.REQUIRED: "`reason` is blank where it is required: disabling an "
        "account and the moderation mutations (adminRemove*, adminCancelEvent).",
        AdminErrorCode.VALUE_TOO_LONG: "`reason` or `banner` is longer than 500 characters.",
        AdminErrorCode.INVALID_INPUT: "Text with control characters: `banner` is one line; "
        "`reason` keeps newlines and tabs only.",
        AdminErrorCode.EVENT_CANCELLED: "The event is already cancelled (adminCancelEvent).",
        AdminErrorCode.MEDIA_REMOVED: "Not returned today: removing media that is already "
        "removed answers it as it is.",
        AdminErrorCode.RATE_LIMITED: "Not returned today: administration mutations are not "
        "rate-limited.",
    },
    description="Why an administration mutation changed nothing (`AdminError.code`).",
)


@strawberry.type(
    description="An expected failure of an administration mutation: nothing was changed."
)
class AdminError(UserError):
    codes = AdminErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    # described on each error type itself (the UserError interface belongs to the kit)
    message: str = strawberry.field(
        description="What went wrong, in English, fit to show to the user as it is."
    )
    code: AdminErrorCode = strawberry.field(description="What went wrong, for your code.")
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="For RATE_LIMITED: seconds to wait before trying again; otherwise null "
        "(always null today).",
    )


def _id_cursor(after: str | None) -> int | None:
    """The row id in an `after` cursor; a malformed one is BAD_USER_INPUT (never a 500)."""
    cursor = decode_cursor(after, arity=1)
    if cursor is None:
        return None
    if not isinstance(cursor[0], int):
        raise BadRequest("Invalid cursor.")
    return cursor_int(cursor[0])


# --- types -------------------------------------------------------------------------------------


@strawberry.type(
    description="What an operator looks at first, counted at each request. Recent = the last "
    "`windowDays` days."
)
class AdminStats:
    users_total: int = strawberry.field(
        description="Every account, unconfirmed and disabled ones included."
    )
    users_active: int = strawberry.field(
        description="Accounts that opened or refreshed a session in the last `windowDays` days."
    )
    users_disabled: int = strawberry.field(description="Accounts disabled by an administrator.")
    events_upcoming: int = strawberry.field(description="Not cancelled, not started yet.")
    events_past: int = strawberry.field(description="Not cancelled, already over.")
    events_cancelled: int = strawberry.field(description="Cancelled events, past or to come.")
    messages_recent: int = strawberry.field(
        description="Chat messages sent in the last `windowDays` days."
    )
    media_recent: int = strawberry.field(
        description="Media uploaded in the last `windowDays` days."
    )
    outbox_pending: int = strawberry.field(
        description="Domain events not handled yet by the dispatcher."
    )
    dispatcher_lag_seconds: float = strawberry.field(
        description="Age of the oldest domain event the dispatcher should have handled (0 when "
        "it is up to date)."
    )
    window_days: int = strawberry.field(
        description="How many days the recent and active figures look back (30)."
    )
    computed_at: datetime = strawberry.field(description="When these figures were counted.")


@strawberry.type(
    description="An administrator's action, in the audit log. Entries cannot be changed or "
    "deleted. Admins only: `node(id:)` answers null to anyone else."
)
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

    @strawberry.field(description="What was done.")
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

    @strawberry.field(
        description="The reason the administrator gave (up to 500 characters; empty when none)."
    )
    def reason(self) -> str:
        return self.row.reason

    @strawberry.field(
        description="What changed, as a JSON object whose keys depend on `action` (e.g. the "
        "role before and after)."
    )
    def details(self) -> JSON:
        return cast("JSON", self.row.details_dict())

    @strawberry.field(description="When it was done.")
    def created_at(self) -> datetime:
        return self.row.created_at


@strawberry.type(description="Settings of this IVEN instance, readable by anyone.")
class Instance:
    row: strawberry.Private[InstanceSettings]

    @strawberry.field(
        description="A one-line message (up to 500 characters) to show to everyone, or null."
    )
    def banner(self) -> str | None:
        return self.row.banner

    @strawberry.field(description="Whether `register` accepts new accounts.")
    def registrations_open(self) -> bool:
        return self.row.registrations_open

    @strawberry.field(description="When an administrator last changed them; null if never.")
    def updated_at(self) -> datetime | None:
        return self.row.updated_at if self.row.version else None


# --- inputs and payloads -----------------------------------------------------------------------


USER_ID = "The account (a User id; an id of another kind answers USER_NOT_FOUND)."
ERRORS = "Why nothing was changed; empty on success."


@strawberry.input(description="An account to enable or disable.")
class SetUserStatusInput:
    user_id: relay.GlobalID = strawberry.field(description=USER_ID)
    status: UserStatus = strawberry.field(
        description="ACTIVE to enable, DISABLED to disable; the status it already has changes "
        "nothing."
    )
    reason: str | None = strawberry.field(
        default=None,
        description="Why, for the audit log and `User.disabledReason`: required to disable "
        "(REQUIRED when blank), optional to enable; up to 500 characters.",
    )


@strawberry.input(description="An account to give another role.")
class SetUserRoleInput:
    user_id: relay.GlobalID = strawberry.field(description=USER_ID)
    role: Role = strawberry.field(
        description="The new role; the role it already has changes nothing."
    )
    reason: str | None = strawberry.field(default=None, description=REASON_OPTIONAL)


@strawberry.type(description="The result of `setUserStatus` or `setUserRole`.")
class AdminUserPayload:
    user: User | None = strawberry.field(description="The account as it is now; null on error.")
    errors: list[AdminError] = strawberry.field(description=ERRORS)


@strawberry.input(description="Changes to the instance settings: only the fields given change.")
class UpdateInstanceSettingsInput:
    registrations_open: bool | None = strawberry.field(
        default=None, description="Whether `register` accepts new accounts."
    )
    banner: str | None = strawberry.field(
        default=None,
        description="Replaces the banner: one line, up to 500 characters (an empty string "
        "removes it).",
    )
    clear_banner: bool = strawberry.field(
        default=False, description="True removes the banner (unless `banner` is given too)."
    )
    reason: str | None = strawberry.field(default=None, description=REASON_OPTIONAL)


@strawberry.type(description="The result of `updateInstanceSettings`.")
class InstanceSettingsPayload:
    instance: Instance | None = strawberry.field(
        description="The settings as they are now; null on error."
    )
    errors: list[AdminError] = strawberry.field(description=ERRORS)


@strawberry.input(description="A chat message to remove, and why.")
class AdminRemoveMessageInput:
    message_id: relay.GlobalID = strawberry.field(description="The message (a Message id).")
    reason: str = strawberry.field(description=REASON_REQUIRED)


@strawberry.type(description="The result of `adminRemoveMessage`.")
class AdminRemoveMessagePayload:
    message: Message | None = strawberry.field(
        description="Its tombstone (text gone, marked as removed by an administrator); null "
        "on error."
    )
    errors: list[AdminError] = strawberry.field(description=ERRORS)


@strawberry.input(description="A media to remove, and why.")
class AdminRemoveMediaInput:
    media_id: relay.GlobalID = strawberry.field(description="The media (a Media id).")
    reason: str = strawberry.field(description=REASON_REQUIRED)


@strawberry.type(description="The result of `adminRemoveMedia`.")
class AdminRemoveMediaPayload:
    media: Media | None = strawberry.field(description="Its tombstone (files gone); null on error.")
    errors: list[AdminError] = strawberry.field(description=ERRORS)


@strawberry.input(description="A media comment to remove, and why.")
class AdminRemoveMediaCommentInput:
    comment_id: relay.GlobalID = strawberry.field(description="The comment (a MediaComment id).")
    reason: str = strawberry.field(description=REASON_REQUIRED)


@strawberry.type(description="The result of `adminRemoveMediaComment`.")
class AdminRemoveMediaCommentPayload:
    comment: MediaComment | None = strawberry.field(
        description="Its tombstone (text gone); null on error."
    )
    errors: list[AdminError] = strawberry.field(description=ERRORS)


@strawberry.input(description="An event to cancel, and why.")
class AdminCancelEventInput:
    event_id: relay.GlobalID = strawberry.field(description="The event (an Event id).")
    reason: str = strawberry.field(description=REASON_REQUIRED)


@strawberry.type(description="The result of `adminCancelEvent`.")
class AdminCancelEventPayload:
    event: Event | None = strawberry.field(description="The cancelled event; null on error.")
    errors: list[AdminError] = strawberry.field(description=ERRORS)


# --- fields ------------------------------------------------------------------------------------


@strawberry.type
class AdminQuery:
    @strawberry.field(
        description="Every account, newest first, optionally filtered (the filters combine). "
        + ADMINS_ONLY
    )
    async def admin_users(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Keeps accounts whose username, email or full name contains this "
                "text, ignoring case."
            ),
        ] = None,
        role: Annotated[
            Role | None, strawberry.argument(description="Keeps accounts with this role.")
        ] = None,
        status: Annotated[
            UserStatus | None,
            strawberry.argument(description="Keeps accounts with this status."),
        ] = None,
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

    @strawberry.field(description="Figures about the instance, counted now. " + ADMINS_ONLY)
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

    @strawberry.field(
        description="What administrators did, newest first, optionally filtered. " + ADMINS_ONLY
    )
    async def admin_audit_log(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
        actor_id: Annotated[
            relay.GlobalID | None,
            strawberry.argument(
                description="Keeps the actions of this administrator (a User id; an id of "
                "another kind matches nothing)."
            ),
        ] = None,
        action: Annotated[
            AdminAction | None, strawberry.argument(description="Keeps this kind of action.")
        ] = None,
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

    @strawberry.field(
        description="The instance's public settings: anyone may read them, no account needed."
    )
    async def instance(self, info: Info) -> Instance:
        return Instance(row=await uc.instance(info.context.deps))


@strawberry.type
class AdminMutation:
    @strawberry.mutation(
        description="Enables or disables an account. Disabling ends every session of the "
        "account at once (its sockets close), refuses its sign-ins and keeps its data. "
        + ADMINS_ONLY
        + " Errors: USER_NOT_FOUND, LAST_ADMIN, REQUIRED, VALUE_TOO_LONG, INVALID_INPUT."
    )
    async def set_user_status(
        self,
        info: Info,
        input: Annotated[
            SetUserStatusInput,
            strawberry.argument(description="The account, its new status and why."),
        ],
    ) -> AdminUserPayload:
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

    @strawberry.mutation(
        description="Gives an account another role; the last active admin cannot be demoted. "
        "Takes effect at the account's next request. "
        + ADMINS_ONLY
        + " Errors: USER_NOT_FOUND, LAST_ADMIN, VALUE_TOO_LONG, INVALID_INPUT."
    )
    async def set_user_role(
        self,
        info: Info,
        input: Annotated[
            SetUserRoleInput,
            strawberry.argument(description="The account, its new role and why."),
        ],
    ) -> AdminUserPayload:
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

    @strawberry.mutation(
        description="Changes the instance settings (registrations, banner); a change is "
        "audited, no change is a no-op. " + ADMINS_ONLY + " Errors: VALUE_TOO_LONG, INVALID_INPUT."
    )
    async def update_instance_settings(
        self,
        info: Info,
        input: Annotated[
            UpdateInstanceSettingsInput, strawberry.argument(description="The changes.")
        ],
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
        description="Removes any chat message: a tombstone saying an administrator removed it "
        "stays in the chat (live to its subscribers). A message already deleted is answered "
        "as it is. " + ADMINS_ONLY + MODERATION_ERRORS
    )
    async def admin_remove_message(
        self,
        info: Info,
        input: Annotated[
            AdminRemoveMessageInput, strawberry.argument(description="The message and why.")
        ],
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
        description="Removes any media: its files, metadata, comments and likes go; a "
        "tombstone stays in its album. Removing it again changes nothing. "
        + ADMINS_ONLY
        + MODERATION_ERRORS
    )
    async def admin_remove_media(
        self,
        info: Info,
        input: Annotated[
            AdminRemoveMediaInput, strawberry.argument(description="The media and why.")
        ],
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

    @strawberry.mutation(
        description="Removes any media comment: a tombstone without its text stays in the "
        "thread. Removing it again changes nothing. " + ADMINS_ONLY + MODERATION_ERRORS
    )
    async def admin_remove_media_comment(
        self,
        info: Info,
        input: Annotated[
            AdminRemoveMediaCommentInput,
            strawberry.argument(description="The comment and why."),
        ],
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

    @strawberry.mutation(
        description="Cancels any event, whoever organises it; its participants are notified "
        "as for any cancellation. "
        + ADMINS_ONLY
        + MODERATION_ERRORS
        + " EVENT_CANCELLED when it already is."
    )
    async def admin_cancel_event(
        self,
        info: Info,
        input: Annotated[
            AdminCancelEventInput, strawberry.argument(description="The event and why.")
        ],
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
