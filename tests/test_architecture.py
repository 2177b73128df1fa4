"""The layering of the server, checked from the source: front doors over one agent core, no import
circles, short functions. See docs/architecture.md."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each front door translates its wire format to and from the core; none imports another.
FRONT_DOORS = (
    "app.openai_api",
    "app.runs_api",
    "app.mcp",
    "app.responses_api",
    "app.a2a_api",
)
CORE = "app.core"
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def _imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every module of ``known`` that ``module`` imports anywhere in its body (function-level and
    TYPE_CHECKING imports included: they are how circles get hidden)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.module, node.level)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in known:
                    yield candidate
                elif base in known:
                    yield base


def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, name] if name else anchor)


def _import_graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    known = set(modules)
    return {
        name: {target for target in _imported(name, path, known) if target != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _owner(module: str, packages: tuple[str, ...]) -> str | None:
    return next((p for p in packages if module == p or module.startswith(p + ".")), None)


def test_no_import_circle_in_app() -> None:
    assert _cycles(_import_graph("app")) == []


def test_the_circle_check_sees_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_front_doors_never_import_one_another() -> None:
    graph = _import_graph("app")
    crossings = [
        f"{source} imports {target}"
        for source, targets in graph.items()
        for target in targets
        if (door := _owner(source, FRONT_DOORS)) is not None
        and _owner(target, FRONT_DOORS) not in (None, door)
    ]
    assert crossings == []


def test_the_core_imports_no_front_door() -> None:
    graph = _import_graph("app")
    assert [
        f"{source} imports {target}"
        for source, targets in graph.items()
        if _owner(source, (CORE,))
        for target in targets
        if _owner(target, FRONT_DOORS)
    ] == []


def test_every_front_door_and_the_core_exist() -> None:
    modules = _modules("app")
    assert [name for name in (*FRONT_DOORS, CORE) if name not in modules] == []


def _function_lengths(package: str) -> Iterator[tuple[int, str]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                yield length, f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)"


@pytest.mark.parametrize("package", ["app", "components"])
def test_functions_are_short(package: str) -> None:
    too_long = [
        where for length, where in _function_lengths(package) if length > MAX_FUNCTION_LINES
    ]
    assert too_long == []
