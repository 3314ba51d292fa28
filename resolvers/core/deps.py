"""What use cases are given: the app's resources (built by iven_gql) and who is asking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from resolvers.services import Services
    from stores.db import Database
    from stores.mail import Mailer
    from stores.mongo import DocumentStore
    from stores.redis import Broadcast, RateLimiter, ReadCache, SessionKeys


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...
    async def verify(self, stored: str | None, password: str) -> bool: ...
    def needs_rehash(self, stored: str) -> bool: ...


class AccessClaimsLike(Protocol):
    user_id: int
    session_id: str
    expires_at: datetime


class TokenIssuer(Protocol):
    def issue_access(self, user_id: int, session_id: str) -> tuple[str, datetime]: ...
    def decode_access(self, token: str) -> Any: ...
    def keyed_hash(self, value: str) -> str: ...
    def media_signature(self, value: str) -> str: ...


class AccountSettings(Protocol):
    public_url: str
    access_token_ttl_s: int
    refresh_token_ttl_s: int
    refresh_reuse_grace_s: int
    session_cache_ttl_s: float
    email_code_ttl_s: int
    email_code_max_attempts: int
    password_reset_ttl_s: int
    rate_login_account: str
    rate_login_ip: str
    rate_register_ip: str
    rate_register_email: str
    rate_reset_ip: str
    rate_reset_email: str
    rate_confirm_email: str
    rate_chat_send: str
    rate_poll_vote: str
    # sign-in limits
    rate_login_failures_account: str
    login_delay_after_failures: int
    login_delay_step_ms: int
    login_delay_max_ms: int
    # invitation limits
    rate_invite_sender: str
    rate_invite_email: str
    uploads_dir: Path
    media_max_file_bytes: int
    media_max_request_bytes: int
    media_max_files: int
    media_max_pixels: int
    media_quota_user_bytes: int
    media_quota_event_bytes: int
    media_url_ttl_s: int
    media_workers: int


@dataclass
class Deps:
    settings: AccountSettings
    db: Database
    redis: Redis
    documents: DocumentStore
    broadcast: Broadcast
    rate_limiter: RateLimiter
    session_keys: SessionKeys
    read_cache: ReadCache
    mailer: Mailer
    passwords: PasswordHasher
    tokens: TokenIssuer
    # "now" for rules that depend on time (scheduled publication); tests inject their own
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # the per-process objects use cases share, set by the lifespan (resolvers/services.py)
    services: Services = field(init=False)


@dataclass(frozen=True)
class Viewer:
    user_id: int
    session_id: str
    expires_at: datetime


@dataclass(frozen=True)
class ClientInfo:
    ip: str = ""
    user_agent: str = ""
