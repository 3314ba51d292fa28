"""Alembic environment: always given a live connection by stores.migrations.runner."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import stores.accounts
import stores.admin
import stores.articles
import stores.date_polls
import stores.events
import stores.expenses
import stores.idempotency
import stores.invitations
import stores.outbox
import stores.tasks  # noqa: F401

target_metadata = SQLModel.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `iven-gql migrate`")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
