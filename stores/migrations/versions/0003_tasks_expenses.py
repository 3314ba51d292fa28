"""tasks, assignees, expenses, shares and settlements

Revision ID: 0003_tasks_expenses
Revises: 0002_events
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_tasks_expenses"
down_revision = "0002_events"
branch_labels = None
depends_on = None

BIGKEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
MYSQL: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _event() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "event_id", BIGKEY, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
    )


def _participant(name: str, *, nullable: bool, ondelete: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, BIGKEY, sa.ForeignKey("participants.id", ondelete=ondelete), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        _event(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _participant("created_by_id", nullable=True, ondelete="SET NULL"),
        _participant("completed_by_id", nullable=True, ondelete="SET NULL"),
        sa.Column("completed_at", TS, nullable=True),
        _participant("validated_by_id", nullable=True, ondelete="SET NULL"),
        sa.Column("validated_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('TODO', 'DONE', 'VALIDATED')", name="ck_tasks_status"),
        **MYSQL,
    )
    op.create_index("ix_tasks_event", "tasks", ["event_id", "id"])
    for column in ("created_by_id", "completed_by_id", "validated_by_id"):
        op.create_index(f"ix_tasks_{column}", "tasks", [column])
    op.create_table(
        "task_assignees",
        sa.Column(
            "task_id", BIGKEY, sa.ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "participant_id",
            BIGKEY,
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        **MYSQL,
    )
    op.create_index("ix_task_assignees_participant", "task_assignees", ["participant_id"])
    op.create_table(
        "expenses",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        _event(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _participant("paid_by_id", nullable=False, ondelete="CASCADE"),
        sa.Column("spent_at", TS, nullable=False),
        sa.Column("category", sa.String(24), nullable=False),
        sa.Column("note", sa.String(1000), nullable=False),
        sa.Column("split_mode", sa.String(16), nullable=False),
        _participant("created_by_id", nullable=True, ondelete="SET NULL"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_expenses_amount"),
        **MYSQL,
    )
    op.create_index("ix_expenses_event", "expenses", ["event_id", "id"])
    op.create_index("ix_expenses_paid_by", "expenses", ["paid_by_id"])
    op.create_index("ix_expenses_created_by", "expenses", ["created_by_id"])
    op.create_table(
        "expense_shares",
        sa.Column(
            "expense_id", BIGKEY, sa.ForeignKey("expenses.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "participant_id",
            BIGKEY,
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("share_minor", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("share_minor >= 0", name="ck_expense_shares_amount"),
        **MYSQL,
    )
    op.create_index("ix_expense_shares_participant", "expense_shares", ["participant_id"])
    op.create_table(
        "settlements",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        _event(),
        _participant("from_id", nullable=False, ondelete="CASCADE"),
        _participant("to_id", nullable=False, ondelete="CASCADE"),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _participant("recorded_by_id", nullable=True, ondelete="SET NULL"),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("amount_minor > 0", name="ck_settlements_amount"),
        sa.CheckConstraint("from_id <> to_id", name="ck_settlements_parties"),
        **MYSQL,
    )
    op.create_index("ix_settlements_event", "settlements", ["event_id", "id"])
    op.create_index("ix_settlements_from", "settlements", ["from_id"])
    op.create_index("ix_settlements_to", "settlements", ["to_id"])
    op.create_index("ix_settlements_recorded_by", "settlements", ["recorded_by_id"])


def downgrade() -> None:
    op.drop_table("settlements")
    op.drop_table("expense_shares")
    op.drop_table("expenses")
    op.drop_table("task_assignees")
    op.drop_table("tasks")
