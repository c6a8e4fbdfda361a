"""The package's layout: no import cycles among pkisim's modules.

A module depends on every pkisim module it imports at module level (imports
inside functions and under ``if TYPE_CHECKING:`` are not run at import time,
so they do not count).  ``from pkisim.x import y`` depends on ``pkisim.x``
(its ``__init__`` when it is a package), on ``pkisim.x.y`` when that is a
module, and on the packages on the way (``pkisim``); ``import pkisim.x.y``
depends on ``pkisim.x.y`` and the packages on the way.  The packages that
contain the importing module itself are not "on the way": Python has already
started them before the module runs (``from pkisim.sim.config import X`` in
``pkisim/sim/ca.py`` does not wait for ``pkisim/sim/__init__.py``, but
``from pkisim.sim import X`` there does depend on it).  A cycle is a group of
modules that depend on each other, transitively.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "pkisim"

#: Cycles tolerated, each as the set of modules in it: none.  (The test also
#: fails on an entry that no longer matches a cycle, so the list can only shrink.)
KNOWN_CYCLES: list[frozenset[str]] = []


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports run when the module is imported (not in functions or classes,
    not under ``if TYPE_CHECKING:``)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            checking = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
            if not checking:
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody,
                          *(handler.body for handler in node.handlers)):
                yield from _module_level(block)
        elif isinstance(node, ast.With):
            yield from _module_level(node.body)


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def dependencies(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The pkisim modules ``name`` needs at import time."""
    is_package = path.name == "__init__.py"
    own = set(_prefixes(name)) | {name}  # already started when ``name`` runs
    deps: set[str] = set()

    def add(target: str, *, itself: bool = True) -> None:
        for prefix in _prefixes(target):
            if prefix not in own:
                deps.add(prefix)
        if itself:
            deps.add(target)

    for node in _module_level(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    add(alias.name)
        else:
            if node.level:  # relative: from its own package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != PACKAGE:
                continue
            add(source)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:
                    deps.add(sub)
    deps.discard(name)
    return {dep for dep in deps if dep in known}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: dependencies(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph: dict[str, set[str]], component: frozenset[str]) -> str:
    """One cycle through ``component``, for the failure message."""
    start = min(component)
    seen = {start: ""}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                chain = [v]
                while seen[chain[-1]]:
                    chain.append(seen[chain[-1]])
                return " -> ".join([*reversed(chain), start])
            if w not in seen:
                seen[w] = v
                todo.append(w)
    return ", ".join(sorted(component))


def test_the_checker_sees_a_cycle_through_a_package_init() -> None:
    graph = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p"}, "p.c": {"p.a"}}
    assert cycles(graph) == [frozenset({"p", "p.a", "p.b"})]
    assert _path(graph, cycles(graph)[0]) == "p -> p.a -> p.b -> p"


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "pkisim.sim.config" in graph["pkisim.sim"], "the graph was not built"
    found = cycles(graph)
    unknown = [c for c in found if c not in KNOWN_CYCLES]
    gone = [c for c in KNOWN_CYCLES if c not in found]
    assert not unknown, "import cycles:\n" + "\n".join(_path(graph, c) for c in unknown)
    assert not gone, ("known cycles that are gone or changed (remove them from KNOWN_CYCLES):\n"
                      + "\n".join(", ".join(sorted(c)) for c in gone))
