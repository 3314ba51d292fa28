"""Accounts in MySQL: users, sessions, refresh tokens and one-time secrets.

Store functions add and flush; they never commit (the resolver's unit of work does).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, UniqueConstraint, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from stores.db import BigIntKey, timestamp_column, utcnow


class Role(enum.StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class SecretPurpose(enum.StrEnum):
    CONFIRM_EMAIL = "CONFIRM_EMAIL"
    CHANGE_EMAIL = "CHANGE_EMAIL"
    RESET_PASSWORD = "RESET_PASSWORD"


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("username_key", name="uq_users_username_key"),
        UniqueConstraint("email", name="uq_users_email"),
        Index("ix_users_role_active", "role", "is_active"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    username: str = Field(sa_type=String(30))
    # lower-cased username: uniqueness is case-insensitive on every backend
    username_key: str = Field(sa_type=String(30))
    email: str = Field(sa_type=String(254))
    password_hash: str = Field(sa_type=String(255))
    first_name: str = Field(sa_type=String(80))
    last_name: str = Field(sa_type=String(80))
    bio: str = Field(default="", sa_type=String(500))
    timezone: str = Field(default="UTC", sa_type=String(64))
    # storage key of the profile picture (uploads/profils), None without one
    avatar_key: str | None = Field(default=None, sa_type=String(32))
    role: str = Field(default=Role.USER.value, sa_type=String(16))
    is_active: bool = True
    disabled_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    disabled_reason: str | None = Field(default=None, sa_type=String(500))
    last_login_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    email_confirmed_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    version: int = 1


class OneTimeSecret(SQLModel, table=True):
    """Email codes and reset tokens: only a keyed hash is stored."""

    __tablename__ = "one_time_secrets"
    __table_args__ = (
        Index("ix_one_time_secrets_hash", "secret_hash"),
        Index("ix_one_time_secrets_user_purpose", "user_id", "purpose"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    user_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    purpose: str = Field(sa_type=String(24))
    target_email: str = Field(sa_type=String(254))
    secret_hash: str = Field(sa_type=String(64))
    attempts: int = 0
    expires_at: datetime = Field(sa_column=timestamp_column())
    consumed_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())


class UserSession(SQLModel, table=True):
    """A signed-in device. The id travels in access tokens as `sid`."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id"),)

    id: str = Field(sa_type=String(32), primary_key=True)
    user_id: int = Field(
        sa_column=Column(BigIntKey, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    user_agent: str = Field(default="", sa_type=String(255))
    ip: str = Field(default="", sa_type=String(64))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    last_used_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))
    revoked_reason: str | None = Field(default=None, sa_type=String(32))


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_refresh_tokens_hash"),
        Index("ix_refresh_tokens_session", "session_id"),
        Index("ix_refresh_tokens_parent", "parent_id"),
    )

    id: int | None = Field(default=None, sa_type=BigIntKey, primary_key=True)
    session_id: str = Field(
        sa_column=Column(
            String(32), ForeignKey("user_sessions.id", ondelete="CASCADE"), nullable=False
        )
    )
    token_hash: str = Field(sa_type=String(64))
    parent_id: int | None = Field(default=None, sa_type=BigIntKey)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    used_at: datetime | None = Field(default=None, sa_column=timestamp_column(True))


# --- users -----------------------------------------------------------------------------------


async def add_user(db: AsyncSession, user: User) -> User:
    db.add(user)
    await db.flush()
    return user


async def users_by_ids(db: AsyncSession, ids: Sequence[int]) -> list[User]:
    if not ids:
        return []
    rows = await db.exec(select(User).where(col(User.id).in_(list(ids))))
    return list(rows.all())


async def user_by_id(db: AsyncSession, user_id: int, *, for_update: bool = False) -> User | None:
    stmt = select(User).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await db.exec(stmt)).first()


async def user_by_email(db: AsyncSession, email: str) -> User | None:
    return (await db.exec(select(User).where(User.email == email))).first()


async def user_by_username(db: AsyncSession, username: str) -> User | None:
    key = username.lower()
    return (await db.exec(select(User).where(User.username_key == key))).first()


async def username_or_email_taken(db: AsyncSession, username_key: str, email: str) -> set[str]:
    rows = await db.exec(
        select(User.username_key, User.email).where(
            (User.username_key == username_key) | (User.email == email)
        )
    )
    taken: set[str] = set()
    for key, mail in rows.all():
        if key == username_key:
            taken.add("username")
        if mail == email:
            taken.add("email")
    return taken


async def save_user(db: AsyncSession, user: User) -> User:
    user.updated_at = utcnow()
    user.version += 1
    db.add(user)
    await db.flush()
    return user


async def delete_user(db: AsyncSession, user: User) -> None:
    await db.delete(user)
    await db.flush()


# --- one-time secrets --------------------------------------------------------------------------


async def replace_secret(
    db: AsyncSession, secret: OneTimeSecret, *, first: bool = False
) -> OneTimeSecret:
    """A new secret for (user, purpose) invalidates the previous unconsumed ones (a `first` one
    has none)."""
    if first:
        db.add(secret)
        await db.flush()
        return secret
    await db.exec(
        update(OneTimeSecret)
        .where(
            col(OneTimeSecret.user_id) == secret.user_id,
            col(OneTimeSecret.purpose) == secret.purpose,
            col(OneTimeSecret.consumed_at).is_(None),
        )
        .values(consumed_at=utcnow())
    )
    db.add(secret)
    await db.flush()
    return secret


async def active_secret(
    db: AsyncSession, user_id: int, purpose: SecretPurpose
) -> OneTimeSecret | None:
    stmt = (
        select(OneTimeSecret)
        .where(
            OneTimeSecret.user_id == user_id,
            OneTimeSecret.purpose == purpose.value,
            col(OneTimeSecret.consumed_at).is_(None),
        )
        .order_by(col(OneTimeSecret.id).desc())
        .with_for_update()
    )
    return (await db.exec(stmt)).first()


async def secret_by_hash(db: AsyncSession, secret_hash: str) -> OneTimeSecret | None:
    stmt = select(OneTimeSecret).where(OneTimeSecret.secret_hash == secret_hash).with_for_update()
    return (await db.exec(stmt)).first()


async def save_secret(db: AsyncSession, secret: OneTimeSecret) -> None:
    db.add(secret)
    await db.flush()


# --- sessions and refresh tokens ---------------------------------------------------------------


async def add_session(db: AsyncSession, session: UserSession) -> UserSession:
    db.add(session)
    await db.flush()
    return session


async def session_by_id(db: AsyncSession, session_id: str) -> UserSession | None:
    return (await db.exec(select(UserSession).where(UserSession.id == session_id))).first()


async def active_sessions(db: AsyncSession, user_id: int) -> list[UserSession]:
    stmt = (
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            col(UserSession.revoked_at).is_(None),
            col(UserSession.expires_at) > utcnow(),
        )
        .order_by(col(UserSession.last_used_at).desc())
    )
    return list((await db.exec(stmt)).all())


async def revoke_sessions(
    db: AsyncSession,
    user_id: int,
    reason: str,
    *,
    only: str | None = None,
    keep: str | None = None,
) -> list[str]:
    """Marks sessions revoked; returns the ids that were active."""
    stmt = select(UserSession.id).where(
        UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None)
    )
    if only is not None:
        stmt = stmt.where(UserSession.id == only)
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    ids = list((await db.exec(stmt)).all())
    if ids:
        await db.exec(
            update(UserSession)
            .where(col(UserSession.id).in_(ids))
            .values(revoked_at=utcnow(), revoked_reason=reason)
        )
    return ids


async def add_refresh_token(db: AsyncSession, token: RefreshToken) -> RefreshToken:
    db.add(token)
    await db.flush()
    return token


async def refresh_token_by_hash(db: AsyncSession, token_hash: str) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await db.exec(stmt)).first()


async def mark_refresh_used(db: AsyncSession, token_id: int) -> bool:
    """Atomic on every backend: only one concurrent caller wins the rotation."""
    result = await db.exec(
        update(RefreshToken)
        .where(col(RefreshToken.id) == token_id, col(RefreshToken.used_at).is_(None))
        .values(used_at=utcnow())
    )
    return bool(result.rowcount == 1)


async def record_login(db: AsyncSession, user_id: int, at: datetime) -> None:
    """A sign-in (not a profile change: the version stays)."""
    await db.exec(update(User).where(col(User.id) == user_id).values(last_login_at=at))


async def touch_session(db: AsyncSession, session_id: str) -> None:
    await db.exec(
        update(UserSession).where(col(UserSession.id) == session_id).values(last_used_at=utcnow())
    )


async def has_used_child(db: AsyncSession, token_id: int) -> bool:
    stmt = select(RefreshToken.id).where(
        RefreshToken.parent_id == token_id, col(RefreshToken.used_at).is_not(None)
    )
    return (await db.exec(stmt)).first() is not None


async def lock_session(db: AsyncSession, session_id: str) -> UserSession | None:
    stmt = select(UserSession).where(UserSession.id == session_id).with_for_update()
    return (await db.exec(stmt)).first()


async def known_avatar_keys(db: AsyncSession, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        rows = await db.exec(
            select(User.avatar_key).where(col(User.avatar_key).in_(keys[start : start + 500]))
        )
        found.update(k for k in rows.all() if k)
    return found
