"""The one executor of an HTTP GraphQL operation, for both request paths: the prepared-document
cache first (iven_gql/prepared.py), Strawberry's `Schema.execute` for anything the cache does
not hold, and Strawberry's refusals turned into transport errors."""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from iven_gql.extensions import OperationRules
from iven_gql.prepared import PreparedDocuments
from iven_gql.transport import SUBSCRIPTION_TRANSPORT, RefusalCode, TransportError

# Subscriptions go over WebSocket, or Server-Sent Events (Strawberry's stream path); a plain HTTP
# request runs queries, and over POST mutations (a GET must never change anything).
ALLOWED: dict[str, frozenset[OperationType]] = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
ALLOWED_NAMES = {method: frozenset(t.value for t in types) for method, types in ALLOWED.items()}


class Executor:
    def __init__(self, schema: Schema, rules: OperationRules) -> None:
        self.schema = schema
        self.prepared = PreparedDocuments(schema, rules)

    async def execute(self, data: GraphQLRequestData, context: Any, method: str) -> ExecutionResult:
        if data.query:
            result = await self.prepared.execute(
                data.query,
                data.variables,
                data.operation_name,
                data.extensions,
                context,
                ALLOWED_NAMES[method],
            )
            if result is not None:
                return result
        try:
            return await self.schema.execute(
                data.query,
                variable_values=data.variables,
                context_value=context,
                operation_name=data.operation_name,
                allowed_operation_types=ALLOWED[method],
                operation_extensions=data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from None
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise TransportError(
                    400,
                    SUBSCRIPTION_TRANSPORT,
                    RefusalCode.SUBSCRIPTION_TRANSPORT,
                ) from None
            raise HTTPException(400, exc.as_http_error_reason(method)) from None
        except MissingQueryError:
            raise HTTPException(400, "No GraphQL query found in the request") from None
