"""Records named `SPEC:SOURCE/RECORD` on the command line (`ecgspec render`, `ecgspec preview
SPEC SOURCE`): the argument parsed, the source opened and the record found by its key, every
mistake worded on stderr (an unknown source or key with the nearest name or the first keys)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import did_you_mean
from ..program import Program


def _err(message: str) -> None:
    print(f"ecgspec: {message}", file=sys.stderr)


def source_names(program: Program) -> list[str]:
    return [n for (k, n) in program.decls if k in ("source", "synth")]


def parse_source_target(text: str) -> tuple[str, str, str] | None:
    """`SPEC:SOURCE/RECORD` as (spec, source, record key), or None for a WFDB record path. It is
    the source form when the part before the first ':' is a spec file (or ends in .ecg); the
    record key is everything after the first '/' after it, and may hold more '/'."""
    spec, sep, rest = text.partition(":")
    if not sep or not spec or not (spec.endswith(".ecg") or Path(spec).is_file()):
        return None
    source, _, key = rest.partition("/")
    return spec, source, key


def open_named_source(program: Program, spec: str, name: str, data_roots: list[str]) -> Any:
    """A reader of source `name` of a loaded spec; an int (the exit status) after a worded
    message when there is no such source (2) or it cannot be opened (1)."""
    from ..errors import format_diagnostic
    from ..sources import SourceError, open_source

    names = source_names(program)
    if name not in names:
        hint = did_you_mean(name, names)
        _err(
            f"{spec} declares no source named '{name}'"
            + (f"; {hint}" if hint else f" (its sources: {', '.join(names) or 'none'})")
        )
        return 2
    try:
        return open_source(program, name, data_roots=data_roots)
    except SourceError as exc:
        print(format_diagnostic(exc.diagnostic, program.sources, sys.stderr.isatty()), file=sys.stderr)
        return 1


# How many keys a source is searched for a near miss, and how many are shown when none is near.
NEAR_KEYS = 100_000
SHOWN_KEYS = 5


def find_ref(reader: Any, key: str) -> Any:
    """The ref of record `key` in the source's listing, or None after a worded message that
    shows the nearest key or the source's first keys."""
    seen: list[str] = []
    count = 0
    for ref in reader.refs():
        if ref.key == key:
            return ref
        count += 1
        if len(seen) < NEAR_KEYS:
            seen.append(ref.key)
    hint = did_you_mean(key, seen)
    first = ", ".join(seen[:SHOWN_KEYS]) + (", …" if count > SHOWN_KEYS else "")
    _err(
        f"source '{reader.name}' has no record '{key}'"
        + (f"; {hint}" if hint else "")
        + (f" (its {count} records begin {first})" if count else " (it lists no records)")
        + (f"; {len(reader.skipped)} were skipped while listing: see `ecgspec sources`" if reader.skipped else "")
    )
    return None
