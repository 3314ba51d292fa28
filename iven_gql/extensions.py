"""Schema extensions: limits, caches, error shaping/masking and the per-operation log line.

Strawberry builds extensions per request from the factories given here (never shared
instances); what they share (the checked documents, the cost budget) is in `OperationRules`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from iven_gql.config import Settings
from iven_gql.documents import Checked, CheckedDocuments, hide_suggestions
from resolvers.core.errors import BadRequest, Forbidden, NotFound, Unauthenticated
from stores.db import statement_count
from stores.redis import CostBudget

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
    """Everything per operation in one extension (each extension costs per hook): the checked
    document (parse, cost pass, validation: iven_gql/documents.py), the cost budget, error
    shaping, `extensions.cost`, and one JSON log line with request id, operation, viewer,
    duration and SQL statements."""

    def __init__(self, *, rules: OperationRules) -> None:
        self.rules = rules
        self.checked: Checked | None = None

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
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
                result.errors = self.rules.shape(errors, request_id)  # type: ignore[union-attr]
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

    async def on_parse(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        refused = await self.rules.admit_new_document(ctx.context, ctx.query or "")
        if refused is not None:
            raise refused
        checked = await self.rules.documents.check_async(ctx.schema._schema, ctx.query or "")
        error = checked.syntax_error
        if error is not None:  # raised as the parser raised it (a copy: the cached one stays)
            raise GraphQLError(error.message, source=error.source, positions=error.positions)
        self.checked = checked
        ctx.graphql_document = checked.document
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        checked = self.checked
        assert checked is not None
        errors = checked.errors
        if not errors:
            refused = await self.rules.admit(ctx.context, checked.measure.cost)
            errors = [refused] if refused is not None else []
        ctx.pre_execution_errors = list(errors)
        yield

    def get_results(self) -> dict[str, Any]:
        return self.rules.cost_report(self.checked) if self.checked is not None else {}

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a subscription stream."""
        if getattr(result, "errors", None):
            request_id = getattr(self.execution_context.context, "request_id", "-")
            result.errors = self.rules.shape(result.errors, request_id)
        yield None


def _operation_type(ctx: Any) -> str | None:
    try:
        return str(ctx.operation_type.value)
    except Exception:  # noqa: BLE001 - unparseable documents have no type
        return None


def _subject(context: Any) -> str:
    """Whose budgets a request spends: the viewer's, or the client address's when anonymous."""
    viewer = getattr(context, "viewer", None)
    if viewer is not None:
        return f"user:{viewer.user_id}"
    client = getattr(context, "client", None)
    return f"ip:{client.ip if client else ''}"


def _rate_limited(message: str, retry: int) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "RATE_LIMITED", "retryAfterSeconds": retry})


class OperationRules:
    """What every operation goes through, on both HTTP paths (the extension and `Prepared`) and
    over WebSocket: one cache of checked documents, the cost limits and the cost budget."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.documents = CheckedDocuments(settings)
        self.suggestions = settings.introspection_enabled
        self._budget: CostBudget | None = None
        self._new_documents: CostBudget | None = None

    @classmethod
    def of(cls, settings: Settings) -> OperationRules:
        return cls(settings)

    def shape(self, errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
        shaped = shape_errors(errors, request_id)
        if not self.suggestions:
            hide_suggestions(shaped)
        return shaped

    def cost_report(self, checked: Checked) -> dict[str, Any]:
        """`extensions.cost` of an answer (as GitHub's and Shopify's APIs report it)."""
        return {"cost": {"requested": checked.measure.cost, "limit": self.settings.max_query_cost}}

    async def admit(self, context: Any, cost: int) -> GraphQLError | None:
        """Charges the cost to the viewer's (or the client address's) budget of the minute:
        None, or RATE_LIMITED with the seconds to wait when it is spent."""
        deps = getattr(context, "deps", None)
        if deps is None:  # a schema run without a server (tests of the schema alone)
            return None
        budget = self._budget
        if budget is None or budget._client is not deps.redis:
            budget = self._budget = CostBudget(deps.redis, self.settings.cost_budget_per_minute)
        retry = await budget.charge(_subject(context), cost)
        if not retry:
            return None
        return _rate_limited(f"Query cost budget spent. Try again in {retry} seconds.", retry)

    async def admit_new_document(self, context: Any, query: str) -> GraphQLError | None:
        """A document the cache does not hold yet is parsed and checked first, tens of
        milliseconds of interpreter time for a long one whatever its cost turns out to be: its
        length is charged, before any parsing, to the client's allowance of new document bytes
        per minute. A flood of unique documents then gets cheap RATE_LIMITED answers; documents
        seen before (an app's own) are free."""
        if self.documents.holds(query):
            return None
        deps = getattr(context, "deps", None)
        if deps is None:
            return None
        budget = self._new_documents
        if budget is None or budget._client is not deps.redis:
            budget = self._new_documents = CostBudget(
                deps.redis, self.settings.new_document_bytes_per_minute
            )
        retry = await budget.charge(f"new:{_subject(context)}", len(query))
        if not retry:
            return None
        return _rate_limited(f"Too many new documents. Try again in {retry} seconds.", retry)

    @property
    def new_documents(self) -> CostBudget | None:
        return self._new_documents

    @property
    def budget(self) -> CostBudget | None:
        return self._budget

    def extensions(self) -> list[Callable[[], SchemaExtension]]:
        return [partial(IvenOperation, rules=self)]


def build_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    return OperationRules.of(settings).extensions()
