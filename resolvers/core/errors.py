"""Failures a use case can report. The schema layer turns them into payload errors or top-level
GraphQL errors with `extensions.code`; anything else is an internal error (masked)."""

from __future__ import annotations

from enum import StrEnum


class CommonErrorCode(StrEnum):
    """Codes the kit raises; each domain's payload enum carries those its use cases can meet."""

    REQUIRED = "REQUIRED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TITLE = "INVALID_TITLE"
    VALUE_TOO_LONG = "VALUE_TOO_LONG"
    STALE = "STALE"
    RATE_LIMITED = "RATE_LIMITED"
    DUPLICATE_REQUEST = "DUPLICATE_REQUEST"


class DomainError(Exception):
    """An expected failure: returned as data in the mutation's `errors`, nothing changed."""

    def __init__(
        self,
        code: StrEnum,
        message: str,
        field: list[str] | str | None = None,
        *,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = [field] if isinstance(field, str) else field
        self.retry_after_s = retry_after_s


class DomainErrors(Exception):
    """Several validation failures at once (e.g. every bad field of a form)."""

    def __init__(self, errors: list[DomainError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class Unauthenticated(Exception):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "You must be signed in.") -> None:
        super().__init__(message)


class Forbidden(Exception):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)


class NotFound(Exception):
    code = "NOT_FOUND"

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__(message)


class BadRequest(Exception):
    """Argument validation outside of a mutation payload (e.g. page size over the maximum)."""

    code = "BAD_USER_INPUT"


class Unavailable(Exception):
    """A store the operation needs cannot be reached right now (an outage, not a bug): a
    top-level error the client retries after a short wait, never an internal error. It carries
    its `extensions`, so every transport reports the same code."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(
        self,
        message: str = "A service this needs is unavailable for now; try again shortly.",
        retry_after_s: int = 5,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.extensions = {"code": self.code, "retryAfterSeconds": retry_after_s}


class StreamErrorCode(StrEnum):
    """Why a live stream (a subscription) ended, when a top-level error says so."""

    CURSOR_TOO_OLD = "CURSOR_TOO_OLD"


class StreamEnded(Exception):
    """Why a live stream ended, for a reason of its domain (e.g. CURSOR_TOO_OLD): a top-level
    error whose `extensions` carry the code, on every transport."""

    def __init__(self, code: StrEnum, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.extensions = {"code": str(code)}
