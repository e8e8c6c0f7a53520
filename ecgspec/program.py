"""The compiled form of a spec: resolved, checked IR declarations and their content hashes.

`load()` is the one entry point that every command uses: parse → resolve → check. It never
raises on a user's mistake; problems are in `Program.diagnostics`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

from . import syntax as s
from .check import Checker, Origin
from .errors import Diagnostic, Diagnostics, Pos, SourceCache
from .ir import Corpus, Decl, Distort, Format, Instruct, Labels, Layout, Llm, Paper, Source, Suite, Synth, Task
from .leakage import check_leakage
from .resolve import Parse, Read, Scope, display_path, resolve
from .templating import search_path

Key = tuple[str, str]
_IGNORE = re.compile(r"#\s*ecgspec:\s*ignore(?:\[([\w\-, ]+)\])?")


@dataclass
class Program:
    scope: Scope
    decls: dict[Key, Decl]
    origins: dict[Key, dict[str, Origin]]
    deps: dict[Key, set[Key]]
    diagnostics: list[Diagnostic]
    sources: SourceCache
    templates: Path | None = None  # the first templates folder (the shipped library when the spec has none)
    template_folders: tuple[Path, ...] = ()  # every folder templates are looked for in, the shipped library last
    _hashes: dict[Key, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @overload
    def get(self, kind: Literal["corpus"], name: str) -> Corpus: ...

    @overload
    def get(self, kind: Literal["distort"], name: str) -> Distort: ...

    @overload
    def get(self, kind: Literal["format"], name: str) -> Format: ...

    @overload
    def get(self, kind: Literal["labels"], name: str) -> Labels: ...

    @overload
    def get(self, kind: Literal["instruct"], name: str) -> Instruct: ...

    @overload
    def get(self, kind: Literal["layout"], name: str) -> Layout: ...

    @overload
    def get(self, kind: Literal["llm"], name: str) -> Llm: ...

    @overload
    def get(self, kind: Literal["paper"], name: str) -> Paper: ...

    @overload
    def get(self, kind: Literal["source"], name: str) -> Source: ...

    @overload
    def get(self, kind: Literal["suite"], name: str) -> Suite: ...

    @overload
    def get(self, kind: Literal["synth"], name: str) -> Synth: ...

    @overload
    def get(self, kind: Literal["task"], name: str) -> Task: ...

    @overload
    def get(self, kind: str, name: str) -> Decl: ...

    def get(self, kind: str, name: str) -> Decl:
        """The declaration `kind name`; typed by its kind where the kind is written out."""
        return self.decls[(kind, name)]

    def of_kind(self, kind: str) -> list[Decl]:
        return [d for (k, _), d in self.decls.items() if k == kind]

    def position(self, key: Key) -> Pos:
        return self.scope.decls[key].name.pos

    def hash_of(self, kind: str, name: str) -> str:
        """Content hash of a declaration and of everything it refers to (a Merkle hash).

        Computed depth-first with an explicit stack, so a long chain of references cannot
        exhaust Python's recursion limit; each declaration is hashed once."""
        key = (kind, name)
        if key in self._hashes:
            return self._hashes[key]
        stack: list[tuple[Key, list[Key]]] = [(key, self._hash_deps(key)[::-1])]  # popped in order
        self._hashes[key] = ""  # guards a reference cycle; none can be written today
        while stack:
            top, pending = stack[-1]
            while pending and pending[-1] in self._hashes:
                pending.pop()
            if pending:
                dep = pending.pop()
                self._hashes[dep] = ""
                stack.append((dep, self._hash_deps(dep)[::-1]))
                continue
            stack.pop()
            h = hashlib.sha256()
            h.update(f"{top[0]}\0".encode())
            h.update(self.decls[top].canonical_json().encode())
            for dep in self._hash_deps(top):
                h.update(f"\0{dep[0]}:{dep[1]}:{self._hashes[dep]}".encode())
            self._hashes[top] = h.hexdigest()
        return self._hashes[key]

    def _hash_deps(self, key: Key) -> list[Key]:
        """The declarations that `key`'s hash takes in, in a fixed order."""
        return [dep for dep in sorted(self.deps.get(key, ())) if dep in self.decls and dep != key]

    def spec_hash(self) -> str:
        """One hash for everything the entry files declare and import."""
        h = hashlib.sha256()
        for kind, name in sorted(self.decls):
            h.update(f"{kind}:{name}:{self.hash_of(kind, name)}\n".encode())
        return h.hexdigest()


def _templates_root(paths: list[Path], root: Path) -> Path | None:
    """The nearest `templates/` folder above the entry files, not above the spec root."""
    for p in paths:
        d = p.resolve().parent
        while True:
            if (d / "templates").is_dir():
                return d / "templates"
            if d == root or d.parent == d or not d.is_relative_to(root):
                break
            d = d.parent
    return None


def _warnings(scope: Scope, checked_lets: set[str], deps: dict[Key, set[Key]], diags: Diagnostics) -> None:
    used_lets = scope.lets_reached(checked_lets)
    kinds_of: dict[str, list[str]] = {}
    for k, n in scope.decls:
        kinds_of.setdefault(n, []).append(k)
    for name, let in scope.lets.items():
        if name not in used_lets:
            diags.warning(
                let.name.pos, f"constant '{name}' is never used", "remove it, or use it in a value", code="unused-let"
            )
        shadowed = kinds_of.get(name)
        if shadowed:
            diags.warning(
                let.name.pos,
                f"constant '{name}' shadows {shadowed[0]} '{name}' wherever a name is read",
                "rename the constant",
                code="shadowed-name",
            )
    # In a file that builds something (a corpus or a suite), a task, source, format, labels or
    # distortion that nothing uses is probably a mistake. Library files declare for others.
    used = {d for ds in deps.values() for d in ds}
    broken = {d.pos.file for d in diags.errors}  # a broken reference would make a false "never used"
    extended = {
        (o.kind.text, h.value.text)
        for o in scope.decls.values()
        for h in o.headers
        if h.word.text == "extends" and isinstance(h.value, s.Word)
    }
    for module in scope.modules.values():
        decls = [i for i in module.items if isinstance(i, s.Decl)]
        if not any(d.kind.text in ("corpus", "suite") for d in decls) or module.path in broken:
            continue
        for d in decls:
            key = (d.kind.text, d.name.text)
            if (
                d.kind.text in ("task", "source", "format", "labels", "synth", "distort", "instruct", "llm")
                and key not in used
            ):
                if key not in extended:
                    diags.warning(
                        d.name.pos, f"{d.kind.text} '{d.name.text}' is declared but never used", code="unused-decl"
                    )


class _Lines:
    """Lines of the loaded files, split once per file (SourceCache.line splits on every call)."""

    def __init__(self, scope: Scope, sources: SourceCache):
        self._texts = {m.path: m.text for m in scope.modules.values()}
        self._lines: dict[str, list[str]] = {}
        self._sources = sources

    def line(self, file: str, line: int) -> str | None:
        if file not in self._texts:
            return self._sources.line(file, line)
        lines = self._lines.get(file)
        if lines is None:
            lines = self._lines[file] = self._texts[file].splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None


def _reattribute(diags: Diagnostics, scope: Scope) -> None:
    """A name not found is blamed (check/text.py's hint) on the first failed import; put the blame on
    the import that likely declares it (Scope.blame), or on none when none can."""
    if len(scope.failed_imports) < 2:
        return
    first = re.compile(rf"the import at {re.escape(str(scope.failed_imports[0]))} failed; it may declare '(.+)'$")
    for i, d in enumerate(diags.items):
        m = first.match(d.hint or "")
        if m is not None:
            diags.items[i] = Diagnostic(d.severity, d.pos, d.message, scope.blame(m[1]), d.code)


def silenced(d: Diagnostic, sources: SourceCache) -> bool:
    """Whether a warning is silenced by `# ecgspec: ignore[code]` on its line (for diagnostics
    made after `load`, such as `check`'s leakage across specs)."""
    return _silenced(d, sources)


def _silenced(d: Diagnostic, lines: _Lines | SourceCache) -> bool:
    if d.severity != "warning":
        return False
    line = lines.line(d.pos.file, d.pos.line) or ""
    m = _IGNORE.search(line)
    if not m:
        return False
    codes = m.group(1)
    return codes is None or d.code in {c.strip() for c in codes.split(",")}


def load(
    paths: list[Path] | Path,
    *,
    root: Path | None = None,
    defines: list[str] | None = None,
    templates: Path | Sequence[Path] | None = None,
    sources: SourceCache | None = None,
    read: Read | None = None,
    parse: Parse | None = None,
) -> Program:
    """Parse, resolve and check spec files. Never raises for a mistake in a spec.

    `templates`: the templates folders, searched in order (default: the nearest `templates/`
    above the entry files); the shipped library is searched after them and answers `std/NAME`.
    `read`, `parse`: where spec files' texts come from before the disk, and how they are parsed
    (`ecgspec.resolve.Read`, `Parse`; the language server passes its buffers and its cache of
    parses); by default, from disk and by `parse_module`."""
    if isinstance(paths, Path):
        paths = [paths]
    diags = Diagnostics()
    sources = sources or SourceCache()
    scope = resolve(paths, diags, sources, root=root, defines=defines, read=read, parse=parse)
    given = [templates] if isinstance(templates, Path) else list(templates or [])
    if not given:
        nearest = _templates_root(paths, scope.root)
        given = [nearest] if nearest is not None else []
    folders = search_path(given)
    checker = Checker(scope, diags, folders[0] if folders else None)
    checker.converter.template_folders = folders
    checked = checker.run()
    check_leakage(checked.decls, scope.decls, diags)
    _warnings(scope, checked.used_lets, checked.deps, diags)
    _reattribute(diags, scope)
    order = {display_path(p): i for i, p in enumerate(scope.modules)}
    lines = _Lines(scope, sources)
    kept = sorted(
        (d for d in diags.items if not _silenced(d, lines)),
        key=lambda d: (order.get(d.pos.file, len(order)), d.pos.file, d.pos.line, d.pos.col),
    )
    first = folders[0] if folders else None
    return Program(scope, checked.decls, checked.origins, checked.deps, kept, sources, first, folders)


__all__ = ["Program", "display_path", "load", "silenced"]
