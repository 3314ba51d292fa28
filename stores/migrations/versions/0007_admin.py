"""Administration: user status details and last login, the admin audit log, instance settings

Revision ID: 0007_admin
Revises: 0006_avatars
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007_admin"
down_revision = "0006_avatars"
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("last_login_at", TS, nullable=True))
        batch.add_column(sa.Column("disabled_at", TS, nullable=True))
        batch.add_column(sa.Column("disabled_reason", sa.String(500), nullable=True))
        batch.create_index("ix_users_role_active", ["role", "is_active"])
    op.create_table(
        "admin_audit_log",
        sa.Column("id", KEY, primary_key=True, autoincrement=True),
        # no foreign key: the entry outlives the accounts it names
        sa.Column("actor_id", KEY, nullable=False),
        sa.Column("actor_username", sa.String(30), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target_type", sa.String(24), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_admin_audit_log_actor", "admin_audit_log", ["actor_id", "id"])
    op.create_index("ix_admin_audit_log_action", "admin_audit_log", ["action", "id"])
    op.create_table(
        "instance_settings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("registrations_open", sa.Boolean(), nullable=False),
        sa.Column("banner", sa.String(500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", KEY, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("instance_settings")
    op.drop_index("ix_admin_audit_log_action", "admin_audit_log")
    op.drop_index("ix_admin_audit_log_actor", "admin_audit_log")
    op.drop_table("admin_audit_log")
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_role_active")
        batch.drop_column("disabled_reason")
        batch.drop_column("disabled_at")
        batch.drop_column("last_login_at")
