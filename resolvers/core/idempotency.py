"""`clientMutationId`: a retried create returns the first result instead of creating twice.

The key `iven:idem:<user>:<operation>:<client id>` holds "pending" while the first attempt runs,
then the created object's id for a day. Without Redis the mutation runs unprotected (logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from resolvers.core.deps import Deps
from resolvers.core.errors import CommonErrorCode, DomainError
from stores.redis import key

log = logging.getLogger("iven.idempotency")

T = TypeVar("T")
PENDING = "pending"
TTL_S = 24 * 3600


async def once(
    deps: Deps,
    user_id: int,
    operation: str,
    client_id: str | None,
    create: Callable[[], Awaitable[tuple[int, T]]],
    load: Callable[[int], Awaitable[T | None]],
) -> T:
    """Runs `create` (returning (id, result)) once per client id; later calls `load(id)`."""
    if not client_id:
        return (await create())[1]
    if len(client_id) > 100:
        raise DomainError(
            CommonErrorCode.INVALID_INPUT,
            "clientMutationId is at most 100 characters.",
            "clientMutationId",
        )
    k = key("idem", user_id, operation, client_id)
    try:
        claimed = await deps.redis.set(k, PENDING, nx=True, ex=TTL_S)
    except RedisError:
        log.warning("idempotency unavailable: Redis down", extra={"operation": operation})
        return (await create())[1]
    if not claimed:
        for _ in range(50):  # the first attempt may still be running
            value = await deps.redis.get(k)
            if value is not None and value != PENDING:
                found = await load(int(value))
                if found is not None:
                    return found
                break
            await asyncio.sleep(0.1)
        raise DomainError(
            CommonErrorCode.DUPLICATE_REQUEST,
            "This request is already being processed.",
            "clientMutationId",
        )
    try:
        object_id, result = await create()
    except BaseException:
        await deps.redis.delete(k)
        raise
    await deps.redis.set(k, str(object_id), ex=TTL_S)
    return result
