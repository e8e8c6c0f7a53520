"""The build's side of synthesis: which of a corpus's tasks are `instruct`s, whether their models are
on, running the stage before the items (ecgspec.synthesis.stage), and giving items their turns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..ir.instruct import Instruct
from ..targets.facts import Subject, Unknown
from ..targets.prompts import Turn

if TYPE_CHECKING:
    from ..program import Program
    from ..synthesis.store import SynthResults


@dataclass
class SynthSetup:
    """A corpus's instructs: those that run (`active`), those that are off and why, and the results."""

    active: dict[str, Instruct] = field(default_factory=dict)
    off: dict[str, str] = field(default_factory=dict)  # instruct → why it is not asked
    revise: Instruct | None = None  # the corpus's report revision, when on
    declared_revise: Instruct | None = None  # … on or off (for plans)
    results: SynthResults | None = None

    @property
    def names(self) -> set[str]:
        return set(self.active) | set(self.off)

    def entry(self, record_id: str) -> tuple[dict[str, Any] | None, str]:
        return self.results.entry(record_id) if self.results is not None else (None, "")


def off_reason(program: Program, instruct: Instruct) -> str | None:
    for role in ("generator", "judge"):
        name = getattr(instruct, role)
        if name is not None and program.get("llm", name).backend == "none":
            return f"synthesis is off: llm '{name}' ({role}) has `backend = none`"
    return None


def setup(program: Program, corpus: Any, names: Iterable[str], out: Path) -> SynthSetup:
    """The corpus's instructs among its task names (and its `revise`); opens stored results when the
    parent has written them (a worker's view), else leaves them for `run_stage`."""
    from ..synthesis.store import SynthResults, results_path

    s = SynthSetup()
    for n in names:
        if ("instruct", n) in program.decls:
            inst = program.get("instruct", n)
            assert isinstance(inst, Instruct)
            reason = off_reason(program, inst)
            if reason:
                s.off[n] = reason
            else:
                s.active[n] = inst
    if corpus.revise is not None:
        inst = program.get("instruct", corpus.revise)
        assert isinstance(inst, Instruct)
        s.declared_revise = inst
        if off_reason(program, inst) is None:
            s.revise = inst
    if s.active or s.revise is not None:
        path = results_path(out, corpus.name)
        if path.is_file():
            s.results = SynthResults(path)
    return s


def run_stage(
    program: Program,
    corpus: Any,
    s: SynthSetup,
    env: Any,
    label_sets: dict[str, Any],
    out: Path,
    records: Iterable[tuple[str, Subject]],
    cache_path: Path | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Run the synthesis of a corpus's records (source, subject) and open its results; returns the
    counts (per instruct by stage, per model the requests sent and answered from the cache) and the
    requests that failed in transit (to report; a rerun resends them)."""
    from ..synthesis.cache import ReplyCache
    from ..synthesis.prompts import SynthPrompter
    from ..synthesis.stage import RecordIn, Stage, open_models
    from ..synthesis.store import SynthResults, results_path

    instructs = [s.active[n] for n in sorted(s.active)]
    every = instructs + ([s.revise] if s.revise is not None else [])
    cache = ReplyCache(cache_path or out / "synth" / "cache.sqlite")
    models = open_models((n for i in every for n in (i.generator, i.judge) if n), program, cache)
    prompters = {i.name: SynthPrompter(i, env, str(program.position(("instruct", i.name)))) for i in every}
    stage = Stage(corpus.name, out, instructs, s.revise, prompters, models, label_sets)
    try:
        stage.run(RecordIn(f"{src}/{subj.key}", src, subj) for src, subj in records)
    finally:
        for m in models.values():
            m.close()
        cache.close()
    counts: dict[str, Any] = {
        "instructs": stage.counts.as_json(),
        "models": {m.llm.name: {"model": m.llm.model, "sent": m.sent, "cached": m.cached} for m in models.values()},
    }
    if s.results is not None:
        s.results.close()
    s.results = SynthResults(results_path(out, corpus.name))
    return counts, stage.failures


def synth_turns(
    s: SynthSetup, name: str, entry: dict[str, Any] | None, variant: int, opening: bool
) -> list[Turn] | Unknown:
    """The turns instruct `name` gives an item: one of the record's kept pairs (a different one for each
    variant while they last), or a whole dialogue, which only opens a conversation."""
    if name in s.off:
        return Unknown(s.off[name])
    inst = s.active[name]
    kept = ((entry or {}).get("instructs") or {}).get(name) or []
    if not kept:
        return Unknown("no synthesised instruction was kept for this record")
    if inst.mode == "dialogue" and not opening:
        return Unknown("a dialogue opens a conversation, and this one has begun")
    chosen = kept[variant % len(kept)]
    out = []
    for t in chosen["turns"]:
        provenance = {
            "instruct": name,
            "index": chosen["index"],
            "style": chosen["style"],
            "answer_format": chosen["answer_format"],
            **chosen["provenance"],
        }
        out.append(
            Turn(
                name,
                chosen["family"],
                chosen["form"],
                "synth",
                t["question"],
                t["answer"],
                t["target"],
                t.get("options"),
                synth=provenance,
                topics=tuple(t.get("topics") or ()),
            )
        )
    return out


def unique_records(walked: Iterable[tuple[Any, Any]], subject_of: Any) -> Iterator[tuple[str, Subject]]:
    """Each record of a corpus's plan once, in plan order (variants share their record's synthesis)."""
    seen: set[tuple[str, str]] = set()
    for item, ref in walked:
        k = (item.source, item.key)
        if k not in seen:
            seen.add(k)
            yield item.source, subject_of(item, ref)


SAMPLE_RECORDS = 16  # records whose prompts are rendered to measure a plan's tokens


def plan_synthesis(
    program: Program, state: Any, walked: Iterable[tuple[Any, Any]], total_records: int, show: int
) -> dict[str, Any]:
    """The synthesis estimate of a corpus's plan: every instruct it names, on or off."""
    from itertools import islice

    from ..synthesis.estimate import estimate
    from ..synthesis.prompts import SynthPrompter
    from ..synthesis.stage import RecordIn, Stage

    s: SynthSetup = state.synth
    names = sorted(s.names)
    instructs = [program.get("instruct", n) for n in names]
    if s.declared_revise is not None:
        instructs.insert(0, s.declared_revise)
    label_sets = dict(state.label_sets)
    if any(i.labels and i.labels not in label_sets for i in instructs):
        from ..sources import label_set

        for i in instructs:
            if i.labels and i.labels not in label_sets:
                label_sets[i.labels] = label_set(program, i.labels)
    llm_names = {n for i in instructs for n in (i.generator, i.judge) if n}
    llms = {n: program.get("llm", n) for n in sorted(llm_names)}
    prompters = {i.name: SynthPrompter(i, state.env, str(program.position(("instruct", i.name)))) for i in instructs}
    readers = state.readers

    def subject_of(item: Any, ref: Any) -> Subject:
        return Subject(
            item.key, ref.codes, ref.meta, ref.report, lambda: readers[item.source].read(ref), tuple(ref.labels)
        )

    stage = Stage(state.corpus.name, state.out, [], None, prompters, {}, label_sets)
    views: dict[str, list[tuple[str, dict[str, Any], bool]]] = {i.name: [] for i in instructs}
    for src, subj in islice(unique_records(walked, subject_of), max(SAMPLE_RECORDS, show)):
        rec = RecordIn(f"{src}/{subj.key}", src, subj)
        for i in instructs:
            views[i.name].append((rec.id, stage._view(rec, i), bool((subj.report or "").strip())))
    result = estimate(
        instructs,
        llms,
        prompters,
        views,
        total_records,
        show,
    )
    result["off"] = dict(s.off)
    if s.declared_revise is not None and s.revise is None:
        result["off"][s.declared_revise.name] = off_reason(program, s.declared_revise) or "off"
    return result
