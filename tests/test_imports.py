"""The import layering, read from the source (AST), so no import has to run to be checked.

* No import cycle among the modules of `bot/` and `store/`. Imports inside functions count
  (they are how a cycle is hidden, not removed); imports under `if TYPE_CHECKING:` do not,
  since they never run. Importing `a.b.c` also runs the `__init__` of `a.b`, so that
  package counts as imported too, unless the importer lives in it (then it has already run).
* `store/` imports nothing from `bot/`; `testing/` (the tests' own signers and stand-ins)
  imports nothing from `bot/` or `store/`, so it checks the product from outside; the
  product imports nothing from `testing/`, which is not in the wheel.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "store", "testing")


def _modules() -> dict[str, Path]:
    """Every module of PACKAGES by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those that only run for type checkers."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _import_nodes(ast.Module(body=[child], type_ignores=[]))
        else:
            yield from _import_nodes(node)


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The dotted names module `name` (at `path`) imports, as written (any package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = name.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            # `from pkg import sub` imports the submodule; `from mod import obj` the module.
            candidate = f"{base}.{alias.name}"
            names.add(candidate if candidate in modules else base)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of PACKAGES its import statements run (see the docstring)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            own_packages.add(name)
        targets: set[str] = set()
        for imported in _imported(name, path, modules):
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                if target in modules and target not in own_packages and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> ... -> a) per strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_a_cycle(graph, component) for component in components]


def _a_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, for the failure message."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(component)}")


def _importers(graph: dict[str, set[str]], of: str, into: tuple[str, ...]) -> list[str]:
    """`importer -> imported` for every import from package `of` into the packages `into`."""
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.split(".")[0] == of
        for target in targets
        if target.split(".")[0] in into
    )


def test_no_import_cycle_in_bot_or_store() -> None:
    graph = import_graph()
    product = {
        name: {t for t in targets if t.split(".")[0] in ("bot", "store")}
        for name, targets in graph.items()
        if name.split(".")[0] in ("bot", "store")
    }
    found = [" -> ".join(cycle) for cycle in cycles(product)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_cycle_finder_names_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_function_level_imports_count_and_type_checking_ones_do_not() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import hidden\nelse:\n    import shown_else\n"
        "def f():\n    import inner\n"
    )
    names = {alias.name for node in _import_nodes(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "shown_else", "inner"}


def test_store_imports_nothing_from_bot() -> None:
    assert _importers(import_graph(), "store", ("bot",)) == []


def test_testing_imports_nothing_from_the_product() -> None:
    assert _importers(import_graph(), "testing", ("bot", "store")) == []


def test_the_product_imports_nothing_from_testing() -> None:
    graph = import_graph()
    assert _importers(graph, "bot", ("testing",)) + _importers(graph, "store", ("testing",)) == []


def test_the_lifecycle_imports_nothing_from_the_reconcile_package() -> None:
    # The apply of SIMS ID's list is built from the lifecycle's parts; the dependency
    # runs one way (docs/lifecycle.md, "Where the rules live").
    graph = import_graph()
    found = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith("store.lifecycle")
        for target in targets
        if target.startswith("store.reconcile")
    )
    assert found == []
