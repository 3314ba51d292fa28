"""events.cover_media_id: an event's cover image, one of its media

Revision ID: 0012_event_cover
Revises: 0011_date_polls
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_event_cover"
down_revision = "0011_date_polls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("cover_media_id", sa.String(24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("cover_media_id")
