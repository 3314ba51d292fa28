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
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse, specified_rules
from graphql.language import DocumentNode
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema import Schema
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.types import ExecutionResult

from iven_gql.extensions import OperationRules, log_operation, shape_errors
from stores.db import statement_count


@dataclass(frozen=True)
class Prepared:
    document: DocumentNode
    operations: dict[str | None, tuple[str | None, OperationType]]


class PreparedDocuments:
    """The cache in front of the executor (iven_gql/executor.py): documents parsed and
    validated once, least recently used dropped first."""

    def __init__(self, schema: Schema, rules: OperationRules, maxsize: int = 512) -> None:
        self.schema = schema
        self.rules = rules
        self.maxsize = maxsize
        self._validation_rules = (*specified_rules, *rules.rules)
        self._documents: OrderedDict[str, Prepared] = OrderedDict()
        self._execute_kwargs = execution_context_class_kwargs(schema.execution_context_class)

    def _prepare(self, query: str) -> Prepared | None:
        try:
            document = parse(query, max_tokens=self.rules.max_tokens)
        except GraphQLError:
            return None
        if self.rules.validate(self.schema._schema, document, self._validation_rules):
            return None
        operations: dict[str | None, tuple[str | None, OperationType]] = {}
        definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for d in definitions:
            name = d.name.value if d.name else None
            operations[name] = (name, d.operation)
        if len(definitions) == 1:
            operations[None] = next(iter(operations.values()))
        return Prepared(document, operations)

    def get(self, query: str) -> Prepared | None:
        found = self._documents.get(query)
        if found is not None:
            self._documents.move_to_end(query)
            return found
        found = self._prepare(query)
        if found is not None:
            self._documents[query] = found
            if len(self._documents) > self.maxsize:
                self._documents.popitem(last=False)
        return found

    def clear(self) -> None:
        self._documents.clear()

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
        prepared = self.get(query)
        if prepared is None:
            return None
        operation = prepared.operations.get(operation_name)
        if operation is None or operation[1].value not in allowed:  # "query", "mutation"
            return None
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
        errors = shape_errors(result.errors, context.request_id) if result.errors else None
        context.operation_name = operation[0]
        log_operation(
            context, operation[0], operation[1].value, start, counter[0], len(errors or ())
        )
        return ExecutionResult(data=result.data, errors=errors)
