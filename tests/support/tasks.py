"""Task and expense operations shared by the test modules."""

from __future__ import annotations

from typing import Any

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
