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
from .synthesis import run_stage, setup, unique_records
from .work_items import effective_limit, plan_sources, walk

if TYPE_CHECKING:
    from ..program import Program


class BuildError(Exception):
    """A problem that stops a build before it starts: printed as located diagnostics."""

    def __init__(self, diagnostics: list[Any]):
        super().__init__("; ".join(str(d.message) for d in diagnostics))
        self.diagnostics = diagnostics

    @classmethod
    def at(cls, where: Any, message: str, hint: str | None, code: str) -> BuildError:
        """One error at a place in the spec."""
        from ..errors import Diagnostic

        return cls([Diagnostic("error", where, message, hint, code)])


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
    synthesis: dict[str, Any] = field(default_factory=dict)  # per instruct: counts by stage
    synthesis_off: dict[str, str] = field(default_factory=dict)  # instruct → why it was not run


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
    templates: tuple[Path, ...] = ()  # the --templates folders, in order (none: the nearest templates/)
    data_roots: tuple[Path, ...] = ()

    def load(self) -> Any:
        from ..program import load

        return load(list(self.paths), root=self.root, defines=list(self.defines), templates=list(self.templates))


def prepare_corpus(program: Program, corpus_name: str, out: Path, data_roots: tuple[Path, ...]) -> CorpusState:
    """The state a corpus's items need: readers opened, label sets read, templates compiled."""
    from ..sources import SourceError, label_set, open_source

    corpus = program.get("corpus", corpus_name)
    weights = corpus_tasks(corpus)
    if not weights:
        # Checked here, not by `check`: a corpus with no tasks is still a render mix to `preview`.
        raise BuildError.at(
            program.position(("corpus", corpus.name)),
            f"corpus '{corpus.name}' has no `tasks`: nothing to ask about its images",
            "for example `tasks = [rhythm_mcq]` (declared `task`s)",
            "no-tasks",
        )
    synth = setup(program, corpus, weights, out)
    tasks = [program.get("task", n) for n in weights if n not in synth.names]
    weights = {
        n: (w if w > 0 else (program.get("task", n).weight if n not in synth.names else 1.0))
        for n, w in weights.items()
    }
    env = make_environment(program.template_folders or program.templates)
    roots = list(data_roots)
    vocabularies = {t.labels for t in tasks if t.labels} | {
        i.labels for i in [*synth.active.values(), synth.revise] if i is not None and i.labels
    }
    try:
        label_sets = {name: label_set(program, name, roots) for name in sorted(vocabularies)}
        readers = {s.source: open_source(program, s.source, data_roots=roots) for s in corpus.sources}
    except SourceError as exc:
        raise BuildError([exc.diagnostic]) from None
    prompters = make_prompters(program, tasks, env, label_sets)
    corpus_hash = hashlib.sha256(
        f"{program.hash_of('corpus', corpus.name)}\x1f{template_digest(env, tasks)}".encode()
    ).hexdigest()
    state = CorpusState(program, corpus, corpus_hash, out, readers, prompters, weights, synth)
    state.env, state.label_sets = env, label_sets
    return state


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
    synth_cache: Path | None = None,
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
    synth_counts: dict[str, Any] = {}
    if state.synth.active or state.synth.revise is not None:
        if shard is None:
            synth_counts = _synthesise(state, plans, readers, limit, synth_cache)
        elif state.synth.results is None:
            raise BuildError.at(
                program.position(("corpus", corpus.name)),
                f"corpus '{corpus.name}' synthesises instructions, which a shard cannot do alone",
                "run `ecgspec build SPEC --synth-only -o OUT` once first; the shards then read its results",
                "synthesis-shard",
            )
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
        corpus.name,
        state.corpus_hash,
        counts,
        artifacts,
        time.perf_counter() - start,
        fresh,
        resumed,
        skipped,
        synth_counts,
        _off(state),
    )


def _off(state: CorpusState) -> dict[str, str]:
    from .synthesis import off_reason

    off = dict(state.synth.off)
    revise = state.synth.declared_revise
    if revise is not None and state.synth.revise is None:
        off[revise.name] = off_reason(state.program, revise) or "off"
    return off


def synthesise_corpus(
    program: Program, corpus: Corpus, out: Path, load_args: LoadArgs, limit: int | None, synth_cache: Path | None = None
) -> dict[str, Any]:
    """Only the synthesis stage of a corpus (`ecgspec build --synth-only`)."""
    from ..sources import SourceError

    state = prepare_corpus(program, corpus.name, out, load_args.data_roots)
    if not (state.synth.active or state.synth.revise is not None):
        return {}
    try:
        plans = plan_sources(corpus, state.corpus_hash, state.readers, limit)
    except SourceError as exc:
        raise BuildError([exc.diagnostic]) from None
    return _synthesise(state, plans, state.readers, limit, synth_cache)


STAGES = (
    "planned",
    "generated",
    "retried",
    "invalid",
    "errors",
    "contradicted",
    "repeated_fact",
    "dropped_dialogues",
    "judged",
    "judge_failed",
    "below_threshold",
    "duplicates",
    "kept",
)


def synthesis_lines(corpus: str, counts: dict[str, Any]) -> list[str]:
    """The synthesis part of a build's summary: one line of stage counts per instruct, then tokens."""
    lines = []
    for name, c in (counts.get("instructs") or {}).items():
        cells = "  ".join(f"{k.replace('_', ' ')} {c[k]}" for k in STAGES if c.get(k))
        lines.append(f"  synth {name}: {cells or 'nothing planned'}")
        lines.append(f"    tokens in {c.get('tokens_in', 0):,}  out {c.get('tokens_out', 0):,}")
    for name, m in sorted((counts.get("models") or {}).items()):
        lines.append(
            f"  llm {name} ({m['model']}): {m['sent']:,} requests sent, {m['cached']:,} answered from the cache"
        )
    return [f"corpus {corpus}: synthesis", *lines] if lines else []


def _synthesise(
    state: CorpusState, plans: Any, readers: dict[str, Any], limit: int | None, cache: Path | None = None
) -> dict[str, Any]:
    """The corpus's synthesis stage, before its items; requests that failed in transit stop the build
    (what was received is cached: a rerun sends only the rest)."""
    from ..synthesis.client import SynthesisError
    from ..targets.facts import Subject
    from ..targets.prompts import PromptError

    def subject_of(item: Any, ref: Any) -> Subject:
        return Subject(
            item.key, ref.codes, ref.meta, ref.report, lambda: readers[item.source].read(ref), tuple(ref.labels)
        )

    corpus, program = state.corpus, state.program
    records = unique_records(walk(corpus, plans, readers, limit), subject_of)
    first = min(state.synth.active) if state.synth.active else state.synth.revise.name  # type: ignore[union-attr]
    where = program.position(("instruct", first))
    try:
        counts, failures = run_stage(
            program, corpus, state.synth, state.env, state.label_sets, state.out, records, cache
        )
    except SynthesisError as exc:
        raise BuildError.at(where, str(exc), exc.hint, "synthesis") from None
    except PromptError:
        raise
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise BuildError.at(
            where,
            f"{len(failures)} synthesis requests failed: {failures[0]}{more}",
            f"every reply received so far is cached (in {cache or 'OUT/synth/cache.sqlite'}): rerun the build to "
            "send only the rest",
            "synthesis-failed",
        )
    return counts


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
            **({"synthesis": r.synthesis} if r.synthesis else {}),
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
        lines += synthesis_lines(r.name, r.synthesis)[1:]
        if r.synthesis_off:
            reasons = sorted({why.removeprefix("synthesis is off: ") for why in r.synthesis_off.values()})
            lines.append(f"  synthesis is off for {', '.join(sorted(r.synthesis_off))}: " + "; ".join(reasons))
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
