"""Notifications: the inbox, the unread count, preferences and the live stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import notifications as uc
from resolvers.notifications import NotificationErrorCode
from schema.accounts import User
from schema.context import Info
from schema.core import (
    PAGE_FIRST,
    Connection,
    UserError,
    connection,
    decode_document_id,
    decode_time_cursor,
    documented_enum,
    encode_cursor,
    global_id,
    mutate,
    page_size,
)
from schema.events import Event
from stores import notifications as store

K = uc.Kind
NotificationType = documented_enum(  # registers uc.Kind (one definition: resolvers)
    uc.Kind,
    {
        K.INVITATION_RECEIVED: "An organizer invited your account to an event. Opens the "
        "Invitation. By email too unless you turn it off.",
        K.INVITATION_ACCEPTED: "Someone accepted an invitation you sent. Opens the Event.",
        K.INVITATION_DECLINED: "Someone declined an invitation you sent. Opens the Event.",
        K.JOIN_REQUEST: "To organizers: someone asks to join the event. Opens the JoinRequest.",
        K.ROLE_CHANGED: "Your role in an event changed. Opens the Event.",
        K.REMOVED_FROM_EVENT: "An organizer removed you from an event. Opens nothing.",
        K.TASK_ASSIGNED: "You were assigned a task (when it was created or later). Opens the Task.",
        K.TASK_COMPLETED: "To organizers: a participant completed a task. Opens the Task.",
        K.TASK_VALIDATED: "A task you completed was validated. Opens the Task.",
        K.EXPENSE_ADDED: "An expense you paid or share in was added. Opens the Expense.",
        K.EXPENSE_EDITED: "An expense you paid or share in was edited. Opens the Expense.",
        K.SETTLEMENT_RECORDED: "A payment from or to you was recorded. Opens the Settlement.",
        K.EVENT_UPDATED: "The date or place of an event you take part in changed (other edits "
        "notify nobody). Opens the Event.",
        K.EVENT_CANCELLED: "An event you take part in was cancelled. Opens the Event. By email "
        "too unless you turn it off.",
        K.EVENT_REMINDER: "An event you take part in starts in less than 24 hours. Opens the "
        "Event.",
        K.EVENT_DATE_CHOSEN: "The date poll of an event you take part in closed: the event "
        "now takes place at the chosen option. Opens the Event.",
        K.DATE_POLL_OPENED: "An organizer opened (or reopened) a date poll in an event you take "
        "part in: vote for the dates that suit you. Opens the Event.",
        K.DATE_POLL_REMINDER: "A date poll you have not voted in closes in less than 24 hours. "
        "Opens the Event.",
        K.MENTIONED: "Someone mentioned you (@username) in an event's chat; `body` is the "
        "message's start. Opens the Event.",
        K.MEDIA_ADDED: "Someone shared photos or files in an event you take part in. Opens the "
        "first new Media.",
        K.MEDIA_COMMENTED: "Someone commented on a media you uploaded; `body` is the comment's "
        "start. Opens the Media.",
        K.MEDIA_LIKED: "Someone liked a media you uploaded. Opens the Media.",
    },
    name="NotificationType",
    description="What a notification is about. You are never notified of what you did "
    "yourself. Each type can be delivered in the app, by email, both or neither "
    "(`updateNotificationPreferences`).",
)

_NODE_TYPES = {
    "EVENT": "Event",
    "TASK": "Task",
    "EXPENSE": "Expense",
    "SETTLEMENT": "Settlement",
    "INVITATION": "Invitation",
    "JOIN_REQUEST": "JoinRequest",
    "MEDIA": "Media",
}


documented_enum(  # the GraphQL enum: one definition, in resolvers
    NotificationErrorCode,
    {
        NotificationErrorCode.INVALID_INPUT: "markNotificationsRead: neither or both of `ids` "
        "and `all: true`, or more than 100 ids; updateNotificationPreferences: more entries "
        "than there are notification types.",
    },
    description="Why a notification mutation changed nothing (`errors[].code`).",
)


@strawberry.type(description="An expected failure of a notification mutation; nothing was changed.")
class NotificationError(UserError):
    codes = NotificationErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: NotificationErrorCode = strawberry.field(description="What went wrong.")
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="Always null here (no notification mutation is rate-limited)."
    )


@strawberry.type(
    description="Something you were told about; only you see your notifications. Several of "
    "the same type about the same event within two minutes merge into one (`occurrences`): "
    "join requests, task assignments and completions, expenses, payments, event changes, "
    "mentions and media."
)
class Notification(relay.Node):
    doc: strawberry.Private[store.Notification]

    @classmethod
    def resolve_id(cls, root: Notification, *, info: Info) -> str:
        return str(root.doc.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Notification | None]:
        viewer = info.context.viewer_or_none()
        ids = list(node_ids)
        if viewer is None:
            return [None for _ in ids]
        found = {str(d.id): d for d in await store.by_ids(viewer.user_id, ids)}
        return [Notification(doc=found[i]) if i in found else None for i in ids]

    @strawberry.field(description="What it is about.")
    def type(self) -> uc.Kind:
        return uc.Kind(self.doc.type)

    @strawberry.field(
        description='One line to show, in English (e.g. "Ana added “Bread” (9.00 EUR) in Ski '
        'weekend"); grouped: a count ("3 new expenses in Ski weekend").'
    )
    def title(self) -> str:
        return self.doc.title

    @strawberry.field(
        description="More text, often empty: the start of a mention's message or of a "
        "comment (up to 140 characters)."
    )
    def body(self) -> str:
        return self.doc.body

    @strawberry.field(description="How many changes this one stands for (1, more when grouped).")
    def occurrences(self) -> int:
        return self.doc.occurrences

    @strawberry.field(description="The event it is about, if you can still see it.")
    async def event(self, info: Info) -> Event | None:
        if self.doc.event_id is None:
            return None
        found = await info.context.loaders.event_access.load(self.doc.event_id)
        return Event(row=found[0], membership=found[1]) if found else None

    @strawberry.field(
        description="The type of what to open: EVENT, TASK, EXPENSE, SETTLEMENT, INVITATION, "
        "JOIN_REQUEST or MEDIA; null when there is nothing to open."
    )
    def target_type(self) -> str | None:
        return self.doc.target_type

    @strawberry.field(
        description="Global id of what to open (for `node(id:)`, which answers null once it "
        "is deleted or hidden from you); null when there is nothing to open."
    )
    def target_id(self) -> strawberry.ID | None:
        name = _NODE_TYPES.get(self.doc.target_type or "")
        if name is None or self.doc.target_id is None:
            return None
        return global_id(name, self.doc.target_id)

    @strawberry.field(
        description="Who caused it (the latest, when grouped); null for a reminder or once "
        "their account is deleted."
    )
    async def actor(self, info: Info) -> User | None:
        if self.doc.actor_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.doc.actor_user_id)
        return User(row=row) if row is not None else None

    @strawberry.field(
        description='The actor\'s display name when it happened ("Someone" when unknown); '
        "null for a reminder."
    )
    def actor_name(self) -> str | None:
        return self.doc.actor_name

    @strawberry.field(description="When it was first made (ISO-8601, UTC).")
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field(
        description="The last time something merged into it (ISO-8601, UTC); the inbox's order."
    )
    def updated_at(self) -> datetime:
        return self.doc.updated_at

    @strawberry.field(
        description="When you marked it read (or archived it); null while unread. A type you "
        "receive by email only is read and archived from the start."
    )
    def read_at(self) -> datetime | None:
        return self.doc.read_at

    @strawberry.field(description="When you archived it; null while it is in the inbox.")
    def archived_at(self) -> datetime | None:
        return self.doc.archived_at


@strawberry.type(description="How you receive one type of notification.")
class NotificationPreference:
    type: uc.Kind = strawberry.field(description="The type of notification.")
    in_app: bool = strawberry.field(
        description="Shown in the inbox and pushed live (`notificationReceived`)."
    )
    email: bool = strawberry.field(
        description="Sent by email (held back during quiet hours, 22:00-08:00 in your time "
        "zone, unless the event is that day). On by default for INVITATION_RECEIVED and "
        "EVENT_CANCELLED only."
    )


@strawberry.input(description="How to receive one type of notification.")
class NotificationPreferenceInput:
    type: uc.Kind = strawberry.field(description="The type of notification to set.")
    in_app: bool = strawberry.field(description="Show in the inbox and push live.")
    email: bool = strawberry.field(description="Send by email.")


@strawberry.input(description="Which notifications to mark read: give `ids` or `all: true`.")
class MarkNotificationsReadInput:
    ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="Notification ids, at most 100; ids that are not yours are ignored.",
    )
    all: bool = strawberry.field(
        default=False, description="True: mark every notification you have read."
    )


@strawberry.input(description="One of your notifications.")
class NotificationRefInput:
    id: relay.GlobalID = strawberry.field(description="The notification's id.")


@strawberry.input(description="New delivery choices; types left out keep theirs.")
class UpdateNotificationPreferencesInput:
    preferences: list[NotificationPreferenceInput] = strawberry.field(
        description="One entry per type to change (at most one per NotificationType)."
    )


@strawberry.type(description="The result of markNotificationsRead.")
class MarkNotificationsReadPayload:
    unread_count: int | None = strawberry.field(
        description="Your unread count afterwards; null when there are errors."
    )
    errors: list[NotificationError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="The result of a mutation on one notification.")
class NotificationPayload:
    notification: Notification | None = strawberry.field(
        description="The notification as it is now; null when there are errors."
    )
    errors: list[NotificationError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="The result of updateNotificationPreferences.")
class NotificationPreferencesPayload:
    preferences: list[NotificationPreference] = strawberry.field(
        description="Your choices for every type afterwards; empty when there are errors."
    )
    errors: list[NotificationError] = strawberry.field(
        description="Why nothing was changed; empty on success."
    )


@strawberry.type(description="One delivery of `notificationReceived`.")
class NotificationReceived:
    notification: Notification = strawberry.field(
        description="The new notification, or one that grew by grouping (same id, higher "
        "`occurrences`)."
    )
    unread_count: int = strawberry.field(description="Your unread count with it.")

    @strawberry.field(
        description="Where the stream is (opaque): give it as `after` to resume without a gap "
        "(the same position as the notification's cursor in `notifications`)."
    )
    def cursor(self) -> str:
        return notification_cursor(self.notification.doc)


def notification_cursor(doc: store.Notification) -> str:
    return encode_cursor(doc.updated_at.isoformat(), str(doc.id))


def _ids(ids: list[relay.GlobalID]) -> list[str]:
    return [decode_document_id(gid, "Notification") for gid in ids]


def _prefs(found: list[tuple[uc.Kind, store.Channels]]) -> list[NotificationPreference]:
    return [NotificationPreference(type=kind, in_app=c.in_app, email=c.email) for kind, c in found]


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        description="Signed in: your notifications, most recently updated first, archived "
        "ones left out. UNAUTHENTICATED when signed out; BAD_USER_INPUT for a bad page size "
        "or cursor."
    )
    async def notifications(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description=PAGE_FIRST),
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="An `endCursor` (or a `notificationReceived` cursor): the page "
                "after it."
            ),
        ] = None,
        unread_only: Annotated[
            bool, strawberry.argument(description="True: only those not read yet.")
        ] = False,
    ) -> Connection[Notification]:
        viewer = info.context.require_viewer()
        size = page_size(first)
        before = decode_time_cursor(after)
        docs = await uc.inbox(info.context.deps, viewer, size + 1, before, unread_only)
        return connection(
            [Notification(doc=d) for d in docs],
            size,
            lambda n: notification_cursor(n.doc),
            has_previous=after is not None,
        )

    @strawberry.field(
        description="Signed in: how many of your notifications are unread and not archived."
    )
    async def unread_notification_count(self, info: Info) -> int:
        return await uc.unread_count(info.context.deps, info.context.require_viewer())

    @strawberry.field(
        description="Signed in: how you receive each type (one entry per NotificationType)."
    )
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        return _prefs(await uc.preferences(info.context.deps, info.context.require_viewer()))


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        description="Signed in: marks the given notifications (or `all: true`) read; reading "
        "again changes nothing. Errors: INVALID_INPUT."
    )
    async def mark_notifications_read(
        self,
        info: Info,
        input: Annotated[
            MarkNotificationsReadInput, strawberry.argument(description="What to mark read.")
        ],
    ) -> MarkNotificationsReadPayload:
        ids = _ids(input.ids) if input.ids is not None else None
        count, errors = await mutate(info, NotificationError, uc.mark_read, ids, input.all)
        return MarkNotificationsReadPayload(unread_count=count, errors=errors)

    @strawberry.mutation(
        description="Signed in: hides one of your notifications from the inbox "
        "(`notifications`) and marks it read; `node(id:)` still finds it. Archiving again "
        "is harmless. NOT_FOUND when it is not yours."
    )
    async def archive_notification(
        self,
        info: Info,
        input: Annotated[
            NotificationRefInput, strawberry.argument(description="The notification to archive.")
        ],
    ) -> NotificationPayload:
        doc, errors = await mutate(info, NotificationError, uc.archive, _ids([input.id])[0])
        return NotificationPayload(
            notification=Notification(doc=doc) if doc else None, errors=errors
        )

    @strawberry.mutation(
        description="Signed in: sets in-app and email delivery for the given types (both off: "
        "that type is not recorded at all). Errors: INVALID_INPUT."
    )
    async def update_notification_preferences(
        self,
        info: Info,
        input: Annotated[
            UpdateNotificationPreferencesInput,
            strawberry.argument(description="The types to change."),
        ],
    ) -> NotificationPreferencesPayload:
        changes = [(p.type, p.in_app, p.email) for p in input.preferences]
        found, errors = await mutate(info, NotificationError, uc.update_preferences, changes)
        return NotificationPreferencesPayload(preferences=_prefs(found or []), errors=errors)


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        description="Signed in: each new (or regrouped) notification of yours with your "
        "unread count, as it happens, from any server process (for the types you receive in "
        "the app). With `after`, first what was created or regrouped since, oldest first (more "
        f"than {uc.REPLAY_LIMIT}: the stream ends with CURSOR_TOO_OLD, reload the inbox). "
        "Ends with SERVICE_UNAVAILABLE (retry with your last cursor) when notifications "
        "cannot be read; BAD_USER_INPUT for a malformed cursor. The server closes the socket "
        "(4401) when your session ends or your token expires (refresh, then reconnect); over "
        "SSE the stream ends with UNAUTHENTICATED."
    )
    async def notification_received(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Resume from here: the last `cursor` of this stream, or an "
                "`endCursor`/edge cursor of `notifications`. Null: only what happens from now."
            ),
        ] = None,
    ) -> AsyncGenerator[NotificationReceived, None]:
        viewer = info.context.require_viewer()
        position = decode_time_cursor(after)
        async for doc, unread in uc.received(info.context.deps, viewer, position):
            yield NotificationReceived(notification=Notification(doc=doc), unread_count=unread)
        await info.context.end_session()
