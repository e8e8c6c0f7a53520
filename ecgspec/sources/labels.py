"""Label vocabularies: the names tasks and suites use, and how a database's codes map onto them.

A `labels` declaration gives a vocabulary and a mapping, inline (`map`) or from CSV tables
(`table`, `key`, `value`): PTB-XL's scp_statements.csv maps SCP codes to diagnostic
superclasses, the PhysioNet/CinC 2021 dx_mapping tables map SNOMED-CT codes to
abbreviations. A code that names a vocabulary label maps to itself (CODE-15%'s columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..ir import Labels
from ..ir.base import Span
from ..program import Program
from .errors import SourceError
from .paths import data_path, display, setting_pos
from .tables import Table


@dataclass(frozen=True)
class LabelSet:
    """A vocabulary and its code mapping, ready to label records."""

    name: str
    vocabulary: tuple[str, ...]
    mapping: Mapping[str, tuple[str, ...]]
    known: frozenset[str]  # every code the mapping has heard of, labelled or not
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    min_likelihood: float = 0.0
    unknown_policy: str = "skip"
    # What the labels mean to each other (ecgspec.ir.labels; used by ecgspec.targets.semantics).
    implies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excludes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    heart_rate: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # label → (lo, hi) bpm

    def _codes(self, codes: Mapping[str, float] | Iterable[str]) -> list[str]:
        if isinstance(codes, Mapping):
            return [c for c, like in codes.items() if like is None or like >= self.min_likelihood]
        return list(codes)

    def map(self, codes: Mapping[str, float] | Iterable[str]) -> tuple[str, ...]:
        """The labels of a record's codes, each once, in vocabulary order."""
        found: set[str] = set()
        for c in self._codes(codes):
            found.update(self.mapping.get(c, ()))
        return tuple(v for v in self.vocabulary if v in found)

    def unknown(self, codes: Mapping[str, float] | Iterable[str]) -> list[str]:
        """Codes the mapping has never heard of (a typo in the data, or a newer code list)."""
        return [c for c in (codes if not isinstance(codes, Mapping) else list(codes)) if c not in self.known]


def _split_labels(text: str) -> list[str]:
    return [t for t in (p.strip() for p in text.replace(";", ",").split(",")) if t]


def _read_table(
    program: Program, decl: Labels, key: tuple[str, str], rel: str, data_roots: Sequence[str | Path] | None
) -> list[tuple[str, list[str]]]:
    path = data_path(program, key, "table", rel, data_roots, must_exist="file")
    table = Table(path)
    pos = setting_pos(program, key, "key")
    kcol = table.column(decl.key or "")
    vcol = table.column(decl.value or "")
    for name, col, field_ in ((decl.key, kcol, "key"), (decl.value, vcol, "value")):
        if col is None:
            shown = ", ".join(h or f'"#{i + 1}"' for i, h in enumerate(table.header))
            raise SourceError.at(
                setting_pos(program, key, field_) or pos,
                f"labels '{decl.name}': {display(path)} has no column '{name}'",
                f"its columns are {shown}",
                code="label-table",
            )
    rows: list[tuple[str, list[str]]] = []
    for _, row in table.rows(None):
        code = row.get(kcol)
        if code:
            rows.append((code, _split_labels(row.get(vcol))))
    return rows


def label_set(program: Program, name: str, data_roots: Sequence[str | Path] | None = None) -> LabelSet:
    """The LabelSet of a `labels` declaration; reads its tables (raises SourceError if it cannot)."""
    key = ("labels", name)
    decl = program.decls.get(key)
    if not isinstance(decl, Labels):
        raise KeyError(f"no labels declaration '{name}'")
    tables = (decl.table,) if isinstance(decl.table, str) else tuple(decl.table or ())
    pairs: list[tuple[str, list[str]]] = []
    for rel in tables:
        pairs.extend(_read_table(program, decl, key, rel, data_roots))
    vocabulary = decl.vocabulary
    if not vocabulary:
        seen: dict[str, None] = {}
        for _, labels in pairs:
            for lab in labels:
                seen.setdefault(lab, None)
        vocabulary = tuple(seen)
    vocab = set(vocabulary)
    mapping: dict[str, tuple[str, ...]] = {}
    for code, labels in pairs:
        # The first table that names a code wins (scored before unscored, for CinC).
        mapping.setdefault(code, tuple(lab for lab in labels if lab in vocab))
    for code, mapped in decl.map.items():
        mapping[code] = tuple(mapped)
    for lab in vocabulary:
        mapping.setdefault(lab, (lab,))
    return LabelSet(
        name=name,
        vocabulary=tuple(vocabulary),
        mapping=mapping,
        known=frozenset(mapping),
        synonyms=dict(decl.synonyms),
        descriptions=dict(decl.descriptions),
        min_likelihood=decl.min_likelihood,
        unknown_policy=decl.unknown,
        implies=dict(decl.implies),
        excludes=dict(decl.excludes),
        heart_rate={k: (r.lo * 60.0, r.hi * 60.0) for k, r in decl.heart_rate.items() if isinstance(r, Span)},
    )
