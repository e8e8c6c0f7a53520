"""`labels`: a vocabulary, the mapping from a database's codes to it, and what its labels mean
to each other.

`implies` and `excludes` are the vocabulary's semantics: sinus tachycardia is a sinus rhythm
(`STACH: [SR]`), atrial fibrillation is not (`AFIB: [SR]` in `excludes`, which works both ways).
A record's labels are closed under `implies` before any question is answered of them, and no
label the record has, implies, or cannot have by its measured rate (`heart_rate`) is offered as
a wrong answer (ecgspec.targets.semantics). The checker rejects semantics that contradict
themselves (ecgspec.check.semantics).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, ClassVar, Literal

import annotated_types as at
from pydantic import Field

from .base import DataPath, Decl, Ident, Problem, Span, Unit

# A heart-rate range, written `0..60 bpm` (stored in Hz, the canonical frequency: 60 bpm is 1 Hz).
# A ventricular rate is 0 to 300 bpm (5 Hz): 1:1 flutter is about the fastest a heart conducts.
Rate = Annotated[float, Unit("frequency"), at.Ge(0), at.Le(5)]
RateRange = Rate | Span


def closure(labels: Iterable[str], implies: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """`labels` and everything they imply, transitively (cycles included)."""
    out: set[str] = set()
    pending = list(labels)
    while pending:
        label = pending.pop()
        if label not in out:
            out.add(label)
            pending.extend(implies.get(label, ()))
    return frozenset(out)


def excluded_pairs(labels: Iterable[str], excludes: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """The pairs (a, b) of `labels` that `excludes` forbids together, each once, a before b as
    `excludes` writes them."""
    have = set(labels)
    out: list[tuple[str, str]] = []
    for a, bs in excludes.items():
        if a not in have:
            continue
        for b in bs:
            if b in have and (a, b) not in out and (b, a) not in out:
                out.append((a, b))
    return out


class Labels(Decl):
    """Names that tasks and suites use (NORM, MI, AF …) and how source codes map onto them."""

    kind: ClassVar[str] = "labels"

    vocabulary: tuple[Annotated[str, Ident()], ...] = Field(
        (), description="the label names, in order (default: the table's labels, in the order they appear)"
    )
    map: dict[str, tuple[Annotated[str, Ident()], ...]] = Field(
        default_factory=dict, description="source code → labels"
    )
    table: Annotated[str, DataPath()] | tuple[Annotated[str, DataPath()], ...] | None = Field(
        None, description="CSV file(s) holding the mapping"
    )
    key: Annotated[str, Ident()] | None = Field(
        None, description='the table\'s code column (a column without a header name: its position, `"#1"`)'
    )
    value: Annotated[str, Ident()] | None = Field(None, description="the table's label column")
    min_likelihood: float = Field(
        0.0,
        ge=0,
        le=100,
        description="codes below this likelihood (PTB-XL: 0–100) "
        "do not count; 0 keeps all, as PTB-XL's own example does",
    )
    unknown: Literal["skip", "ignore"] = Field(
        "skip", description="a record with a code outside the mapping: skipped and reported, or the code ignored"
    )
    synonyms: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="label → words that mean it")
    descriptions: dict[str, str] = Field(default_factory=dict, description="label → its meaning in words")
    implies: dict[str, tuple[Annotated[str, Ident()], ...]] = Field(
        default_factory=dict,
        description="label → labels it implies (`STACH: [SR]`: sinus tachycardia is a sinus rhythm); a record's "
        "labels are closed under it before questions are answered, and an implied label is never a wrong option",
    )
    excludes: dict[str, tuple[Annotated[str, Ident()], ...]] = Field(
        default_factory=dict,
        description="label → labels it cannot occur with (`AFIB: [SR]`), both ways; a record whose labels "
        "(closed under `implies`) hold an excluded pair is not asked about them",
    )
    heart_rate: dict[str, RateRange] = Field(
        default_factory=dict,
        description="label → the ventricular rate it means (`SBRAD: 0..60 bpm`), within 0 to 300 bpm (5 Hz): a "
        "label whose range holds the record's measured rate (or comes within the rate margin of it) is never "
        "offered as a wrong option",
    )

    def closure(self, labels: Iterable[str]) -> frozenset[str]:
        return closure(labels, self.implies)

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        vocab = set(self.vocabulary)
        fields = ("map", "synonyms", "descriptions", "implies", "excludes", "heart_rate")
        for field in () if not vocab else fields:
            mapping = getattr(self, field)
            # `map` is code → labels: only its values are labels; the semantics name labels on both sides.
            keys = [] if field == "map" else list(mapping)
            values = [t for v in mapping.values() for t in v] if field in ("map", "implies", "excludes") else []
            targets = keys + values
            unknown = sorted({t for t in targets if t not in vocab}, key=targets.index)
            if unknown:
                out.append(
                    (
                        field,
                        f"`{field}` names labels outside the vocabulary: {', '.join(unknown)}",
                        f"add {', '.join(unknown)} to `vocabulary`, or fix the spelling",
                        ("key" if unknown[0] in keys else "value", unknown[0]),
                    )
                )
        for label, written in self.heart_rate.items():
            if not isinstance(written, Span):
                out.append(
                    (
                        "heart_rate",
                        f"`heart_rate` of {label} is one rate; it takes the range the label means",
                        f"write a range, for example `{label}: 0..60 bpm`",
                        ("key", label),
                    )
                )
        if self.table is not None and not (self.key and self.value):
            out.append(("table", "a label table needs `key` and `value` columns", None))
        if not self.vocabulary and self.table is None:
            out.append(
                (
                    "vocabulary",
                    "labels need a `vocabulary`, or a `table` to take it from",
                    "for example `vocabulary = [NORM, MI, STTC, CD, HYP]`",
                )
            )
        return out
