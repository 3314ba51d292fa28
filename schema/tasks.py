"""Tasks: types, inputs, payloads, mutations."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.types import Info

from resolvers import tasks as uc
from schema.events import (
    EventError,
    Participant,
    _run,
    decode_id,
    participant_in_event,
    visible_rows,
)
from stores import tasks as rows


@strawberry.enum
class TaskStatus(enum.Enum):
    TODO = "TODO"
    DONE = "DONE"
    VALIDATED = "VALIDATED"


@strawberry.type
class Task(relay.Node):
    row: strawberry.Private[rows.Task]

    @classmethod
    def resolve_id(cls, root: Task, *, info: Info) -> str:
        return str(root.row.id)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Task | None]:
        return [Task(row=r) if r else None for r in await visible_rows(info, rows.Task, node_ids)]

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @strawberry.field
    def due_at(self) -> datetime | None:
        return self.row.due_at

    @strawberry.field
    def status(self) -> TaskStatus:
        return TaskStatus(self.row.status)

    @strawberry.field
    async def assignees(self, info: Info) -> list[Participant]:
        ids = await info.context.loaders.assignees_by_task.load(self.row.id)
        found = [await participant_in_event(info, self.row.event_id, i) for i in ids]
        return [p for p in found if p is not None]

    @strawberry.field
    async def created_by(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.created_by_id)

    @strawberry.field
    async def completed_by(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.completed_by_id)

    @strawberry.field
    def completed_at(self) -> datetime | None:
        return self.row.completed_at

    @strawberry.field
    async def validated_by(self, info: Info) -> Participant | None:
        return await participant_in_event(info, self.row.event_id, self.row.validated_by_id)

    @strawberry.field
    def validated_at(self) -> datetime | None:
        return self.row.validated_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def version(self) -> int:
        return self.row.version


@strawberry.input
class CreateTaskInput:
    event_id: relay.GlobalID
    title: str
    description: str = ""
    due_at: datetime | None = None
    assignee_ids: list[relay.GlobalID] = strawberry.field(default_factory=list)


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
    errors: list[EventError]


@strawberry.type
class DeleteTaskPayload:
    deleted_task_id: relay.GlobalID | None
    errors: list[EventError]


def _ids(values: list[relay.GlobalID]) -> list[int]:
    return [decode_id(v, "Participant") for v in values]


def _payload(row: rows.Task | None, errors: list[EventError]) -> TaskPayload:
    return TaskPayload(task=Task(row=row) if row else None, errors=errors)


@strawberry.type
class TaskMutation:
    @strawberry.mutation(description="Any participant.")
    async def create_task(self, info: Info, input: CreateTaskInput) -> TaskPayload:
        viewer = info.context.require_viewer()
        return _payload(*await _run(uc.create_task(
            info.context.deps, viewer, decode_id(input.event_id, "Event"),
            uc.TaskData(title=input.title, description=input.description, due_at=input.due_at),
            _ids(input.assignee_ids))))

    @strawberry.mutation(description="Its creator, or an organizer.")
    async def update_task(self, info: Info, input: UpdateTaskInput) -> TaskPayload:
        viewer = info.context.require_viewer()
        return _payload(*await _run(uc.update_task(
            info.context.deps, viewer, decode_id(input.task_id, "Task"),
            uc.TaskData(title=input.title, description=input.description, due_at=input.due_at,
                        clear_due_at=input.clear_due_at), input.expected_version)))

    @strawberry.mutation(description="Replaces the assignees (its creator, or an organizer).")
    async def assign_task(self, info: Info, input: AssignTaskInput) -> TaskPayload:
        viewer = info.context.require_viewer()
        return _payload(*await _run(uc.assign_task(
            info.context.deps, viewer, decode_id(input.task_id, "Task"),
            _ids(input.assignee_ids))))

    @strawberry.mutation
    async def delete_task(self, info: Info, input: TaskRefInput) -> DeleteTaskPayload:
        viewer = info.context.require_viewer()
        _, errors = await _run(uc.delete_task(info.context.deps, viewer,
                                              decode_id(input.task_id, "Task")))
        return DeleteTaskPayload(deleted_task_id=None if errors else input.task_id,
                                 errors=errors)

    @strawberry.mutation(description="TODO → DONE: an assignee, or anyone if unassigned.")
    async def complete_task(self, info: Info, input: TaskRefInput) -> TaskPayload:
        viewer = info.context.require_viewer()
        return _payload(*await _run(uc.complete_task(info.context.deps, viewer,
                                                     decode_id(input.task_id, "Task"))))

    @strawberry.mutation(description="DONE → VALIDATED: an organizer other than the completer.")
    async def validate_task(self, info: Info, input: TaskRefInput) -> TaskPayload:
        viewer = info.context.require_viewer()
        return _payload(*await _run(uc.validate_task(info.context.deps, viewer,
                                                     decode_id(input.task_id, "Task"))))

    @strawberry.mutation(description="Back to TODO: who completed it, or an organizer.")
    async def reopen_task(self, info: Info, input: TaskRefInput) -> TaskPayload:
        viewer = info.context.require_viewer()
        return _payload(*await _run(uc.reopen_task(info.context.deps, viewer,
                                                   decode_id(input.task_id, "Task"))))
