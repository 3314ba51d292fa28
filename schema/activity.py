"""An event's activity feed: what happened, by whom, newest first (`Event.activity`).

Entries are documents written by the outbox handler (resolvers/projections.py) with the raw
keys of the domain event. They are rendered here for the API: ids as global ids, keys in
camelCase, amounts as decimal strings; stored entries stay as they are, so old ones read the
same way as new ones."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from resolvers import events as uc
from resolvers.core.errors import BadRequest
from resolvers.money import format_amount
from schema.accounts import User
from schema.context import Info
from schema.core import (
    Connection,
    connection,
    cursor_int,
    decode_cursor,
    documented_enum,
    encode_cursor,
    global_id,
    page_size,
)
from stores.projections import ActivityEntry as Entry


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


_MONEY = (
    '`title`, `amount` (decimal string, e.g. "12.50"), `currency` (ISO 4217), `paidById` '
    "(Participant id) and `participantIds` (Participant ids of who shares it)"
)
V = ActivityVerb
# per verb: what happened, and the keys of `details` (one text for the enum value and the field)
_VERBS: dict[ActivityVerb, tuple[str, str]] = {
    V.EVENT_CREATED: ("The event was created. Subject: the Event.", "`title`"),
    V.EVENT_UPDATED: (
        "The event was edited. Subject: the Event.",
        '`title` (after the edit) and `changed` (the Event fields that changed, e.g. ["startsAt", '
        '"location"]; `location` stands for the place\'s name, address and coordinates)',
    ),
    V.EVENT_CANCELLED: (
        "The event was cancelled. Subject: the Event.",
        "`title`; when an administrator cancelled it, also `byAdmin: true` and `reason`",
    ),
    V.PARTICIPANT_JOINED: (
        "Someone joined (invitation, link, approved request, or the owner with a new event). "
        "Subject: their Participant.",
        "`userId` (User id), `name` and `role` (a ParticipantRole)",
    ),
    V.PARTICIPANT_LEFT: (
        "Someone left. Subject: their Participant.",
        "`userId` (User id) and `name`; when they deleted their account, `accountDeleted: true` "
        "instead of `name`",
    ),
    V.PARTICIPANT_REMOVED: (
        "An organizer removed someone. Subject: their Participant.",
        "`userId` (User id, null for a guest without an account) and `name`",
    ),
    V.PARTICIPANT_ROLE_CHANGED: (
        "Someone's role changed. Subject: their Participant.",
        "`userId` (User id), `name`, `role` and `previousRole` (ParticipantRole values)",
    ),
    V.OWNERSHIP_TRANSFERRED: (
        "The owner handed the event over. Subject: the new owner's Participant.",
        "`userId` (User id of the new owner), `name` and `previousOwnerUserId` (User id)",
    ),
    V.TASK_CREATED: (
        "A task was created. Subject: the Task.",
        "`title` and `assigneeIds` (Participant ids)",
    ),
    V.TASK_COMPLETED: ("A task was marked done. Subject: the Task.", "`title`"),
    V.TASK_VALIDATED: (
        "An organizer validated a done task. Subject: the Task.",
        "`title` and `completedById` (Participant id of who completed it)",
    ),
    V.EXPENSE_ADDED: ("An expense was added. Subject: the Expense.", _MONEY),
    V.EXPENSE_EDITED: ("An expense was edited. Subject: the Expense.", f"{_MONEY}, as edited"),
    V.EXPENSE_DELETED: (
        "An expense was deleted. Subject: the Expense (its id resolves to null now).",
        f"{_MONEY}, as it was",
    ),
    V.SETTLEMENT_RECORDED: (
        "A payment between two participants was recorded. Subject: the Settlement.",
        "`fromId` and `toId` (Participant ids of who paid and who was paid), `amount` (decimal "
        "string) and `currency`",
    ),
    V.MEDIA_ADDED: (
        "Photos or files were uploaded (one entry per upload request). Subject: the first new "
        "Media.",
        "`count` (new media in the request), `mediaIds` (Media ids, the first 20), `kinds` "
        "(MediaKind values) and `albumId` (Album id)",
    ),
    V.MEDIA_COMMENTED: (
        "Someone commented on a media they did not upload. Subject: the Media.",
        "`commentId` (MediaComment id), `excerpt` (the comment's first 140 characters) and "
        "`uploaderUserId` (User id)",
    ),
    V.MEDIA_LIKED: (
        "Someone liked a media they did not upload. Subject: the Media.",
        "`uploaderUserId` (User id)",
    ),
}

documented_enum(
    ActivityVerb,
    {verb: f"{what} Details: {keys}." for verb, (what, keys) in _VERBS.items()},
    description="What happened, as told in an event's activity feed. Each value says what "
    "`subjectId` names and which keys `details` holds.",
)


class ActivitySubjectType(enum.Enum):
    EVENT = "EVENT"
    PARTICIPANT = "PARTICIPANT"
    TASK = "TASK"
    EXPENSE = "EXPENSE"
    SETTLEMENT = "SETTLEMENT"
    MEDIA = "MEDIA"


documented_enum(
    ActivitySubjectType,
    {
        ActivitySubjectType.EVENT: "`subjectId` is an Event id.",
        ActivitySubjectType.PARTICIPANT: "`subjectId` is a Participant id.",
        ActivitySubjectType.TASK: "`subjectId` is a Task id.",
        ActivitySubjectType.EXPENSE: "`subjectId` is an Expense id.",
        ActivitySubjectType.SETTLEMENT: "`subjectId` is a Settlement id.",
        ActivitySubjectType.MEDIA: "`subjectId` is a Media id.",
    },
    description="The kind of object an activity entry is about (the type behind `subjectId`).",
)


_NODE_TYPES = {
    "EVENT": "Event",
    "PARTICIPANT": "Participant",
    "TASK": "Task",
    "EXPENSE": "Expense",
    "SETTLEMENT": "Settlement",
    "MEDIA": "Media",
}

# keys of stored details that hold ids (one or a list), and the node type each names
_ID_KEYS = {
    "user_id": "User",
    "user_ids": "User",
    "previous_owner_user_id": "User",
    "uploader_user_id": "User",
    "event_id": "Event",
    "participant_id": "Participant",
    "participant_ids": "Participant",
    "assignee_ids": "Participant",
    "completed_by_id": "Participant",
    "paid_by_id": "Participant",
    "from_id": "Participant",
    "to_id": "Participant",
    "task_id": "Task",
    "expense_id": "Expense",
    "settlement_id": "Settlement",
    "media_id": "Media",
    "media_ids": "Media",
    "album_id": "Album",
    "comment_id": "MediaComment",
    "message_id": "Message",
}
_SNAKE = re.compile(r"_([a-z0-9])")


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


def _node_ids(type_name: str, value: Any) -> Any:
    """A stored key (or list of keys) as global ids; no key (null, 0, "") as null, so no raw
    id ever shows."""
    if isinstance(value, list):
        return [_node_ids(type_name, v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | str) or value in (0, ""):
        return None
    return global_id(type_name, value)


def rendered_details(payload: dict[str, Any]) -> dict[str, Any]:
    """Stored details as the API shows them: camelCase keys, global ids, and an amount in
    minor units as the decimal string of its currency (`amount`)."""
    shown: dict[str, Any] = {}
    for name, value in payload.items():
        if name in _ID_KEYS:
            shown[_camel(name)] = _node_ids(_ID_KEYS[name], value)
        elif name == "amount_minor" and isinstance(value, int) and "currency" in payload:
            shown["amount"] = format_amount(value, str(payload["currency"]))
        else:
            shown[_camel(name)] = value
    return shown


_DETAILS = (
    "A few facts about the change, as a JSON object whose keys depend on `verb`. Keys are "
    "camelCase; ids are global ids for `node(id:)` (of the type each key names), amounts are "
    'decimal strings in `currency` (e.g. "12.50"). Names and titles are as they were when it '
    "happened. Keys may be added later: ignore those you do not know. By verb:\n"
    + "\n".join(f"- {verb.name}: {keys}." for verb, (_, keys) in _VERBS.items())
)


@strawberry.type(
    description="One thing that happened in an event (participants only, through "
    "`Event.activity`). The subject may since have been deleted (its id then resolves to "
    "null with `node`)."
)
class ActivityEntry:
    entry: strawberry.Private[Entry]

    @strawberry.field(description="What happened; it says what `subjectId` and `details` hold.")
    def verb(self) -> ActivityVerb:
        return ActivityVerb(self.entry.verb)

    @strawberry.field(description="Who did it; null once their account is deleted.")
    async def actor(self, info: Info) -> User | None:
        if self.entry.actor_user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(self.entry.actor_user_id)
        return User(row=row) if row is not None else None

    @strawberry.field(
        description="The actor's display name when it happened (kept after their account "
        "is deleted); null if unknown."
    )
    def actor_name(self) -> str | None:
        return self.entry.actor_name

    @strawberry.field(description="The type of object `subjectId` names.")
    def subject_type(self) -> ActivitySubjectType:
        return ActivitySubjectType(self.entry.subject_type)

    @strawberry.field(
        description="Global id of the subject (for `node(id:)`); see `subjectType` for its "
        "type. `node` answers null when it was deleted since or you may not see it."
    )
    def subject_id(self) -> strawberry.ID:
        name = _NODE_TYPES[self.entry.subject_type]
        return global_id(name, self.entry.subject_id)

    @strawberry.field(description=_DETAILS)
    def details(self) -> JSON:
        return cast("JSON", rendered_details(dict(self.entry.payload)))

    @strawberry.field(description="When it happened (ISO-8601, UTC).")
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
