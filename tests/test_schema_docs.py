"""The documented schema (issue 17): graphql-schema-linter with its default rules (only the
alphabetical-order rules left out, .graphql-schema-linterrc) finds nothing in the schema the code
builds; the custom scalars carry `@specifiedBy`; every connection and edge names its item type.

The linter is the pinned one of tests/js (tests/support/node.py; skipped without Node.js)."""

from __future__ import annotations

import decimal
import json
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    TypeDefinitionNode,
    parse,
)
from graphql.error import GraphQLError

from schema import build_schema, export_sdl
from schema.scalars import DECIMAL_SPEC_URL
from tests.support.node import node_tools

ROOT = Path(__file__).resolve().parent.parent
SHOWN = 30

# The kit's part of the schema (schema/core.py, schema/scalars.py, schema/__init__.py): every
# connection and edge, the paging and error types, the scalars, the root types' own
# descriptions and the `node`/`nodes` lookups. The domains own the rest of the root fields.
KIT_TYPES = {"PageInfo", "UserError", "Node", "DateTime", "Decimal", "JSON", "Upload"}
ROOT_TYPES = {"Query", "Mutation", "Subscription"}
KIT_ROOT_FIELDS = {("Query", "node"), ("Query", "nodes")}
SPECIFIED_BY = {
    "DateTime": "https://scalars.graphql.org/andimarek/date-time",
    "Decimal": DECIMAL_SPEC_URL,
    "JSON": (
        "https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf"
    ),
    "Upload": "https://github.com/jaydenseric/graphql-multipart-request-spec",
}


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str
    line: int
    type_name: str | None
    field_name: str | None

    def __str__(self) -> str:
        return f"{self.line}: [{self.rule}] {self.message}"


@cache
def _built() -> tuple[Any, str]:
    schema = build_schema()
    return schema, export_sdl(schema)


def _sdl() -> str:
    return _built()[1]


def _graphql_schema() -> GraphQLSchema:
    return _built()[0]._schema  # type: ignore[no-any-return]


def _scalar(name: str) -> GraphQLScalarType:
    scalar = _graphql_schema().type_map[name]
    assert isinstance(scalar, GraphQLScalarType)
    return scalar


def _object(name: str) -> GraphQLObjectType:
    found = _graphql_schema().type_map[name]
    assert isinstance(found, GraphQLObjectType)
    return found


@cache
def _problems() -> tuple[Problem, ...]:
    """The linter's findings on the SDL the code builds (the checked-in schema/schema.graphql is
    kept equal to it by tests/test_server.py), each placed in its type and field."""
    js = node_tools()
    sdl = _sdl()
    done = subprocess.run(
        [str(js / "node_modules/.bin/graphql-schema-linter"), "-c", str(ROOT), "-f", "json", "-s"],
        input=sdl,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # exit 1 means "problems found"; anything else (or no JSON) is the linter failing
    assert done.returncode in (0, 1), f"linter failed ({done.returncode}):\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    where = _locator(parse(sdl))
    return tuple(
        Problem(e["rule"], e["message"], e["location"]["line"], *where(e["location"]["line"]))
        for e in report["errors"]
    )


def _locator(document: DocumentNode) -> Any:
    spans: list[tuple[int, int, str, list[tuple[int, int, str]]]] = []
    for definition in document.definitions:
        if not isinstance(definition, TypeDefinitionNode) or definition.loc is None:
            continue
        fields = [
            (f.loc.start_token.line, f.loc.end_token.line, f.name.value)
            for f in getattr(definition, "fields", None) or ()
            if f.loc is not None
        ]
        spans.append(
            (
                definition.loc.start_token.line,
                definition.loc.end_token.line,
                definition.name.value,
                fields,
            )
        )

    def where(line: int) -> tuple[str | None, str | None]:
        for start, end, name, fields in spans:
            if start <= line <= end:
                field = next((f for s, e, f in fields if s <= line <= e), None)
                return name, field
        return None, None

    return where


def _connection_types() -> set[str]:
    """The specialisations of schema/core.py's Connection and Edge."""
    schema = _built()[0]
    names = set()
    for name in schema._schema.type_map:
        definition = schema.get_type_by_name(name)
        generic = getattr(getattr(definition, "concrete_of", None), "name", None)
        if generic in ("Connection", "Edge"):
            names.add(name)
    return names


def _is_kit(problem: Problem, connections: set[str]) -> bool:
    if problem.type_name in KIT_TYPES or problem.type_name in connections:
        return True
    if problem.type_name in ROOT_TYPES:
        # the root type's own description, or the kit's own root fields
        return problem.field_name is None or (problem.type_name, problem.field_name) in (
            KIT_ROOT_FIELDS
        )
    return False


def _report(problems: list[Problem]) -> str:
    shown = "\n".join(str(p) for p in problems[:SHOWN])
    more = f"\n… and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return f"{len(problems)} problem(s) from graphql-schema-linter:\n{shown}{more}"


def test_linter_finds_nothing_in_the_schema() -> None:
    problems = list(_problems())
    assert not problems, _report(problems)


def test_linter_finds_nothing_in_the_kit() -> None:
    """Connections, edges, paging, UserError, scalars and the roots' own texts (the domains'
    modules are checked by the test above)."""
    connections = _connection_types()
    assert {"EventConnection", "EventEdge", "MessageConnection"} <= connections
    problems = [p for p in _problems() if _is_kit(p, connections)]
    assert not problems, _report(problems)


def test_linter_reports_a_missing_description() -> None:
    """The check is live: the same run on a type without a description finds it."""
    js = node_tools()
    done = subprocess.run(
        [str(js / "node_modules/.bin/graphql-schema-linter"), "-c", str(ROOT), "-f", "json", "-s"],
        input='"""The root."""\ntype Query {\n  """A field."""\n  a: Int\n}\n\ntype Lost {\n'
        '  """A field."""\n  b: Int\n}\n',
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    rules = {(e["rule"], e["location"]["line"]) for e in json.loads(done.stdout)["errors"]}
    assert ("types-have-descriptions", 7) in rules, done.stdout


def test_each_connection_and_edge_names_its_item() -> None:
    event_page, event_edge = _object("EventConnection"), _object("EventEdge")
    assert "A page of `Event` items" in (event_page.description or "")
    assert "`Event` items" in (event_page.fields["nodes"].description or "")
    assert "One `Event` in a page" in (event_edge.description or "")
    assert "The `Event` at this position" in (event_edge.fields["node"].description or "")
    assert "A page of `Message` items" in (_object("MessageConnection").description or "")
    assert "A page of `Event` items" in _sdl()


def test_custom_scalars_are_specified_and_described() -> None:
    for name, url in SPECIFIED_BY.items():
        scalar = _scalar(name)
        assert scalar.specified_by_url == url, name
        assert scalar.description and len(scalar.description) > 40, name
        assert f'scalar {name} @specifiedBy(url: "{url}")' in _sdl()


@pytest.mark.parametrize("text", ["12.50", "-3.05", "0", "1200", "0.5", "-0.00", "9" * 40])
def test_decimal_accepts_plain_decimal_strings(text: str) -> None:
    decimal_scalar = _scalar("Decimal")
    assert decimal_scalar.parse_value(text) == decimal.Decimal(text)
    assert decimal_scalar.serialize(decimal.Decimal(text)) == text


@pytest.mark.parametrize(
    "value",
    [
        "1e3",
        "1E+2",
        "+1",
        ".5",
        "5.",
        "01",
        " 1",
        "1,000.00",
        "NaN",
        "Infinity",
        "",
        "9" * 41,
        12.5,
        12,
        True,
        None,
        ["1"],
    ],
)
def test_decimal_refuses_anything_else(value: object) -> None:
    decimal_scalar = _scalar("Decimal")
    with pytest.raises((GraphQLError, ValueError, TypeError)):
        decimal_scalar.parse_value(value)


def test_decimal_answers_without_exponent() -> None:
    decimal_scalar = _scalar("Decimal")
    assert decimal_scalar.serialize(decimal.Decimal("1E+2")) == "100"
    assert decimal_scalar.serialize(decimal.Decimal("1.50E-1")) == "0.150"
    with pytest.raises(ValueError):
        decimal_scalar.serialize(decimal.Decimal("NaN"))


def test_node_and_ids_are_described_for_clients() -> None:
    node = _graphql_schema().type_map["Node"]
    assert "node(id:)" in (node.description or "")
    for name in ("Node", "Event", "Task", "Message"):
        id_field = _graphql_schema().type_map[name].fields["id"]  # type: ignore[attr-defined]
        assert "global id" in (id_field.description or ""), name
    assert "Globally Unique ID" not in _sdl()
