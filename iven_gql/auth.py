"""Passwords (argon2id off the event loop), access tokens (JWT HS256) and opaque secrets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from stores.db import utcnow

ALGORITHMS = ["HS256"]
# what the media URL key is derived with: a key of its own, so that nothing signed with the token
# key (a JWT, a keyed hash of a stored code) is ever a valid media URL signature, and back
MEDIA_KEY_LABEL = b"iven media v1"


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Verified against when the account does not exist, so both paths take the same time.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str
    expires_at: datetime
    jti: str


class InvalidToken(Exception):
    pass


class Tokens:
    def __init__(self, secret: str, access_ttl_s: int) -> None:
        self._secret = secret
        self._media_key = hmac.new(secret.encode(), MEDIA_KEY_LABEL, hashlib.sha256).digest()
        self.access_ttl = timedelta(seconds=access_ttl_s)

    def issue_access(self, user_id: int, session_id: str) -> tuple[str, datetime]:
        now = utcnow()
        expires = now + self.access_ttl
        claims = {
            "sub": str(user_id),
            "sid": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires.replace(microsecond=0)

    def decode_access(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=ALGORITHMS,
                options={"require": ["sub", "sid", "exp", "iat", "jti"]},
            )
            return AccessClaims(
                user_id=int(claims["sub"]),
                session_id=str(claims["sid"]),
                expires_at=datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
                jti=str(claims["jti"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from exc

    def media_signature(self, value: str) -> str:
        """HMAC-SHA256 of a signed file URL's payload, with the media key."""
        return hmac.new(self._media_key, value.encode(), hashlib.sha256).hexdigest()

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 for stored codes and opaque tokens (never stored in clear)."""
        return hmac.new(self._secret.encode(), value.encode(), hashlib.sha256).hexdigest()
