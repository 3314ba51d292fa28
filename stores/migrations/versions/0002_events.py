"""events, participants and invite links

Revision ID: 0002_events
Revises: 0001_accounts
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002_events"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None

BIGKEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
MYSQL: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("location_name", sa.String(200), nullable=True),
        sa.Column("location_address", sa.String(500), nullable=True),
        sa.Column("latitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("longitude", sa.Numeric(9, 6), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("ends_at >= starts_at", name="ck_events_dates"),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 1", name="ck_events_capacity"),
        sa.CheckConstraint("status IN ('ACTIVE', 'CANCELLED')", name="ck_events_status"),
        sa.CheckConstraint("visibility IN ('PRIVATE', 'UNLISTED')", name="ck_events_visibility"),
        **MYSQL,
    )
    op.create_index("ix_events_starts_at", "events", ["starts_at"])
    op.create_table(
        "participants",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id", BIGKEY, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", BIGKEY, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("owner_marker", sa.SmallInteger(), nullable=True),
        sa.Column("rsvp", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(161), nullable=False),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("left_at", TS, nullable=True),
        sa.UniqueConstraint("event_id", "user_id", name="uq_participants_event_user"),
        sa.UniqueConstraint("event_id", "owner_marker", name="uq_participants_one_owner"),
        sa.CheckConstraint(
            "(role = 'OWNER' AND owner_marker = 1) OR (role <> 'OWNER' AND owner_marker IS NULL)",
            name="ck_participants_owner_marker",
        ),
        sa.CheckConstraint(
            "role IN ('OWNER', 'ORGANIZER', 'PARTICIPANT')", name="ck_participants_role"
        ),
        sa.CheckConstraint("state IN ('ACTIVE', 'LEFT', 'REMOVED')", name="ck_participants_state"),
        **MYSQL,
    )
    op.create_index("ix_participants_user", "participants", ["user_id"])
    op.create_table(
        "invite_links",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id", BIGKEY, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_by_id", BIGKEY, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_invite_links_token"),
        sa.CheckConstraint("max_uses IS NULL OR max_uses >= 1", name="ck_invite_links_max_uses"),
        **MYSQL,
    )
    op.create_index("ix_invite_links_event", "invite_links", ["event_id"])
    op.create_table(
        "invitations",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id", BIGKEY, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "inviter_user_id", BIGKEY, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "invitee_user_id", BIGKEY, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("invitee_email", sa.String(254), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pending_key", sa.String(300), nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("responded_at", TS, nullable=True),
        sa.UniqueConstraint("pending_key", name="uq_invitations_pending"),
        sa.CheckConstraint(
            "invitee_user_id IS NOT NULL OR invitee_email IS NOT NULL",
            name="ck_invitations_invitee",
        ),
        **MYSQL,
    )
    op.create_index("ix_invitations_event", "invitations", ["event_id"])
    op.create_index("ix_invitations_user", "invitations", ["invitee_user_id"])
    op.create_index("ix_invitations_email", "invitations", ["invitee_email"])
    op.create_index("ix_invitations_inviter", "invitations", ["inviter_user_id"])
    op.create_table(
        "join_requests",
        sa.Column("id", BIGKEY, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id", BIGKEY, sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", BIGKEY, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pending_key", sa.String(64), nullable=True),
        sa.Column("decided_by_user_id", BIGKEY, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.UniqueConstraint("pending_key", name="uq_join_requests_pending"),
        **MYSQL,
    )
    op.create_index("ix_join_requests_event", "join_requests", ["event_id"])
    op.create_index("ix_join_requests_user", "join_requests", ["user_id"])


def downgrade() -> None:
    op.drop_table("join_requests")
    op.drop_table("invitations")
    op.drop_table("invite_links")
    op.drop_table("participants")
    op.drop_table("events")
