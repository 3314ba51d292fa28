"""Payload errors of events and of the domains inside an event: tasks, expenses, invitations.
Each has its own code enum (defined once, in its resolvers module)."""

from __future__ import annotations

import strawberry

from resolvers.events import EventErrorCode
from resolvers.expenses import ExpenseErrorCode
from resolvers.invitations import InvitationErrorCode
from resolvers.tasks import TaskErrorCode
from schema.core import UserError

strawberry.enum(EventErrorCode)  # the GraphQL enum: one definition, in resolvers
strawberry.enum(TaskErrorCode)  # the GraphQL enum: one definition, in resolvers
strawberry.enum(ExpenseErrorCode)  # the GraphQL enum: one definition, in resolvers
strawberry.enum(InvitationErrorCode)  # the GraphQL enum: one definition, in resolvers


@strawberry.type
class EventError(UserError):
    codes = EventErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: EventErrorCode
    retry_after_seconds: int | None = None


@strawberry.type
class TaskError(UserError):
    codes = TaskErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: TaskErrorCode
    retry_after_seconds: int | None = None


@strawberry.type
class ExpenseError(UserError):
    codes = ExpenseErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: ExpenseErrorCode
    retry_after_seconds: int | None = None


@strawberry.type
class InvitationError(UserError):
    codes = InvitationErrorCode  # the enum of `code` (a class attribute, not a GraphQL field)
    code: InvitationErrorCode
    retry_after_seconds: int | None = None
