"""Rate limits of use cases: a spec "count/seconds" (validated by Settings at start) and the
check that turns a spent budget into RATE_LIMITED with the seconds to wait."""

from __future__ import annotations

from resolvers.core.deps import Deps
from resolvers.core.errors import CommonErrorCode, DomainError


def parse_rate(spec: str) -> tuple[int, int]:
    """ "5/900" → (5, 900); anything else is a ValueError naming the spec."""
    count, sep, seconds = spec.partition("/")
    try:
        limit, window = int(count), int(seconds)
    except ValueError:
        raise ValueError(f"rate {spec!r} is not 'count/seconds'") from None
    if not sep or limit < 1 or window < 1:
        raise ValueError(f"rate {spec!r} needs a positive count and window")
    return limit, window


async def rate_limit(
    deps: Deps, scope: str, subject: str, spec: str, field: str | None = None, *, cost: int = 1
) -> None:
    """`cost` attempts at once (a batch counts each of its items); a refusal counts none."""
    limit, window = parse_rate(spec)
    decision = await deps.rate_limiter.hit(scope, subject, limit, window, cost)
    if not decision.allowed:
        raise DomainError(
            CommonErrorCode.RATE_LIMITED,
            f"Too many attempts. Try again in {decision.retry_after_s} seconds.",
            field,
            retry_after_s=decision.retry_after_s,
        )
