"""Schema extensions: limits, caches, error shaping/masking and the per-operation log line.

Strawberry builds extensions per request from the factories given here (never shared
instances). Validation rules are created once so the validation cache can hit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from iven_gql.config import Settings
from resolvers.core.errors import BadRequest, Forbidden, NotFound, Unauthenticated
from stores.db import statement_count

log = logging.getLogger("iven.graphql")

EXPECTED = (Unauthenticated, Forbidden, NotFound, BadRequest)


def _classify(error: GraphQLError) -> str | None:
    original = error.original_error
    if original is None:
        if error.path is None:
            message = error.message
            if message.startswith("Syntax Error") or "token limit" in message.lower():
                return "GRAPHQL_PARSE_FAILED"
            return "GRAPHQL_VALIDATION_FAILED"
        return "BAD_USER_INPUT"  # e.g. a non-null argument given null at execution
    if isinstance(original, EXPECTED):
        return original.code
    if isinstance(original, GraphQLError):
        return "BAD_USER_INPUT" if error.path is not None else _classify(original)
    return None


def shape_errors(errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
    """Every error gets `extensions.code`; unexpected ones are masked to the request id."""
    shaped = []
    for error in errors:
        if (error.extensions or {}).get("code"):
            shaped.append(error)
            continue
        code = _classify(error)
        if code is None:
            log.error(
                "internal error",
                exc_info=error.original_error,
                extra={"request_id": request_id, "path": error.path},
            )
            shaped.append(
                GraphQLError(
                    "Internal server error.",
                    nodes=error.nodes,
                    path=error.path,
                    extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
                )
            )
        else:
            extensions = dict(error.extensions or {})
            extensions["code"] = code
            shaped.append(
                GraphQLError(
                    error.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    extensions=extensions,
                )
            )
    return shaped


def log_operation(
    context: Any,
    operation_name: str | None,
    operation_type: str | None,
    start: float,
    statements: int,
    errors: int,
) -> None:
    """The one JSON log line per operation."""
    if log.isEnabledFor(logging.INFO):
        viewer = getattr(context, "viewer", None)
        log.info(
            "operation",
            extra={
                "request_id": getattr(context, "request_id", "-"),
                "operation": operation_name,
                "operation_type": operation_type,
                "viewer_id": viewer.user_id if viewer is not None else None,
                "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                "statements": statements,
                "errors": errors,
            },
        )


class IvenOperation(SchemaExtension):
    """Everything per operation in one extension (each extension costs per hook):
    token limit, extra validation rules, cached parse and validation, error shaping, and one
    JSON log line with request id, operation, viewer, duration and SQL statements."""

    def __init__(
        self,
        *,
        max_tokens: int,
        rules: tuple[Any, ...],
        parse: Callable[..., Any],
        validate: Callable[..., Any],
    ) -> None:
        self.max_tokens = max_tokens
        self.rules = rules
        self.parse = parse
        self.validate = validate

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = self.max_tokens
        ctx.validation_rules = ctx.validation_rules + self.rules
        start = time.perf_counter()
        counter = [0]
        token = statement_count.set(counter)
        try:
            yield
        finally:
            statement_count.reset(token)
            context = ctx.context
            request_id = getattr(context, "request_id", "-")
            result = ctx.result
            errors = getattr(result, "errors", None)
            if errors:
                result.errors = shape_errors(errors, request_id)  # type: ignore[union-attr]
            if context is not None:
                context.operation_name = ctx.operation_name
            log_operation(
                context,
                ctx.operation_name,
                _operation_type(ctx),
                start,
                counter[0],
                len(errors or ()),
            )

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.graphql_document = self.parse(ctx.query, **ctx.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.pre_execution_errors = self.validate(
            ctx.schema._schema, ctx.graphql_document, ctx.validation_rules
        )
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription stream."""
        if getattr(result, "errors", None):
            request_id = getattr(self.execution_context.context, "request_id", "-")
            result.errors = shape_errors(result.errors, request_id)
        yield None


def _operation_type(ctx: Any) -> str | None:
    try:
        return str(ctx.operation_type.value)
    except Exception:  # noqa: BLE001 - unparseable documents have no type
        return None


@dataclass(frozen=True)
class OperationRules:
    """What every operation goes through, on both paths (the extension and `Prepared`)."""

    max_tokens: int
    rules: tuple[Any, ...]
    parse: Callable[..., Any]
    validate: Callable[..., Any]

    @classmethod
    def of(cls, settings: Settings) -> OperationRules:
        rules: list[Any] = [
            depth_validator(settings.max_depth, None),
            alias_validator(settings.max_aliases),
        ]
        if not settings.introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        # Strawberry's shared LRU caches (keyed by document text / parsed document and rules)
        return cls(
            max_tokens=settings.max_tokens,
            rules=tuple(rules),
            parse=ParserCache(maxsize=1024).cached_parse_document,
            validate=ValidationCache(maxsize=1024).cached_validate_document,
        )

    def extensions(self) -> list[Callable[[], SchemaExtension]]:
        return [
            partial(
                IvenOperation,
                max_tokens=self.max_tokens,
                rules=self.rules,
                parse=self.parse,
                validate=self.validate,
            )
        ]


def build_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    return OperationRules.of(settings).extensions()
