"""The cost of a document, known before anything else looks at it (issue 15).

One pass over the document, linear in its size: each fragment is measured once (memoised) and a
spread adds its measure, so `...F ...F` nested forty times costs forty steps, not 2^40. The pass
gives, for the document as it would be *after* fragment expansion:

- `fields`: field selections, the work of the validation rules (OverlappingFieldsCanBeMerged is
  quadratic in fields sharing a response name: `repeated` is the most of one name in one set);
- `depth`: fields with a selection nested inside one another (`{ me { id } }` is 1);
- `aliases` and `directives`;
- `cost`: each field 1; a field returning a list costs 1 + size × its selection, the size being
  `first`/`last`, else the default page (20) for connections and plain lists; `edges`/`nodes` of
  a connection are that connection's page, not another; introspection's lists, which the schema
  fixes, are sized from it (`types` is the number of types, `fields` the mean per type...,
  rounded up: the standard introspection query costs about what it answers); `nodes(ids:)`
  is × the number of ids. A size given by a variable counts the most it may be (100): the cost
  is the document's, the same whatever the variables, so it is computed once and cached.

Numbers saturate at `CAP` so a hostile document never builds huge integers. Nothing here raises on
an invalid document (unknown fields, fragments, cycles): validation reports those afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)
from graphql.type.definition import GraphQLInterfaceType, get_named_type
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

from schema.core import DEFAULT_PAGE, MAX_NODE_IDS, MAX_PAGE

CAP = 2**53
# nesting of selection sets and spreads the pass follows; deeper is refused as too deep
MAX_NESTING = 200


@dataclass(slots=True)
class Measure:
    fields: int = 0
    cost: int = 0
    depth: int = 0
    aliases: int = 0
    directives: int = 0
    repeated: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            min(self.fields + other.fields, CAP),
            min(self.cost + other.cost, CAP),
            max(self.depth, other.depth),
            min(self.aliases + other.aliases, CAP),
            min(self.directives + other.directives, CAP),
            max(self.repeated, other.repeated),
        )


EMPTY = Measure()
TOO_DEEP = Measure(depth=CAP)


def measure(schema: GraphQLSchema, document: DocumentNode) -> Measure:
    """The measure of every operation of the document together (and of fragments no operation
    uses: validation reads them too)."""
    return _Pass(schema, document).run()


@lru_cache(maxsize=8)
def introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The size of each introspection list of this schema (a mean where it depends on the owner)."""
    types = list(schema.type_map.values())
    fields = [
        f
        for t in types
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for f in t.fields.values()
    ]
    inputs = [f for t in types if isinstance(t, GraphQLInputObjectType) for f in t.fields.values()]
    values = [v for t in types if isinstance(t, GraphQLEnumType) for v in t.values.values()]
    interfaces = [
        i
        for t in types
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for i in t.interfaces
    ]
    possible = [p for t in types if isinstance(t, GraphQLUnionType) for p in t.types]
    possible += [i for i in interfaces]  # each implementation is a possible type of its interface
    args = [a for f in fields for a in f.args]
    directive_args = [a for d in schema.directives for a in d.args]

    def mean(items: Sequence[object], owners: int) -> int:
        return max(1, math.ceil(len(items) / max(owners, 1)))

    return {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): mean(fields, len(types)),
        ("__Type", "inputFields"): mean(inputs, len(types)),
        ("__Type", "enumValues"): mean(values, len(types)),
        ("__Type", "interfaces"): mean(interfaces, len(types)),
        ("__Type", "possibleTypes"): mean(possible, len(types)),
        ("__Field", "args"): mean(args, len(fields)),
        ("__Directive", "args"): mean(directive_args, len(schema.directives)),
        ("__Directive", "locations"): 1,
    }


class _Pass:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.introspection = introspection_sizes(schema)
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        self.operations: list[OperationDefinitionNode] = []
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                self.fragments.setdefault(definition.name.value, definition)
            elif isinstance(definition, OperationDefinitionNode):
                self.operations.append(definition)
        self.memo: dict[str, Measure] = {}

    def run(self) -> Measure:
        total = EMPTY
        for operation in self.operations:
            root = self.schema.get_root_type(operation.operation)
            total += self.selection_set(operation.selection_set, root, 0)
            total += Measure(directives=len(operation.directives or ()))
        for name in self.fragments:
            if name not in self.memo:
                total += self.fragment(name, 0)
        return total

    def fragment(self, name: str, nesting: int) -> Measure:
        found = self.memo.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None:
            return EMPTY
        self.memo[name] = EMPTY  # a cycle counts nothing here; validation refuses it
        type_ = self.schema.get_type(definition.type_condition.name.value)
        result = self.selection_set(definition.selection_set, type_, nesting + 1)
        result += Measure(directives=len(definition.directives or ()))
        self.memo[name] = result
        return result

    def selection_set(
        self, node: SelectionSetNode, parent: GraphQLNamedType | None, nesting: int
    ) -> Measure:
        if nesting > MAX_NESTING:
            return TOO_DEEP
        # plain locals: this loop runs once per selection of the document
        fields = cost = depth = aliases = directives = repeated = 0
        names: dict[str, int] = {}
        for selection in node.selections:
            if selection.directives:
                directives += len(selection.directives)
            inner: Measure | None = None
            if isinstance(selection, FieldNode):
                alias = selection.alias
                response_name = (alias or selection.name).value
                names[response_name] = names.get(response_name, 0) + 1
                if selection.selection_set is None:  # a leaf: 1
                    fields += 1
                    cost += 1
                    aliases += 1 if alias else 0
                    continue
                inner = self.field(selection, parent, nesting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                type_ = self.schema.get_type(condition.name.value) if condition else parent
                inner = self.selection_set(selection.selection_set, type_, nesting + 1)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value, nesting)
            if inner is not None:
                fields += inner.fields
                cost += inner.cost
                depth = max(depth, inner.depth)
                aliases += inner.aliases
                directives += inner.directives
                repeated = max(repeated, inner.repeated)
        if names:
            repeated = max(repeated, max(names.values()))
        return Measure(
            min(fields, CAP),
            min(cost, CAP),
            min(depth, CAP),
            min(aliases, CAP),
            min(directives, CAP),
            repeated,
        )

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, nesting: int) -> Measure:
        """A field with a selection."""
        name = node.name.value
        definition = None
        if name == "__typename":
            definition = TypeNameMetaFieldDef
        elif parent is self.schema.query_type and name in ("__schema", "__type"):
            definition = SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
        elif isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        type_ = get_named_type(definition.type) if definition is not None else None
        inner = self.selection_set(node.selection_set, type_, nesting + 1)  # type: ignore[arg-type]
        size = self.size(node, parent, definition.type if definition is not None else None)
        return Measure(
            fields=min(1 + inner.fields, CAP),
            cost=min(1 + size * inner.cost, CAP),
            depth=min(inner.depth + 1, CAP),
            aliases=min((1 if node.alias else 0) + inner.aliases, CAP),
            directives=inner.directives,
            repeated=inner.repeated,
        )

    def size(
        self, node: FieldNode, parent: GraphQLNamedType | None, type_: GraphQLOutputType | None
    ) -> int:
        """How many times the field's selection may be answered."""
        arguments = {a.name.value: a.value for a in node.arguments or ()}
        if node.name.value == "nodes" and parent is self.schema.query_type and "ids" in arguments:
            return self.list_length(arguments["ids"])
        pages = [self.page(arguments[a]) for a in ("first", "last") if a in arguments]
        if pages:
            return max(pages)
        if _is_connection(get_named_type(type_) if type_ is not None else None):
            return DEFAULT_PAGE
        if _is_list(type_):
            fixed = self.introspection.get((parent.name if parent else "", node.name.value))
            if fixed is not None:
                return fixed
            in_connection = _is_connection(parent) and node.name.value in ("edges", "nodes")
            return 1 if in_connection else DEFAULT_PAGE
        return 1

    @staticmethod
    def page(value: ValueNode) -> int:
        if isinstance(value, IntValueNode):
            try:
                return max(0, min(int(value.value), CAP))
            except ValueError:
                return MAX_PAGE
        # a variable may be anything up to the maximum; null (or a wrong value) is the default
        return MAX_PAGE if isinstance(value, VariableNode) else DEFAULT_PAGE

    @staticmethod
    def list_length(value: ValueNode) -> int:
        if isinstance(value, ListValueNode):
            return len(value.values)
        return MAX_NODE_IDS if isinstance(value, VariableNode) else 1  # one id alone: a list of one


def _is_list(type_: object) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _is_connection(type_: object) -> bool:
    """A Relay connection: edges and pageInfo."""
    return isinstance(type_, GraphQLObjectType) and {"edges", "pageInfo"} <= type_.fields.keys()
