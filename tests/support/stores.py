"""Emptying the stores between tests, only where the last test wrote.

Deleting from every collection costs 20-60 ms per collection on the briskdb stand-in (about half a
second per test, whether it wrote or not), so writes are recorded as they are sent: document
writes by a pymongo command listener, SQL inserts by an SQLAlchemy cursor hook, both registered
globally before the server creates its clients. What another process writes is not seen: whoever
lets one write (`server_process`) calls `store_writes.everything_dirty()`.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from pymongo import monitoring
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from resolvers import article_cache, event_content
from resolvers.accounts import user_cache
from resolvers.core.background import drain_background
from resolvers.core.deps import Deps
from resolvers.dispatcher import dispatcher
from stores.documents import all_models
from stores.media import USAGE

# the commands that can leave a document behind (deletes cannot)
_MONGO_WRITES = frozenset({"insert", "update", "findAndModify", "findandmodify"})
# the statements that can leave a row behind (an UPDATE only touches rows inserted earlier)
_SQL_INSERT = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?(?:\s+IGNORE)?|REPLACE)\s+INTO\s+[`\"]?(\w+)", re.IGNORECASE
)


class StoreWrites(monitoring.CommandListener):
    def __init__(self) -> None:
        self.collections: set[str] = set()
        self.tables: set[str] = set()
        self.everything = True  # until the first reset: migrations and seeds write too

    def everything_dirty(self) -> None:
        self.everything = True

    # pymongo.monitoring.CommandListener
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in _MONGO_WRITES:
            name = event.command.get(event.command_name)
            if isinstance(name, str):
                self.collections.add(name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    # sqlalchemy before_cursor_execute
    def sql(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        match = _SQL_INSERT.match(statement)
        if match:
            self.tables.add(match.group(1))

    async def reset(self, deps: Deps) -> None:
        """Empties what was written since the last reset (everything the first time)."""
        await drain_background()
        running = dispatcher(deps)
        if running is not None:  # nothing of this test handled after the reset
            await running.drain()
        everything, self.everything = self.everything, False
        tables, self.tables = self.tables, set()
        collections, self.collections = self.collections, set()
        async with deps.db.engine.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                if everything or table.name in tables:
                    await conn.execute(table.delete())
        await deps.redis.flushdb()
        # per-process caches keyed by ids that the emptied database hands out again
        deps.services.snapshot_cache._entries.clear()
        # and the event-content and user caches: their versions lived in the flushed Redis, so
        # a new event with a reused id would match the last test's entry at version 1
        event_content.clear_all(deps)
        user_cache(deps)._entries.clear()
        # and the decoded article entries: keyed by the "articles" version, which restarts in the
        # flushed Redis, so the next test would read the last test's lists at the same version
        article_cache.decoded(deps).clear()
        # the collections a test may fill (others, such as counters, live on)
        emptied = {model.get_pymongo_collection().name for model in all_models()} | {USAGE}
        database = deps.documents.database
        for name in sorted(emptied if everything else collections & emptied):
            await database[name].delete_many({})
        # the deletes above are writes of their own to no one's benefit
        self.collections.clear()
        self.tables.clear()
        uploads = deps.settings.uploads_dir
        for area in ("media", "profils", ".tmp"):
            shutil.rmtree(uploads / area, ignore_errors=True)
            (uploads / area).mkdir(parents=True, exist_ok=True)


store_writes = StoreWrites()
monitoring.register(store_writes)
event.listen(Engine, "before_cursor_execute", store_writes.sql)
