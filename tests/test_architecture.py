"""The shape of the code, checked: layers import only downwards, no import cycles (function-local
imports included), function-local imports say why, one global-id decoder."""

from __future__ import annotations

import ast
import importlib
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# --- error codes: every code a payload's use cases can raise belongs to the payload's enum ------


def _resolver_functions() -> tuple[dict[str, ast.AST], dict[str, dict[str, str]]]:
    """Every function of resolvers/ by qualified name, and each module's names for them."""
    functions: dict[str, ast.AST] = {}
    names: dict[str, dict[str, str]] = {}
    for module, path in MODULES.items():
        if not module.startswith("resolvers"):
            continue
        tree = ast.parse(path.read_text())
        local: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("resolvers"):
                for alias in node.names:
                    local[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[f"{module}.{node.name}"] = node
                local[node.name] = f"{module}.{node.name}"
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        functions[f"{module}.{node.name}.{item.name}"] = item
        names[module] = local
    return functions, names


def _referenced(node: ast.AST, local: dict[str, str], known: dict[str, ast.AST]) -> set[str]:
    """Functions of resolvers/ that `node` calls or passes on (`f`, `module.f`)."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id in local:
            found.add(local[child.id])
        elif isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
            base = local.get(child.value.id)
            if base is not None:
                found.add(f"{base}.{child.attr}")
    return {name for name in found if name in known}


def _raised_codes(node: ast.AST) -> set[str]:
    return {
        child.attr
        for child in ast.walk(node)
        if isinstance(child, ast.Attribute)
        and isinstance(child.value, ast.Name)
        and child.value.id.endswith("ErrorCode")
    }


class _Codes:
    def __init__(self) -> None:
        self.functions, self.names = _resolver_functions()
        self._memo: dict[str, set[str]] = {}

    def _module_of(self, qualified: str) -> str:
        module = qualified.rpartition(".")[0]
        return module if module in self.names else module.rpartition(".")[0]

    def of(self, qualified: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """The codes a use case can raise, through every function it reaches."""
        if qualified in self._memo:
            return self._memo[qualified]
        node = self.functions[qualified]
        codes = _raised_codes(node)
        local = self.names[self._module_of(qualified)]
        for callee in _referenced(node, local, self.functions) - seen - {qualified}:
            codes |= self.of(callee, seen | {qualified})
        if not seen:
            self._memo[qualified] = codes
        return codes


def _payload_runs() -> list[tuple[str, str, set[str]]]:
    """(schema module, payload error type, use cases) for each payload runner call."""
    codes = _Codes()
    found = []
    for module, path in MODULES.items():
        if not module.startswith("schema") or module == "schema.core":  # core defines the runners
            continue
        tree = ast.parse(path.read_text())
        local = {
            alias.asname or alias.name: f"{node.module}.{alias.name}"
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("resolvers")
            for alias in node.names
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            runner = ast.unparse(node.func)
            if runner == "run":  # run(ErrorType, use_case(...))
                error_type, use_case = node.args[0], node.args[1:]
            elif runner == "mutate":  # mutate(info, ErrorType, use_case, *its arguments)
                error_type, use_case = node.args[1], node.args[2:]
            else:
                continue
            used: set[str] = set()
            for arg in use_case:
                used |= _referenced(arg, local, codes.functions)
            found.append((module, ast.unparse(error_type), used))
    return found


def _error_types() -> dict[str, type[Any]]:
    found: dict[str, type[Any]] = {}
    for module in sys.modules.values():
        if getattr(module, "__name__", "").startswith("schema"):
            for name, value in vars(module).items():
                if isinstance(value, type) and isinstance(getattr(value, "codes", None), type):
                    found[name] = value
    return found


def test_every_payload_runs_a_use_case() -> None:
    runs = _payload_runs()
    assert len(runs) > 70  # 77 of the 81 mutations (the others need no payload errors)
    assert [r for r in runs if not r[2]] == []


def test_every_code_a_use_case_can_raise_is_in_its_payload_enum() -> None:
    codes = _Codes()
    types = _error_types()
    missing = []
    for module, error_type, use_cases in _payload_runs():
        allowed = {member.value for member in types[error_type].codes}
        for use_case in sorted(use_cases):
            for code in sorted(codes.of(use_case) - allowed):
                missing.append(f"{module}: {error_type} cannot carry {code} ({use_case})")
    assert missing == []


def test_the_code_analysis_follows_calls() -> None:
    codes = _Codes()
    # create_task raises its own codes and, through the event checks it calls, EVENT_CANCELLED
    reached = codes.of("resolvers.tasks.create_task")
    assert {"EVENT_CANCELLED", "RATE_LIMITED"} - reached == {"RATE_LIMITED"}
    assert "INVALID_TITLE" in reached  # from the kit (resolvers/core/errors.py)


@pytest.mark.parametrize(
    ("part", "whole"),
    [
        ("resolvers.imaging.common.ImageErrorCode", "resolvers.media.MediaErrorCode"),
        ("resolvers.money.MoneyErrorCode", "resolvers.expenses.ExpenseErrorCode"),
        ("resolvers.sessions.SessionErrorCode", "resolvers.accounts.AccountErrorCode"),
    ],
)
def test_codes_mapped_by_value_are_in_the_domain_enum(part: str, whole: str) -> None:
    """Codes of lower parts (imaging, money, sessions) are carried into their domain's enum."""

    def members(qualified: str) -> set[str]:
        module, _, name = qualified.rpartition(".")
        return {member.value for member in getattr(importlib.import_module(module), name)}

    assert members(part) <= members(whole)


def test_error_codes_are_defined_once() -> None:
    """An *ErrorCode enum is a StrEnum of resolvers/, which schema/ only exposes."""
    defined = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name.endswith("ErrorCode"):
                defined.append((module.split(".")[0], node.name))
                assert [ast.unparse(b) for b in node.bases] == ["StrEnum"], node.name
    assert {layer for layer, _ in defined} == {"resolvers"}
    names = [name for _, name in defined]
    assert len(names) == len(set(names))


def test_every_enum_is_defined_once() -> None:
    """No two enums list the same values: the schema exposes the one of the layer that owns it
    (stores for stored states, resolvers for rules), with `strawberry.enum`."""
    by_values: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any("Enum" in ast.unparse(b) for b in node.bases):
                values = tuple(
                    ast.unparse(item.value) for item in node.body if isinstance(item, ast.Assign)
                )
                by_values[values].append(f"{module}.{node.name}")
    assert [names for names in by_values.values() if len(names) > 1] == []
