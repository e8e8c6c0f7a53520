"""A corpus expanded into work items: (source, record, variant), in a stable order.

The order is the `from` steps in the order written, each source's records in key order, and a
record's variants in turn. `limit` (of a `from` step or of the corpus) keeps a subset chosen by
hashing each key with the corpus's hash: a fair sample that does not shift when records are
added elsewhere in the database. The corpus's `limit` is shared among its `from` steps by their
`weight`s. Only keys are held in memory, never records, so a plan of a million records is small.

A record longer than a page (the corpus's `window`) shows the page-long window from
`window_start` (`first`), one drawn per item (`random`), or every whole window, each its own
item `…-vN-wK` (`all`): then a record's length decides how many items it makes, read from its
WFDB header where there is one (a small file), else by reading the record once.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..ir import From, Layout
from ..ir.base import Choice

if TYPE_CHECKING:
    import numpy as np


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
    window: int | None = None  # `window = all`: which window of the record (0, 1, …); None otherwise

    @property
    def id(self) -> str:
        # The suffix only under `window = all`: every other corpus keeps the ids (and so the
        # streams and bytes) it had before windows existed.
        suffix = "" if self.window is None else f"-w{self.window}"
        return f"{safe_name(self.source)}-{safe_name(self.key)}-v{self.variant}{suffix}"

    @property
    def image(self) -> str:
        """The image path, relative to OUT/images."""
        suffix = "" if self.window is None else f"_w{self.window}"
        return f"{self.corpus}/{safe_name(self.source)}/{safe_name(self.key)}_v{self.variant}{suffix}"


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
    # `window = all`: (first start, step) in seconds; the walk fills `seconds` (key → the record's
    # length, None when unreadable) as it meets records, so the build's later walks read none again.
    windows: tuple[float, float] | None = None
    seconds: dict[str, float | None] = field(default_factory=dict)


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
    windows = _all_windows(corpus, readers)
    plans: list[SourcePlan] = []
    if cap is not None:
        records_cap = -(-cap // per_record)
        share = allocate(records_cap, [s.weight for s in corpus.sources], [len(k) for k in keys])
        for i, (step, ks) in enumerate(zip(corpus.sources, keys, strict=True)):
            chosen = set(sorted(ks, key=lambda k: _rank(corpus_hash, k))[: share[i]])
            plans.append(SourcePlan(i, step.source, step.split, chosen, windows))
    else:
        for i, (step, ks) in enumerate(zip(corpus.sources, keys, strict=True)):
            plans.append(SourcePlan(i, step.source, step.split, set(ks), windows))
    return plans


def walk(
    corpus: Selection, plans: list[SourcePlan], readers: dict[str, Any], limit: int | None, *, windows: bool = True
) -> Iterator[tuple[WorkItem, Any]]:
    """The work items in plan order, each with its record's index entry (streamed). Under
    `window = all` a record's variant is one item per whole window of the record, in time order
    (`windows=False`: one item per variant, as a walk that counts records from the index alone
    needs). A `limit` counts records × variants either way: every window of a chosen record is
    built, so the `from` weights share the records as they do without windows."""
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
            count = None  # windows of this record, under `window = all`
            if windows and sp.windows is not None:
                if ref.key not in sp.seconds:
                    sp.seconds[ref.key] = record_seconds(readers[sp.source], ref)
                count = window_count(*sp.windows, sp.seconds[ref.key])
            for v in range(max(1, corpus.variants)):
                if cap is not None and n >= cap:
                    return
                n += 1
                if count is None:
                    yield WorkItem(corpus.name, sp.source, ref.key, v), ref
                else:
                    for k in range(count):
                        yield WorkItem(corpus.name, sp.source, ref.key, v, k), ref


# ---- windows of a long record ------------------------------------------------------------------

# The stream a `window = random` item draws its start from: its own (ecgspec.draw.stream with the
# corpus hash and the item's id), so that no draw of the item's render or questions moves. `@` is
# in no task name, so no task's stream is this one.
WINDOW_STREAM = "@window"
_FIT = 1e-9  # seconds of float noise forgiven where a window is to end exactly at the record's end

# Adapters whose records are WFDB files at `ref.path`: their length is in the header's record line.
_WFDB_ADAPTERS = frozenset({"wfdb", "cinc", "ptbxl", "mimic"})


def page_seconds(layout: Layout) -> float:
    """The seconds of a record one page of `layout` shows, as ecgspec.render.layout.compose lays
    them out: a staggered lead matrix its columns × `column`, a simultaneous one `column` (every
    column shows the same seconds), rhythm strips `rhythm_duration` (default: a row's length);
    the longest of these."""
    n_cols = len(layout.leads[0]) if layout.leads else 0
    row = n_cols * float(layout.column)
    matrix = (float(layout.column) if layout.windows == "simultaneous" else row) if n_cols else 0.0
    rhythm = float(layout.rhythm_duration or row) if layout.rhythm else 0.0
    return max(matrix, rhythm) or float(layout.column)


def window_step(program: Any, corpus: Any) -> float:
    """The step between the windows of `window = all`: the longest page of the corpus's layouts
    (one layout: its page). Windows never overlap and each fits whatever layout its item draws;
    a shorter page shows the first part of its window."""
    names = corpus.layout.options if isinstance(corpus.layout, Choice) else (corpus.layout,)
    return max(page_seconds(program.get("layout", str(name))) for name in names)


def _all_windows(corpus: Selection, readers: dict[str, Any]) -> tuple[float, float] | None:
    """(first start, step) of a `window = all` corpus; None for any other (a suite task too)."""
    if getattr(corpus, "window", "first") != "all" or not corpus.sources:
        return None
    # The readers were opened from the program that declares the corpus: its layouts are there.
    program = readers[corpus.sources[0].source].program
    return float(getattr(corpus, "window_start", 0.0)), window_step(program, corpus)


def window_count(start: float, step: float, seconds: float | None) -> int:
    """Whole windows of `step` seconds from `start` in a record `seconds` long: a tail shorter than
    a page is not drawn. A record too short for even one (or of unknown length: it fails when its
    item reads it) still makes one item, whose page falls back as `first` does."""
    if seconds is None or step <= 0:
        return 1
    return max(1, math.floor((seconds - start) / step + _FIT))


def record_seconds(reader: Any, ref: Any) -> float | None:
    """A record's length in seconds: from its WFDB header's record line (samples / rate) where
    the reader reads WFDB, else by reading the record; None when neither can (a broken record:
    its item reports why)."""
    from ..records import RecordError

    if getattr(reader, "adapter", "") in _WFDB_ADAPTERS and ref.path:
        seconds = _header_seconds(reader, Path(ref.path))
        if seconds is not None:
            return seconds
    try:
        return float(reader.read(ref).duration)
    except RecordError:
        return None


def _header_seconds(reader: Any, path: Path) -> float | None:
    from ..records.wfdb import read_header_text, record_line

    if path.suffix in (".hea", ".dat", ".mat"):  # as read_wfdb names the header
        path = path.with_suffix("")
    header = path.with_suffix(".hea")
    if reader.outside(header):  # a link leading out is never opened; the read says so
        return None
    try:
        text = read_header_text(header)
        number, fs = record_line(text)
        parts = text.splitlines()[number - 1].split()
    except (OSError, ValueError):
        return None
    if len(parts) < 4 or not parts[3].isdigit() or int(parts[3]) == 0:  # 0: WFDB's "not known"
        return None
    return int(parts[3]) / (fs or 250.0)  # WFDB's default rate where the line gives none


def page_start(
    corpus: Any, program: Any, item: WorkItem, page: float, seconds: float, rng: Callable[[], np.random.Generator]
) -> float:
    """Where an item's page starts, in seconds of its record `seconds` long, for a page of `page`
    seconds: `first` at `window_start`, `all` at its window's start, `random` uniform in
    [window_start, seconds - page] (drawn from `rng()`, called only then). A start whose page
    does not fit in the record falls back to the latest that does (or 0): never an error."""
    wanted = float(corpus.window_start)
    if corpus.window == "all" and item.window:
        wanted += item.window * window_step(program, corpus)
    elif corpus.window == "random" and seconds - page > wanted:
        wanted = float(rng().uniform(wanted, seconds - page))
    return min(wanted, max(0.0, seconds - page))
