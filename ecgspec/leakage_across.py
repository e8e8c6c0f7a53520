"""Leakage over every spec `check` is given at once, naming the records the two sides share.

`ecgspec.leakage` decides from the specs alone, and `Program` runs it on each spec; this module compares
the specs with each other and, where the sources' indexes are at hand, reads them to name what is shared,
which is why it lives apart: reading an index needs `ecgspec.sources`, which itself needs `Program`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Diagnostic, Diagnostics
from .ir import Decl
from .leakage import Use, find_leaks, report, uses_of

if TYPE_CHECKING:
    from .program import Program

SHOWN = 5  # shared records or patients named in a report; the rest are counted
MAX_INDEX = 500_000  # index entries read to name shared records: enough for every shipped database


def _keys(program: Program, use: Use) -> tuple[set[str], set[str]] | None:
    """The record keys and patients of one use, from the source's index alone; None when it cannot
    be read here (the data are elsewhere)."""
    from .sources import SourceError, open_source  # only when there are specs to compare: it reads data

    keys: set[str] = set()
    patients: set[str] = set()
    try:
        reader = open_source(program, use.source.name)
        for n, ref in enumerate(reader.refs(use.split)):
            if n >= MAX_INDEX:
                return None
            keys.add(ref.key)
            if ref.patient:
                patients.add(str(ref.patient))
    except (SourceError, OSError, ValueError, KeyError):
        return None
    return keys, patients


def _few(items: set[str], word: str) -> str:
    shown = sorted(items)[:SHOWN]
    more = f", … ({len(items)} in all)" if len(items) > SHOWN else ""
    return f"{len(items)} {word}{'s' * (len(items) != 1)} ({', '.join(shown)}{more})"


def shared_records(corpus: tuple[Program, Use], tasks: list[tuple[Program, Use]]) -> str | None:
    """What a corpus and a suite's tasks share, said with the first few names and a count, when the
    indexes of both are at hand and the two read one database alike; else None."""
    a = _keys(*corpus)
    if a is None:
        return None
    keys: set[str] = set()
    patients: set[str] = set()
    read = False
    for program, use in tasks:
        if use.source.adapter != corpus[1].source.adapter:
            continue  # keys of two adapters name records differently
        b = _keys(program, use)
        if b is None:
            continue
        read = True
        keys |= a[0] & b[0]
        patients |= a[1] & b[1]
    if not read:
        return None
    if not keys and not patients:
        return "the records at hand share none, but a full database can"
    parts = [_few(keys, "record")] if keys else []
    if patients:
        parts.append(_few(patients, "patient"))
    return "they share " + " and ".join(parts)


def check_leakage_across(programs: list[Program]) -> list[Diagnostic]:
    """Leakage over every spec checked together: each corpus of any of them against each suite of
    any of them, one report per corpus-suite pair, naming the shared records where the data are
    at hand. Replaces the per-spec reports (`Program.diagnostics` coded `leakage`)."""
    diags = Diagnostics()
    train: list[tuple[Use, dict[tuple[str, str], Decl]]] = []
    test: list[tuple[str, Use, dict[tuple[str, str], Decl]]] = []
    owner: dict[tuple[str, int, int, str], Program] = {}
    for program in programs:
        a_uses, b_uses = uses_of(program.decls, program.scope.decls)
        for a in a_uses:
            k = (a.pos.file, a.pos.line, a.pos.col, a.who)
            if k not in owner:
                owner[k] = program
                train.append((a, program.decls))
        for suite, b in b_uses:
            k = (b.pos.file, b.pos.line, b.pos.col, b.who)
            if k not in owner:
                owner[k] = program
                test.append((suite, b, program.decls))

    def of(u: Use) -> Program:
        return owner[(u.pos.file, u.pos.line, u.pos.col, u.who)]

    for leak in find_leaks(train, test, diags):
        shared = shared_records((of(leak.corpus), leak.corpus), [(of(b), b) for b, _ in leak.tasks])
        report(leak, diags, shared)
    return diags.items
