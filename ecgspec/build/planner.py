"""`ecgspec plan`: what a build of a spec's corpora would make and cost, without building it.

For each corpus: its records and images (after `limit`, `variants` and the `from` weights,
exactly as `ecgspec build` selects them), the questions each task is expected to get, the
render mix, the bytes on disk and the CPU time. Only the sources' indexes are read (one
streamed pass over each `from` step's refs, counting, never holding a list per item), so a
plan of a million items takes seconds and a flat amount of memory. Signals are decoded only
by the calibration (`calibrate=N`): N items, a hashed sample of the corpus's records, built
one after another into a temporary folder as one local job does, timed and weighed.

What only a build can know: which records cannot answer a task (a rhythm label missing, a
measure not confident, a value within a class's margin of its limit). The expected questions
assume every record can answer every task; the calibration measures each task's answerable
share on its sample, and the calibrated figures use it.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir import Corpus
from ..ir.base import Choice, Span
from .work_items import WorkItem, allocate, check_names, effective_limit, plan_sources, walk

if TYPE_CHECKING:
    from ..program import Program

SCHEMA = "ecgspec.plan/1"
DEFAULT_WORKERS = (1, 8, 64, 512)

# Bytes of one image at 100 dpi (PNG) by layout, measured on the demo corpus (specs/ecginstruct.ecg,
# mixed papers, half distorted); scaled by (dpi / 100)^2, and by JPEG_FACTOR for `image_format = jpeg`.
# Used only without a calibration: a calibration measures the corpus's own images.
PNG_BYTES_100DPI = {"4x3": 870_000, "6x2": 900_000, "3x4": 730_000, "2x6": 640_000, "12x1": 630_000}
PNG_BYTES_OTHER = 800_000
JPEG_FACTOR = 0.25
SIDECAR_BYTES = 7_500  # the image's .json sidecar (lead boxes, calibration, render settings)
PROMPT_BYTES = 2_300  # per item: its lines of prompts/CORPUS.jsonl and manifests/CORPUS*.json
WORK_BYTES = 1_800  # per item: its stored result under OUT/.work (kept for resuming)

RECORD_DEPENDENT = (
    "questions assume every record answers every task; which records cannot (a missing label, "
    "an unconfident measure, a value near a class limit) is known only by building: see the "
    "calibration's answerable share per task"
)
# `window = all` makes one image per whole page-long window of a record: how many, only its length
# says, which no index gives (reading every header or record would make a plan as slow as a build).
ALL_WINDOWS = (
    "window = all: every figure here counts one image a record and variant; each makes one image per whole "
    "window of the record, a factor unknown until the records are read (a 38 s record with 10 s pages: 3)"
)


@dataclass
class SourceCount:
    records: int = 0
    images: int = 0
    index_entries: int = 0  # records the step's refs list (its split, before limits)
    broken_index_entries: int = 0


@dataclass
class Calibration:
    """What N built items measured: time per item, bytes per image, which tasks they could answer."""

    items: int
    ok: int
    skipped: int
    failed: int
    startup_seconds: float  # the first item's time (imports, fonts, caches): once per worker
    seconds_per_item: float  # wall time of one item at one job, the first left out when N > 1
    cpu_seconds_per_item: float
    image_bytes: float  # per ok item
    sidecar_bytes: float
    prompt_bytes: float
    work_bytes: float
    questions_per_item: float  # over all N items, skipped ones as 0
    asked: dict[str, int] = field(default_factory=dict)
    unanswered: dict[str, int] = field(default_factory=dict)
    families: dict[str, dict[str, int]] = field(default_factory=dict)  # family → drawn, filled, unfilled turns

    def answerable(self) -> dict[str, float | None]:
        """Per task: of the times it was tried, the share the record could answer."""
        out: dict[str, float | None] = {}
        for t in sorted(set(self.asked) | set(self.unanswered)):
            tried = self.asked.get(t, 0) + self.unanswered.get(t, 0)
            out[t] = round(self.asked.get(t, 0) / tried, 4) if tried else None
        return out


@dataclass
class CorpusPlan:
    name: str
    hash: str
    records: int
    images: int
    variants: int
    limit: int | None
    exact_walk: bool  # a source listed twice: the plan walked the build's own key sets
    by_source: dict[str, SourceCount]
    tasks: dict[str, float]  # weights
    turns: dict[int, float]  # turns wanted → probability
    render: dict[str, dict[str, float]]
    dpi: float
    image_format: str
    calibration: Calibration | None = None
    synthesis: dict[str, Any] | None = None  # ecgspec.synthesis.estimate
    window: str = "first"  # the corpus's `window`: under `all`, images are a multiple of those counted
    # task → the family its turns are drawn in (ecgspec.build.item.task_group); instructs that are off
    # are left out. Empty, or `refill`: one weighted order of all tasks, whatever their family.
    groups: dict[str, str] = field(default_factory=dict)
    refill: bool = True

    # ---- questions -------------------------------------------------------------------------
    def family_shares(self) -> dict[str, float]:
        """The share of turns drawn of each family: its tasks' weight over all weights."""
        w: dict[str, float] = {}
        for t, g in self.groups.items():
            w[g] = w.get(g, 0.0) + self.tasks[t]
        total = sum(w.values()) or 1.0
        return {g: v / total for g, v in w.items()}

    def questions_per_task(self) -> dict[str, float]:
        """Expected questions per task over the corpus, every record answering every task."""
        if not self.refill and self.groups:
            return self._per_task_by_family()
        p = _first_k_probabilities(self.tasks)
        names = list(self.tasks)
        out = dict.fromkeys(names, 0.0)
        for k, pk in self.turns.items():
            kk = min(k, len(names))
            for i, n in enumerate(names):
                out[n] += self.images * pk * float(p[i, kk - 1])
        return out

    def _per_task_by_family(self) -> dict[str, float]:
        """As ecgspec.build.item draws them: each of k turns is of family F with probability p_F, and
        the m turns of F ask the first m of F's tasks in a weighted order (m ~ Binomial(k, p_F))."""
        out = dict.fromkeys(self.tasks, 0.0)
        for g, pg in self.family_shares().items():
            names = [t for t, tg in self.groups.items() if tg == g]
            first = _first_k_probabilities({t: self.tasks[t] for t in names})
            for k, pk in self.turns.items():
                for m in range(1, k + 1):
                    pm = math.comb(k, m) * pg**m * (1 - pg) ** (k - m)
                    for i, t in enumerate(names):
                        out[t] += self.images * pk * pm * float(first[i, min(m, len(names)) - 1])
        return out

    def questions_expected(self) -> float:
        if not self.refill and self.groups:
            return sum(self._per_task_by_family().values())
        n = len(self.tasks)
        return self.images * sum(pk * min(k, n) for k, pk in self.turns.items())

    # ---- bytes and time ---------------------------------------------------------------------
    def bytes_estimate(self) -> dict[str, Any]:
        c = self.calibration
        if c is not None and c.ok:
            ok = self.images * c.ok / c.items
            per = {"image": c.image_bytes, "sidecar": c.sidecar_bytes, "prompt": c.prompt_bytes, "work": c.work_bytes}
            source = f"calibration ({c.ok} built images)"
        else:
            ok = float(self.images)
            scale = (self.dpi / 100.0) ** 2 * (JPEG_FACTOR if self.image_format == "jpeg" else 1.0)
            image = sum(s * PNG_BYTES_100DPI.get(k, PNG_BYTES_OTHER) for k, s in self.render["layout"].items())
            per = {"image": image * scale, "sidecar": SIDECAR_BYTES, "prompt": PROMPT_BYTES, "work": WORK_BYTES}
            source = f"per-layout estimate at {self.dpi:g} dpi"
        per_image = sum(per.values())
        return {
            "from": source,
            "per_image": {k: round(v) for k, v in per.items()},
            "images_written": round(ok),
            "total": round(ok * per_image),
            "without_work": round(ok * (per_image - per["work"])),
        }

    def time_estimate(self, workers: tuple[int, ...]) -> dict[str, Any] | None:
        c = self.calibration
        if c is None:
            return None
        seconds = self.images * c.seconds_per_item
        return {
            "seconds_per_item": round(c.seconds_per_item, 4),
            "cpu_seconds_per_item": round(c.cpu_seconds_per_item, 4),
            "cpu_hours": round(seconds / 3600.0, 3),
            # Ideal scaling, one core a worker: each worker's start-up added, the merge left out.
            "wall_hours": {
                str(w): round((seconds / max(1, min(w, self.images)) + c.startup_seconds) / 3600.0, 4) for w in workers
            },
        }

    def as_json(self, workers: tuple[int, ...] = DEFAULT_WORKERS) -> dict[str, Any]:
        c = self.calibration
        per_task = self.questions_per_task()
        questions: dict[str, Any] = {
            "expected": round(self.questions_expected(), 1),
            "per_task": {t: round(v, 1) for t, v in per_task.items()},
            "turns_mean": round(sum(k * p for k, p in self.turns.items()), 4),
            "record_dependent": RECORD_DEPENDENT + (f"; {ALL_WINDOWS}" if self.window == "all" else ""),
        }
        if not self.refill and self.groups:
            turns_mean = sum(k * p for k, p in self.turns.items())
            # Turns drawn of each family; a turn its family cannot answer stays empty (the corpus does not refill).
            questions["families_drawn"] = {
                g: round(self.images * turns_mean * s, 1) for g, s in sorted(self.family_shares().items())
            }
        if c is not None and c.items:
            share = c.answerable()
            questions["answerable"] = share
            questions["calibrated"] = round(self.images * c.questions_per_item, 1)
            questions["calibrated_per_task"] = {
                t: round(self.images * c.asked.get(t, 0) / c.items, 1) for t in self.tasks
            }
        return {
            "name": self.name,
            "hash": self.hash,
            "records": self.records,
            "images": self.images,
            "variants": self.variants,
            "limit": self.limit,
            "exact_walk": self.exact_walk,
            "sources": {k: asdict(v) for k, v in self.by_source.items()},
            "questions": questions,
            "render": {k: {o: round(s, 6) for o, s in v.items()} for k, v in self.render.items()},
            "dpi": self.dpi,
            "image_format": self.image_format,
            "bytes": self.bytes_estimate(),
            "time": self.time_estimate(workers),
            "calibration": _calibration_json(c),
            **({"synthesis": self.synthesis} if self.synthesis is not None else {}),
            **(
                {"window": {"mode": "all", "windows_per_record": None, "note": ALL_WINDOWS}}
                if self.window == "all"
                else {}
            ),
        }


def _calibration_json(c: Calibration | None) -> dict[str, Any] | None:
    if c is None:
        return None
    out = asdict(c)
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 4)
    return out


# ---- the draws of an item, in expectation ------------------------------------------------------


def shares(value: Any) -> dict[str, float]:
    """A setting's options and their shares: a choice's weights, else the one value."""
    if isinstance(value, Choice):
        out: dict[str, float] = {}
        for o, w in zip(value.options, value.weights, strict=True):
            out[str(o)] = out.get(str(o), 0.0) + float(w)
        return out
    return {str(value): 1.0}


def render_mix(corpus: Corpus) -> dict[str, dict[str, float]]:
    """The layout, paper and distortion shares an item draws from (ecgspec.render.mix)."""
    distort = {"clean": 1.0}
    if corpus.distort is not None and corpus.distorted > 0:
        distort = {"clean": 1.0 - corpus.distorted} if corpus.distorted < 1 else {}
        for o, s in shares(corpus.distort).items():
            distort[o] = distort.get(o, 0.0) + corpus.distorted * s
    return {"layout": shares(corpus.layout), "paper": shares(corpus.paper), "distort": distort}


def turns_distribution(turns: Any, samples: int = 20_000) -> dict[int, float]:
    """P(turns wanted = k), k = max(1, int(draw(turns))) as an item draws it: exact for a number,
    a range `a..b` and a choice; sampled (fixed seed) for a continuous distribution."""
    from ..draw import draw

    if isinstance(turns, bool | int | float):
        return {max(1, int(turns)): 1.0}
    if isinstance(turns, Span) and turns.integer:
        lo, hi = int(turns.lo), int(turns.hi)
        ks = [max(1, k) for k in range(lo, hi + 1)]
        out: dict[int, float] = {}
        for k in ks:
            out[k] = out.get(k, 0.0) + 1.0 / len(ks)
        return out
    if isinstance(turns, Choice):
        out = {}
        for o, w in zip(turns.options, turns.weights, strict=True):
            k = max(1, int(o))
            out[k] = out.get(k, 0.0) + float(w)
        return out
    rng = np.random.default_rng(0)
    counts: dict[int, int] = {}
    for _ in range(samples):
        k = max(1, int(draw(turns, rng)))
        counts[k] = counts.get(k, 0) + 1
    return {k: v / samples for k, v in sorted(counts.items())}


def _first_k_probabilities(weights: dict[str, float], samples: int = 40_000, chunk: int = 8_000) -> np.ndarray:
    """P[i, k-1]: the probability that task i is among the first k of an item's weighted shuffle
    (Efraimidis–Spirakis, as ecgspec.build.item orders tasks). Sampled with a fixed seed; each
    column sums to k exactly."""
    w = np.asarray(list(weights.values()), dtype=float)
    n = len(w)
    if n == 0:
        return np.zeros((0, 0))
    rng = np.random.default_rng(0)
    counts = np.zeros((n, n))
    done = 0
    while done < samples:
        m = min(chunk, samples - done)
        keys = rng.random((m, n)) ** (1.0 / w)
        order = np.argsort(-keys, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n)[None, :].repeat(m, axis=0), axis=1)
        for i in range(n):
            counts[i] += np.bincount(rank[:, i], minlength=n)
        done += m
    return np.cumsum(counts, axis=1) / samples


# ---- counting the walk ---------------------------------------------------------------------------


def _rank(salt: str, key: str) -> bytes:
    return hashlib.sha256(f"{salt}\x1f{key}".encode()).digest()


class _Sample:
    """The `size` records of smallest hash rank seen in a stream: a fair sample in O(size) memory."""

    def __init__(self, size: int, salt: str):
        self.size, self.salt = size, salt
        self.heap: list[tuple[bytes, int, str, Any]] = []  # (negated rank, tie, source, ref)
        self.n = 0

    def offer(self, source: str, ref: Any) -> None:
        if self.size <= 0:
            return
        r = _rank(self.salt, ref.key)  # as work_items ranks keys for a `limit`
        neg = bytes(255 - b for b in r)
        self.n += 1
        entry = (neg, self.n, source, ref)
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, entry)
        elif neg > self.heap[0][0]:
            heapq.heapreplace(self.heap, entry)

    def items(self, corpus: str, variants: int) -> list[tuple[WorkItem, Any]]:
        chosen = sorted(self.heap, reverse=True)  # smallest rank first
        return [(WorkItem(corpus, s, ref.key, neg[0] % max(1, variants)), ref) for neg, _, s, ref in chosen]


def _count_step(name: str, source: str, reader: Any, split: str | None, sample: _Sample) -> tuple[int, int]:
    """(unique keys, broken index entries) of one `from` step, streamed. Refs come in key order,
    so a key not above the one before is a repeat only if the order breaks: then a second pass
    counts with a set (memory in the keys, for that source only)."""
    names: dict[str, str] = {}
    count, prev, ordered = 0, None, True

    def keys() -> Any:
        nonlocal count, prev, ordered
        for ref in reader.refs(split=split):
            if prev is not None and ref.key <= prev:
                ordered = False
                return
            prev = ref.key
            count += 1
            sample.offer(source, ref)
            yield ref.key

    check_names(name, source, keys(), names)
    if not ordered:
        seen: set[str] = set()
        sample.heap, sample.n = [x for x in sample.heap if x[2] != source], sample.n
        for ref in reader.refs(split=split):
            if ref.key not in seen:
                seen.add(ref.key)
                sample.offer(source, ref)
        check_names(name, source, iter(seen), names)
        count = len(seen)
    return count, len(getattr(reader, "skipped", ()))


def count_corpus(
    corpus: Corpus, corpus_hash: str, readers: dict[str, Any], limit: int | None, sample: _Sample
) -> tuple[int, int, dict[str, SourceCount], bool]:
    """(records, images, per source, exact walk) of a corpus as `ecgspec build` would walk it."""
    cap = effective_limit(corpus, limit)
    per_record = max(1, corpus.variants)
    by_source: dict[str, SourceCount] = {}
    steps = corpus.sources
    if len({s.source for s in steps}) < len(steps):
        # A source listed twice: the steps may share records, which the walk takes once. Walk
        # the build's own plan (its key sets are held: memory in the records of those sources).
        plans = plan_sources(corpus, corpus_hash, readers, limit)
        images, seen_records = 0, 0
        last: tuple[str, str] | None = None
        for item, ref in walk(corpus, plans, readers, limit, windows=False):  # records are not read
            sc = by_source.setdefault(item.source, SourceCount())
            sc.images += 1
            images += 1
            if last != (item.source, item.key):
                sc.records += 1
                seen_records += 1
                last = (item.source, item.key)
                if item.variant == 0:
                    sample.offer(item.source, ref)
        for s in steps:
            sc = by_source.setdefault(s.source, SourceCount())
            sc.broken_index_entries = len(getattr(readers[s.source], "skipped", ()))
        return seen_records, images, by_source, True
    available: list[int] = []
    for step in steps:
        n, broken = _count_step(corpus.name, step.source, readers[step.source], step.split, sample)
        sc = by_source.setdefault(step.source, SourceCount())
        sc.index_entries, sc.broken_index_entries = n, broken
        available.append(min(n, step.limit) if step.limit is not None else n)
    if cap is not None:
        share = allocate(-(-cap // per_record), [s.weight for s in steps], available)
    else:
        share = available
    remaining = cap
    records = images = 0
    for step, r in zip(steps, share, strict=True):
        n_images = r * per_record if remaining is None else min(r * per_record, remaining)
        if remaining is not None:
            remaining -= n_images
        sc = by_source[step.source]
        sc.images = n_images
        sc.records = -(-n_images // per_record)
        records += sc.records
        images += n_images
    return records, images, by_source, False


# ---- calibration -------------------------------------------------------------------------------


def calibrate(state: Any, items: list[tuple[WorkItem, Any]]) -> Calibration:
    """Build `items` one after another (as one local job does) into state.out; time and weigh them."""
    from .item import do_item
    from .merge import merge_corpus

    wall: list[float] = []
    cpu: list[float] = []
    results: list[tuple[WorkItem, dict[str, Any]]] = []
    for item, ref in items:
        t0, c0 = time.perf_counter(), time.process_time()
        results.append((item, do_item(state, item, ref)))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    out, name = Path(state.out), state.corpus.name
    counts, _ = merge_corpus(out, name, iter(results))
    ok = [r for _, r in results if r.get("status") == "ok"]
    image = sum((out / "images" / r["image"]).stat().st_size for r in ok)
    sidecar = sum((out / "images" / r["image"]).with_suffix(".json").stat().st_size for r in ok)
    prompt = sum(p.stat().st_size for d in ("prompts", "manifests") for p in (out / d).glob(f"{name}*"))
    work = sum(p.stat().st_size for p in (out / ".work" / name).glob("*.json"))
    asked: dict[str, int] = {}
    unanswered: dict[str, int] = {}
    for _, r in results:
        for t in r.get("turns", ()):
            task = str(t.get("task"))
            asked[task] = asked.get(task, 0) + 1
        for task in r.get("unanswered", {}) or {}:
            unanswered[task] = unanswered.get(task, 0) + 1
    families: dict[str, dict[str, int]] = {}
    for _, r in results:
        for g, c in (r.get("families") or {}).items():
            f = families.setdefault(g, {"drawn": 0, "filled": 0, "unfilled": 0})
            f["drawn"] += c["drawn"]
            f["unfilled"] += c["unfilled"]
            f["filled"] = f["drawn"] - f["unfilled"]
    steady = wall[1:] or wall
    steady_cpu = cpu[1:] or cpu
    n_ok = max(1, len(ok))
    return Calibration(
        items=len(results),
        ok=len(ok),
        skipped=sum(r.get("status") == "skipped" for _, r in results),
        failed=sum(r.get("status") == "failed" for _, r in results),
        startup_seconds=max(0.0, wall[0] - (sum(steady) / len(steady))) if len(wall) > 1 else 0.0,
        seconds_per_item=sum(steady) / len(steady),
        cpu_seconds_per_item=sum(steady_cpu) / len(steady_cpu),
        image_bytes=image / n_ok,
        sidecar_bytes=sidecar / n_ok,
        prompt_bytes=prompt / n_ok,
        work_bytes=work / max(1, len(results)),
        questions_per_item=counts.instances / max(1, len(results)),
        asked=dict(sorted(asked.items())),
        unanswered=dict(sorted(unanswered.items())),
        families=dict(sorted(families.items())),
    )


# ---- a corpus's plan -----------------------------------------------------------------------------


def _mean_dpi(program: Program, corpus: Corpus) -> float:
    """The corpus's dpi, or the papers' (as an image-area mean) where it sets none."""
    if corpus.dpi is not None:
        return float(corpus.dpi)
    mix = shares(corpus.paper)
    return float(sum(s * float(program.get("paper", p).dpi) ** 2 for p, s in mix.items()) ** 0.5)


def plan_corpus(
    program: Program,
    corpus_name: str,
    *,
    data_roots: tuple[Path, ...] = (),
    limit: int | None = None,
    calibrate_items: int = 0,
    show_prompts: int = 0,
) -> CorpusPlan:
    """The plan of one corpus; with `calibrate_items` > 0, that many items built and measured.
    Raises BuildError (located diagnostics) for a corpus that cannot be built."""
    from ..sources import SourceError
    from .item import task_group
    from .run import BuildError, prepare_corpus

    with tempfile.TemporaryDirectory(prefix="ecgspec-plan-") as tmp:
        state = prepare_corpus(program, corpus_name, Path(tmp), data_roots)
        corpus: Corpus = state.corpus
        sample = _Sample(calibrate_items, state.corpus_hash)
        try:
            records, images, by_source, exact = count_corpus(corpus, state.corpus_hash, state.readers, limit, sample)
        except SourceError as exc:
            raise BuildError([exc.diagnostic]) from None
        plan = CorpusPlan(
            name=corpus.name,
            hash=state.corpus_hash,
            records=records,
            images=images,
            variants=max(1, corpus.variants),
            limit=effective_limit(corpus, limit),
            exact_walk=exact,
            by_source=by_source,
            tasks=dict(state.task_weights),
            turns=turns_distribution(corpus.turns),
            render=render_mix(corpus),
            dpi=_mean_dpi(program, corpus),
            image_format=corpus.image_format,
            window=corpus.window,
            groups={t: task_group(state, t) for t in state.task_weights if t not in state.synth.off},
            refill=corpus.refill,
        )
        if state.synth.names or state.synth.declared_revise is not None:
            from .synthesis import plan_synthesis

            try:
                plans = plan_sources(corpus, state.corpus_hash, state.readers, limit)
            except SourceError as exc:
                raise BuildError([exc.diagnostic]) from None
            plan.synthesis = plan_synthesis(
                program, state, walk(corpus, plans, state.readers, limit, windows=False), records, show_prompts
            )
        if calibrate_items > 0 and images > 0:
            plan.calibration = calibrate(state, sample.items(corpus.name, corpus.variants))
    return plan


def plan_json(program: Program, plans: list[CorpusPlan], workers: tuple[int, ...]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "spec_hash": program.spec_hash(),
        "workers": list(workers),
        "corpora": {p.name: p.as_json(workers) for p in plans},
    }
