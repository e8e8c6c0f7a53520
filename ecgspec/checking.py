"""What `ecgspec check` reports for the specs it was given, once each is loaded: one function that
both the command and the language server call, so that an editor shows what `check` prints.

`load` reports what one spec says on its own. `check` adds the template dry run of each spec, and
compares the specs with each other for leakage (a corpus in one file, a suite in another), which
replaces each spec's own leakage report. It lives apart from `ecgspec.program` because the leakage
across specs reads the sources' indexes, and `ecgspec.sources` itself needs `Program`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .errors import Diagnostic, SourceCache
from .program import Program, silenced

DryRun = Callable[[Program], list[Diagnostic]]
"""The template dry run of one spec: `ecgspec.dry_run.dry_run`, or what returns what it would."""


def unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics without repeats, in order, as `check` prints them (same place, same message: once)."""
    seen: set[tuple[str, int, int, str]] = set()
    out = []
    for d in diags:
        k = (d.pos.file, d.pos.line, d.pos.col, d.message)
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out


def check_diagnostics(
    programs: Sequence[Program], sources: SourceCache, *, dry_run: DryRun | None = None
) -> list[Diagnostic]:
    """Everything `ecgspec check` prints for `programs` (each spec loaded on its own, its texts in
    `sources`), in its order, each once: each spec's diagnostics and dry run, then the leakage
    between every corpus and suite of them, less what `# ecgspec: ignore[...]` silences.

    `dry_run`: how each spec is dry-run (default `ecgspec.dry_run.dry_run`); the language server
    passes one that keeps the results of what did not change."""
    # Imported here: they bring in Jinja, NumPy and the sources, which only a check needs.
    from .dry_run import dry_run as full_dry_run
    from .leakage_across import check_leakage_across

    run = dry_run or full_dry_run
    diags = [d for p in programs for d in [*p.diagnostics, *run(p)] if d.code != "leakage"]
    diags += [d for d in check_leakage_across(list(programs)) if not silenced(d, sources)]
    return unique(diags)


__all__ = ["DryRun", "check_diagnostics", "unique"]
