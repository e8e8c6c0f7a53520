"""Leakage: a corpus must not train on a record, or a patient, that a suite tests on.

Checked from the spec alone, before anything is read or built. Each `from SOURCE [split P]` of
a corpus is compared with each `from` of every suite task. Two uses are safe only when they
are over different databases, or when both take parts of splits that provably never share a
record or a patient:

- folds (`split by strat_fold`): the same column, and no fold in common (folds are taken to be
  patient-level, as PTB-XL's strat_fold is);
- hashing (`split hash COLUMN`): the same patient column, and share intervals that do not
  overlap (the hash depends on the value only, so two sources with the same column agree).

Anything else is reported as an error at the corpus's `from` line, once per corpus-suite pair.
`ecgspec check` compares every spec it is given (and every spec in a folder it is given) with each
other, and names the shared records or patients where the sources' indexes are at hand. Databases are told apart
by adapter (there is one PTB-XL, one MIMIC-IV-ECG, one CODE-15%; ECG-QA is PTB-XL) and, for
folder-based adapters, by root; CinC 2021 repackages PTB-XL, which is a warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from . import syntax as s
from .errors import Diagnostics, Pos
from .ir import Corpus, Decl, From, Source, Suite

if TYPE_CHECKING:
    pass

ONE_DATABASE = {"ptbxl": "PTB-XL", "mimic": "MIMIC-IV-ECG", "code15": "CODE-15%"}
PATIENT_COLUMN = {"ptbxl": "patient_id", "mimic": "subject_id", "code15": "patient_id"}
# Adapters whose records have no patient id: each record is its own patient.
OWN_PATIENT = ("patient", "key")


@dataclass(frozen=True)
class Use:
    """One `from` line: who uses which source and split, and where it is written."""

    who: str
    source: Source
    split: str | None
    pos: Pos


def _resolve_base(src: Source, decls: dict[tuple[str, str], Decl]) -> Source:
    seen = set()
    while src.adapter == "ecgqa" and src.waveforms and src.waveforms not in seen:
        seen.add(src.waveforms)
        base = decls.get(("source", src.waveforms))
        if not isinstance(base, Source):
            break
        src = base
    return src


def _database(src: Source, decls: dict[tuple[str, str], Decl]) -> tuple[str, str]:
    base = _resolve_base(src, decls)
    if base.adapter in ONE_DATABASE:
        return base.adapter, ""
    return base.adapter, os.path.normpath(base.root)


def _overlap(a: tuple[str, str], b: tuple[str, str]) -> bool:
    if a[0] != b[0] and not (a[0] not in ONE_DATABASE and b[0] not in ONE_DATABASE):
        return False
    if a[1] == "" or b[1] == "":
        return a == b
    pa, pb = a[1].rstrip("/") + "/", b[1].rstrip("/") + "/"
    return pa.startswith(pb) or pb.startswith(pa)


def _selection(use: Use, decls: dict[tuple[str, str], Decl]) -> tuple[str, str, object] | None:
    """(kind, column, cells) of a split part; None when the use takes every record."""
    if use.split is None:
        return None
    for sp in use.source.split:
        if use.split not in sp.parts:
            continue
        if sp.by is not None:
            return "by", sp.by, frozenset(sp.parts[use.split])
        edge = 0.0
        for name, share in sp.parts.items():
            if name == use.split:
                return "hash", sp.hash or "", (edge, edge + float(share))
            edge += float(share)
    return None


def _patient_column(src: Source, decls: dict[tuple[str, str], Decl]) -> set[str]:
    base = _resolve_base(src, decls)
    cols = set(OWN_PATIENT) if base.adapter not in ONE_DATABASE else set()
    for s_ in (src, base):
        if s_.patient:
            cols.add(s_.patient)
        if s_.adapter in PATIENT_COLUMN:
            cols.add(PATIENT_COLUMN[s_.adapter])
    return cols


def _why_shared(a: Use, b: Use, decls: dict[tuple[str, str], Decl]) -> str | None:
    """None when the two uses can never share a record or a patient; else the reason."""
    sa, sb = _selection(a, decls), _selection(b, decls)
    if sa is None or sb is None:
        who = a if sa is None else b
        return f"{who.who} takes every record of source '{who.source.name}' (no split)"
    if sa[0] != sb[0] or sa[1] != sb[1]:
        return f"they split differently ({sa[0]} {sa[1]} and {sb[0]} {sb[1]}), so their parts can overlap"
    if sa[0] == "by":
        common = sorted(sa[2] & sb[2])  # type: ignore[operator]
        return f"both take fold{'s' * (len(common) > 1)} {', '.join(map(str, common))}" if common else None
    (a0, a1), (b0, b1) = cast(tuple[tuple[float, float], tuple[float, float]], (sa[2], sb[2]))
    if a0 < b1 - 1e-12 and b0 < a1 - 1e-12:
        return f"their shares of the hash of {sa[1]} overlap"
    patients = _patient_column(a.source, decls) & _patient_column(b.source, decls)
    if sa[1] not in patients:
        return f"they hash '{sa[1]}', not the patient, so one patient's records can fall on both sides"
    return None


def _from_positions(decl: s.Decl) -> list[Pos]:
    return [e.pos for e in decl.body.entries if isinstance(e, s.Statement) and e.head.text == "from"]


def _suite_positions(decl: s.Decl) -> dict[str, list[Pos]]:
    out: dict[str, list[Pos]] = {}
    for e in decl.body.entries:
        if isinstance(e, s.Statement) and e.head.text == "task" and e.block is not None and e.terms:
            tid = getattr(e.terms[0], "dotted", None) or getattr(e.terms[0], "value", None)
            out[str(tid)] = [x.pos for x in e.block.entries if isinstance(x, s.Statement) and x.head.text == "from"]
    return out


def _uses(
    froms: tuple[From, ...], who: str, positions: list[Pos], fallback: Pos, decls: dict[tuple[str, str], Decl]
) -> list[Use]:
    out = []
    for i, f in enumerate(froms):
        src = decls.get(("source", f.source))
        if isinstance(src, Source):  # a synth is never real data, so it cannot leak
            out.append(Use(who, src, f.split, positions[i] if i < len(positions) else fallback))
    return out


def _literal_prefix(glob: str | None) -> str:
    """The part of a record glob before its first wildcard: every name it matches starts so."""
    if not glob:
        return ""
    cut = min((i for i, ch in enumerate(glob) if ch in "*?["), default=len(glob))
    return glob[:cut]


def _disjoint_globs(a: Source, b: Source) -> bool:
    """Two sources over one folder whose `records` globs cannot match the same name (`HR*` and
    `JS*`): their literal prefixes diverge. Conservative: any doubt counts as a possible overlap."""
    pa, pb = _literal_prefix(a.records), _literal_prefix(b.records)
    return bool(pa) and bool(pb) and not (pa.startswith(pb) or pb.startswith(pa))


def _excludes_ptbxl(cinc: Source) -> bool:
    """A CinC source whose records cannot be the PTB-XL ones (named HR…)."""
    prefix = _literal_prefix(cinc.records)
    return bool(prefix) and not ("HR".startswith(prefix) or prefix.startswith("HR"))


@dataclass
class Leak:
    """A corpus that can share records or patients with a suite: its first `from` that can, and
    every suite task it can share with (one report per corpus-suite pair)."""

    corpus: Use
    suite: str
    tasks: list[tuple[Use, str]]  # (the suite task's use, why they can share)


def uses_of(
    decls: dict[tuple[str, str], Decl], syntax: dict[tuple[str, str], s.Decl]
) -> tuple[list[Use], list[tuple[str, Use]]]:
    """(the corpora's uses, the suites' uses with their suite's name)."""
    train: list[Use] = []
    test: list[tuple[str, Use]] = []
    for key, decl in decls.items():
        node = syntax.get(key)
        if node is None:
            continue
        if isinstance(decl, Corpus):
            train += _uses(decl.sources, f"corpus '{decl.name}'", _from_positions(node), node.name.pos, decls)
        elif isinstance(decl, Suite):
            by_task = _suite_positions(node)
            for t in decl.tasks:
                uses = _uses(
                    t.sources, f"suite '{decl.name}' task '{t.id}'", by_task.get(t.id, []), node.name.pos, decls
                )
                test += [(decl.name, u) for u in uses]
    return train, test


CINC_PTBXL = "CinC 2021 repackages PTB-XL"  # a possible overlap: a warning, not an error


def _compare(a: Use, b: Use, decls_a: dict[tuple[str, str], Decl], decls_b: dict[tuple[str, str], Decl]) -> str | None:
    """Why a corpus use and a suite use can share records or patients, or None; `CINC_PTBXL`
    where a CinC source may repackage PTB-XL records (a warning)."""
    da, db = _database(a.source, decls_a), _database(b.source, decls_b)
    if _disjoint_globs(a.source, b.source):
        return None
    if not _overlap(da, db):
        if {da[0], db[0]} == {"cinc", "ptbxl"} and not _excludes_ptbxl(a.source if da[0] == "cinc" else b.source):
            return CINC_PTBXL
        return None
    # Splits are compared within one spec: across specs, sources of one database are read alike.
    return _why_shared(a, b, {**decls_b, **decls_a})


def find_leaks(
    train: list[tuple[Use, dict[tuple[str, str], Decl]]],
    test: list[tuple[str, Use, dict[tuple[str, str], Decl]]],
    diags: Diagnostics,
) -> list[Leak]:
    """Every corpus-suite pair that can share a record or a patient (warnings go to `diags`)."""
    leaks: dict[tuple[str, str, str, str], Leak] = {}
    possible: dict[tuple[Pos, str, str], list[Use]] = {}
    for a, decls_a in train:
        for suite, b, decls_b in test:
            why = _compare(a, b, decls_a, decls_b)
            if why is None:
                continue
            if why is CINC_PTBXL:
                possible.setdefault((a.pos, a.who, suite), []).append(b)
                continue
            key = (a.pos.file, a.who, b.pos.file, suite)
            leak = leaks.get(key)
            if leak is None:
                leaks[key] = Leak(a, suite, [(b, why)])
            elif all(u.who != b.who or u.source.name != b.source.name for u, _ in leak.tasks):
                leak.tasks.append((b, why))
    for (pos, who, suite), uses in possible.items():
        a = next(u for u, _ in train if u.pos == pos and u.who == who)
        tasks = ", ".join(dict.fromkeys(f"'{_task_of(b)}' (source '{b.source.name}')" for b in uses))
        diags.warning(
            pos,
            f"{who} uses source '{a.source.name}', and suite '{suite}' tests on PTB-XL in task{'s' * (len(uses) > 1)} "
            f"{tasks}: the PhysioNet/CinC 2021 records named HR* are PTB-XL records, so the two can share "
            "records and patients",
            "point the CinC source at databases other than PTB-XL (`records`), or silence "
            "this with `# ecgspec: ignore[leakage-possible]`",
            code="leakage-possible",
        )
    return list(leaks.values())


def _task_of(u: Use) -> str:
    return u.who.rpartition(" task ")[2].strip("'")


def _split_text(u: Use) -> str:
    return f"source '{u.source.name}'" + (f" split '{u.split}'" if u.split else "")


def report(leak: Leak, diags: Diagnostics, shared: str | None = None) -> None:
    """One located error for a corpus-suite pair: at the corpus's `from`, naming the suite's tasks,
    why they can share, and (when the data were at hand to say) the records or patients they share."""
    a = leak.corpus
    tasks = "; ".join(
        f"task '{b.who.rpartition(' task ')[2].strip(chr(39))}' ({_split_text(b)}): {why}" for b, why in leak.tasks
    )
    where = {b.pos.file for b, _ in leak.tasks} - {a.pos.file}
    at = f" (declared in {', '.join(sorted(where))})" if where else ""
    diags.error(
        a.pos,
        f"{a.who} ({_split_text(a)}) can share records or patients with suite '{leak.suite}'{at}: {tasks}"
        + (f"; {shared}" if shared else ""),
        "train and test on disjoint parts of one split, e.g. `from ptbxl split train` in the "
        "corpus and `from ptbxl split test` in the suite",
        code="leakage",
    )


def check_leakage(
    decls: dict[tuple[str, str], Decl], syntax: dict[tuple[str, str], s.Decl], diags: Diagnostics
) -> None:
    """Report every corpus that can share a record or a patient with a suite, once per pair."""
    train, test = uses_of(decls, syntax)
    for leak in find_leaks([(a, decls) for a in train], [(n, b, decls) for n, b in test], diags):
        report(leak, diags)
