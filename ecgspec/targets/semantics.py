"""What a vocabulary's labels mean to each other, applied to one record's labels.

A `labels` declaration may say that one label implies another (`STACH: [SR]`), that two cannot
occur together (`AFIB: [SR]`), what heart rate a label means (`SBRAD: 0..60 bpm`) and which
words mean a label (`synonyms`). Questions are answered of the record's labels closed under
`implies`, so that "sinus rhythm?" is Yes for a sinus tachycardia whichever source labelled it;
a record whose closed labels hold an excluded pair contradicts itself and is not asked. A wrong
option (a multiple-choice distractor, the candidate of a closed question answered No) is never
a label the record has or implies, a label that names what one of them means (a shared
description or synonym), nor a rate class whose range holds the record's measured rate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..ir.labels import closure, excluded_pairs
from ..ir.task import CRITERIA

_NON_WORD = re.compile(r"[^0-9a-z]+")


def close(truth: Iterable[str], labels: Any) -> tuple[str, ...]:
    """`truth` with everything it implies, in vocabulary order (labels outside it kept, last)."""
    truth = tuple(truth)
    implies = getattr(labels, "implies", None) or {}
    if not implies:
        return truth
    closed = closure(truth, implies)
    vocab = tuple(getattr(labels, "vocabulary", ()))
    return tuple(v for v in vocab if v in closed) + tuple(t for t in truth if t not in vocab)


def contradiction(truth: Iterable[str], labels: Any) -> str | None:
    """Why a record's (closed) labels cannot all be true, or None."""
    pairs = excluded_pairs(truth, getattr(labels, "excludes", None) or {})
    if not pairs:
        return None
    a, b = pairs[0]
    return f"the record's labels contradict each other ({a} excludes {b})"


def _norm(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def _words(label: str, labels: Any) -> set[str]:
    """The words that name `label`: its code, its description and its synonyms, normalised."""
    descriptions = getattr(labels, "descriptions", None) or {}
    synonyms = getattr(labels, "synonyms", None) or {}
    out = {_norm(label), *(_norm(w) for w in synonyms.get(label, ()))}
    if label in descriptions:
        out.add(_norm(descriptions[label]))
    return {w for w in out if w}


def rate_agrees(bounds: tuple[float, float], bpm: float | None) -> bool:
    """Whether a rate class of `bounds` (bpm) may hold for a record measured at `bpm`: inside the
    range, or within the rate margin of it (measurement error could put it there), or the rate
    unknown (nothing shows the class wrong)."""
    if bpm is None:
        return True
    lo, hi = bounds
    return lo - CRITERIA.rate_margin <= bpm <= hi + CRITERIA.rate_margin


def distractors(
    truth: Sequence[str], pool: Sequence[str], labels: Any, bpm: Callable[[], float | None] | None = None
) -> list[str]:
    """The labels of `pool` (in its order) that are safe to offer as wrong answers for a record
    whose closed labels are `truth`. `bpm` gives the record's measured rate, asked only when a
    candidate is a rate class."""
    have = set(truth)
    taken: set[str] = set()
    for t in truth:
        taken |= _words(t, labels)
    rates = getattr(labels, "heart_rate", None) or {}
    measured: list[float | None] = []  # asked once, when first needed

    def rate() -> float | None:
        if not measured:
            measured.append(bpm() if bpm is not None else None)
        return measured[0]

    out = []
    for candidate in pool:
        if candidate in have or _words(candidate, labels) & taken:
            continue
        if candidate in rates and rate_agrees(rates[candidate], rate()):
            continue
        out.append(candidate)
    return out
