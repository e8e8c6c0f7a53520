"""A corpus expanded into work items: (source, record, variant), in a stable order.

The order is the `from` steps in the order written, each source's records in key order, and a
record's variants in turn. `limit` (of a `from` step or of the corpus) keeps a subset chosen by
hashing each key with the corpus's hash: a fair sample that does not shift when records are
added elsewhere in the database. The corpus's `limit` is shared among its `from` steps by their
`weight`s. Only keys are held in memory, never records, so a plan of a million records is small.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..ir import From


class Selection(Protocol):
    """What a walk reads of a corpus: a `Corpus`, or a suite task (`suite_plan.TaskSelection`)."""

    @property
    def name(self) -> str: ...
    @property
    def sources(self) -> tuple[From, ...]: ...
    @property
    def limit(self) -> int | None: ...
    @property
    def variants(self) -> int: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_READABLE_MAX = 96  # characters of a key kept in a file name (a name is at most 255 bytes)


def safe_name(key: str) -> str:
    """A record key as a file name and id part, one to one: a key that is a safe name already
    (`HR06000`, `00001_lr`) is itself; any other keeps a readable part and adds `~` and a short
    hash of the raw key (`records100/00001_lr` → `records100_00001_lr~e18d5503`), so `a b`,
    `a_b` and `a/b` never share a file. `~` is never in a plain key's name, so the two kinds
    cannot meet; two keys of one readable part would need the same hash (`IdCollision`)."""
    readable = _UNSAFE.sub("_", key).strip("._")[:_READABLE_MAX] or "record"
    if readable == key:
        return key
    return f"{readable}~{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


class IdCollision(Exception):
    """Two records of one source whose names (`safe_name`) are the same: a build would write
    both to one file. Raised while planning, before anything is written."""

    def __init__(self, selection: str, source: str, first: str, second: str, name: str):
        super().__init__(
            f"'{selection}': records {first!r} and {second!r} of source '{source}' would both be "
            f"named '{name}' (their images and results would overwrite each other); rename one of them"
        )
        self.keys = (first, second)


def check_names(selection: str, source: str, keys: Iterable[str], names: dict[str, str]) -> None:
    """Raise IdCollision where two of `keys` (or one of them and one in `names`, name → key,
    filled as it goes) have the same `safe_name`. A key that is its own name cannot collide (any
    other key's name has a `~`), so only the others are held."""
    for key in keys:
        name = safe_name(key)
        if name == key:
            continue
        other = names.setdefault(name, key)
        if other != key:
            raise IdCollision(selection, source, other, key, name)


@dataclass(frozen=True)
class WorkItem:
    """One image of a corpus and the conversation about it."""

    corpus: str
    source: str
    key: str
    variant: int

    @property
    def id(self) -> str:
        return f"{safe_name(self.source)}-{safe_name(self.key)}-v{self.variant}"

    @property
    def image(self) -> str:
        """The image path, relative to OUT/images."""
        return f"{self.corpus}/{safe_name(self.source)}/{safe_name(self.key)}_v{self.variant}"


def _rank(salt: str, key: str) -> bytes:
    return hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()


def allocate(total: int, weights: list[float], available: list[int]) -> list[int]:
    """`total` items shared by `weights` (largest remainders), none above what a source has;
    what a small source cannot take goes to the others, in proportion."""
    share = [0] * len(weights)
    left, open_ = total, [i for i, a in enumerate(available) if a > 0]
    while left > 0 and open_:
        w = sum(weights[i] for i in open_)
        exact = {i: left * weights[i] / w for i in open_}
        add = {i: int(exact[i]) for i in open_}
        rest = left - sum(add.values())
        for i in sorted(open_, key=lambda i: (-(exact[i] - add[i]), i))[:rest]:
            add[i] += 1
        for i in open_:
            take = min(add[i], available[i] - share[i])
            share[i] += take
            left -= take
        open_ = [i for i in open_ if share[i] < available[i]]
    return share


@dataclass
class SourcePlan:
    step_index: int
    source: str
    split: str | None
    keep: set[str] | None  # None: every record of the split


def effective_limit(corpus: Selection, limit: int | None) -> int | None:
    """The item cap of a corpus: its own `limit` or the command line's, whichever is smaller."""
    caps = [x for x in (corpus.limit, limit) if x is not None]
    return min(caps) if caps else None


def plan_sources(corpus: Selection, corpus_hash: str, readers: dict[str, Any], limit: int | None) -> list[SourcePlan]:
    """Which records each `from` step contributes (keys only)."""
    cap = effective_limit(corpus, limit)
    keys: list[list[str]] = []
    names: dict[str, dict[str, str]] = {}  # source → file name → key: one file per record
    for step in corpus.sources:
        ks = sorted({ref.key for ref in readers[step.source].refs(split=step.split)})
        check_names(corpus.name, step.source, ks, names.setdefault(step.source, {}))
        if step.limit is not None and step.limit < len(ks):
            ks = sorted(sorted(ks, key=lambda k: _rank(corpus_hash, k))[: step.limit])
        keys.append(ks)
    per_record = max(1, corpus.variants)
    plans: list[SourcePlan] = []
    if cap is not None:
        records_cap = -(-cap // per_record)
        share = allocate(records_cap, [s.weight for s in corpus.sources], [len(k) for k in keys])
        for i, (step, ks) in enumerate(zip(corpus.sources, keys, strict=True)):
            chosen = set(sorted(ks, key=lambda k: _rank(corpus_hash, k))[: share[i]])
            plans.append(SourcePlan(i, step.source, step.split, chosen))
    else:
        for i, (step, ks) in enumerate(zip(corpus.sources, keys, strict=True)):
            plans.append(SourcePlan(i, step.source, step.split, set(ks)))
    return plans


def walk(
    corpus: Selection, plans: list[SourcePlan], readers: dict[str, Any], limit: int | None
) -> Iterator[tuple[WorkItem, Any]]:
    """The work items in plan order, each with its record's index entry (streamed)."""
    cap = effective_limit(corpus, limit)
    seen: set[tuple[str, str]] = set()
    n = 0
    for sp in plans:
        for ref in readers[sp.source].refs(split=sp.split):
            if sp.keep is not None and ref.key not in sp.keep:
                continue
            if (sp.source, ref.key) in seen:  # the same source listed twice takes each record once
                continue
            seen.add((sp.source, ref.key))
            for v in range(max(1, corpus.variants)):
                if cap is not None and n >= cap:
                    return
                n += 1
                yield WorkItem(corpus.name, sp.source, ref.key, v), ref
