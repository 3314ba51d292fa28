"""Task and expense operations shared by the test modules."""

from __future__ import annotations

from typing import Any

from tests.support.graphql import GraphQLClient

TASK_FIELDS = """id title status version assignees { id } completedBy { id } validatedBy { id }
  completedAt validatedAt dueAt"""

CREATE_TASK = f"""mutation($input: CreateTaskInput!) {{ createTask(input: $input) {{
  task {{ {TASK_FIELDS} }} errors {{ code field }} }} }}"""


def step(name: str) -> str:
    return f"""mutation($id: ID!) {{ {name}(input: {{taskId: $id}}) {{
      task {{ {TASK_FIELDS} }} errors {{ code }} }} }}"""


EXPENSE_FIELDS = """id title amount { amount currency } splitMode version paidBy { id }
  shares { participant { id } amount { amount } value }"""

CREATE_EXPENSE = f"""mutation($input: CreateExpenseInput!) {{ createExpense(input: $input) {{
  expense {{ {EXPENSE_FIELDS} }} errors {{ code field message }} }} }}"""


def expense(c: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = {
        "eventId": c["event"]["id"],
        "title": "Groceries",
        "amount": "30.00",
        "paidById": c["pids"][0],
        "split": {"mode": "EQUAL"},
    }
    data.update(over)
    return {"input": data}


async def create_task(
    api: GraphQLClient, user: dict[str, Any], event_id: str, title: str = "Buy bread", **more: Any
) -> dict[str, Any]:
    """A new task (the payload's `task`; fails the test on any error)."""
    result = await api.execute(
        CREATE_TASK, {"input": {"eventId": event_id, "title": title, **more}}, token=user["token"]
    )
    payload = result["data"]["createTask"]
    assert payload["errors"] == [], payload
    task: dict[str, Any] = payload["task"]
    return task


async def run_step(
    api: GraphQLClient, user: dict[str, Any], name: str, task_id: str
) -> dict[str, Any]:
    """The whole result of a task step (completeTask, validateTask, reopenTask)."""
    return await api.execute(step(name), {"id": task_id}, token=user["token"])
