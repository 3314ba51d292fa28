"""`clientMutationId`: a retried create returns the first result instead of creating twice.

The key (viewer, operation, client key) is a row of MySQL's `idempotency_keys`
(stores/idempotency.py), written by the use case's own unit of work, after its effect and before
its COMMIT: the key exists exactly when the effect does. So a retry after any fault — Redis down,
a process killed mid-request, a connection lost after COMMIT — finds the first result, and a
request that died before COMMIT left nothing that blocks its key. Two attempts at once: both may
run, but only one commits (the other meets the unique key, rolls back and answers the first
result).

The same key with different arguments is a client bug: it is refused (DUPLICATE_REQUEST) rather
than answered with the result of another request.

Creates in the document store use a unique index on the document instead (chat's `clientId`,
media's content hash, an album's key): there is no transaction to share there.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from resolvers.core.deps import Deps
from resolvers.core.errors import CommonErrorCode, DomainError
from stores import idempotency as store

T = TypeVar("T")
MAX_KEY_CHARS = 100
# raised by a create that met its twin's effect (a unique value derived from the same key)
KeyTaken = store.KeyTaken


class Remember:
    """Handed to a create: `await remember(db, id, ...)` inside its unit of work records the key
    with the effect. Without a client key it records nothing."""

    def __init__(self, row: store.IdempotencyKey | None) -> None:
        self._row = row

    async def __call__(self, db: AsyncSession, *ids: int) -> None:
        if self._row is None:
            return
        self._row.result = ",".join(str(i) for i in ids)
        await store.record(db, self._row)


NOTHING = Remember(None)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def request_digest(arguments: Sequence[Any]) -> str:
    """The request's arguments, as the use case got them (dataclasses, enums, datetimes and
    numbers have a stable repr)."""
    return digest(repr(tuple(arguments)))


def key_of(client_id: str) -> str:
    if not client_id.strip() or len(client_id) > MAX_KEY_CHARS:
        raise DomainError(
            CommonErrorCode.INVALID_INPUT,
            f"clientMutationId is 1 to {MAX_KEY_CHARS} characters.",
            "clientMutationId",
        )
    return digest(client_id)


def secret(deps: Deps, user_id: int, client_id: str | None, purpose: str) -> str:
    """A secret a create hands out (an invite link's token) that its retry must hand out again:
    with a client key, derived from it with the server's key (nobody else can compute it);
    without, random."""
    if client_id is None:
        return secrets.token_urlsafe(24)
    return deps.tokens.keyed_hash(f"{purpose}:{user_id}:{key_of(client_id)}")[:32]


def document_key(user_id: int, client_id: str) -> str:
    """The unique key a document created with a client key carries."""
    return f"{user_id}:{key_of(client_id)}"


def same_request(first_hash: str | None, request_hash: str) -> None:
    """A key answers only the request it was first given with."""
    if first_hash != request_hash:
        raise DomainError(
            CommonErrorCode.DUPLICATE_REQUEST,
            "This clientMutationId was already used for a different request.",
            "clientMutationId",
        )


async def once(
    deps: Deps,
    user_id: int,
    operation: str,
    client_id: str | None,
    arguments: Sequence[Any],
    create: Callable[[Remember], Awaitable[T]],
    load: Callable[[list[int]], Awaitable[T | None]],
) -> T:
    """Runs `create` once per client key: it must call `remember(db, *ids)` in its unit of work
    with the ids `load` takes back. Later calls with the key answer `load(ids)`."""
    if client_id is None:
        return await create(NOTHING)
    key_hash = key_of(client_id)
    request_hash = request_digest(arguments)
    first = await _first(deps, user_id, operation, key_hash)
    if first is None:
        row = store.IdempotencyKey(
            user_id=user_id,
            operation=operation,
            key_hash=key_hash,
            request_hash=request_hash,
            result="",
        )
        try:
            return await create(Remember(row))
        except store.KeyTaken:  # a twin committed first: this attempt rolled back
            first = await _first(deps, user_id, operation, key_hash)
            if first is None:  # the twin's key expired in between
                raise DomainError(
                    CommonErrorCode.DUPLICATE_REQUEST,
                    "This clientMutationId was used too long ago; use a new one.",
                    "clientMutationId",
                ) from None
    return await _replay(first, request_hash, load)


async def _first(
    deps: Deps, user_id: int, operation: str, key_hash: str
) -> store.IdempotencyKey | None:
    async with deps.db.reader() as db:
        return await store.find(db, user_id, operation, key_hash)


async def _replay(
    first: store.IdempotencyKey,
    request_hash: str,
    load: Callable[[list[int]], Awaitable[T | None]],
) -> T:
    same_request(first.request_hash, request_hash)
    found = await load([int(i) for i in first.result.split(",") if i])
    if found is None:
        raise DomainError(
            CommonErrorCode.DUPLICATE_REQUEST,
            "This request was already carried out, and what it created is gone.",
            "clientMutationId",
        )
    return found


async def forget_expired(deps: Deps) -> int:
    """Deletes keys past their keeping time (a periodic job)."""
    async with deps.db.unit_of_work() as db:
        return await store.delete_expired(db, deps.clock())
