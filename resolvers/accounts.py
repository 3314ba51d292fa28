"""Account use cases: registration, confirmation, sign-in, passwords, profile, email change."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any
from urllib.parse import quote

from aiodataloader import DataLoader
from sqlalchemy.exc import IntegrityError

from resolvers import sessions
from resolvers.core.background import after_commit
from resolvers.core.deps import ClientInfo, Deps, Viewer
from resolvers.core.errors import DomainError, DomainErrors, Forbidden, Unauthenticated
from resolvers.core.loading import LoaderBase
from resolvers.core.local_cache import LocalCache
from resolvers.core.rates import parse_rate, rate_limit
from resolvers.core.text import (
    checked_line,
    control_error,
    has_control_characters,
    normalised_text,
)
from resolvers.projections import USER, record, record_event
from stores import accounts as store
from stores import events as event_store
from stores.account_events import (
    AccountEvent,
    account_events_page,
    delete_user_documents,
    record_account_event,
)
from stores.accounts import OneTimeSecret, Role, SecretPurpose, User
from stores.admin import instance_settings
from stores.db import retry_transaction, utcnow
from stores.mail import Mail
from stores.notifications import delete_user_notifications

log = logging.getLogger("iven.accounts")

USERNAME_RE = re.compile(r"^[a-z0-9_.]{3,30}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
NAME_MAX = 80
BIO_MAX = 500


# --- validation --------------------------------------------------------------------------------


class AccountErrorCode(StrEnum):
    """What account and session mutations report in `errors`."""

    INVALID_USERNAME = "INVALID_USERNAME"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_NAME = "INVALID_NAME"
    INVALID_TIMEZONE = "INVALID_TIMEZONE"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    INVALID_INPUT = "INVALID_INPUT"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    SAME_EMAIL = "SAME_EMAIL"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    PASSWORD_TOO_SIMILAR = "PASSWORD_TOO_SIMILAR"
    WRONG_PASSWORD = "WRONG_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    EMAIL_NOT_CONFIRMED = "EMAIL_NOT_CONFIRMED"
    ALREADY_CONFIRMED = "ALREADY_CONFIRMED"
    ACCOUNT_DISABLED = "ACCOUNT_DISABLED"
    INVALID_CODE = "INVALID_CODE"
    CODE_EXPIRED = "CODE_EXPIRED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_REUSED = "TOKEN_REUSED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    STALE = "STALE"
    RATE_LIMITED = "RATE_LIMITED"
    OWNS_EVENTS = "OWNS_EVENTS"
    REGISTRATIONS_CLOSED = "REGISTRATIONS_CLOSED"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str, field: str = "email") -> DomainError | None:
    if len(email) > 254 or not EMAIL_RE.match(email) or has_control_characters(email):
        return DomainError(AccountErrorCode.INVALID_EMAIL, "Enter a valid email address.", field)
    return None


def check_username(username: str, field: str = "username") -> DomainError | None:
    if not USERNAME_RE.fullmatch(username.lower()):
        return DomainError(
            AccountErrorCode.INVALID_USERNAME,
            "Usernames are 3 to 30 characters: letters, digits, '_' and '.'.",
            field,
        )
    return None


def check_password(
    password: str, *, username: str, email: str, field: str = "password"
) -> DomainError | None:
    if len(password) < 8:
        return DomainError(AccountErrorCode.PASSWORD_TOO_SHORT, "Use at least 8 characters.", field)
    if len(password) > 128:
        return DomainError(AccountErrorCode.PASSWORD_TOO_LONG, "Use at most 128 characters.", field)
    lowered = password.lower()
    if lowered in {username.lower(), email.lower()}:
        return DomainError(
            AccountErrorCode.PASSWORD_TOO_SIMILAR,
            "The password must differ from the username and email.",
            field,
        )
    return None


def check_name(value: str, field: str) -> DomainError | None:
    if not value or len(value) > NAME_MAX:
        return DomainError(
            AccountErrorCode.INVALID_NAME, f"Between 1 and {NAME_MAX} characters.", field
        )
    return checked_line(value, field)


def check_timezone(value: str, field: str = "timezone") -> DomainError | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return DomainError(
            AccountErrorCode.INVALID_TIMEZONE, "Use an IANA time zone such as Europe/Paris.", field
        )
    return None


def raise_if(errors: list[DomainError | None]) -> None:
    found = [e for e in errors if e is not None]
    if found:
        raise DomainErrors(found)


# --- one-time secrets --------------------------------------------------------------------------


def _code_hash(deps: Deps, purpose: SecretPurpose, user_id: int, code: str) -> str:
    return deps.tokens.keyed_hash(f"{purpose.value}:{user_id}:{code}")


async def _new_code(
    db: Any, deps: Deps, user: User, purpose: SecretPurpose, email: str, *, first: bool = False
) -> str:
    """A new code for `purpose`; `first` (a user created in this unit of work) has no earlier code
    to invalidate, and skipping that UPDATE spares its range locks (concurrent sign-ups deadlocked
    on them on MariaDB)."""
    assert user.id is not None
    code = f"{secrets.randbelow(1_000_000):06d}"
    await store.replace_secret(
        db,
        first=first,
        secret=OneTimeSecret(
            user_id=user.id,
            purpose=purpose.value,
            target_email=email,
            secret_hash=_code_hash(deps, purpose, user.id, code),
            expires_at=utcnow() + timedelta(seconds=deps.settings.email_code_ttl_s),
        ),
    )
    return code


async def _check_code(
    db: Any, deps: Deps, user: User, purpose: SecretPurpose, code: str
) -> tuple[OneTimeSecret | None, DomainError | None]:
    """Returns the matching secret, or the error to report after committing the attempt count."""
    assert user.id is not None
    secret = await store.active_secret(db, user.id, purpose)
    invalid = DomainError(AccountErrorCode.INVALID_CODE, "This code is not valid.", "code")
    if secret is None:
        return None, invalid
    if secret.expires_at <= utcnow():
        return None, DomainError(
            AccountErrorCode.CODE_EXPIRED, "This code has expired; ask for a new one.", "code"
        )
    if secrets.compare_digest(secret.secret_hash, _code_hash(deps, purpose, user.id, code.strip())):
        secret.consumed_at = utcnow()
        await store.save_secret(db, secret)
        return secret, None
    secret.attempts += 1
    if secret.attempts >= deps.settings.email_code_max_attempts:
        secret.consumed_at = utcnow()
        await store.save_secret(db, secret)
        return None, DomainError(
            AccountErrorCode.TOO_MANY_ATTEMPTS, "Too many wrong codes; ask for a new one.", "code"
        )
    await store.save_secret(db, secret)
    return None, invalid


def _send(deps: Deps, to: str, subject: str, body: str) -> None:
    after_commit(deps.mailer.send(Mail(to=to, subject=subject, body=body)))


def _confirmation_mail(deps: Deps, user: User, code: str) -> None:
    _send(
        deps,
        user.email,
        "Your IVEN confirmation code",
        f"Hello {user.first_name},\n\nYour IVEN confirmation code is {code}.\n"
        f"It is valid for {deps.settings.email_code_ttl_s // 60} minutes.\n",
    )


def _activity(user_id: int, kind: str, client: ClientInfo, session_id: str | None = None) -> None:
    async def write() -> None:
        try:
            await record_account_event(
                AccountEvent(
                    user_id=user_id,
                    kind=kind,
                    ip=client.ip,
                    user_agent=client.user_agent[:255],
                    session_id=session_id,
                )
            )
        except Exception:
            log.warning("account event not recorded", exc_info=True, extra={"kind": kind})

    after_commit(write())


# --- registration and sign-in ------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterInput:
    username: str
    email: str
    password: str
    first_name: str
    last_name: str


async def register(deps: Deps, data: RegisterInput, client: ClientInfo) -> None:
    """Creates an unconfirmed account and mails its code. Answers the same whether or not the
    email has an account (as login and reset do): for a taken email nothing is created and its
    owner is told by mail instead. A taken username is reported: usernames are public anyway."""
    email = normalise_email(data.email)
    username = data.username.strip()
    first, last = data.first_name.strip(), data.last_name.strip()
    await rate_limit(deps, "register-ip", client.ip, deps.settings.rate_register_ip)
    if not await _registrations_open(deps):
        raise DomainError(
            AccountErrorCode.REGISTRATIONS_CLOSED,
            "This instance does not take new accounts at the moment.",
        )
    raise_if(
        [
            check_username(username),
            check_email(email),
            check_password(data.password, username=username, email=email),
            check_name(first, "firstName"),
            check_name(last, "lastName"),
        ]
    )
    await rate_limit(deps, "register-email", email, deps.settings.rate_register_email, "email")
    password_hash = await deps.passwords.hash(data.password)

    async def create() -> tuple[User, str] | None:
        async with deps.db.unit_of_work() as db:
            taken = await store.username_or_email_taken(db, username.lower(), email)
            _raise_taken(taken)
            if "email" in taken:
                return None
            user = await store.add_user(
                db,
                User(
                    username=username,
                    username_key=username.lower(),
                    email=email,
                    password_hash=password_hash,
                    first_name=first,
                    last_name=last,
                ),
            )
            record(db, "user.registered", USER, user.id or 0, user.id)
            return user, await _new_code(
                db, deps, user, SecretPurpose.CONFIRM_EMAIL, email, first=True
            )

    try:
        created = await retry_transaction(create)
    except IntegrityError:  # a concurrent registration won the race
        async with deps.db.reader() as db:
            taken = await store.username_or_email_taken(db, username.lower(), email)
        _raise_taken(taken)
        if "email" not in taken:
            raise
        created = None
    if created is None:
        _someone_registered_mail(deps, email)
        return
    user, code = created
    _confirmation_mail(deps, user, code)


async def _registrations_open(deps: Deps) -> bool:
    async with deps.db.reader() as db:
        return (await instance_settings(db)).registrations_open


def _raise_taken(taken: set[str]) -> None:
    """Only the username: whether an email has an account is told to its owner alone."""
    if "username" in taken:
        raise DomainError(AccountErrorCode.USERNAME_TAKEN, "This username is taken.", "username")


def _someone_registered_mail(deps: Deps, email: str) -> None:
    base = deps.settings.public_url.rstrip("/")
    _send(
        deps,
        email,
        "Someone tried to create an IVEN account with your address",
        "Hello,\n\nSomeone (perhaps you) tried to create a new IVEN account with this email "
        "address, which already has one. No new account was created.\n\n"
        f"If it was you, sign in at {base}, or reset your password there if you forgot it "
        "(an unconfirmed account can ask for a new confirmation code).\n"
        "If it was not you, you can ignore this mail.\n",
    )


async def resend_confirmation(deps: Deps, email: str, client: ClientInfo) -> None:
    """Answers the same whether or not the account exists."""
    email = normalise_email(email)
    await rate_limit(deps, "resend-ip", client.ip, deps.settings.rate_register_ip)
    await rate_limit(deps, "resend-email", email, deps.settings.rate_register_email, "email")
    async with deps.db.unit_of_work() as db:
        user = await store.user_by_email(db, email)
        if user is None or user.email_confirmed_at is not None or not user.is_active:
            return
        code = await _new_code(db, deps, user, SecretPurpose.CONFIRM_EMAIL, email)
    _confirmation_mail(deps, user, code)


async def confirm_email(
    deps: Deps, email: str, code: str, client: ClientInfo
) -> tuple[User, sessions.IssuedTokens]:
    email = normalise_email(email)
    await rate_limit(deps, "confirm-email", email, deps.settings.rate_confirm_email, "code")
    failure: DomainError | None = None
    async with deps.db.unit_of_work() as db:
        user = await store.user_by_email(db, email)
        if user is None:
            raise DomainError(AccountErrorCode.INVALID_CODE, "This code is not valid.", "code")
        if user.email_confirmed_at is not None:
            raise DomainError(
                AccountErrorCode.ALREADY_CONFIRMED, "This email is already confirmed.", "email"
            )
        secret, failure = await _check_code(db, deps, user, SecretPurpose.CONFIRM_EMAIL, code)
        if secret is not None:
            user.email_confirmed_at = utcnow()
            await store.save_user(db, user)
            issued = await sessions.open_session(db, deps, _id(user), client)
    if failure is not None:
        raise failure
    await users_changed(deps, _id(user))
    await sessions.publish_session(deps, issued)
    _activity(_id(user), "EMAIL_CONFIRMED", client, issued.session_id)
    return user, issued


async def login(
    deps: Deps, email: str, password: str, client: ClientInfo
) -> tuple[User, sessions.IssuedTokens]:
    email = normalise_email(email)
    await rate_limit(deps, "login-ip", client.ip, deps.settings.rate_login_ip)
    await rate_limit(
        deps, "login-account", f"{email}|{client.ip}", deps.settings.rate_login_account
    )
    await _wait_for_failures(deps, email)
    async with deps.db.reader() as db:
        user = await store.user_by_email(db, email)
    ok = await deps.passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok:
        if user is not None:
            _activity(_id(user), "LOGIN_FAILED", client)
        limit, window = parse_rate(deps.settings.rate_login_failures_account)
        await deps.rate_limiter.hit("login-failed", email, limit, window)
        raise DomainError(AccountErrorCode.INVALID_CREDENTIALS, "Wrong email or password.")
    if not user.is_active:
        raise DomainError(AccountErrorCode.ACCOUNT_DISABLED, "This account is disabled.")
    if user.email_confirmed_at is None:
        raise DomainError(
            AccountErrorCode.EMAIL_NOT_CONFIRMED, "Confirm your email first.", "email"
        )
    new_hash = (
        await deps.passwords.hash(password)
        if deps.passwords.needs_rehash(user.password_hash)
        else None
    )
    async with deps.db.unit_of_work() as db:
        if new_hash is not None:
            fresh = await store.user_by_id(db, _id(user), for_update=True)
            if fresh is not None:
                fresh.password_hash = new_hash
                db.add(fresh)
                await db.flush()
        issued = await sessions.open_session(db, deps, _id(user), client)
    await sessions.publish_session(deps, issued)
    _activity(_id(user), "LOGIN", client, issued.session_id)
    return user, issued


def login_delay_s(deps: Deps, failures: int) -> float:
    """The wait before a sign-in to an account with `failures` recent failed ones."""
    s = deps.settings
    beyond = failures - s.login_delay_after_failures
    if beyond < 0 or s.login_delay_step_ms == 0:
        return 0.0
    delay_ms: int = min(s.login_delay_step_ms * 2 ** min(beyond, 30), s.login_delay_max_ms)
    return delay_ms / 1000


async def _wait_for_failures(deps: Deps, email: str) -> None:
    """Failures are counted per account from every address (whoever made them, and whether or
    not the account exists, so the answer discloses nothing): past a ceiling the account's
    sign-ins are refused for a while, and before it each one waits longer. The per-address limit
    (rate_login_account) stops a single guesser far earlier without locking the owner out."""
    limit, window = parse_rate(deps.settings.rate_login_failures_account)
    failures, retry_after_s = await deps.rate_limiter.count("login-failed", email, window)
    if failures >= limit:
        raise DomainError(
            AccountErrorCode.RATE_LIMITED,
            f"Too many attempts. Try again in {retry_after_s} seconds.",
            retry_after_s=retry_after_s,
        )
    delay = login_delay_s(deps, failures)
    if delay:
        await asyncio.sleep(delay)


async def refresh(
    deps: Deps, refresh_token: str, client: ClientInfo
) -> tuple[User, sessions.IssuedTokens]:
    issued = await sessions.refresh_session(deps, refresh_token, client)
    async with deps.db.reader() as db:
        user = await store.user_by_id(db, issued.user_id)
    if user is None or not user.is_active:
        await sessions.revoke(deps, issued.user_id, "account_unavailable", only=issued.session_id)
        raise DomainError(
            AccountErrorCode.INVALID_TOKEN, "This refresh token is not valid.", "refreshToken"
        )
    return user, issued


# --- password reset ----------------------------------------------------------------------------


async def request_password_reset(deps: Deps, email: str, client: ClientInfo) -> None:
    """Always answers the same; the mail goes out only if the account exists."""
    email = normalise_email(email)
    await rate_limit(deps, "reset-ip", client.ip, deps.settings.rate_reset_ip)
    await rate_limit(deps, "reset-email", email, deps.settings.rate_reset_email, "email")
    token = secrets.token_urlsafe(32)
    async with deps.db.unit_of_work() as db:
        user = await store.user_by_email(db, email)
        if user is None or not user.is_active:
            return
        await store.replace_secret(
            db,
            OneTimeSecret(
                user_id=_id(user),
                purpose=SecretPurpose.RESET_PASSWORD.value,
                target_email=email,
                secret_hash=deps.tokens.keyed_hash(token),
                expires_at=utcnow() + timedelta(seconds=deps.settings.password_reset_ttl_s),
            ),
        )
    link = f"{deps.settings.public_url.rstrip('/')}/reset-password?token={quote(token)}"
    _send(
        deps,
        user.email,
        "Reset your IVEN password",
        f"Hello {user.first_name},\n\nTo choose a new password, open:\n{link}\n\n"
        "The link works once, for one hour. If you did not ask for it, ignore this mail.\n",
    )


async def reset_password(deps: Deps, token: str, new_password: str, client: ClientInfo) -> None:
    invalid = DomainError(
        AccountErrorCode.INVALID_TOKEN, "This reset link is not valid or has expired.", "token"
    )
    async with deps.db.reader() as db:
        secret = await store.secret_by_hash(db, deps.tokens.keyed_hash(token))
        user = await store.user_by_id(db, secret.user_id) if secret else None
    if (
        secret is None
        or user is None
        or secret.purpose != SecretPurpose.RESET_PASSWORD.value
        or secret.consumed_at is not None
        or secret.expires_at <= utcnow()
    ):
        raise invalid
    raise_if(
        [
            check_password(
                new_password, username=user.username, email=user.email, field="newPassword"
            )
        ]
    )
    new_hash = await deps.passwords.hash(new_password)
    async with deps.db.unit_of_work() as db:
        locked = await store.secret_by_hash(db, deps.tokens.keyed_hash(token))
        if locked is None or locked.consumed_at is not None:
            raise invalid
        locked.consumed_at = utcnow()
        await store.save_secret(db, locked)
        fresh = await store.user_by_id(db, _id(user), for_update=True)
        assert fresh is not None
        fresh.password_hash = new_hash
        await store.save_user(db, fresh)
        sids = await store.revoke_sessions(db, _id(user), "password_reset")
    await users_changed(deps, _id(user))
    await sessions.announce_revoked(deps, sids)
    _activity(_id(user), "PASSWORD_RESET", client)


# --- the signed-in user ------------------------------------------------------------------------


def require_viewer(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated()
    return viewer


async def require_admin(deps: Deps, viewer: Viewer | None) -> User:
    """The viewer's account if it is an active admin, read fresh (a demotion or a disabling
    takes effect at once); UNAUTHENTICATED without a viewer, FORBIDDEN for anyone else."""
    viewer = require_viewer(viewer)
    async with deps.db.reader() as db:
        user = await store.user_by_id(db, viewer.user_id)
    if user is None or user.role != Role.ADMIN.value or not user.is_active:
        raise Forbidden("Only administrators can do this.")
    return user


async def is_admin(deps: Deps, viewer: Viewer | None) -> bool:
    """For reads that show admins more (drafts): through the per-process user cache, which
    every process evicts when a role or status changes."""
    if viewer is None:
        return False
    user = (await load_users(deps, [viewer.user_id]))[0]
    return user is not None and user.role == Role.ADMIN.value and user.is_active


async def _viewer_user(db: Any, viewer: Viewer, *, for_update: bool = False) -> User:
    user = await store.user_by_id(db, viewer.user_id, for_update=for_update)
    if user is None:
        raise Unauthenticated("This account no longer exists.")
    return user


async def _check_current_password(deps: Deps, user: User, password: str, field: str) -> None:
    if not await deps.passwords.verify(user.password_hash, password):
        raise DomainError(AccountErrorCode.WRONG_PASSWORD, "The password is not correct.", field)


@dataclass(frozen=True)
class ProfileInput:
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    bio: str | None = None
    timezone: str | None = None
    expected_version: int | None = None


async def update_profile(deps: Deps, viewer: Viewer, data: ProfileInput) -> User:
    changes = _profile_changes(data)
    try:
        async with deps.db.unit_of_work() as db:
            user = await _viewer_user(db, viewer, for_update=True)
            _check_profile_version(user, data.expected_version)
            await _claim_username(db, user, changes.get("username"))
            for name, value in changes.items():
                setattr(user, name, value)
            await store.save_user(db, user)
            record(
                db, "user.updated", USER, viewer.user_id, viewer.user_id, changed=sorted(changes)
            )
    except IntegrityError:
        raise DomainError(
            AccountErrorCode.USERNAME_TAKEN, "This username is taken.", "username"
        ) from None
    await users_changed(deps, viewer.user_id)
    return user


def _profile_changes(data: ProfileInput) -> dict[str, Any]:
    """The given fields, trimmed; validated before any transaction, every problem at once."""
    changes: dict[str, Any] = {}
    errors: list[DomainError | None] = []
    if data.first_name is not None:
        changes["first_name"] = data.first_name.strip()
        errors.append(check_name(changes["first_name"], "firstName"))
    if data.last_name is not None:
        changes["last_name"] = data.last_name.strip()
        errors.append(check_name(changes["last_name"], "lastName"))
    if data.username is not None:
        changes["username"] = data.username.strip()
        errors.append(check_username(changes["username"]))
    if data.bio is not None:
        changes["bio"] = normalised_text(data.bio).strip()
        errors.append(_check_bio(changes["bio"]))
    if data.timezone is not None:
        changes["timezone"] = data.timezone.strip()
        errors.append(check_timezone(changes["timezone"]))
    raise_if(errors)
    return changes


def _check_bio(bio: str) -> DomainError | None:
    if len(bio) > BIO_MAX:
        return DomainError(AccountErrorCode.VALUE_TOO_LONG, f"At most {BIO_MAX} characters.", "bio")
    if has_control_characters(bio, multiline=True):
        return control_error("bio", multiline=True)
    return None


def _check_profile_version(user: User, expected_version: int | None) -> None:
    # Optimistic concurrency: a client that sends the version it read must not overwrite
    # a newer profile.
    if expected_version is not None and expected_version != user.version:
        raise DomainError(
            AccountErrorCode.STALE,
            "The profile changed since you read it; reload it.",
            "expectedVersion",
        )


async def _claim_username(db: Any, user: User, new_username: str | None) -> None:
    # Usernames are unique case-insensitively; a change of case only keeps the same key.
    # The unique index still decides a race (IntegrityError in update_profile).
    if new_username is None or new_username.lower() == user.username_key:
        return
    existing = await store.user_by_username(db, new_username)
    if existing is not None:
        raise DomainError(AccountErrorCode.USERNAME_TAKEN, "This username is taken.", "username")
    user.username_key = new_username.lower()


async def change_password(
    deps: Deps, viewer: Viewer, current: str, new: str, client: ClientInfo
) -> User:
    async with deps.db.reader() as db:
        user = await _viewer_user(db, viewer)
    await _check_current_password(deps, user, current, "currentPassword")
    raise_if([check_password(new, username=user.username, email=user.email, field="newPassword")])
    new_hash = await deps.passwords.hash(new)
    async with deps.db.unit_of_work() as db:
        fresh = await _viewer_user(db, viewer, for_update=True)
        fresh.password_hash = new_hash
        await store.save_user(db, fresh)
        sids = await store.revoke_sessions(
            db, viewer.user_id, "password_changed", keep=viewer.session_id
        )
    await users_changed(deps, viewer.user_id)
    await sessions.announce_revoked(deps, sids)
    _activity(viewer.user_id, "PASSWORD_CHANGED", client, viewer.session_id)
    return fresh


async def request_email_change(deps: Deps, viewer: Viewer, new_email: str, password: str) -> None:
    email = normalise_email(new_email)
    raise_if([check_email(email, "newEmail")])
    await rate_limit(
        deps, "email-change", str(viewer.user_id), deps.settings.rate_register_email, "newEmail"
    )
    async with deps.db.reader() as db:
        user = await _viewer_user(db, viewer)
    await _check_current_password(deps, user, password, "password")
    if email == user.email:
        raise DomainError(AccountErrorCode.SAME_EMAIL, "This is already your email.", "newEmail")
    async with deps.db.unit_of_work() as db:
        if await store.user_by_email(db, email) is not None:
            raise DomainError(
                AccountErrorCode.EMAIL_TAKEN, "An account already uses this email.", "newEmail"
            )
        code = await _new_code(db, deps, user, SecretPurpose.CHANGE_EMAIL, email)
    _send(
        deps,
        email,
        "Confirm your new IVEN email",
        f"Hello {user.first_name},\n\nYour code to confirm this address is {code}.\n"
        f"It is valid for {deps.settings.email_code_ttl_s // 60} minutes.\n",
    )
    _send(
        deps,
        user.email,
        "Your IVEN email is being changed",
        "Someone (hopefully you) asked to move your IVEN account to another email address.\n"
        "If it wasn't you, change your password now.\n",
    )


async def confirm_email_change(deps: Deps, viewer: Viewer, code: str, client: ClientInfo) -> User:
    await rate_limit(
        deps, "confirm-email-change", str(viewer.user_id), deps.settings.rate_confirm_email, "code"
    )
    failure: DomainError | None = None
    try:
        async with deps.db.unit_of_work() as db:
            user = await _viewer_user(db, viewer, for_update=True)
            secret, failure = await _check_code(db, deps, user, SecretPurpose.CHANGE_EMAIL, code)
            if secret is not None:
                if await store.user_by_email(db, secret.target_email) is not None:
                    raise DomainError(
                        AccountErrorCode.EMAIL_TAKEN, "An account already uses this email.", "code"
                    )
                user.email = secret.target_email
                await store.save_user(db, user)
    except IntegrityError:
        raise DomainError(
            AccountErrorCode.EMAIL_TAKEN, "An account already uses this email.", "code"
        ) from None
    if failure is not None:
        raise failure
    await users_changed(deps, viewer.user_id)
    _activity(viewer.user_id, "EMAIL_CHANGED", client, viewer.session_id)
    return user


async def change_avatar(deps: Deps, viewer: Viewer, key: str | None) -> str | None:
    """Points the profile at a new picture (None: no picture); returns the previous key."""
    async with deps.db.unit_of_work() as db:
        user = await _viewer_user(db, viewer, for_update=True)
        old = user.avatar_key
        user.avatar_key = key
        await store.save_user(db, user)
        record(db, "user.updated", USER, viewer.user_id, viewer.user_id, changed=["avatar"])
    await users_changed(deps, viewer.user_id)
    return old


async def delete_account(deps: Deps, viewer: Viewer, password: str) -> None:
    async with deps.db.reader() as db:
        user = await _viewer_user(db, viewer)
    await _check_current_password(deps, user, password, "password")
    async with deps.db.unit_of_work() as db:
        owned = await event_store.owned_events(db, viewer.user_id)
        if any(count > 1 for count in owned.values()):
            raise DomainError(
                AccountErrorCode.OWNS_EVENTS,
                "You own events with other participants: transfer "
                "their ownership (or delete them) first.",
            )
        for event_id in owned:  # events nobody else takes part in go with the account
            await event_store.delete_event(db, event_id)
            record_event(db, "event.deleted", event_id, viewer.user_id)
        # elsewhere they leave; their rows keep their name for the history
        left = await event_store.leave_all(db, viewer.user_id)
        for event_id in left:
            record_event(
                db,
                "participant.left",
                event_id,
                viewer.user_id,
                user_id=viewer.user_id,
                account_deleted=True,
            )
        sids = await store.revoke_sessions(db, viewer.user_id, "account_deleted")
        fresh = await _viewer_user(db, viewer, for_update=True)
        # its avatar files go through the outbox (resolvers/media.py on_user_deleted)
        record(
            db, "user.deleted", USER, viewer.user_id, viewer.user_id, avatar_key=fresh.avatar_key
        )
        await store.delete_user(db, fresh)
    await users_changed(deps, viewer.user_id)
    for event_id in [*owned, *left]:
        for area in ("event", "event-participants"):
            await deps.read_cache.delete(area, event_id)
    await sessions.announce_revoked(deps, sids + [viewer.session_id])
    after_commit(delete_user_documents(viewer.user_id))
    after_commit(delete_user_notifications(viewer.user_id))


async def create_admin(
    deps: Deps,
    *,
    email: str,
    username: str,
    password: str,
    first_name: str = "Admin",
    last_name: str = "IVEN",
) -> User:
    """Creates a confirmed admin account, or promotes the existing account with that email."""
    email = normalise_email(email)
    async with deps.db.unit_of_work() as db:
        user = await store.user_by_email(db, email)
        if user is not None:
            user.role = Role.ADMIN.value
            promoted = await store.save_user(db, user)
    if user is not None:
        await users_changed(deps, _id(promoted))
        return promoted
    raise_if(
        [
            check_username(username),
            check_email(email),
            check_password(password, username=username, email=email),
        ]
    )
    password_hash = await deps.passwords.hash(password)
    async with deps.db.unit_of_work() as db:
        _raise_taken(await store.username_or_email_taken(db, username.lower(), email))
        return await store.add_user(
            db,
            User(
                username=username,
                username_key=username.lower(),
                email=email,
                password_hash=password_hash,
                first_name=first_name,
                last_name=last_name,
                role=Role.ADMIN.value,
                email_confirmed_at=utcnow(),
            ),
        )


# --- reads -------------------------------------------------------------------------------------


def user_cache(deps: Deps) -> LocalCache[User]:
    return deps.services.user_cache


def cached_user(deps: Deps, user_id: int) -> User | None:
    """The user if this process has it cached (shared: never modify it), else None."""
    return user_cache(deps).get(user_id)


async def users_changed(deps: Deps, *user_ids: int) -> None:
    await user_cache(deps).evict(list(user_ids))


async def load_users(deps: Deps, ids: list[int]) -> list[User | None]:
    """Batch function for the user loader, through the per-process cache. Cached rows are
    shared between requests: never modify them."""
    cache = user_cache(deps)
    found = {i: cache.get(i) for i in ids}
    missing = [i for i, u in found.items() if u is None]
    if missing:
        async with deps.db.reader() as db:
            for row in await store.users_by_ids(db, missing):
                assert row.id is not None
                found[row.id] = row
                cache.put(row.id, row)
    return [found.get(i) for i in ids]


async def account_activity(
    deps: Deps, viewer: Viewer, first: int, before: tuple[Any, str] | None
) -> list[AccountEvent]:
    return await account_events_page(viewer.user_id, first=first, before=before)


def _id(user: User) -> int:
    assert user.id is not None
    return user.id


class AccountLoaders(LoaderBase):
    @cached_property
    def user_by_id(self) -> DataLoader[int, User | None]:
        return self.batched(load_users)
