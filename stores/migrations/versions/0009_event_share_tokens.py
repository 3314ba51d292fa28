"""events.share_token: the unguessable identifier by which outsiders reach an UNLISTED event

Sequential event ids are no secret: an outsider reaches an UNLISTED event only through this
random token (its members share it), never through `Event:<n>`.

Revision ID: 0009_event_share_tokens
Revises: 0008_articles
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009_event_share_tokens"
down_revision = "0008_articles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("share_token", sa.String(32), nullable=True))
    events = sa.table("events", sa.column("id", sa.BigInteger), sa.column("share_token"))
    conn = op.get_bind()
    for (event_id,) in conn.execute(sa.select(events.c.id)).all():
        conn.execute(
            events.update()
            .where(events.c.id == event_id)
            .values(share_token=secrets.token_urlsafe(18))
        )
    with op.batch_alter_table("events") as batch:
        batch.alter_column("share_token", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_events_share_token", ["share_token"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_share_token", type_="unique")
        batch.drop_column("share_token")
