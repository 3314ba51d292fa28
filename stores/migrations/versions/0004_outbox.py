"""the transactional outbox

Revision ID: 0004_outbox
Revises: 0003_tasks_expenses
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004_outbox"
down_revision = "0003_tasks_expenses"
branch_labels = None
depends_on = None

BIGKEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
MYSQL: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("aggregate_type", sa.String(32), nullable=False),
        sa.Column("aggregate_id", BIGKEY, nullable=False),
        sa.Column("actor_user_id", BIGKEY, nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("available_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("handled_at", TS, nullable=True),
        **MYSQL,
    )
    op.create_index("ix_outbox_pending", "outbox", ["handled_at", "available_at"])
    op.create_index("ix_outbox_aggregate", "outbox", ["aggregate_type", "aggregate_id", "id"])


def downgrade() -> None:
    op.drop_table("outbox")
