"""An event's activity feed: what happened, by whom, newest first (`Event.activity`)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from resolvers import events as uc
from resolvers.core.errors import BadRequest
from schema.accounts import User
from schema.context import Info
from schema.core import (
    Connection,
    connection,
    cursor_int,
    decode_cursor,
    encode_cursor,
    global_id,
    page_size,
)
from stores.projections import ActivityEntry as Entry


@strawberry.enum
class ActivityVerb(enum.Enum):
    EVENT_CREATED = "event.created"
    EVENT_UPDATED = "event.updated"
    EVENT_CANCELLED = "event.cancelled"
    PARTICIPANT_JOINED = "participant.joined"
    PARTICIPANT_LEFT = "participant.left"
    PARTICIPANT_REMOVED = "participant.removed"
    PARTICIPANT_ROLE_CHANGED = "participant.role_changed"
    OWNERSHIP_TRANSFERRED = "ownership.transferred"
    TASK_CREATED = "task.created"
    TASK_COMPLETED = "task.completed"
    TASK_VALIDATED = "task.validated"
    EXPENSE_ADDED = "expense.added"
    EXPENSE_EDITED = "expense.edited"
    EXPENSE_DELETED = "expense.deleted"
    SETTLEMENT_RECORDED = "settlement.recorded"
    MEDIA_ADDED = "media.added"
    MEDIA_COMMENTED = "media.commented"
    MEDIA_LIKED = "media.liked"


@strawberry.enum
class ActivitySubjectType(enum.Enum):
    EVENT = "EVENT"
    PARTICIPANT = "PARTICIPANT"
    TASK = "TASK"
    EXPENSE = "EXPENSE"
    SETTLEMENT = "SETTLEMENT"
    MEDIA = "MEDIA"


_NODE_TYPES = {
    "EVENT": "Event",
    "PARTICIPANT": "Participant",
    "TASK": "Task",
    "EXPENSE": "Expense",
    "SETTLEMENT": "Settlement",
    "MEDIA": "Media",
}


@strawberry.type(
    description="One thing that happened in an event. The subject may since have "
    "been deleted (its id then resolves to null with `node`)."
)
class ActivityEntry:
    entry: strawberry.Private[Entry]

    @strawberry.field
    def verb(self) -> ActivityVerb:
        return ActivityVerb(self.entry.verb)

    @strawberry.field(description="Who did it; null once their account is deleted.")
    async def actor(self, info: Info) -> User | None:
        if self.entry.actor_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.entry.actor_user_id)
        return User(row=row) if row is not None else None

    @strawberry.field(description="The actor's name when it happened.")
    def actor_name(self) -> str | None:
        return self.entry.actor_name

    @strawberry.field
    def subject_type(self) -> ActivitySubjectType:
        return ActivitySubjectType(self.entry.subject_type)

    @strawberry.field(description="Global id of the subject (for `node(id:)`).")
    def subject_id(self) -> strawberry.ID:
        name = _NODE_TYPES[self.entry.subject_type]
        return global_id(name, self.entry.subject_id)

    @strawberry.field(description="A few facts about the change (title, amounts, roles...).")
    def details(self) -> JSON:
        return cast("JSON", dict(self.entry.payload))

    @strawberry.field
    def created_at(self) -> datetime:
        return self.entry.created_at


async def activity(
    info: Info, event_id: int, first: int | None, after: str | None
) -> Connection[ActivityEntry]:
    size = page_size(first)
    parts = decode_cursor(after, arity=1)
    before = None
    if parts is not None:
        if not isinstance(parts[0], int):
            raise BadRequest("Invalid cursor.")
        before = cursor_int(parts[0])
    found = await uc.activity_of(info.context.deps, event_id, size + 1, before)
    return connection(
        [ActivityEntry(entry=e) for e in found],
        size,
        lambda e: encode_cursor(e.entry.seq),
        has_previous=after is not None,
    )
