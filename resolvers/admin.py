"""Administration use cases: users, moderation, statistics, the audit log, instance settings.

Every use case starts with `require_admin` (fresh read: a demoted admin loses access at once)
and writes its audit entry in the same unit of work as the action.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from stores import admin as store
from stores.accounts import User
from stores.admin import AuditEntry

REASON_MAX = 500


def audit(db: AsyncSession, actor: User, action: str, target_type: str, target_id: Any,
          reason: str = "", **details: Any) -> None:
    """Records an admin action (who, what, target, reason, when) with the action's own commit."""
    store.add_audit_entry(db, AuditEntry(
        actor_id=actor.id or 0, actor_username=actor.username, action=action,
        target_type=target_type, target_id=str(target_id), reason=reason[:REASON_MAX],
        details=json.dumps(details, default=str, sort_keys=True)))
