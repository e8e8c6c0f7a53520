"""One work item: read the record, ask its tasks, render its page, store the result.

An item's randomness is one stream seeded from the corpus's hash and the item's id (ecgspec.
draw.stream), consumed in a fixed order: render choice, number of turns, task order (and each
turn's family, unless the corpus `refill`s), then each question. Same spec, same item, same bytes, in any process. A `window = random` item draws its
window's start from a stream of its own (work_items.WINDOW_STREAM), so no other draw moves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..draw import draw, stream
from ..ir import Corpus, Task
from ..ir.task import PRINTED_AS
from ..records import RecordError
from ..render.errors import RenderError
from ..render.header import HIDDEN_KEY, HeaderTemplateError
from ..synthesis.grounding import FACT_TOPICS, fact_topics
from ..targets.facts import Subject, Unknown, measurement_provenance
from ..targets.prompts import PromptError, TaskPrompter, Turn
from .store import ItemStore, sha256_file
from .synthesis import SynthSetup, synth_turns
from .work_items import WINDOW_STREAM, WorkItem, page_seconds, page_start

if TYPE_CHECKING:
    from ..program import Program


@dataclass
class CorpusState:
    """Everything a worker needs to do a corpus's items (built once per process)."""

    program: Program
    corpus: Corpus
    corpus_hash: str  # Merkle hash of the corpus and all it refers to, plus its templates
    out: Path
    readers: dict[str, Any]
    prompters: dict[str, TaskPrompter]
    task_weights: dict[str, float]
    synth: SynthSetup = field(default_factory=SynthSetup)
    env: Any = None  # the build's Jinja environment and vocabularies (for the synthesis stage)
    label_sets: dict[str, Any] = field(default_factory=dict)
    store: ItemStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = ItemStore(self.out, self.corpus.name)

    def item_hash(self, item: WorkItem) -> str:
        # An item of a synthesising corpus also depends on its record's synthesis: a changed reply redoes
        # the items of that record, and only those.
        _, synth = self.synth.entry(f"{item.source}/{item.key}")
        key = f"{__version__}\x1f{self.corpus_hash}\x1f{item.id}" + (f"\x1f{synth}" if synth else "")
        return hashlib.sha256(key.encode()).hexdigest()


def _task_order(state: CorpusState, rng: np.random.Generator, names: list[str] | None = None) -> list[str]:
    """Tasks in a weighted random order (without replacement)."""
    names = list(state.task_weights) if names is None else names
    w = np.asarray([state.task_weights[n] for n in names], dtype=float)
    keys = rng.random(len(names)) ** (1.0 / w)  # Efraimidis–Spirakis weighted shuffle
    return [names[i] for i in np.argsort(-keys, kind="stable")]


def task_group(state: CorpusState, name: str) -> str:
    """The family whose share a task's weight counts in: a template task's `family`; an instruct's
    own family when it has one, else the instruct itself (it draws a family per question)."""
    if name in state.prompters:
        return state.prompters[name].task.family
    inst = state.synth.active.get(name)
    family = getattr(inst, "family", None)
    return family if isinstance(family, str) else name


def _slots(state: CorpusState, rng: np.random.Generator, turns: int) -> tuple[list[str], dict[str, list[str]]]:
    """Each turn's family, drawn by the families' total task weights (so that every turn is of
    family F with probability W_F / W, exactly), and each family's tasks in a weighted random
    order: a turn asks the first of its family's tasks that the record can answer. Instructs that
    are off in this build are not drawn: they are not part of it."""
    names = [n for n in state.task_weights if n not in state.synth.off]
    queues: dict[str, list[str]] = {}
    for n in _task_order(state, rng, names):
        queues.setdefault(task_group(state, n), []).append(n)
    groups = list(dict.fromkeys(task_group(state, n) for n in names))  # declaration order: fixed
    w = np.cumsum([sum(state.task_weights[n] for n in queues[g]) for g in groups])
    picks = np.searchsorted(w, rng.random(turns) * w[-1], side="right") if groups else []
    return [groups[min(int(i), len(groups) - 1)] for i in picks], queues


def _meta_for_prompts(ref: Any) -> dict[str, Any]:
    """What templates may read as `record.*`: the index entry's facts, never the signal."""
    view: dict[str, Any] = {"id": ref.key, "source": ref.source}
    for key in (
        "age",
        "sex",
        "date",
        "heart_axis",
        "heart_rate",
        "pr",
        "qrs",
        "qt",
        "qtc",
        "p_axis",
        "qrs_axis",
        "t_axis",
        "rr",
    ):
        if key in ref.meta and ref.meta[key] is not None:
            view[key] = ref.meta[key]
    if ref.report:
        view["report"] = ref.report
    return view


def do_item(state: CorpusState, item: WorkItem, ref: Any) -> dict[str, Any]:
    """Do one item, or take its stored result; returns the stored result."""
    h = state.item_hash(item)
    stored = state.store.load(item.id, h)
    if stored is not None:
        stored["_resumed"] = True
        return stored
    result = _run(state, item, ref, h)
    state.store.save(result)
    return result


def _run(state: CorpusState, item: WorkItem, ref: Any, h: str) -> dict[str, Any]:
    from ..render.api import render_page, write_outputs
    from ..render.mix import draw_render

    corpus = state.corpus
    base: dict[str, Any] = {
        "schema": "ecgspec.item/1",
        "hash": h,
        "id": item.id,
        "corpus": corpus.name,
        "source": item.source,
        "record": item.key,
        "variant": item.variant,
        "split": ref.split,
        "patient": ref.patient,
        "synthetic": bool(ref.synthetic),
        "labels": list(ref.labels),
    }
    rng = stream(state.corpus_hash, item.id)
    choice = draw_render(corpus, rng)
    turns_wanted = max(1, int(draw(corpus.turns, rng)))
    if corpus.refill:  # the first answerable tasks of one weighted order, whatever their family
        order = _task_order(state, rng)
        slots: list[str] = []
        queues: dict[str, list[str]] = {}
    else:
        slots, queues = _slots(state, rng, turns_wanted)
        order = []
    entry, _ = state.synth.entry(f"{item.source}/{item.key}")
    report = (entry or {}).get("revision") or ref.report  # the English revision, where the corpus revises
    context = {"record": {**_meta_for_prompts(ref), **({"report": report} if report else {})}}

    subject = Subject(
        item.key, ref.codes, ref.meta, report, lambda: state.readers[item.source].read(ref), tuple(ref.labels)
    )
    turns: list[Turn] = []
    measured_by: list[dict[str, str] | None] = []  # per turn: measure → method, for measured facts
    unanswered: dict[str, str] = {}
    asked: set[str] = set()  # the facts asked so far: a conversation never asks one twice
    drawn: dict[str, int] = {}  # per family: turns drawn of it, and those left empty
    unfilled: dict[str, int] = {}

    def ask(name: str) -> str:
        """Ask task `name` of the record: "asked", "unanswered" or "done" (a dialogue: the whole conversation)."""
        if name in state.synth.names:
            got = synth_turns(state.synth, name, entry, item.variant, opening=not turns)
            if isinstance(got, Unknown):
                unanswered[name] = got.reason
                return "unanswered"
            topics = {x for t in got for x in t.topics}
            if topics & asked:
                unanswered[name] = "it asks a fact an earlier turn asked"
                return "unanswered"
            asked.update(topics)
            turns.extend(got)
            measured_by.extend(None for _ in got)
            return "done" if state.synth.active[name].mode == "dialogue" else "asked"
        prompter = state.prompters[name]
        fact = _topics(prompter)
        if fact & asked:
            unanswered[name] = "it asks a fact an earlier turn asked"
            return "unanswered"
        answer = prompter.ask(subject, stream(state.corpus_hash, item.id, name), context)
        if isinstance(answer, Unknown):
            unanswered[name] = answer.reason
            return "unanswered"
        asked.update(fact)
        turns.append(answer)
        measured_by.append(measurement_provenance(answer.fact, subject))
        return "asked"

    try:
        for name in order:
            if len(turns) >= turns_wanted or ask(name) == "done":
                break
        for family in slots:
            if len(turns) >= turns_wanted:  # a synthesised task may have asked more than one turn
                break
            drawn[family] = drawn.get(family, 0) + 1
            # Only a task of the turn's own family may fill it: another family's would skew the mix.
            got = "unanswered"
            while queues[family] and got == "unanswered":
                got = ask(queues[family].pop(0))
            if got == "unanswered":
                unfilled[family] = unfilled.get(family, 0) + 1
            if got == "done":
                break
    except RecordError as exc:
        return {**base, "status": "failed", "reason": str(exc)}
    families = {f: {"drawn": n, "unfilled": unfilled.get(f, 0)} for f, n in sorted(drawn.items())}
    if not turns:
        return {
            **base,
            "status": "skipped",
            "reason": "no task can be answered for this record"
            if corpus.refill
            else f"no task of the families drawn ({', '.join(sorted(drawn))}) can be answered for this record",
            "unanswered": unanswered,
            **({"families": families} if families else {}),
        }

    try:
        record = subject.record
    except RecordError as exc:
        return {**base, "status": "failed", "reason": str(exc)}
    if ref.synthetic:
        record.meta["synthetic"] = True
    ext = ".jpg" if corpus.image_format == "jpeg" else ".png"
    program = state.program
    layout = program.get("layout", choice.layout)
    # The page's window: where it starts in the record (0 unless the corpus's `window` moves it).
    # The questions above were answered from the whole record; only what is drawn is windowed.
    start = page_start(
        corpus,
        program,
        item,
        page_seconds(layout),
        record.duration,
        lambda: stream(state.corpus_hash, item.id, WINDOW_STREAM),
    )
    record.window_start = start
    record.meta["window_start"] = start  # header and footer templates read the record's meta as `record.*`
    if corpus.hide_in_header:  # the page must not print the answer to one of its questions
        record.meta[HIDDEN_KEY] = printed_fields(turns)
    # Recorded (in the result and each question's provenance) only where a corpus sets a window,
    # so that every other corpus keeps its bytes.
    windowed = corpus.window != "first" or corpus.window_start != 0
    window = {"window_start": start, **({"window": item.window} if item.window is not None else {})}
    try:
        result = render_page(
            record,
            layout,
            program.get("paper", choice.paper),
            distort=program.get("distort", choice.distort) if choice.distort else None,
            seed=corpus.seed,
            spec_hash=state.corpus_hash,
            key=item.id,
            dpi=corpus.dpi,
            ground_truth=corpus.ground_truth,
            report=report,
        )
        written = write_outputs(
            result, state.out / "images" / (item.image + ext), quality=corpus.quality if ext == ".jpg" else None
        )
    except HeaderTemplateError as exc:  # the spec's header or footer template: a spec error, it stops the build
        raise PromptError(exc.where(program, choice.paper), str(exc)) from None
    except RenderError as exc:
        return {**base, "status": "failed", "reason": f"cannot render: {exc}"}
    image_sha256 = sha256_file(state.out / "images" / (item.image + ext))
    return {
        **base,
        "status": "ok",
        "image": item.image + ext,
        "image_sha256": image_sha256,
        "image_size": list(result.array.shape[:2]),
        # The digitisation ground truth written beside the image (masks, coordinates, boxes), when asked for.
        **(
            {"ground_truth": [p.relative_to(state.out / "images").as_posix() for p in written[2:]]}
            if corpus.ground_truth
            else {}
        ),
        "render": {
            "layout": choice.layout,
            "paper": choice.paper,
            "distort": choice.distort,
            **(window if windowed else {}),
        },
        "turns": [
            {**t.as_json(), **({"measurement": m} if m else {})} for t, m in zip(turns, measured_by, strict=True)
        ],
        "unanswered": unanswered,
        **({"families": families} if families else {}),
    }


def printed_fields(turns: list[Turn]) -> list[str]:
    """The record fields a page must not print, for it asks them (ecgspec.ir.task.PRINTED_AS): of each
    templated turn's fact, and of each fact a synthesised turn's topics name."""
    facts = {t.fact for t in turns if t.fact in PRINTED_AS}
    for t in turns:
        for topic in t.topics:
            facts |= {f for f, top in FACT_TOPICS.items() if top == topic}
            if topic.startswith(("label:", "labels:")) or topic in ("rhythm", "report"):
                facts.add("record.labels")
    return sorted({name for f in facts for name in PRINTED_AS.get(f, ())})


def _topics(prompter: TaskPrompter) -> frozenset[str]:
    """What a templated turn asks, in the topics synthesised questions are read into: a label question
    covers every label of its vocabulary (asking "is it AF?" after "what rhythm is it?" gives the answer
    away), and a rhythm question the rhythm itself."""
    task = prompter.task
    topics = set(fact_topics(prompter.fact, task.labels))
    if prompter.labels is not None:
        topics |= {f"label:{code}" for code in prompter.labels.vocabulary}
    if task.family == "rhythm":
        topics.add("rhythm")
    return frozenset(topics)


def make_prompters(
    program: Program, tasks: list[Task], env: Any, label_sets: dict[str, Any]
) -> dict[str, TaskPrompter]:
    """One prompter per task; a template that does not compile is a PromptError (located)."""
    out: dict[str, TaskPrompter] = {}
    for task in tasks:
        where = str(program.position(("task", task.name)))
        out[task.name] = TaskPrompter(task, env, label_sets.get(task.labels) if task.labels else None, where)
    return out


__all__ = ["CorpusState", "PromptError", "do_item", "make_prompters"]
