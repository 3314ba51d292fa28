"""Tasks: types, inputs, payloads, mutations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay

from resolvers import tasks as uc
from resolvers.people import PersonId
from schema.context import Info
from schema.core import CLIENT_MUTATION_ID, decode_global_id, documented_enum, mutate
from schema.event_errors import TaskError
from schema.participants import PERSON_ID, Participant, person, person_id, roster, visible_rows
from stores import tasks as rows
from stores.db import key_of
from stores.tasks import TaskStatus

documented_enum(  # one definition: stores.tasks
    TaskStatus,
    {
        TaskStatus.TODO: "Still to do (new, or reopened).",
        TaskStatus.DONE: "Completed by an assignee (or anyone, if unassigned); not yet validated.",
        TaskStatus.VALIDATED: "Completion confirmed by an organizer other than who completed it.",
    },
    description="Where a task is: TODO → DONE → VALIDATED; `reopenTask` sends it back to TODO.",
)


@strawberry.type(
    description="A to-do of an event, assigned to some of its participants. Visible to the "
    "event's participants."
)
class Task(relay.Node):
    """Plain fields, participants included: build with `tasks()` (one roster and one assignee
    batch per request), then graphql-core reads attributes."""

    row: strawberry.Private[rows.Task]
    title: str = strawberry.field(description="What to do (1 to 200 characters).")
    description: str = strawberry.field(
        description="Details, at most 5000 characters; may be empty."
    )
    due_at: datetime | None = strawberry.field(
        description="When it should be done (ISO-8601 with offset); null for no deadline."
    )
    status: TaskStatus = strawberry.field(description="Where it is in its flow.")
    assignees: list[Participant] = strawberry.field(
        description="Who should do it (at most 50); empty: anyone may complete it."
    )
    created_by: Participant | None = strawberry.field(
        description="Who created it (with organizers, one who may edit it)."
    )
    completed_by: Participant | None = strawberry.field(
        description="Who marked it DONE; null while TODO."
    )
    completed_at: datetime | None = strawberry.field(
        description="When it was marked DONE; null while TODO."
    )
    validated_by: Participant | None = strawberry.field(
        description="The organizer who validated it; null unless VALIDATED."
    )
    validated_at: datetime | None = strawberry.field(
        description="When it was validated; null unless VALIDATED."
    )
    created_at: datetime = strawberry.field(description="When it was created (ISO-8601, UTC).")
    version: int = strawberry.field(
        description="Increases on every edit; pass it as `expectedVersion` to `updateTask`."
    )

    @classmethod
    def resolve_id(cls, root: Task, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Task | None]:
        found = await visible_rows(info, rows.Task, node_ids)
        built = iter(await tasks(info, [r for r in found if r is not None]))
        return [next(built) if r else None for r in found]


async def tasks(info: Info, found: Sequence[rows.Task]) -> list[Task]:
    """GraphQL tasks for rows of events the viewer sees."""
    assigned = await info.context.loaders.assignees_by_task.load_many([key_of(t) for t in found])
    people: dict[int, dict[int, Participant]] = {}
    for event_id in {t.event_id for t in found}:
        people[event_id] = await roster(info, event_id)
    return [_task(t, people[t.event_id], ids) for t, ids in zip(found, assigned, strict=True)]


def _task(row: rows.Task, people: dict[int, Participant], assignee_ids: list[int]) -> Task:
    return Task(
        row=row,
        title=row.title,
        description=row.description,
        due_at=row.due_at,
        status=TaskStatus(row.status),
        assignees=[people[i] for i in assignee_ids if i in people],
        created_by=person(people, row.created_by_id),
        completed_by=person(people, row.completed_by_id),
        completed_at=row.completed_at,
        validated_by=person(people, row.validated_by_id),
        validated_at=row.validated_at,
        created_at=row.created_at,
        version=row.version,
    )


ASSIGNEE_IDS = (
    "Who should do it: at most 50 active participants of the event (duplicates count once). "
    + PERSON_ID
    + " Errors at the entry's index: UNKNOWN_PARTICIPANT (not an active participant), "
    "INVALID_INPUT (another kind of id); more than 50: INVALID_INPUT."
)
TASK_ID = "The task (a Task id); one you cannot see is a top-level NOT_FOUND."


@strawberry.input(description="A new task of an event.")
class CreateTaskInput:
    event_id: relay.GlobalID = strawberry.field(
        description="The event (an Event id); one you are not in is a top-level NOT_FOUND."
    )
    title: str = strawberry.field(
        description="What to do: 1 to 200 characters, one line (else INVALID_TITLE)."
    )
    description: str = strawberry.field(
        default="", description="Details, at most 5000 characters (else VALUE_TOO_LONG)."
    )
    due_at: datetime | None = strawberry.field(
        default=None,
        description="Deadline, ISO-8601 with its UTC offset (else INVALID_DATES); none by default.",
    )
    assignee_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description=ASSIGNEE_IDS + " Empty: anyone may complete it."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input(description="Changes to a task: only the fields given change.")
class UpdateTaskInput:
    task_id: relay.GlobalID = strawberry.field(description=TASK_ID)
    title: str | None = strawberry.field(
        default=None, description="A new title: 1 to 200 characters, one line (INVALID_TITLE)."
    )
    description: str | None = strawberry.field(
        default=None, description="New details, at most 5000 characters (VALUE_TOO_LONG)."
    )
    due_at: datetime | None = strawberry.field(
        default=None,
        description="A new deadline, ISO-8601 with its UTC offset (else INVALID_DATES).",
    )
    clear_due_at: bool = strawberry.field(
        default=False, description="True removes the deadline (dueAt is then ignored)."
    )
    expected_version: int | None = strawberry.field(
        default=None,
        description="The `version` you last read: if the task changed since, nothing changes "
        "and STALE comes back.",
    )


@strawberry.input(description="The new assignees of a task.")
class AssignTaskInput:
    task_id: relay.GlobalID = strawberry.field(description=TASK_ID)
    assignee_ids: list[strawberry.ID] = strawberry.field(
        description=ASSIGNEE_IDS + " Replaces the assignees; empty: anyone may complete it."
    )


@strawberry.input(description="Names one task.")
class TaskRefInput:
    task_id: relay.GlobalID = strawberry.field(description=TASK_ID)


@strawberry.type(description="The result of a task mutation.")
class TaskPayload:
    task: Task | None = strawberry.field(
        description="The task as saved; null when `errors` is not empty."
    )
    errors: list[TaskError] = strawberry.field(description="Why nothing changed; empty on success.")


@strawberry.type(description="The result of deleting a task.")
class DeleteTaskPayload:
    deleted_task_id: relay.GlobalID | None = strawberry.field(
        description="The id of the deleted task (drop it from your cache); null on errors."
    )
    errors: list[TaskError] = strawberry.field(description="Why nothing changed; empty on success.")


def _ids(values: list[strawberry.ID]) -> list[PersonId]:
    return [person_id(v) for v in values]


async def _payload(info: Info, row: rows.Task | None, errors: list[TaskError]) -> TaskPayload:
    if row is None:
        return TaskPayload(task=None, errors=errors)
    info.context.loaders.assignees_by_task.clear(key_of(row))  # read what was just written
    return TaskPayload(task=(await tasks(info, [row]))[0], errors=errors)


SIGNED_IN = "Not signed in: UNAUTHENTICATED; a task you cannot see: NOT_FOUND (top-level)."
STEP_ERRORS = "In `errors`: INVALID_TRANSITION (not in a state it can leave that way), "
CANCELLED = "EVENT_CANCELLED (the event is cancelled)."


@strawberry.type
class TaskMutation:
    @strawberry.mutation(
        description="Creates a TODO task (any participant of the event). Not signed in: "
        "UNAUTHENTICATED; an event you are not in: NOT_FOUND (top-level). In `errors`: "
        "REQUIRED, INVALID_TITLE, VALUE_TOO_LONG, INVALID_DATES, INVALID_INPUT, "
        "UNKNOWN_PARTICIPANT, DUPLICATE_REQUEST, " + CANCELLED
    )
    async def create_task(
        self,
        info: Info,
        input: Annotated[CreateTaskInput, strawberry.argument(description="The task.")],
    ) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                TaskError,
                uc.create_task,
                decode_global_id(input.event_id, "Event"),
                uc.TaskData(title=input.title, description=input.description, due_at=input.due_at),
                _ids(input.assignee_ids),
                input.client_mutation_id,
            ),
        )

    @strawberry.mutation(
        description="Edits a task: its creator or an organizer (others: FORBIDDEN). "
        + SIGNED_IN
        + " In `errors`: INVALID_TITLE, VALUE_TOO_LONG, INVALID_DATES, STALE, "
        + CANCELLED
    )
    async def update_task(
        self,
        info: Info,
        input: Annotated[UpdateTaskInput, strawberry.argument(description="The changes.")],
    ) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                TaskError,
                uc.update_task,
                decode_global_id(input.task_id, "Task"),
                uc.TaskData(
                    title=input.title,
                    description=input.description,
                    due_at=input.due_at,
                    clear_due_at=input.clear_due_at,
                ),
                input.expected_version,
            ),
        )

    @strawberry.mutation(
        description="Replaces the assignees: the task's creator or an organizer (others: "
        "FORBIDDEN). "
        + SIGNED_IN
        + " In `errors`: INVALID_INPUT, UNKNOWN_PARTICIPANT, "
        + CANCELLED
    )
    async def assign_task(
        self,
        info: Info,
        input: Annotated[
            AssignTaskInput, strawberry.argument(description="The task and assignees.")
        ],
    ) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info,
                TaskError,
                uc.assign_task,
                decode_global_id(input.task_id, "Task"),
                _ids(input.assignee_ids),
            ),
        )

    @strawberry.mutation(
        description="Deletes a task: its creator or an organizer (others: FORBIDDEN). "
        + SIGNED_IN
        + " In `errors`: "
        + CANCELLED
    )
    async def delete_task(
        self,
        info: Info,
        input: Annotated[TaskRefInput, strawberry.argument(description="The task.")],
    ) -> DeleteTaskPayload:
        _, errors = await mutate(
            info, TaskError, uc.delete_task, decode_global_id(input.task_id, "Task")
        )
        return DeleteTaskPayload(deleted_task_id=None if errors else input.task_id, errors=errors)

    @strawberry.mutation(
        description="TODO → DONE: an assignee, or any participant if it has none (others: "
        "FORBIDDEN). " + SIGNED_IN + " " + STEP_ERRORS + CANCELLED
    )
    async def complete_task(
        self,
        info: Info,
        input: Annotated[TaskRefInput, strawberry.argument(description="The task.")],
    ) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info, TaskError, uc.complete_task, decode_global_id(input.task_id, "Task")
            ),
        )

    @strawberry.mutation(
        description="DONE → VALIDATED: an organizer or the owner (others: FORBIDDEN) other "
        "than who completed it (else SELF_VALIDATION). "
        + SIGNED_IN
        + " "
        + STEP_ERRORS
        + "SELF_VALIDATION, "
        + CANCELLED
    )
    async def validate_task(
        self,
        info: Info,
        input: Annotated[TaskRefInput, strawberry.argument(description="The task.")],
    ) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info, TaskError, uc.validate_task, decode_global_id(input.task_id, "Task")
            ),
        )

    @strawberry.mutation(
        description="DONE or VALIDATED → TODO, clearing completion and validation: who "
        "completed it, or an organizer (others: FORBIDDEN). "
        + SIGNED_IN
        + " "
        + STEP_ERRORS
        + CANCELLED
    )
    async def reopen_task(
        self,
        info: Info,
        input: Annotated[TaskRefInput, strawberry.argument(description="The task.")],
    ) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(info, TaskError, uc.reopen_task, decode_global_id(input.task_id, "Task")),
        )
