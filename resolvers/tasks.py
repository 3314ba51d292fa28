"""Task use cases. Flow: TODO → DONE (an assignee, or anyone if unassigned) → VALIDATED (an
organizer/owner other than who completed it); reopen goes back to TODO."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from resolvers import event_content
from resolvers.core import idempotency
from resolvers.core.deps import Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, NotFound
from resolvers.core.loading import LoaderBase
from resolvers.core.text import checked_text, checked_title
from resolvers.events import (
    has_role,
    member_or_hidden,
    not_cancelled,
    one_in_my_events,
    require,
)
from resolvers.people import PersonRef, as_person, participants_named
from resolvers.projections import record_event
from stores import tasks as store
from stores.db import key_of, utcnow
from stores.events import Participant, ParticipantRole
from stores.tasks import Task, TaskStatus

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
MAX_ASSIGNEES = 50


class TaskErrorCode(StrEnum):
    """What task mutations report in `errors`."""

    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_DATES = "INVALID_DATES"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    STALE = "STALE"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
    UNKNOWN_PARTICIPANT = "UNKNOWN_PARTICIPANT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    SELF_VALIDATION = "SELF_VALIDATION"


@dataclass
class TaskData:
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None
    clear_due_at: bool = False


def _apply(task: Task, data: TaskData) -> None:
    errors: list[DomainError] = []
    if data.title is not None:
        task.title = checked_title(data.title, errors, max_len=TITLE_MAX)
    if data.description is not None:
        task.description = checked_text(
            data.description, errors, max_len=DESCRIPTION_MAX, field="description"
        )
    if data.clear_due_at:
        task.due_at = None
    elif data.due_at is not None:
        if data.due_at.tzinfo is None:
            errors.append(
                DomainError(
                    TaskErrorCode.INVALID_DATES, "Give the time with its UTC offset.", "dueAt"
                )
            )
        else:
            task.due_at = data.due_at
    if errors:
        raise DomainErrors(errors)


async def _assignees(db: Any, event_id: int, ids: Sequence[PersonRef]) -> list[int]:
    """Active participants of the event (named by Participant or User id), or typed errors
    naming each wrong one."""
    if len(ids) > MAX_ASSIGNEES:
        raise DomainError(
            TaskErrorCode.INVALID_INPUT, f"At most {MAX_ASSIGNEES} assignees.", "assigneeIds"
        )
    found = await participants_named(db, event_id, ids)
    errors = []
    for n, (ref, member) in enumerate(zip(ids, found, strict=True)):
        if as_person(ref).of_wrong_kind:
            errors.append(
                DomainError(
                    TaskErrorCode.INVALID_INPUT,
                    "Give a Participant id or a User id.",
                    ["assigneeIds", str(n)],
                )
            )
        elif member is None or not member.is_active:
            errors.append(
                DomainError(
                    TaskErrorCode.UNKNOWN_PARTICIPANT,
                    "Not an active participant of this event.",
                    ["assigneeIds", str(n)],
                )
            )
    if errors:
        raise DomainErrors(errors)
    return list(dict.fromkeys(key_of(m) for m in found if m is not None))


async def _task_for(db: Any, viewer: Viewer, task_id: int) -> tuple[Task, Participant]:
    """The task (locked) and the viewer's active participation; hidden tasks are NOT_FOUND."""
    task = await store.lock_task(db, task_id)
    if task is None:
        raise NotFound("Task not found.")
    event, me = await member_or_hidden(db, task.event_id, viewer, hidden="Task not found.")
    if not has_role(me, ParticipantRole.PARTICIPANT):
        raise NotFound("Task not found.")
    not_cancelled(event)
    assert me is not None
    return task, me


def _may_edit(task: Task, me: Participant) -> None:
    """Your own tasks, or anyone's as organizer/owner."""
    if task.created_by_id != me.id and not has_role(me, ParticipantRole.ORGANIZER):
        raise Forbidden("Only its creator or an organizer can change this task.")


def _check_version(task: Task, expected: int | None) -> None:
    if expected is not None and expected != task.version:
        raise DomainError(
            TaskErrorCode.STALE, "The task changed since you read it; reload it.", "expectedVersion"
        )


async def create_task(
    deps: Deps,
    viewer: Viewer,
    event_id: int,
    data: TaskData,
    assignee_ids: Sequence[PersonRef],
    client_mutation_id: str | None = None,
) -> Task:
    if data.title is None:
        raise DomainError(TaskErrorCode.REQUIRED, "Required.", "title")
    task = Task(event_id=event_id, title="")
    _apply(task, data)

    async def create(remember: idempotency.Remember) -> Task:
        async with deps.db.unit_of_work() as db:
            event, me = await member_or_hidden(db, event_id, viewer)
            mine = require(me, ParticipantRole.PARTICIPANT)
            not_cancelled(event)
            assignees = await _assignees(db, event_id, assignee_ids)
            task.created_by_id = mine.id
            created = await store.add_task(db, task, assignees)
            record_event(
                db,
                "task.created",
                event_id,
                viewer.user_id,
                created.id,
                title=task.title,
                assignee_ids=list(assignees),
            )
            await remember(db, key_of(created))
            return created

    return await idempotency.once(
        deps,
        viewer.user_id,
        "createTask",
        client_mutation_id,
        [event_id, data, sorted(as_person(a) for a in assignee_ids)],
        create,
        one_in_my_events(deps, viewer, Task),
    )


async def update_task(
    deps: Deps, viewer: Viewer, task_id: int, data: TaskData, expected_version: int | None
) -> Task:
    async with deps.db.unit_of_work() as db:
        task, me = await _task_for(db, viewer, task_id)
        _may_edit(task, me)
        _check_version(task, expected_version)
        _apply(task, data)
        return await store.save_task(db, task)


async def assign_task(
    deps: Deps, viewer: Viewer, task_id: int, assignee_ids: Sequence[PersonRef]
) -> Task:
    async with deps.db.unit_of_work() as db:
        task, me = await _task_for(db, viewer, task_id)
        _may_edit(task, me)
        before = set((await store.assignee_ids(db, [task_id]))[task_id])
        assignees = await _assignees(db, task.event_id, assignee_ids)
        await store.set_assignees(db, task, assignees)
        added = [a for a in dict.fromkeys(assignees) if a not in before]
        if added:
            record_event(
                db,
                "task.assigned",
                task.event_id,
                viewer.user_id,
                task_id,
                title=task.title,
                assignee_ids=added,
            )
        return await store.save_task(db, task)


async def delete_task(deps: Deps, viewer: Viewer, task_id: int) -> None:
    async with deps.db.unit_of_work() as db:
        task, me = await _task_for(db, viewer, task_id)
        _may_edit(task, me)
        await store.delete_task(db, task)


def _transition(task: Task, allowed_from: set[TaskStatus], target: TaskStatus) -> None:
    if TaskStatus(task.status) not in allowed_from:
        raise DomainError(
            TaskErrorCode.INVALID_TRANSITION, f"A {task.status} task cannot become {target.value}."
        )


async def complete_task(deps: Deps, viewer: Viewer, task_id: int) -> Task:
    async with deps.db.unit_of_work() as db:
        task, me = await _task_for(db, viewer, task_id)
        _transition(task, {TaskStatus.TODO}, TaskStatus.DONE)
        assignees = (await store.assignee_ids(db, [task_id]))[task_id]
        if assignees and me.id not in assignees:
            raise Forbidden("Only an assignee can complete this task.")
        task.status = TaskStatus.DONE.value
        task.completed_by_id = me.id
        task.completed_at = utcnow()
        record_event(db, "task.completed", task.event_id, viewer.user_id, task_id, title=task.title)
        return await store.save_task(db, task)


async def validate_task(deps: Deps, viewer: Viewer, task_id: int) -> Task:
    async with deps.db.unit_of_work() as db:
        task, me = await _task_for(db, viewer, task_id)
        if not has_role(me, ParticipantRole.ORGANIZER):
            raise Forbidden("Only organizers validate tasks.")
        _transition(task, {TaskStatus.DONE}, TaskStatus.VALIDATED)
        if task.completed_by_id == me.id:
            raise DomainError(
                TaskErrorCode.SELF_VALIDATION,
                "Someone other than who completed the task must validate it.",
            )
        task.status = TaskStatus.VALIDATED.value
        task.validated_by_id = me.id
        task.validated_at = utcnow()
        record_event(
            db,
            "task.validated",
            task.event_id,
            viewer.user_id,
            task_id,
            title=task.title,
            completed_by_id=task.completed_by_id,
        )
        return await store.save_task(db, task)


async def reopen_task(deps: Deps, viewer: Viewer, task_id: int) -> Task:
    """Who completed it, or an organizer, sends it back to TODO."""
    async with deps.db.unit_of_work() as db:
        task, me = await _task_for(db, viewer, task_id)
        _transition(task, {TaskStatus.DONE, TaskStatus.VALIDATED}, TaskStatus.TODO)
        if task.completed_by_id != me.id and not has_role(me, ParticipantRole.ORGANIZER):
            raise Forbidden("Only who completed it or an organizer can reopen this task.")
        task.status = TaskStatus.TODO.value
        task.completed_by_id = task.validated_by_id = None
        task.completed_at = task.validated_at = None
        return await store.save_task(db, task)


# --- reads (batch functions; callers check membership) ------------------------------------------


async def tasks_of(
    deps: Deps, event_ids: Sequence[int]
) -> tuple[list[list[Task]], dict[int, list[int]]]:
    """Tasks per event, and their assignees (participant ids per task id), in one session,
    through the per-process event content cache."""

    async def fetch(ids: list[int]) -> dict[int, tuple[list[Task], dict[int, list[int]]]]:
        async with deps.db.reader() as db:
            rows = await store.tasks_of_events(db, ids)
            assigned = await store.assignee_ids(db, [t.id for t in rows if t.id is not None])
        grouped: dict[int, tuple[list[Task], dict[int, list[int]]]] = {i: ([], {}) for i in ids}
        for task in rows:
            tasks, by_task = grouped[task.event_id]
            tasks.append(task)
            by_task[task.id or 0] = assigned[task.id or 0]
        return grouped

    found = await event_content.cache(deps, "tasks").load(list(event_ids), fetch)
    every: dict[int, list[int]] = {}
    for _, by_task in found:
        every.update(by_task)
    return [tasks for tasks, _ in found], every


async def assignees_of(deps: Deps, task_ids: Sequence[int]) -> list[list[int]]:
    async with deps.db.reader() as db:
        found = await store.assignee_ids(db, list(task_ids))
    return [found[i] for i in task_ids]


class TaskLoaders(LoaderBase):
    @cached_property
    def tasks_by_event(self) -> DataLoader[int, list[Task]]:
        """Also primes `assignees_by_task`: a task list almost always shows its assignees."""

        async def batch(event_ids: list[int]) -> list[list[Task]]:
            found, assigned = await tasks_of(self.deps, event_ids)
            for task_id, participant_ids in assigned.items():
                self.assignees_by_task.prime(task_id, participant_ids)
            return found

        return DataLoader(batch)

    @cached_property
    def assignees_by_task(self) -> DataLoader[int, list[int]]:
        return self.batched(assignees_of)
