"""A build: every corpus of a spec (or the one asked for) planned, run, merged, reported."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..ir import Corpus
from ..ir.base import Choice
from ..targets.prompts import make_environment, template_digest
from .executor import run
from .item import CorpusState, make_prompters
from .merge import CorpusCounts, merge_corpus
from .progress import Progress
from .store import write_atomic
from .work_items import effective_limit, plan_sources, walk

if TYPE_CHECKING:
    from ..program import Program


class BuildError(Exception):
    """A problem that stops a build before it starts: printed as located diagnostics."""

    def __init__(self, diagnostics: list[Any]):
        super().__init__("; ".join(str(d.message) for d in diagnostics))
        self.diagnostics = diagnostics


@dataclass
class CorpusReport:
    name: str
    hash: str
    counts: CorpusCounts
    artifacts: dict[str, str]
    seconds: float
    fresh: int
    resumed: int
    reader_skipped: list[dict[str, str]] = field(default_factory=list)


def corpus_tasks(corpus: Corpus) -> dict[str, float]:
    """Task name → weight: a choice's weights, else each task's own `weight`."""
    if isinstance(corpus.tasks, Choice):
        return {str(o): float(w) for o, w in zip(corpus.tasks.options, corpus.tasks.weights, strict=True)}
    return {name: -1.0 for name in corpus.tasks}  # filled from the tasks' weights below


@dataclass(frozen=True)
class LoadArgs:
    """How the program was loaded: enough for a fresh worker process to load it again."""

    paths: tuple[Path, ...]
    root: Path | None = None
    defines: tuple[str, ...] = ()
    templates: Path | None = None
    data_roots: tuple[Path, ...] = ()

    def load(self) -> Any:
        from ..program import load

        return load(list(self.paths), root=self.root, defines=list(self.defines), templates=self.templates)


def prepare_corpus(program: Program, corpus_name: str, out: Path, data_roots: tuple[Path, ...]) -> CorpusState:
    """The state a corpus's items need: readers opened, label sets read, templates compiled."""
    from ..sources import SourceError, label_set, open_source

    corpus = program.get("corpus", corpus_name)
    weights = corpus_tasks(corpus)
    if not weights:
        from ..errors import Diagnostic

        # Checked here, not by `check`: a corpus with no tasks is still a render mix to `preview`.
        raise BuildError(
            [
                Diagnostic(
                    "error",
                    program.position(("corpus", corpus.name)),
                    f"corpus '{corpus.name}' has no `tasks`: nothing to ask about its images",
                    "for example `tasks = [rhythm_mcq]` (declared `task`s)",
                    "no-tasks",
                )
            ]
        )
    tasks = [program.get("task", n) for n in weights]
    weights = {t.name: (weights[t.name] if weights[t.name] > 0 else t.weight) for t in tasks}
    env = make_environment(program.templates)
    roots = list(data_roots)
    try:
        label_sets = {t.labels: label_set(program, t.labels, roots) for t in tasks if t.labels}
        readers = {s.source: open_source(program, s.source, data_roots=roots) for s in corpus.sources}
    except SourceError as exc:
        raise BuildError([exc.diagnostic]) from None
    prompters = make_prompters(program, tasks, env, label_sets)
    corpus_hash = hashlib.sha256(
        f"{program.hash_of('corpus', corpus.name)}\x1f{template_digest(env, tasks)}".encode()
    ).hexdigest()
    return CorpusState(program, corpus, corpus_hash, out, readers, prompters, weights)


def in_shard(item_id: str, shard: tuple[int, int]) -> bool:
    """Whether an item belongs to shard i of n: by a hash of its id, so shards are even and fixed."""
    i, n = shard
    return int(hashlib.sha256(item_id.encode()).hexdigest()[:12], 16) % n == i


def build_corpus(
    program: Program,
    corpus: Corpus,
    out: Path,
    load_args: LoadArgs,
    *,
    jobs: int = 1,
    limit: int | None = None,
    progress: bool | None = None,
    shard: tuple[int, int] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> CorpusReport | int:
    """Build one corpus. With `shard=(i, n)`, do only that shard's items and return how many
    were done: the artifacts are merged by a later build without a shard (which resumes all)."""
    from ..sources import SourceError

    state = prepare_corpus(program, corpus.name, out, load_args.data_roots)
    readers = state.readers

    start = time.perf_counter()
    try:
        plans = plan_sources(corpus, state.corpus_hash, readers, limit)
    except SourceError as exc:
        raise BuildError([exc.diagnostic]) from None
    cap = effective_limit(corpus, limit)
    total = sum(len(p.keep or ()) for p in plans) * max(1, corpus.variants)
    total = min(total, cap) if cap is not None else total
    items = walk(corpus, plans, readers, limit)
    if shard is not None:
        items = ((item, ref) for item, ref in items if in_shard(item.id, shard))
        total = -(-total // shard[1])
    bar = Progress(f"{corpus.name}" + (f" shard {shard[0]}/{shard[1]}" if shard else ""), total, enabled=progress)
    run(
        state,
        (load_args, corpus.name, out),
        items,
        jobs,
        lambda s: bar.update(resumed=s["resumed"], problem=s["status"] != "ok"),
        executor,
        ray_address,
    )
    bar.close()
    fresh, resumed = bar.done - bar.resumed, bar.resumed
    if shard is not None:
        return bar.done

    def results() -> Any:
        for item, _ref in walk(corpus, plans, readers, limit):
            stored = state.store.load(item.id, state.item_hash(item))
            if stored is None:
                raise RuntimeError(f"item {item.id} has no stored result after the run")
            yield item, stored

    counts, artifacts = merge_corpus(out, corpus.name, results())
    skipped = [
        {"source": name, "record": s.key, "path": s.path, "reason": s.reason}
        for name, r in readers.items()
        for s in r.skipped
    ]
    for _ in skipped:
        counts.skipped["broken index entry"] += 1
    return CorpusReport(
        corpus.name, state.corpus_hash, counts, artifacts, time.perf_counter() - start, fresh, resumed, skipped
    )


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"ecgspec": __version__, "python": platform.python_version()}
    for dist in (
        "numpy",
        "wfdb",
        "jinja2",
        "pydantic",
        "lark",
        "opencv-python-headless",
        "pycairo",
        "cairocffi",
        "cairosvg",
        "h5py",
        "neurokit2",
        "scipy",
    ):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


def write_build_json(out: Path, program: Program, reports: list[CorpusReport], seconds: float) -> dict[str, Any]:
    """build.json: what was built from what, with which tools, how much of each, and how long it took.
    Corpora built earlier into the same folder (another `--only`) keep their entries."""
    path = out / "build.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    corpora = dict(previous.get("corpora") or {})
    timings = dict(previous.get("timings") or {})
    for r in reports:
        corpora[r.name] = {
            "hash": r.hash,
            **r.counts.as_json(),
            "broken_index_entries": r.reader_skipped,
            "artifacts": r.artifacts,
        }
        timings[r.name] = {
            "seconds": round(r.seconds, 3),
            "items_done": r.fresh,
            "items_resumed": r.resumed,
            "items_per_second": round(r.fresh / r.seconds, 3) if r.seconds > 0 else None,
        }
    data = {
        "schema": "ecgspec.build/1",
        "spec_hash": program.spec_hash(),
        "tools": tool_versions(),
        "corpora": dict(sorted(corpora.items())),
        "timings": timings,
    }
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    return data


def summary_table(reports: list[CorpusReport]) -> str:
    """The table printed at the end of a build."""
    lines = []
    for r in reports:
        c = r.counts
        lines.append(
            f"corpus {r.name}: {c.items} images, {c.instances} questions "
            f"({r.fresh} built, {r.resumed} resumed) in {r.seconds:.1f} s"
        )
        for what in ("family", "form", "layout", "distort", "source"):
            row: dict[str, int] = c.by.get(what) or {}
            if row:
                cells = "  ".join(f"{k} {v}" for k, v in sorted(row.items(), key=lambda kv: (-kv[1], kv[0])))
                lines.append(f"  {what:<8} {cells}")
        if c.skipped:
            lines.append("  skipped  " + "  ".join(f"{k}: {v}" for k, v in sorted(c.skipped.items())))
        for f in c.failed[:5]:
            lines.append(f"    {f['reason']}")
        if len(c.failed) > 5:
            lines.append(f"    … and {len(c.failed) - 5} more broken records (see build.json)")
        for s in r.reader_skipped[:5]:
            lines.append(f"    {s['path']}: {s['record']}: {s['reason']}")
        unanswered = sum(sum(v.values()) for v in c.unanswered.values())
        if unanswered:
            lines.append(f"  {unanswered} questions not asked (record cannot answer them; see build.json)")
    return "\n".join(lines)
