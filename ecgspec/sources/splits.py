"""Splits: declared folds, or deterministic patient-level hashing.

`split by strat_fold { train = 1..8; val = 9; test = 10 }` reads a fold number from the index;
`split hash patient_id { train = 80%; test = 20% }` hashes the patient id into [0, 1) and cuts
that interval by the shares in the order written. Hashing uses the value alone (not the source
name or the spec), so every spec that hashes the same patients with the same shares puts each
patient on the same side, and every record of a patient lands where the patient does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..ir import Source, Split


def hash_unit(value: str) -> float:
    """A stable number in [0, 1) for a value: the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(value.strip().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fold_number(text: str) -> int | None:
    """'3', '3.0' → 3; anything else None."""
    try:
        f = float(text)
    except (TypeError, ValueError):
        return None
    return int(f) if f.is_integer() else None


@dataclass(frozen=True)
class Splitter:
    """One `split` statement: which part a record falls in, from its column value."""

    split: Split

    @property
    def column(self) -> str:
        return self.split.by or self.split.hash or ""

    def part(self, value: str | None) -> str | None:
        if value is None or not str(value).strip():
            return None
        if self.split.hash is not None:
            u = hash_unit(str(value))
            edge = 0.0
            parts = list(self.split.parts.items())
            for name, share in parts:
                edge += float(share)
                if u < edge:
                    return name
            return parts[-1][0] if parts else None  # rounding of shares that add up to 1
        fold = fold_number(str(value))
        if fold is None:
            return None
        for name, folds in self.split.parts.items():
            if fold in folds:
                return name
        return None


def splitters(source: Source) -> list[Splitter]:
    return [Splitter(sp) for sp in source.split]


def splitter_for(source: Source, part: str | None) -> Splitter | None:
    """The statement that declares `part` (or the first one when part is None)."""
    all_ = splitters(source)
    if part is None:
        return all_[0] if all_ else None
    return next((s for s in all_ if part in s.split.parts), None)
