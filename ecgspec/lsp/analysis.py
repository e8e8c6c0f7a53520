"""What `ecgspec check FILE` reports, computed for an editor: from the unsaved buffers of open
files, re-parsing only the top-level items whose text changed, and re-running the template dry
run only for what changed.

The compiler runs as `check` runs it (`ecgspec.program.load`, then `ecgspec.checking.check_diagnostics`,
which `ecgspec check` calls too), through the hooks those take: where a file's text comes from
(`read`: an open buffer before the file on disk), how it is parsed (`parse`: one item at a time,
each item's parse kept while its text stays the same), and the dry run (`dry_run`: each result
kept while what it depends on stays the same). `check` re-parses every imported file and dry-runs
every template on each run; typing changes one item of one file.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .. import syntax as s
from ..checking import DryRun, check_diagnostics
from ..errors import Diagnostic, Diagnostics
from ..ir import Decl
from ..parser import parse_module
from ..program import Key, Program, load
from ..resolve import display_path, real_path

# Where a top-level item may start: what the parser's recovery also takes as an item's first line.
_TOP_START = re.compile(r"[A-Za-z_\"]")
_MAX_TAKEN = 64  # later cuts a part may take in before the whole file is parsed instead
Part = tuple[tuple[s.TopLevel, ...], tuple[s.Comment, ...]]


@dataclass(frozen=True)
class _Parsed:
    text: str
    module: s.Module
    diagnostics: tuple[Diagnostic, ...]


@dataclass
class Analysis:
    """One file checked: its program, what `check` would print, and the files it read."""

    path: Path  # the real path of the entry file
    program: Program
    diagnostics: list[Diagnostic]
    files: dict[str, Path] = field(default_factory=dict)  # display name → real path of every loaded spec

    def file_of(self, name: str) -> Path:
        """The real path of a diagnostic's file (a loaded spec, or a template file)."""
        known = self.files.get(name)
        return known if known is not None else real_path(Path(name))


class Analyzer:
    """Checks files the way `ecgspec check` does, keeping parses and dry runs between checks."""

    def __init__(self) -> None:
        self.buffers: dict[Path, str] = {}  # real path → text of an open document
        self._parsed: dict[str, _Parsed] = {}  # by the file's shown name, as the parser locates it
        self._parts: dict[str, dict[int, tuple[int, str, Part]]] = {}  # first line → (end, text, parse)
        # Per entry file: dry-run results by what they depend on (see _dry_run).
        self._dry: dict[Path, dict[tuple[object, ...], tuple[Diagnostic, ...]]] = {}

    # ---- documents -----------------------------------------------------------------------

    def open(self, path: Path, text: str) -> None:
        self.buffers[real_path(path)] = text

    def close(self, path: Path) -> None:
        self.buffers.pop(real_path(path), None)

    def forget_dry_runs(self) -> None:
        """Dry-run again from scratch next time: a template file or a data table may have changed."""
        self._dry.clear()

    # ---- parsing -------------------------------------------------------------------------

    def parse(self, text: str, path: str, diags: Diagnostics) -> s.Module:
        """`parse_module` (`path`: the file's shown name), remembering each file's parse until its text changes."""
        hit = self._parsed.get(path)
        if hit is None or hit.text != text:
            hit = self._parsed[path] = self._parse_parts(text, path)
        diags.extend(hit.diagnostics)
        return hit.module

    def _parse_parts(self, text: str, name: str) -> _Parsed:
        """Parse a file a few lines at a time, reusing the parts whose text is unchanged.

        A file that parses is a sequence of items, each starting at the beginning of a line that
        starts with a name. The file is cut before every such line; a part that does not parse
        on its own (an item with such lines inside, as a long string may have) takes in the
        next ones until it does. Each part is parsed at its own line numbers (the lines above
        it left empty), so its nodes are located as in the whole file. A part that parses
        on its own ends where an item of the whole file ends: the lexer and parser have read
        the same text up to there. Where no part parses (a syntax error), the whole file is
        parsed as `check` parses it, and its syntax errors are exactly `check`'s."""
        lines = text.split("\n")
        cuts = [0, *(i for i in range(1, len(lines)) if _TOP_START.match(lines[i])), len(lines)]
        at_cut = {c: i for i, c in enumerate(cuts)}
        old = self._parts.get(name, {})
        parts: dict[int, tuple[int, str, Part]] = {}
        items: list[s.TopLevel] = []
        comments: list[s.Comment] = []
        i = 0
        while i < len(cuts) - 1:
            start = cuts[i]
            hit = old.get(start)
            if hit is not None and hit[0] in at_cut and hit[1] == "\n".join(lines[start : hit[0]]):
                end, chunk, part = hit
            else:
                for j in range(i + 1, min(i + 1 + _MAX_TAKEN, len(cuts))):
                    end, chunk = cuts[j], "\n".join(lines[start : cuts[j]])
                    local = Diagnostics()
                    module = parse_module("\n" * start + chunk, name, local)
                    if not local.items:
                        part = (module.items, module.comments)
                        break
                else:
                    self._parts.pop(name, None)
                    whole = Diagnostics()
                    return _Parsed(text, parse_module(text, name, whole), tuple(whole.items))
            parts[start] = (end, chunk, part)
            items.extend(part[0])
            comments.extend(part[1])
            i = at_cut[end]
        self._parts[name] = parts
        comments.sort(key=lambda c: (c.pos.line, c.pos.col))
        return _Parsed(text, s.Module(name, tuple(items), tuple(comments), text), ())

    # ---- checking ------------------------------------------------------------------------

    def check(self, path: Path) -> Analysis:
        """What `ecgspec check PATH` reports, run from the working directory."""
        path = real_path(path)
        program = load([path], read=self.buffers.get, parse=self.parse)

        def dry_run(program: Program) -> list[Diagnostic]:
            return self._dry_run(path, program)

        diags = check_diagnostics([program], program.sources, dry_run=dry_run)
        files = {display_path(p): p for p in program.scope.modules}
        return Analysis(path, program, diags, files)

    def _dry_run(self, path: Path, program: Program) -> list[Diagnostic]:
        """`check`'s dry run of the templates (ecgspec.dry_run.dry_run), each task on its own and
        everything else together, each result kept under what it depends on: whether the
        declarations are sound (no error in them or in what they use: else they are not run),
        their content (a task's content hash covers the labels it reads), where they are
        written (where the diagnostics point), and the template files."""
        from ..dry_run import dry_run, dry_run_tasks, sound

        ok = sound(program)
        templates = (tuple(map(str, program.template_folders)), _files_signature(program.template_folders))
        others = {k: d for k, d in program.decls.items() if k[0] != "task"}
        before = self._dry.get(path, {})
        keep: dict[tuple[object, ...], tuple[Diagnostic, ...]] = {}

        def remembered(memo: tuple[object, ...], decls: dict[Key, Decl], run: DryRun) -> tuple[Diagnostic, ...]:
            found = before.get(memo)
            if found is None:
                found = tuple(run(dataclasses.replace(program, decls=decls)))
            keep[memo] = found
            return found

        out: list[Diagnostic] = []
        for key in (k for k in program.decls if k[0] == "task"):
            if ok(key):  # dry_run skips an unsound task
                memo = ("task", self._signature(program, key, program.hash_of(*key)), templates)
                out.extend(remembered(memo, {**others, key: program.decls[key]}, dry_run_tasks))
        # The rest does not see the tasks: each declaration's own content, not its content hash
        # (which, for a corpus, covers the tasks it draws from).
        memo = (
            "rest",
            tuple((self._signature(program, k, d.model_dump_json()), ok(k)) for k, d in others.items()),
            templates,
        )
        rest = remembered(memo, others, dry_run)
        self._dry[path] = keep
        return [*out, *rest]  # dry_run's order: the tasks, then the rest

    @staticmethod
    def _signature(program: Program, key: Key, content: str) -> tuple[object, ...]:
        origins = program.origins.get(key, {})
        return (
            key,
            content,
            program.position(key),
            tuple(sorted((f, o.pos) for f, o in origins.items() if o.pos is not None)),
        )


def _files_signature(folders: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """Every file's name, size and modification time under the folders: any change re-runs."""
    out = []
    for root in folders:
        for dirpath, _, names in os.walk(root):
            for n in names:
                p = os.path.join(dirpath, n)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                out.append((p, st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


__all__ = ["Analysis", "Analyzer"]
