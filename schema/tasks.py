"""Tasks: types, inputs, payloads, mutations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import strawberry
from strawberry import relay

from resolvers import tasks as uc
from schema.context import Info
from schema.core import CLIENT_MUTATION_ID, decode_global_id, documented_enum, mutate
from schema.event_errors import TaskError
from schema.participants import Participant, person, roster, visible_rows
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


@strawberry.type
class Task(relay.Node):
    """Plain fields, participants included: build with `tasks()` (one roster and one assignee
    batch per request), then graphql-core reads attributes."""

    row: strawberry.Private[rows.Task]
    title: str
    description: str
    due_at: datetime | None
    status: TaskStatus
    assignees: list[Participant]
    created_by: Participant | None
    completed_by: Participant | None
    completed_at: datetime | None
    validated_by: Participant | None
    validated_at: datetime | None
    created_at: datetime
    version: int

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


@strawberry.input
class CreateTaskInput:
    event_id: relay.GlobalID
    title: str
    description: str = ""
    due_at: datetime | None = None
    assignee_ids: list[relay.GlobalID] = strawberry.field(default_factory=list)
    client_mutation_id: str | None = strawberry.field(default=None, description=CLIENT_MUTATION_ID)


@strawberry.input
class UpdateTaskInput:
    task_id: relay.GlobalID
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None
    clear_due_at: bool = False
    expected_version: int | None = None


@strawberry.input
class AssignTaskInput:
    task_id: relay.GlobalID
    assignee_ids: list[relay.GlobalID]


@strawberry.input
class TaskRefInput:
    task_id: relay.GlobalID


@strawberry.type
class TaskPayload:
    task: Task | None
    errors: list[TaskError]


@strawberry.type
class DeleteTaskPayload:
    deleted_task_id: relay.GlobalID | None
    errors: list[TaskError]


def _ids(values: list[relay.GlobalID]) -> list[int]:
    return [decode_global_id(v, "Participant") for v in values]


async def _payload(info: Info, row: rows.Task | None, errors: list[TaskError]) -> TaskPayload:
    if row is None:
        return TaskPayload(task=None, errors=errors)
    info.context.loaders.assignees_by_task.clear(key_of(row))  # read what was just written
    return TaskPayload(task=(await tasks(info, [row]))[0], errors=errors)


@strawberry.type
class TaskMutation:
    @strawberry.mutation(description="Any participant.")
    async def create_task(self, info: Info, input: CreateTaskInput) -> TaskPayload:
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

    @strawberry.mutation(description="Its creator, or an organizer.")
    async def update_task(self, info: Info, input: UpdateTaskInput) -> TaskPayload:
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

    @strawberry.mutation(description="Replaces the assignees (its creator, or an organizer).")
    async def assign_task(self, info: Info, input: AssignTaskInput) -> TaskPayload:
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

    @strawberry.mutation
    async def delete_task(self, info: Info, input: TaskRefInput) -> DeleteTaskPayload:
        _, errors = await mutate(
            info, TaskError, uc.delete_task, decode_global_id(input.task_id, "Task")
        )
        return DeleteTaskPayload(deleted_task_id=None if errors else input.task_id, errors=errors)

    @strawberry.mutation(description="TODO → DONE: an assignee, or anyone if unassigned.")
    async def complete_task(self, info: Info, input: TaskRefInput) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info, TaskError, uc.complete_task, decode_global_id(input.task_id, "Task")
            ),
        )

    @strawberry.mutation(description="DONE → VALIDATED: an organizer other than the completer.")
    async def validate_task(self, info: Info, input: TaskRefInput) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(
                info, TaskError, uc.validate_task, decode_global_id(input.task_id, "Task")
            ),
        )

    @strawberry.mutation(description="Back to TODO: who completed it, or an organizer.")
    async def reopen_task(self, info: Info, input: TaskRefInput) -> TaskPayload:
        return await _payload(
            info,
            *await mutate(info, TaskError, uc.reopen_task, decode_global_id(input.task_id, "Task")),
        )
