"""The shape of the code: each package imports alone, packages import each other without cycles,
and no module grows past 600 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("ecgspec", "runtime")
MAX_LINES = 600


def _modules(top: str) -> list[tuple[str, Path, bool]]:
    """(dotted name, file, is a package) of every module under `top`."""
    out = []
    for f in sorted((ROOT / top).rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out.append((".".join(parts[:-1] if is_pkg else parts), f, is_pkg))
    return out


def _packages() -> list[str]:
    return [name for top in TOPS for name, _, is_pkg in _modules(top) if is_pkg]


def _unit(module: str) -> str:
    """The node of the graph a module belongs to: `ecgspec.render.layout` → `ecgspec.render`; a
    top-level module of ecgspec (`ecgspec.program`) is a node of its own."""
    return ".".join(module.split(".")[:2])


def _typing_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes under `if TYPE_CHECKING:`: imports for annotations only, never run."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def _imports(module: str, path: Path, is_pkg: bool) -> set[str]:
    """Every ecgspec/runtime module `path` imports, at any depth (function-level imports too),
    except under `if TYPE_CHECKING:`."""
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
    return {m for m in found if m.split(".")[0] in TOPS}


def _graph() -> dict[str, set[str]]:
    units = {_unit(name) for top in TOPS for name, _, _ in _modules(top)}
    edges: dict[str, set[str]] = {u: set() for u in units}
    for top in TOPS:
        for name, path, is_pkg in _modules(top):
            for target in _imports(name, path, is_pkg):
                dest = _unit(target)
                if dest in units and dest != _unit(name):
                    edges[_unit(name)].add(dest)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_packages() -> None:
    edges = _graph()
    assert "ecgspec.build" in edges and "ecgspec.targets" in edges["ecgspec.build"]  # the graph sees imports
    cycles = _cycles(edges)
    assert not cycles, "import cycles between packages: " + "; ".join(" ⇄ ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_for_annotations_only_are_not_edges(tmp_path: Path) -> None:
    f = tmp_path / "m.py"
    f.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ecgspec.program import Program\n"
        "else:\n    from ecgspec import units\ndef f():\n    import ecgspec.leads\n"
    )
    assert _imports("ecgspec.x.m", f, False) == {"ecgspec", "ecgspec.leads"}


@pytest.mark.parametrize("package", [p for p in _packages() if p.startswith("ecgspec")])
def test_each_package_imports_alone(package: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for top in TOPS
        for _, path, _ in _modules(top)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
