"""Typed clients (issue 17): the README's GraphQL operations are named and valid, and
docs/codegen.ts turns them into TypeScript that `tsc --strict` accepts, with every custom scalar
mapped (DateTime and Decimal strings, JSON a JSON value, Upload a File or Blob) and a scalar
without a mapping refused.

graphql-codegen and tsc are the pinned ones of tests/js (tests/support/node.py; the codegen tests
skip without Node.js)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from graphql import OperationDefinitionNode, parse, validate
from graphql import build_schema as build_sdl_schema

from schema import export_sdl
from tests.support.node import node_tools

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "docs" / "codegen.ts"
TIMEOUT_S = 600
# a ```graphql block of README.md, indented or not (inside a list item)
BLOCK = re.compile(r"^([ \t]*)```graphql\n(.*?)^\1```", re.DOTALL | re.MULTILINE)

# Uses the generated types as an app would: wrong scalar types must not compile.
USAGE_TS = """\
import type {
  ChatEventsSubscriptionVariables,
  CreateEventMutation,
  CreateExpenseMutation,
  EventActivityQuery,
} from "./operations";
import type { Scalars } from "./schema";

declare const created: CreateEventMutation;
declare const expense: CreateExpenseMutation;
declare const activity: EventActivityQuery;

export const eventId: string | undefined = created.createEvent.event?.id;
export const share: string | undefined = expense.createExpense.expense?.shares[0]?.amount.amount;
export const at: string | undefined = activity.event?.activity?.edges[0]?.node.createdAt;
export const details: Scalars["JSON"]["output"] | undefined =
  activity.event?.activity?.edges[0]?.node.details;
export const vars: ChatEventsSubscriptionVariables = { id: "RXZlbnQ6MQ==", after: null };
export const file: Scalars["Upload"]["input"] = new Blob(["hello"]);
export const json: Scalars["JSON"]["input"] = { nested: [1, "two", null] };
// @ts-expect-error a Decimal is a string ("12.50"), never a number
export const notANumber: Scalars["Decimal"]["output"] = 12.5;
// @ts-expect-error a DateTime is a string, not a Date
export const notADate: Scalars["DateTime"]["output"] = new Date();
// @ts-expect-error an Upload is a file, not a string
export const notAFile: Scalars["Upload"]["input"] = "a path";
"""


def readme_operations(readme: str | None = None) -> str:
    """The operations of README.md's ```graphql blocks, as one document."""
    text = readme if readme is not None else (ROOT / "README.md").read_text(encoding="utf-8")
    bodies = []
    for indent, body in BLOCK.findall(text):
        lines = body.splitlines()
        bodies.append("\n".join(line.removeprefix(indent) for line in lines))
    return "\n\n".join(bodies) + "\n"


def _operation_types(document: str) -> list[str]:
    """Each operation's result type name as typescript-operations names it (CreateEventMutation)."""
    names = []
    for definition in parse(document).definitions:
        assert isinstance(definition, OperationDefinitionNode)
        assert definition.name is not None
        names.append(definition.name.value + definition.operation.value.capitalize())
    return names


def test_readme_operations_are_named_unique_and_valid() -> None:
    document = readme_operations()
    operations = parse(document).definitions
    assert len(operations) >= 25, "the README's ```graphql blocks were not found"
    unnamed = [
        document[op.loc.start : op.loc.start + 60]
        for op in operations
        if isinstance(op, OperationDefinitionNode) and op.name is None and op.loc is not None
    ]
    assert not unnamed, f"unnamed README operations: {unnamed}"
    names = [
        op.name.value
        for op in operations
        if isinstance(op, OperationDefinitionNode) and op.name is not None
    ]
    assert len(names) == len(set(names)) == len(operations), names
    errors = validate(build_sdl_schema(export_sdl()), parse(document))
    assert not errors, "\n".join(str(e) for e in errors)


def test_extraction_reads_indented_blocks() -> None:
    readme = (
        "1. One:\n   ```graphql\n   query A { me { id } }\n   ```\n"
        "```graphql\nquery B { me { id } }\n```\n"
    )
    assert _operation_types(readme_operations(readme)) == ["AQuery", "BQuery"]


def _codegen(
    tmp_path: Path, *, sdl: str, documents: Path | None
) -> subprocess.CompletedProcess[str]:
    js = node_tools()
    (tmp_path / "schema.graphql").write_text(sdl, encoding="utf-8")
    env = {
        **os.environ,
        "IVEN_CODEGEN_SCHEMA": str(tmp_path / "schema.graphql"),
        "IVEN_CODEGEN_OUTPUT": str(tmp_path / "generated"),
    }
    if documents is not None:
        env["IVEN_CODEGEN_DOCUMENTS"] = str(documents)
    else:
        env.pop("IVEN_CODEGEN_DOCUMENTS", None)
    return subprocess.run(
        [str(js / "node_modules/.bin/graphql-codegen"), "--config", str(CONFIG)],
        cwd=js,  # the plugins are resolved from here
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_codegen_types_the_readme_operations_and_tsc_strict_accepts_them(
    tmp_path: Path,
) -> None:
    """docs/codegen.ts as it is (its README extraction; schema and output moved to tmp_path)."""
    done = _codegen(tmp_path, sdl=export_sdl(), documents=None)
    assert done.returncode == 0, f"graphql-codegen failed:\n{done.stdout}\n{done.stderr}"
    out = tmp_path / "generated"
    operations = (out / "operations.ts").read_text(encoding="utf-8")
    for type_name in _operation_types(readme_operations()):
        assert f"export type {type_name} = " in operations, type_name
        assert f"export type {type_name}Variables = " in operations, type_name
    schema_types = (out / "schema.ts").read_text(encoding="utf-8")
    for scalar, mapped in {
        "DateTime": "string",
        "Decimal": "string",
        "Upload": "File | Blob",
        "JSON": "Record<string, unknown> | unknown[] | string | number | boolean | null",
    }.items():
        assert f"{scalar}: {{ input: {mapped}; output: {mapped}; }}" in schema_types, scalar
    (out / "usage.ts").write_text(USAGE_TS, encoding="utf-8")
    js = node_tools()
    checked = subprocess.run(
        [
            str(js / "node_modules/.bin/tsc"),
            "--strict",
            "--noEmit",
            "--target",
            "es2022",
            "--lib",
            "es2022,dom",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            str(out / "schema.ts"),
            str(out / "operations.ts"),
            str(out / "usage.ts"),
        ],
        cwd=js,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert checked.returncode == 0, f"tsc --strict failed:\n{checked.stdout}\n{checked.stderr}"


def test_codegen_refuses_a_scalar_without_a_mapping(tmp_path: Path) -> None:
    """strictScalars: a scalar the server adds later fails generation instead of typing `any`."""
    documents = tmp_path / "one.graphql"
    documents.write_text("query One { unmapped }\n", encoding="utf-8")
    sdl = (
        export_sdl()
        + '\n"""New."""\nscalar Unmapped\n\nextend type Query {\n  unmapped: Unmapped\n}\n'
    )
    done = _codegen(tmp_path, sdl=sdl, documents=documents)
    assert done.returncode != 0
    assert "Unknown scalar type Unmapped" in done.stdout + done.stderr
