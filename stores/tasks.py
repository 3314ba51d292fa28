"""Tasks of an event and their assignees, in MySQL."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Text, delete
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import (
    BigIntKey,
    plain_rows,
    select_plain,
    timestamp_column,
    touch_event,
    utcnow,
)


class TaskStatus(enum.StrEnum):
    TODO = "TODO"
    DONE = "DONE"
    VALIDATED = "VALIDATED"


def _participant_ref(nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(BigIntKey, ForeignKey("participants.id", ondelete="SET NULL"), nullable=nullable)


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_event", "event_id", "id"),
        Index("ix_tasks_created_by_id", "created_by_id"),
        Index("ix_tasks_completed_by_id", "completed_by_id"),
        Index("ix_tasks_validated_by_id", "validated_by_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    event_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("events.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_type=String(200))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    due_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    status: str = Field(default=TaskStatus.TODO.value, sa_type=String(16))
    created_by_id: int | None = Field(default=None, sa_column=_participant_ref())
    completed_by_id: int | None = Field(default=None, sa_column=_participant_ref())
    completed_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    validated_by_id: int | None = Field(default=None, sa_column=_participant_ref())
    validated_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    version: int = 1


class TaskAssignee(SQLModel, table=True):
    __tablename__ = "task_assignees"
    __table_args__ = (Index("ix_task_assignees_participant", "participant_id"),)

    task_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    )
    participant_id: int = Field(
        sa_column=Column(
            BigIntKey, ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
        )
    )


async def add_task(db: AsyncSession, task: Task, assignee_ids: Sequence[int]) -> Task:
    touch_event(db, task.event_id)
    db.add(task)
    await db.flush()
    assert task.id is not None
    await set_assignees(db, task, assignee_ids)
    return task


async def set_assignees(db: AsyncSession, task: Task, assignee_ids: Sequence[int]) -> None:
    assert task.id is not None
    task_id = task.id
    touch_event(db, task.event_id)
    await db.exec(delete(TaskAssignee).where(col(TaskAssignee.task_id) == task_id))
    for participant_id in dict.fromkeys(assignee_ids):
        db.add(TaskAssignee(task_id=task_id, participant_id=participant_id))
    await db.flush()


async def lock_task(db: AsyncSession, task_id: int) -> Task | None:
    stmt = select(Task).where(Task.id == task_id).with_for_update()
    return (await db.exec(stmt)).first()


async def save_task(db: AsyncSession, task: Task) -> Task:
    task.updated_at = utcnow()
    task.version += 1
    touch_event(db, task.event_id)
    db.add(task)
    await db.flush()
    return task


async def delete_task(db: AsyncSession, task: Task) -> None:
    task_id = task.id
    touch_event(db, task.event_id)
    await db.exec(delete(TaskAssignee).where(col(TaskAssignee.task_id) == task_id))
    await db.exec(delete(Task).where(col(Task.id) == task_id))


async def delete_event_tasks(db: AsyncSession, event_id: int) -> None:
    touch_event(db, event_id)
    ids = select(Task.id).where(Task.event_id == event_id)
    await db.exec(delete(TaskAssignee).where(col(TaskAssignee.task_id).in_(ids)))
    await db.exec(delete(Task).where(col(Task.event_id) == event_id))


async def assignee_ids(db: AsyncSession, task_ids: Sequence[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {i: [] for i in task_ids}
    if not task_ids:
        return result
    stmt = (
        select_plain(TaskAssignee)
        .where(col(TaskAssignee.task_id).in_(list(task_ids)))
        .order_by(col(TaskAssignee.task_id), col(TaskAssignee.participant_id))
    )
    for row in await plain_rows(db, stmt):
        result[row.task_id].append(row.participant_id)
    return result


async def tasks_of_events(db: AsyncSession, event_ids: Sequence[int]) -> list[Task]:
    if not event_ids:
        return []
    stmt = (
        select_plain(Task)
        .where(col(Task.event_id).in_(list(event_ids)))
        .order_by(col(Task.event_id), col(Task.id))
    )
    return await plain_rows(db, stmt)
