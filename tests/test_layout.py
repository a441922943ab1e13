"""The layout keeps its promises: no import cycle between netrepl's modules,
no module over 400 lines, and each file's docstring says its job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "netrepl"
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {module_name(p): p for p in MODULES}


def top_level_imports(path: Path) -> set[str]:
    """netrepl modules imported when `path` is imported (not those imported inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        stack = [node]
        while stack:  # module level, including inside if/try blocks
            item = stack.pop()
            if isinstance(item, ast.Import):
                found.update(a.name for a in item.names)
            elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
                for alias in item.names:
                    sub = f"{item.module}.{alias.name}"
                    found.add(sub if sub in NAMES else item.module)
            elif isinstance(item, (ast.If, ast.Try)):
                stack.extend(ast.iter_child_nodes(item))
    return {name for name in found if name in NAMES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(name: str, chain: list[str]) -> list[str] | None:
        state[name] = "open"
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == "open":
                return chain[chain.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep, chain + [dep])):
                return cycle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [name])):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    graph = {name: top_level_imports(path) for name, path in NAMES.items()}
    assert sum(len(deps) for deps in graph.values()) > 40  # the graph is real
    assert "netrepl.language.parser" in graph["netrepl.core.executor"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_each_module_is_small_and_says_its_job(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"
    if path.name == "__main__.py":
        return
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.split()) >= 4, f"{path.relative_to(ROOT)}: no opening docstring saying its job"
