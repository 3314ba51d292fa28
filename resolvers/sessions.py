"""Sessions: who a token belongs to, creating sessions, rotating refresh tokens, revoking.

A session lives in MySQL (durable: survives a Redis restart) and in Redis under
`iven:session:<sid>` (checked on requests). Each process keeps a few seconds' cache of valid
sessions; a revocation evicts it at once in every process through the broadcast channel, so a
revoked access token stops working on the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError

from resolvers.core.deps import ClientInfo, Deps, Viewer
from resolvers.core.errors import DomainError
from stores import accounts as store
from stores.accounts import RefreshToken, UserSession
from stores.db import retry_transaction, utcnow
from stores.redis import SESSION_REVOKED, ChannelListener, key

log = logging.getLogger("iven.sessions")

REVOKED_CHANNEL = key("sessions", "revoked")


class SessionErrorCode(StrEnum):
    """Refusals of a refresh token (reported as AccountErrorCode)."""

    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_REUSED = "TOKEN_REUSED"


class TokenRejected(Exception):
    """The presented access token is invalid, expired or its session was revoked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IssuedTokens:
    user_id: int
    session_id: str
    access_token: str
    refresh_token: str
    expires_at: datetime


class SessionGuard:
    """Per-process: turns an access token into a Viewer, with a short validity cache."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._valid: dict[str, tuple[int, float]] = {}
        # verified claims by token: the HMAC check runs once per token, expiry on every use
        self._claims: dict[str, Any] = {}
        self._listener = ChannelListener(
            deps.broadcast,
            REVOKED_CHANNEL,
            lambda m: self.evict(m.get("sids", [])),
            "iven-session-evictions",
        )

    async def start(self) -> None:
        await self._listener.start()

    async def close(self) -> None:
        await self._listener.close()

    def evict(self, sids: list[str]) -> None:
        for sid in sids:
            self._valid.pop(sid, None)

    async def viewer_for(self, token: str) -> Viewer:
        claims = self._claims.get(token)
        if claims is None or claims.expires_at <= utcnow():
            try:
                claims = self.deps.tokens.decode_access(token)
            except Exception as exc:  # InvalidToken, from iven_gql.auth
                raise TokenRejected("invalid or expired token") from exc
            if len(self._claims) > 50_000:
                self._claims.clear()
            self._claims[token] = claims
        sid = claims.session_id
        cached = self._valid.get(sid)
        now = time.monotonic()
        if cached is not None and cached[1] > now and cached[0] == claims.user_id:
            return Viewer(claims.user_id, sid, claims.expires_at)
        if not await self._session_active(sid, claims.user_id):
            self._valid.pop(sid, None)
            raise TokenRejected("session revoked")
        if len(self._valid) > 50_000:
            self._valid.clear()
        self._valid[sid] = (claims.user_id, now + self.deps.settings.session_cache_ttl_s)
        return Viewer(claims.user_id, sid, claims.expires_at)

    async def is_active(self, viewer: Viewer) -> bool:
        """Uncached check, for long-lived connections."""
        return await self._session_active(viewer.session_id, viewer.user_id)

    async def _session_active(self, sid: str, user_id: int) -> bool:
        try:
            state = await self.deps.session_keys.get(sid)
        except RedisError:
            log.warning("session check falls back to MySQL: Redis unavailable")
            return await self._session_active_in_mysql(sid, user_id, cache=False)
        if state == SESSION_REVOKED:
            return False
        if state is not None:
            return state == str(user_id)
        return await self._session_active_in_mysql(sid, user_id, cache=True)

    async def _session_active_in_mysql(self, sid: str, user_id: int, *, cache: bool) -> bool:
        async with self.deps.db.reader() as db:
            session = await store.session_by_id(db, sid)
        now = utcnow()
        active = (
            session is not None
            and session.user_id == user_id
            and session.revoked_at is None
            and session.expires_at > now
        )
        if cache:
            with contextlib.suppress(RedisError):
                if active and session is not None:
                    ttl = int((session.expires_at - now).total_seconds())
                    await self.deps.session_keys.set_active(sid, user_id, ttl)
                else:
                    await self.deps.session_keys.set_revoked([sid], self._revoked_ttl())
        return active

    def _revoked_ttl(self) -> int:
        return self.deps.settings.access_token_ttl_s + 60


def guard(deps: Deps) -> SessionGuard:
    return deps.services.session_guard


# --- creating and rotating ---------------------------------------------------------------------


async def open_session(db: Any, deps: Deps, user_id: int, client: ClientInfo) -> IssuedTokens:
    """Adds a session and its first refresh token inside the caller's unit of work.

    Call `publish_session` after the commit."""
    now = utcnow()
    session = UserSession(
        id=secrets.token_hex(16),
        user_id=user_id,
        user_agent=client.user_agent[:255],
        ip=client.ip[:64],
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=deps.settings.refresh_token_ttl_s),
    )
    await store.add_session(db, session)
    await store.record_login(db, user_id, now)
    return await _issue(db, deps, session, parent_id=None)


async def _issue(db: Any, deps: Deps, session: UserSession, parent_id: int | None) -> IssuedTokens:
    refresh = secrets.token_urlsafe(32)
    await store.add_refresh_token(
        db,
        RefreshToken(
            session_id=session.id,
            token_hash=deps.tokens.keyed_hash(refresh),
            parent_id=parent_id,
        ),
    )
    access, expires_at = deps.tokens.issue_access(session.user_id, session.id)
    return IssuedTokens(session.user_id, session.id, access, refresh, expires_at)


async def publish_session(deps: Deps, issued: IssuedTokens) -> None:
    with contextlib.suppress(RedisError):
        await deps.session_keys.set_active(
            issued.session_id, issued.user_id, deps.settings.refresh_token_ttl_s
        )


async def refresh_session(deps: Deps, refresh_token: str, client: ClientInfo) -> IssuedTokens:
    """Rotates the refresh token. A token used twice revokes its whole session (family),
    except within a short grace for the immediate parent (two tabs refreshing at once)."""
    return await retry_transaction(lambda: _refresh_session(deps, refresh_token, client))


async def _refresh_session(deps: Deps, refresh_token: str, client: ClientInfo) -> IssuedTokens:
    invalid = DomainError(
        SessionErrorCode.INVALID_TOKEN, "This refresh token is not valid.", "refreshToken"
    )
    reused = False
    async with deps.db.unit_of_work() as db:
        token = await store.refresh_token_by_hash(db, deps.tokens.keyed_hash(refresh_token))
        if token is None or token.id is None:
            raise invalid
        session = await store.lock_session(db, token.session_id)
        now = utcnow()
        if session is None or session.revoked_at is not None or session.expires_at <= now:
            raise invalid
        if await store.mark_refresh_used(db, token.id):
            issued = await _issue(db, deps, session, parent_id=token.id)
        else:
            used_at = token.used_at or now
            in_grace = (now - used_at).total_seconds() <= deps.settings.refresh_reuse_grace_s
            if in_grace and not await store.has_used_child(db, token.id):
                issued = await _issue(db, deps, session, parent_id=token.id)
            else:
                reused = True
                await store.revoke_sessions(db, session.user_id, "refresh_reuse", only=session.id)
        if not reused:
            await store.touch_session(db, session.id)
    if reused:
        await announce_revoked(deps, [session.id])
        log.warning("refresh token reuse: session revoked", extra={"session_id": session.id})
        raise DomainError(
            SessionErrorCode.TOKEN_REUSED,
            "This refresh token was already used; the session is closed.",
            "refreshToken",
        )
    return issued


async def revoke(
    deps: Deps, user_id: int, reason: str, *, only: str | None = None, keep: str | None = None
) -> list[str]:
    async with deps.db.unit_of_work() as db:
        sids = await store.revoke_sessions(db, user_id, reason, only=only, keep=keep)
    await announce_revoked(deps, sids)
    return sids


async def announce_revoked(deps: Deps, sids: list[str]) -> None:
    """After the commit: Redis marks them revoked, every process evicts its cache."""
    if not sids:
        return
    guard(deps).evict(sids)
    try:
        await deps.session_keys.set_revoked(sids, deps.settings.access_token_ttl_s + 60)
        await deps.broadcast.publish(REVOKED_CHANNEL, {"sids": sids})
    except RedisError:
        log.error("could not announce revoked sessions", extra={"count": len(sids)})


async def list_sessions(deps: Deps, viewer: Viewer) -> list[UserSession]:
    async with deps.db.reader() as db:
        return await store.active_sessions(db, viewer.user_id)


async def watch(deps: Deps, viewer: Viewer, interval_s: float) -> AsyncIterator[int]:
    """Yields the seconds left on the viewer's token every interval; returns as soon as the
    session is revoked (any process) or the token expires."""
    async with deps.broadcast.subscribe(REVOKED_CHANNEL) as queue:
        if not await guard(deps).is_active(viewer):
            return
        while True:
            left = (viewer.expires_at - utcnow()).total_seconds()
            if left <= 0:
                return
            try:
                message = await asyncio.wait_for(queue.get(), timeout=min(interval_s, left))
            except TimeoutError:
                left = (viewer.expires_at - utcnow()).total_seconds()
                if left <= 0:
                    return
                yield int(left)
                continue
            if viewer.session_id in message.get("sids", []):
                return
