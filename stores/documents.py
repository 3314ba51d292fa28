"""The registry of every Beanie model, for the document store to bind (as
stores/migrations/env.py lists every SQL table for Alembic)."""

from __future__ import annotations

from beanie import Document

from stores.account_events import ACCOUNT_EVENT_MODELS
from stores.chat import CHAT_MODELS
from stores.media import MEDIA_MODELS
from stores.notifications import NOTIFICATION_MODELS
from stores.projections import PROJECTION_MODELS


def all_models() -> list[type[Document]]:
    return [
        *ACCOUNT_EVENT_MODELS,
        *PROJECTION_MODELS,
        *NOTIFICATION_MODELS,
        *CHAT_MODELS,
        *MEDIA_MODELS,
    ]
