"""The shape of the code, checked: layers import only downwards, no import cycles (function-local
imports included), function-local imports say why, one global-id decoder."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from strawberry import relay

from schema.core import (
    NO_INT_KEY,
    NO_STR_KEY,
    decode_document_id,
    decode_global_id,
    decode_node_keys,
    decode_string_id,
)

ROOT = Path(__file__).resolve().parent.parent
# the composition root on top, then each layer above the next
LAYERS = ["iven_gql", "schema", "resolvers", "stores"]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Imports under `if TYPE_CHECKING:` never run: they are annotations, not dependencies."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def _imports(module: str, path: Path) -> Iterator[tuple[ast.stmt, list[str]]]:
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield node, [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            yield node, [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _ours(name: str) -> str | None:
    """The module of ours that an imported name lives in (a module or a name inside one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for _node, names in _imports(module, path):
            for name in names:
                target = _ours(name)
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others."""
    reach = {module: _reachable(graph, module) for module in list(graph)}
    groups = {
        tuple(sorted(m for m in reach if m == module or (m in found and module in reach[m])))
        for module, found in reach.items()
        if module in found
    }
    return sorted(list(group) for group in groups)


def test_the_graph_sees_every_import() -> None:
    graph = _graph()
    assert "schema.core" in graph["schema.events"]
    assert "stores.mongo" in graph["stores.chat"]
    # a function-local import counts as much as one at the top
    assert "resolvers.media" in graph["iven_gql.cli"]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    graph["schema.events"] = {"schema.tasks"}
    graph["schema.tasks"] = {"schema.core", "schema.events"}
    assert _cycles(graph) == [["schema.events", "schema.tasks"]]


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down(layer: str) -> None:
    above = LAYERS[: LAYERS.index(layer)]
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module.split(".")[0] == layer
        for target in targets
        if target.split(".")[0] in above
    )
    assert wrong == []


def test_function_local_imports_say_why() -> None:
    """Only where a comment on the line gives the reason (e.g. CLI start-up time)."""
    silent = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    line = lines[node.lineno - 1]
                    if "#" not in line or len(line.split("#", 1)[1].strip()) < 20:
                        silent.append(f"{module}:{node.lineno}")
    assert silent == []


def test_one_global_id_decoder() -> None:
    """Global ids are taken apart in schema/core.py only (node(s)(id:) hands raw keys to the
    types' resolve_nodes, which decode them there too)."""
    elsewhere = []
    for module, path in MODULES.items():
        if module in ("schema.core", "schema"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "node_id":
                elsewhere.append(f"{module}:{node.lineno}")
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) == "int"
                and "node_id" in ast.unparse(node)
            ):
                elsewhere.append(f"{module}:{node.lineno}")
    assert elsewhere == []


@pytest.mark.parametrize(
    ("type_name", "key", "expected"),
    [
        ("Event", "12", 12),
        ("Task", "12", NO_INT_KEY),  # another type
        ("Event", "x12", NO_INT_KEY),
        ("Event", "-3", NO_INT_KEY),
        ("Event", "0", NO_INT_KEY),
        ("Event", "٣", NO_INT_KEY),  # a digit, but not ASCII
        ("Event", "9" * 40, NO_INT_KEY),  # past BIGINT
        ("Event", str(2**63), NO_INT_KEY),
        ("Event", str(2**63 - 1), 2**63 - 1),
    ],
)
def test_decode_global_id(type_name: str, key: str, expected: int) -> None:
    assert decode_global_id(relay.GlobalID(type_name, key), "Event") == expected


def test_decode_document_and_string_ids() -> None:
    oid = "65a1b2c3d4e5f60718293a4b"
    assert decode_document_id(relay.GlobalID("Media", oid), "Media") == oid
    assert decode_document_id(relay.GlobalID("Media", "not-an-oid"), "Media") == NO_STR_KEY
    assert decode_document_id(relay.GlobalID("Album", oid), "Media") == NO_STR_KEY
    assert decode_string_id(relay.GlobalID("Session", "abc"), "Session") == "abc"
    assert decode_string_id(relay.GlobalID("User", "abc"), "Session") == NO_STR_KEY
    assert decode_node_keys(["4", "x", "9" * 30]) == [4, NO_INT_KEY, NO_INT_KEY]
