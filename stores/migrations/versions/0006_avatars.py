"""users.avatar_key: the storage key of the profile picture (files under uploads/profils)

Revision ID: 0006_avatars
Revises: 0005_event_reminders
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_avatars"
down_revision = "0005_event_reminders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("avatar_key", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("avatar_key")
