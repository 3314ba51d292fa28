"""Prepared documents: the executor runs a document it has already parsed and
validated without Strawberry's per-request extension machinery.

`Schema.execute` builds an execution context, an extension runner and a context manager per
hook for every request; for a small query such as `{ me { id username } }` that machinery cost
more than the execution itself (bench/bench_me.py). A document seen before and found valid (with
the same token limit and validation rules as the extension) is executed here directly with
graphql-core, with the same executor class and awaitable check Strawberry uses, and gets the same
treatment after: SQL statement count, shaped errors, one log line. Anything else (a new or
invalid document, an unknown operation name, a subscription) returns None and the caller takes
the standard path, where the extension reports the problem exactly as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from graphql import OperationDefinitionNode, OperationType
from graphql.language import DocumentNode
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema import Schema
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.types import ExecutionResult

from iven_gql.documents import Checked
from iven_gql.extensions import OperationRules, log_operation
from stores.db import statement_count


@dataclass(frozen=True)
class Prepared:
    document: DocumentNode
    operations: dict[str | None, tuple[str | None, OperationType]]


class PreparedDocuments:
    """The executor's view of the checked documents (iven_gql/documents.py, shared with the
    extension path and bounded there in entries and bytes): a valid one gets its operations."""

    def __init__(self, schema: Schema, rules: OperationRules) -> None:
        self.schema = schema
        self.rules = rules
        self._execute_kwargs = execution_context_class_kwargs(schema.execution_context_class)

    def checked(self, query: str) -> Checked | None:
        """The checked document if it is valid (None: a syntax error, a refusal, invalid)."""
        return _valid(self.rules.documents.check(self.schema._schema, query))

    def get(self, query: str) -> Prepared | None:
        checked = self.checked(query)
        if checked is None:
            return None
        if checked.prepared is None:
            checked.prepared = _prepare(checked.document)
        return checked.prepared  # type: ignore[no-any-return]

    def clear(self) -> None:
        self.rules.documents.clear()

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
        context: Any,
        allowed: frozenset[str],
    ) -> ExecutionResult | None:
        """The result, or None when the standard path must take this request."""
        if await self.rules.admit_new_document(context, query) is not None:
            return None  # the standard path refuses it, as it does every refusal
        checked = _valid(await self.rules.documents.check_async(self.schema._schema, query))
        if checked is None:
            return None
        if checked.prepared is None:
            checked.prepared = _prepare(checked.document)
        prepared: Prepared = checked.prepared
        operation = prepared.operations.get(operation_name)
        if operation is None or operation[1].value not in allowed:  # "query", "mutation"
            return None
        if await self.rules.admit(context, checked.measure.cost) is not None:
            return None  # the standard path refuses it, as it does every refusal
        start = time.perf_counter()
        counter = [0]
        token = statement_count.set(counter)
        try:
            result = self.schema._get_execute_function()(
                self.schema._schema,
                prepared.document,
                root_value=None,
                middleware=None,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context,
                is_awaitable=optimized_is_awaitable,
                operation_extensions=extensions,
                **self._execute_kwargs,
            )
            if optimized_is_awaitable(result):
                result = await result
        finally:
            statement_count.reset(token)
        errors = self.rules.shape(result.errors, context.request_id) if result.errors else None
        context.operation_name = operation[0]
        log_operation(
            context, operation[0], operation[1].value, start, counter[0], len(errors or ())
        )
        return ExecutionResult(
            data=result.data, errors=errors, extensions=self.rules.cost_report(checked)
        )


def _valid(checked: Checked) -> Checked | None:
    return None if checked.syntax_error is not None or checked.errors else checked


def _prepare(document: DocumentNode) -> Prepared:
    operations: dict[str | None, tuple[str | None, OperationType]] = {}
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for d in definitions:
        name = d.name.value if d.name else None
        operations[name] = (name, d.operation)
    if len(definitions) == 1:
        operations[None] = next(iter(operations.values()))
    return Prepared(document, operations)
