"""Documents checked once: parsed, measured (iven_gql/cost.py) and validated, kept in one cache
that both request paths and the WebSocket share, bounded in entries and in bytes.

The measure runs before any validation rule: a document over a limit is refused with
QUERY_TOO_COMPLEX before graphql-core's rules (OverlappingFieldsCanBeMerged is quadratic) see it.
A parsed document weighs about 450 bytes a token (its tokens and locations), 100-300 times its
text: the byte bound counts that, so unique documents cannot pin memory (issue 15, attack 5).
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLSchema, parse, specified_rules, validate
from graphql.language import DocumentNode
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from iven_gql.config import Settings
from iven_gql.cost import Measure, measure

AST_BYTES_PER_TOKEN = 450  # measured with tracemalloc on graphql-core 3.3
THREAD_FROM_BYTES = 2_000  # a new document this long is checked off the event loop
NO_DOCUMENT = DocumentNode(definitions=())
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


@dataclass(frozen=True)
class Limits:
    depth: int
    aliases: int
    fields: int
    repeated: int
    directives: int
    cost: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            depth=settings.max_depth,
            aliases=settings.max_aliases,
            fields=settings.max_fields,
            repeated=settings.max_repeated_fields,
            directives=settings.max_directives,
            cost=settings.max_query_cost,
        )

    def refusal(self, found: Measure) -> GraphQLError | None:
        """QUERY_TOO_COMPLEX with the cost and the limit, or None when within every limit."""
        over = [
            (f"exceeds maximum operation depth of {self.depth}", found.depth, self.depth),
            (f"has more than {self.aliases} aliases", found.aliases, self.aliases),
            (f"selects more than {self.fields} fields", found.fields, self.fields),
            (
                f"selects one field more than {self.repeated} times in a selection",
                found.repeated,
                self.repeated,
            ),
            (f"has more than {self.directives} directives", found.directives, self.directives),
            (f"costs more than {self.cost}", found.cost, self.cost),
        ]
        for what, value, limit in over:
            if value > limit:
                return GraphQLError(
                    f"Query is too complex: the document {what}.",
                    extensions={
                        "code": QUERY_TOO_COMPLEX,
                        "cost": found.cost,
                        "limit": self.cost,
                        **({} if limit == self.cost else {"value": value, "maximum": limit}),
                    },
                )
        return None


def hide_suggestions(errors: list[GraphQLError]) -> None:
    """graphql-core's "Did you mean …" hints name fields, types and enum values: they are a
    schema map, shown only where introspection is (attack 16)."""
    for error in errors:
        if "Did you mean" in error.message:
            error.message = SUGGESTION.sub("", error.message)


@dataclass
class Checked:
    """A parsed document, its measure, and its refusal or validation errors (empty: valid),
    or the syntax error that stopped its parse.
    `prepared` and `plans` hold what the executor and the WebSocket derive from it, so they
    leave the cache with it."""

    document: DocumentNode
    measure: Measure
    errors: list[GraphQLError]
    weight: int
    syntax_error: GraphQLError | None = None
    prepared: Any = None
    plans: dict[str | None, Any] = field(default_factory=dict)


def _tokens(document: DocumentNode) -> int:
    count = 0
    token = document.loc.start_token if document.loc else None
    while token is not None:
        count += 1
        token = token.next
    return count


class CheckedDocuments:
    """query text → Checked, least recently used dropped first, within entries and bytes."""

    def __init__(self, settings: Settings) -> None:
        self.max_tokens = settings.max_tokens
        self.limits = Limits.of(settings)
        self.suggestions = settings.introspection_enabled
        rules: list[type[ASTValidationRule]] = [*specified_rules]
        if not settings.introspection_enabled:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = (*rules, MaybeNullValidationRule, OneOfInputValidationRule)
        self.max_entries = settings.document_cache_entries
        self.max_bytes = settings.document_cache_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, Checked] = OrderedDict()

    def holds(self, query: str) -> bool:
        return query in self._entries

    def check(self, schema: GraphQLSchema, query: str) -> Checked:
        """The checked document (a syntax error, or too many tokens, is its `syntax_error`)."""
        found = self._entries.get(query)
        if found is not None:
            self._entries.move_to_end(query)
            return found
        checked = self._new(schema, query)
        self._keep(query, checked)
        return checked

    async def check_async(self, schema: GraphQLSchema, query: str) -> Checked:
        """`check`, a new long document checked in a thread: its parse and validation take
        tens of milliseconds, during which the event loop still gets turns (the interpreter
        switches threads every few milliseconds) to answer everyone else."""
        found = self._entries.get(query)
        if found is not None or len(query) < THREAD_FROM_BYTES:
            return self.check(schema, query)
        checked = await asyncio.to_thread(self._new, schema, query)
        if query not in self._entries:  # checked meanwhile by another request
            self._keep(query, checked)
        return self._entries.get(query, checked)

    def _new(self, schema: GraphQLSchema, query: str) -> Checked:
        """Touches no shared state: it may run in a thread."""
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            return Checked(NO_DOCUMENT, Measure(), [], len(query) * 2, syntax_error=error)
        found_measure = measure(schema, document)
        refusal = self.limits.refusal(found_measure)
        if refusal is not None:
            errors = [refusal]
        else:
            errors = validate(schema, document, self.rules)
            if not self.suggestions:
                hide_suggestions(errors)
        weight = _tokens(document) * AST_BYTES_PER_TOKEN + len(query)
        return Checked(document, found_measure, errors, weight)

    def _keep(self, query: str, checked: Checked) -> None:
        if checked.weight > self.max_bytes:
            return
        self._entries[query] = checked
        self.bytes += checked.weight
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= dropped.weight

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)
