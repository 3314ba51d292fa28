"""Notifications: the inbox, the unread count, preferences and the live stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from resolvers import notifications as uc
from resolvers.notifications import NotificationErrorCode
from schema.accounts import User
from schema.context import Info
from schema.core import (
    Connection,
    UserError,
    connection,
    decode_document_id,
    decode_time_cursor,
    encode_cursor,
    global_id,
    mutate,
    page_size,
)
from schema.events import Event
from stores import notifications as store

NotificationType = strawberry.enum(uc.Kind, name="NotificationType")  # registers uc.Kind

_NODE_TYPES = {
    "EVENT": "Event",
    "TASK": "Task",
    "EXPENSE": "Expense",
    "SETTLEMENT": "Settlement",
    "INVITATION": "Invitation",
    "JOIN_REQUEST": "JoinRequest",
    "MEDIA": "Media",
}


strawberry.enum(NotificationErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class NotificationError(UserError):
    codes = NotificationErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: NotificationErrorCode
    retry_after_seconds: int | None = None


@strawberry.type(
    description="Something you were told about. Several of the same type about "
    "the same event within two minutes merge into one (`occurrences`)."
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

    @strawberry.field
    def type(self) -> uc.Kind:
        return uc.Kind(self.doc.type)

    @strawberry.field
    def title(self) -> str:
        return self.doc.title

    @strawberry.field
    def body(self) -> str:
        return self.doc.body

    @strawberry.field(description="How many events this one stands for (grouping).")
    def occurrences(self) -> int:
        return self.doc.occurrences

    @strawberry.field(description="The event it is about, if you can still see it.")
    async def event(self, info: Info) -> Event | None:
        if self.doc.event_id is None:
            return None
        found = await info.context.loaders.event_access.load(self.doc.event_id)
        return Event(row=found[0], membership=found[1]) if found else None

    @strawberry.field(
        description="What to open: EVENT, TASK, EXPENSE, SETTLEMENT, INVITATION or JOIN_REQUEST."
    )
    def target_type(self) -> str | None:
        return self.doc.target_type

    @strawberry.field(description="Global id of what to open (for `node(id:)`).")
    def target_id(self) -> strawberry.ID | None:
        name = _NODE_TYPES.get(self.doc.target_type or "")
        if name is None or self.doc.target_id is None:
            return None
        return global_id(name, self.doc.target_id)

    @strawberry.field(description="Who caused it (the latest, when grouped).")
    async def actor(self, info: Info) -> User | None:
        if self.doc.actor_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.doc.actor_user_id)
        return User(row=row) if row is not None else None

    @strawberry.field
    def actor_name(self) -> str | None:
        return self.doc.actor_name

    @strawberry.field
    def created_at(self) -> datetime:
        return self.doc.created_at

    @strawberry.field(description="The last time something merged into it.")
    def updated_at(self) -> datetime:
        return self.doc.updated_at

    @strawberry.field
    def read_at(self) -> datetime | None:
        return self.doc.read_at

    @strawberry.field
    def archived_at(self) -> datetime | None:
        return self.doc.archived_at


@strawberry.type
class NotificationPreference:
    type: uc.Kind
    in_app: bool
    email: bool


@strawberry.input
class NotificationPreferenceInput:
    type: uc.Kind
    in_app: bool
    email: bool


@strawberry.input
class MarkNotificationsReadInput:
    ids: list[relay.GlobalID] | None = None
    all: bool = False


@strawberry.input
class NotificationRefInput:
    id: relay.GlobalID


@strawberry.input
class UpdateNotificationPreferencesInput:
    preferences: list[NotificationPreferenceInput]


@strawberry.type
class MarkNotificationsReadPayload:
    unread_count: int | None
    errors: list[NotificationError]


@strawberry.type
class NotificationPayload:
    notification: Notification | None
    errors: list[NotificationError]


@strawberry.type
class NotificationPreferencesPayload:
    preferences: list[NotificationPreference]
    errors: list[NotificationError]


@strawberry.type
class NotificationReceived:
    notification: Notification
    unread_count: int

    @strawberry.field(
        description="Where the stream is: give it as `after` to resume without a gap "
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
    @strawberry.field(description="Your notifications, most recently updated first.")
    async def notifications(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
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

    @strawberry.field(description="Unread and not archived.")
    async def unread_notification_count(self, info: Info) -> int:
        return await uc.unread_count(info.context.deps, info.context.require_viewer())

    @strawberry.field(description="Per type: in the app, by email.")
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        return _prefs(await uc.preferences(info.context.deps, info.context.require_viewer()))


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Marks the given notifications (or `all: true`) read.")
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkNotificationsReadPayload:
        ids = _ids(input.ids) if input.ids is not None else None
        count, errors = await mutate(info, NotificationError, uc.mark_read, ids, input.all)
        return MarkNotificationsReadPayload(unread_count=count, errors=errors)

    @strawberry.mutation(description="Hides a notification from the inbox (and marks it read).")
    async def archive_notification(
        self, info: Info, input: NotificationRefInput
    ) -> NotificationPayload:
        doc, errors = await mutate(info, NotificationError, uc.archive, _ids([input.id])[0])
        return NotificationPayload(
            notification=Notification(doc=doc) if doc else None, errors=errors
        )

    @strawberry.mutation(description="Sets in-app and email delivery for the given types.")
    async def update_notification_preferences(
        self, info: Info, input: UpdateNotificationPreferencesInput
    ) -> NotificationPreferencesPayload:
        changes = [(p.type, p.in_app, p.email) for p in input.preferences]
        found, errors = await mutate(info, NotificationError, uc.update_preferences, changes)
        return NotificationPreferencesPayload(preferences=_prefs(found or []), errors=errors)


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        description="Each new notification with your unread count, from "
        "any server process. With `after` (a `cursor` of this stream or of "
        "`notifications`), first what was created or regrouped since, oldest "
        f"first (more than {uc.REPLAY_LIMIT}: ends with CURSOR_TOO_OLD, reload the "
        "inbox). Ends with SERVICE_UNAVAILABLE (retry with your last cursor) when "
        "notifications cannot be read. The socket closes (4401) when the session "
        "ends; over SSE the stream ends with UNAUTHENTICATED."
    )
    async def notification_received(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[NotificationReceived, None]:
        viewer = info.context.require_viewer()
        position = decode_time_cursor(after)
        async for doc, unread in uc.received(info.context.deps, viewer, position):
            yield NotificationReceived(notification=Notification(doc=doc), unread_count=unread)
        await info.context.end_session()
