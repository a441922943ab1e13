"""The layout keeps its promises: the package's top level holds only entry points, no import cycle between netrepl's modules and no import
running up between its layers (imports inside functions count), no module over 400 lines,
and each file's docstring says its job."""

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


def imports_of(name: str, path: Path) -> set[str]:
    """netrepl modules `path` imports anywhere: at module level, inside if/try blocks, and inside
    functions (an import there runs when the function does: a cycle all the same). Relative
    imports are resolved; `from netrepl.x import y` counts netrepl.x.y where that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in NAMES:  # netrepl.x.name -> netrepl.x
                target = target.rpartition(".")[0]
            if target and target != name and not (path.name == "__init__.py" and target.startswith(name + ".")):
                found.add(target)
    return found


GRAPH = {name: imports_of(name, path) for name, path in NAMES.items()}


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
    assert sum(len(deps) for deps in GRAPH.values()) > 40  # the graph is real
    assert "netrepl.language.parser" in GRAPH["netrepl.core.executor"]
    assert "netrepl.export" in GRAPH["netrepl.cli"]  # an import inside a function counts
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


# The top level holds the entry points and the packages; everything else lives in a package
# (small shared modules in base/, the floor), so where a module sits says its layer.
ENTRY_POINTS = {"__init__.py", "__main__.py", "cli.py", "entry.py", "runner.py", "pytest_plugin.py"}


def test_the_top_level_holds_only_entry_points():
    top = {p.name for p in PACKAGE.iterdir() if p.is_file() and p.suffix in (".py", ".pyi")}
    assert top == ENTRY_POINTS, f"not an entry point, move it into a package: {sorted(top - ENTRY_POINTS)}"
    assert {"base", "language", "core", "render", "lab", "commands", "export", "shell"} <= {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}


# Layers, bottom up: the shared floor (base/: escape, unixpaths, labkinds, patterns...),
# language/, core/, render/, lab/, then commands/, export/ and the front ends. What each may never import
# (/work/shared/tools/import_cycles.py's rules, and the floor imports only the floor):
FRONT = {"cli", "entry", "__main__", "runner", "pytest_plugin"}
PACKAGES = ("base", "language", "core", "render", "lab", "export", "commands", "shell")
FORBIDDEN = {
    "base": {"language", "core", "render", "lab", "commands", "export", "shell", "front"},
    "language": {"core", "render", "lab", "commands", "export", "shell", "front"},
    "core": {"render", "lab", "commands", "export", "shell", "front"},
    "render": {"lab", "commands", "export", "shell", "front"},
    "lab": {"commands", "export", "shell", "front"},
    "export": {"shell", "front"},
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in PACKAGES:
        return parts[1]
    if len(parts) == 2 and parts[1] in FRONT or parts == ["netrepl"]:
        return "front"
    raise AssertionError(f"{module}: in no layer (a new package? add it to PACKAGES and FORBIDDEN)")


def upward(graph: dict[str, set[str]]) -> list[str]:
    return [f"{name} -> {dep}" for name in sorted(graph) for dep in sorted(graph[name])
            if layer_of(dep) in FORBIDDEN.get(layer_of(name), ())]


def test_layers_import_only_downward():
    assert layer_of("netrepl.core.expect") == "core" and layer_of("netrepl.base.escape") == "base"
    assert layer_of("netrepl.cli") == "front" and layer_of("netrepl.shell.lexer") == "shell"
    assert upward(GRAPH) == []


def test_the_layer_check_finds_an_upward_import_inside_a_function(tmp_path):
    # As language/argtypes.py took failure names from core/errors.py (issue 20): parsed, not imported.
    module = tmp_path / "argtypes.py"
    module.write_text("def f():\n    from ..core.errors import KINDS\n    return KINDS\n")
    found = imports_of("netrepl.language.argtypes", module)
    assert found == {"netrepl.core.errors"}
    assert upward({"netrepl.language.argtypes": found}) == ["netrepl.language.argtypes -> netrepl.core.errors"]
    assert upward({"netrepl.core.expect": {"netrepl.base.escape"}}) == []  # down to the shared floor: fine
    # the floor imports only the floor
    assert upward({"netrepl.base.escape": {"netrepl.render.escape"}}) == ["netrepl.base.escape -> netrepl.render.escape"]


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_each_module_is_small_and_says_its_job(path):
    lines = path.read_text().count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"
    if path.name == "__main__.py":
        return
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.split()) >= 4, f"{path.relative_to(ROOT)}: no opening docstring saying its job"
