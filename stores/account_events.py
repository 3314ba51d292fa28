"""Security-relevant things that happened to an account (sign-ins, password changes...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pymongo
from beanie import Document, SortDirection
from bson import ObjectId
from pydantic import Field
from pymongo import IndexModel

from stores.db import utcnow
from stores.mongo import retry_write_conflicts


class AccountEvent(Document):
    """Security-relevant things that happened to an account (sign-ins, password changes...)."""

    user_id: int
    kind: str
    ip: str = ""
    user_agent: str = ""
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "account_events"
        indexes = [  # noqa: RUF012 - Beanie reads it as a class attribute
            IndexModel([("user_id", pymongo.ASCENDING)], name="user_id"),
            IndexModel(
                [("user_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)],
                name="user_created",
            ),
        ]


ACCOUNT_EVENT_MODELS: list[type[Document]] = [AccountEvent]


async def record_account_event(event: AccountEvent) -> None:
    await retry_write_conflicts(event.insert)


async def account_events_page(
    user_id: int, *, first: int, before: tuple[datetime, str] | None
) -> list[AccountEvent]:
    query: dict[str, Any] = {"user_id": user_id}
    if before is not None:
        at, oid = before
        query["$or"] = [
            {"created_at": {"$lt": at}},
            {"created_at": at, "_id": {"$lt": ObjectId(oid)}},
        ]
    order = [("created_at", SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]
    cursor = AccountEvent.find(query).sort(order).limit(first)
    return await cursor.to_list()


async def delete_user_documents(user_id: int) -> None:
    await retry_write_conflicts(lambda: AccountEvent.find({"user_id": user_id}).delete())
