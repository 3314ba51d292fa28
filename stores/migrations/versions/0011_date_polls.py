"""date_polls: an event's date chosen by vote (poll, options, votes)

Revision ID: 0011_date_polls
Revises: 0010_idempotency_keys
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0011_date_polls"
down_revision = "0010_idempotency_keys"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "date_polls",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column("event_id", KEY, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("deadline", TS, nullable=True),
        sa.Column("hide_votes", sa.Boolean(), nullable=False),
        sa.Column("allow_if_need_be", sa.Boolean(), nullable=False),
        sa.Column("chosen_option_id", KEY, nullable=True),
        sa.Column(
            "created_by_user_id", KEY, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("reminded_for", TS, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_date_polls_event"),
        **MYSQL,
    )
    op.create_index("ix_date_polls_deadline", "date_polls", ["status", "deadline"])
    op.create_index("ix_date_polls_created_by", "date_polls", ["created_by_user_id"])
    op.create_table(
        "date_poll_options",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column(
            "poll_id", KEY, sa.ForeignKey("date_polls.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.UniqueConstraint("poll_id", "starts_at", "ends_at", name="uq_date_poll_options_time"),
        sa.CheckConstraint("ends_at >= starts_at", name="ck_date_poll_options_dates"),
        **MYSQL,
    )
    op.create_table(
        "date_poll_votes",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        sa.Column(
            "poll_id", KEY, sa.ForeignKey("date_polls.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "option_id",
            KEY,
            sa.ForeignKey("date_poll_options.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "participant_id",
            KEY,
            sa.ForeignKey("participants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("option_id", "participant_id", name="uq_date_poll_votes_voter"),
        **MYSQL,
    )
    op.create_index("ix_date_poll_votes_poll", "date_poll_votes", ["poll_id", "participant_id"])
    op.create_index("ix_date_poll_votes_participant", "date_poll_votes", ["participant_id"])


def downgrade() -> None:
    op.drop_table("date_poll_votes")
    op.drop_table("date_poll_options")
    op.drop_index("ix_date_polls_created_by", table_name="date_polls")
    op.drop_index("ix_date_polls_deadline", table_name="date_polls")
    op.drop_table("date_polls")
