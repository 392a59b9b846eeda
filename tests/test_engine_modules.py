"""The engine's modules import one another without a cycle: each piece lives in the module
it belongs to, and a module that two others share sits below both. The graph is read from
the sources (``use crate::...``, ``use super::...`` in ``python/`` and inline
``crate::module::`` paths), test modules left out: a test may use another module's
fixtures."""

from __future__ import annotations

import re
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[1] / "rust" / "src"
_TESTS = re.compile(r"^#\[cfg\(test\)\]\s*(pub(\(crate\))?\s+)?mod tests\b", re.MULTILINE)
_COMMENT = re.compile(r"^[ \t]*//.*$|[ \t]//[^\"\n]*$", re.MULTILINE)
_USE = re.compile(r"\buse\s+(crate|super)::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)", re.DOTALL)
_PATH = re.compile(r"(?<![A-Za-z0-9_:])crate::([A-Za-z_][A-Za-z0-9_]*)(?:::([A-Za-z_][A-Za-z0-9_]*))?")


def module_of(path: Path) -> str | None:
    """The module a source file defines (``python::scm`` for python/scm.rs), None for the
    crate root, which declares every module."""
    parts = list(path.relative_to(SOURCES).with_suffix("").parts)
    if parts == ["lib"]:
        return None
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts)


def _top_items(group: str) -> list[str]:
    """The first path segment of each item of a ``{a::b, c, d::{e, f}}`` use group."""
    items, depth, current = [], 0, ""
    for ch in group.strip()[1:-1]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return [item.strip().split("::")[0].strip() for item in items if item.strip()]


def dependencies(module: str, text: str, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``module``'s source ``text`` refers to."""
    code = _COMMENT.sub("", _TESTS.split(text, maxsplit=1)[0])
    parent = module.rsplit("::", 1)[0] if "::" in module else ""

    def resolve(base: str, name: str, sub: str | None = None) -> str | None:
        full = f"{base}::{name}" if base else name
        if sub and f"{full}::{sub}" in modules:
            return f"{full}::{sub}"
        return full if full in modules else None

    found: set[str] = set()
    for root, target in _USE.findall(code):
        base = "" if root == "crate" else parent
        names = _top_items(target) if target.startswith("{") else [target]
        found.update(m for name in names if (m := resolve(base, name)) is not None)
    for name, sub in _PATH.findall(code):
        if (m := resolve("", name, sub or None)) is not None:
            found.add(m)
    found.discard(module)
    return found


def module_graph() -> dict[str, set[str]]:
    files = {module: path for path in sorted(SOURCES.rglob("*.rs")) if (module := module_of(path)) is not None}
    return {module: dependencies(module, path.read_text(), set(files)) for module, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as its modules in order, the first one repeated at the end, or
    None when the graph is acyclic (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_parser_reads_each_kind_of_reference() -> None:
    modules = {"a", "b", "c", "python::x", "python::y"}
    text = ("use crate::a::Thing;\nuse crate::{b, c::{One, Two}};\nuse super::y;\n"
            "// use crate::missing;\nfn f() { crate::a::g() }\n"
            "#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n")
    assert dependencies("python::x", text, modules) == {"a", "b", "c", "python::y"}
    assert dependencies("a", "fn f() { crate::python::y::h(); }\n", modules) == {"python::y"}
    assert dependencies("b", "#[cfg(test)]\nmod tests {\n    use crate::c;\n}\n", modules) == set()


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_engine_modules_have_no_import_cycle() -> None:
    graph = module_graph()
    # The parser sees the engine's layering: a few edges every version of it has.
    assert {"scm", "graph"} <= graph["family"] and "scm" in graph["episode"]
    assert {"python::convert", "python::errors"} <= graph["python::scm"]
    assert sum(len(deps) for deps in graph.values()) > 40
    cycle = find_cycle(graph)
    assert cycle is None, f"the engine's modules import each other in a cycle: {' -> '.join(cycle or [])}"
