"""The `caravan` package's modules import each other without a loop (STYLE.md, Boundaries).

Every module under plugins/caravan is parsed with `ast` (nothing is imported), and each
`import caravan...` / `from caravan... import ...` becomes an edge to the module it
names: `from caravan.simulator import crm` names the submodule `caravan.simulator.crm`,
`from caravan.lake import Lake` the package `caravan.lake`. The parent package Python
runs first is not an edge: a package that re-exports its submodules (caravan.lake) would
otherwise loop with each of them.

Counted: imports at module level and inside functions. A function-level import is
still an import of that module, only later: it hides a loop from Python's import
machinery, not from the design, and both modules still have to change together.
Not counted: imports under `if TYPE_CHECKING:`. They never run; naming a type from a
module above is how a lower module mentions it without depending on it at run time
(the same choice as import-linter's `exclude_type_checking_imports`).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def module_files(root: Path, package: str = "caravan") -> dict[str, Path]:
    """Every module of `package` under `root`, by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run: at any depth, except under `if TYPE_CHECKING:`."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [node]
    if isinstance(node, ast.If) and _is_type_checking(node):
        children: list[ast.AST] = list(node.orelse)  # an `else:` branch does run
    else:
        children = list(ast.iter_child_nodes(node))
    return [found for child in children for found in _imports(child)]


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` is, or the nearest package holding it."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path, package: str = "caravan") -> dict[str, dict[str, int]]:
    """module -> {module it imports: the line of the first such import}."""
    modules = module_files(root, package)
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [_known(alias.name, modules) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's own package
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + is_package]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [
                    f"{base}.{alias.name}"
                    if f"{base}.{alias.name}" in modules
                    else _known(base, modules)
                    for alias in node.names
                ]
            for target in targets:
                if target is not None and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[tuple[list[str], list[str]]]:
    """Each group of modules that reach each other (Tarjan's strongly connected
    components), sorted, with one loop through it as [a, b, ..., a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, {})):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(component, _loop_within(set(component), graph)) for component in components]


def _loop_within(component: set[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest loop from the component's first module back to it, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    return [*paths[node], start]
                if target in component and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no loop through {start} in {sorted(component)}")


def describe(loop: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} (line {graph[a][b]})" for a, b in zip(loop, loop[1:], strict=False)]
    return " -> ".join([*steps, loop[-1]])


def describe_all(found: list[tuple[list[str], list[str]]], graph: dict) -> str:
    return "\n".join(
        describe(loop, graph)
        + (f"\n  (all of {', '.join(members)} reach each other)" if len(members) > 2 else "")
        for members, loop in found
    )


def test_the_caravan_package_has_no_import_loop():
    graph = import_graph(PLUGINS)
    found = cycles(graph)
    assert not found, "import loops in plugins/caravan:\n" + describe_all(found, graph)


def test_the_graph_holds_the_imports_the_code_makes():
    graph = import_graph(PLUGINS)
    assert len(graph) > 50
    # Top level; `from package import submodule`; inside a function.
    assert "caravan.quality.results" in graph["caravan.warehouse.duckdb"]
    assert "caravan.simulator.crm" in graph["caravan.simulator.world"]
    assert "caravan.warehouse.targets" in graph["caravan.quality.gate"]  # in record_results
    # Under TYPE_CHECKING only: no edge.
    assert "caravan.simulator.world" not in graph["caravan.simulator.files"]


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


def test_a_loop_through_a_function_level_import_is_found_and_named(tmp_path):
    root = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": """\
                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    from pkg.c import Other  # a type only: no edge


                def thing():
                    from pkg import c  # runs when called: an edge

                    return c
                """,
            "pkg/c.py": "import pkg.a\n",
            "pkg/d.py": "from . import a\n",  # relative, into the loop: not part of it
        },
    )
    graph = import_graph(root, "pkg")
    assert graph["pkg.b"] == {"pkg.c": 8}
    assert graph["pkg.d"] == {"pkg.a": 1}
    [(members, loop)] = cycles(graph)
    assert members == ["pkg.a", "pkg.b", "pkg.c"]
    assert loop == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert describe(loop, graph) == "pkg.a (line 1) -> pkg.b (line 8) -> pkg.c (line 1) -> pkg.a"


def test_a_type_checking_import_alone_makes_no_loop(tmp_path):
    root = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low.py": """\
                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    from pkg.high import High
                """,
            "pkg/high.py": "from pkg.low import thing\n",
        },
    )
    assert cycles(import_graph(root, "pkg")) == []


def test_the_shared_contract_modules_import_nothing_heavy():
    """What the warehouse backends and `caravan quality` share with the gates (the results
    table, what a gate validates) loads without GX, pandas or a database driver."""
    heavy = ("great_expectations", "pandas", "numpy", "duckdb", "pyspark", "snowflake")
    code = (
        "import sys\n"
        "import caravan.quality.batches, caravan.quality.results\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PLUGINS)},
    )
    assert out.stdout.strip() == "[]", out.stdout
