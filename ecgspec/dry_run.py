"""`check`'s dry run of the task templates: each task asked of a made-up record that establishes every
fact it can without a signal, so that a template's mistakes show at check time, all at once and located
in the template, instead of one per build.

The record states its rate, intervals, axis, age, sex and report the way a machine export does, and
holds a label of each vocabulary. Each task is asked with a few seeds: a closed question both about a
label the record has and one it lacks, a multiple-choice question with its options in several orders.
What is checked is what the build checks (ecgspec.targets.prompts): undefined names, a fill-in without
its blank, a multiple-choice question that does not show its options, `<image>` in a template, an
empty question or answer. Facts that need the signal itself (regularity, ST, T) are not asked here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import Diagnostic, Pos

if TYPE_CHECKING:
    from .program import Program

SEEDS = 6  # asks per task: enough for both sides of a closed question and a few option orders
_WHERE = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+)$")

# What a machine export states of a record: enough for every fact that does not read the signal.
DRY_META: dict[str, Any] = {
    "age": 61,
    "sex": "F",
    "heart_rate": 72,
    "pr": 164,
    "qrs": 92,
    "qt": 384,
    "qtc": 420,
    "p_axis": 50,
    "qrs_axis": 40,
    "t_axis": 35,
    "rr": 833,
}
DRY_REPORT = "Sinus rhythm. Normal ECG."


class _NoSignal(Exception):
    """The dry record has no signal: a fact that needs it is not asked."""


def _labels(program: Program, name: str) -> Any:
    """The task's vocabulary: read as a build reads it, or from its declaration alone when its
    tables cannot be read here (they are data, maybe on another machine)."""
    from .sources import SourceError, label_set
    from .sources.labels import LabelSet

    try:
        return label_set(program, name)
    except (SourceError, OSError, KeyError):
        decl = program.get("labels", name)
        mapping = {code: tuple(targets) for code, targets in decl.map.items()}
        for v in decl.vocabulary:
            mapping.setdefault(v, (v,))
        return LabelSet(
            name,
            tuple(decl.vocabulary),
            mapping,
            frozenset(mapping),
            synonyms=dict(decl.synonyms),
            descriptions=dict(decl.descriptions),
        )


def _where(text: str, fallback: Pos) -> Pos:
    """A PromptError's place: a line of a template file, else (an inline question) the setting."""
    m = _WHERE.match(text)
    if m is None or m["file"] == "<template>":
        return fallback
    if m["file"] == fallback.file and int(m["line"]) == fallback.line:
        return fallback
    line, col = int(m["line"]), int(m["col"])
    return Pos(m["file"], line, col, line, col + 1)


def _setting_pos(program: Program, task: Any) -> Pos:
    """Where the task's question or template is written (its name when neither is found)."""
    origins = program.origins.get(("task", task.name), {})
    for field in ("question", "template"):
        origin = origins.get(field)
        if origin is not None and origin.pos is not None:
            return origin.pos
    return program.position(("task", task.name))


def dry_run_tasks(program: Program) -> list[Diagnostic]:
    """Every problem of every task's template, located; none when the spec itself has errors."""
    from .records import RecordError
    from .targets.facts import Subject
    from .targets.prompts import PromptError, TaskPrompter, make_environment

    if not program.ok:
        return []
    tasks = [program.get("task", d.name) for d in program.of_kind("task")]
    if not tasks:
        return []
    env = make_environment(program.templates)
    out: list[Diagnostic] = []
    vocabularies: dict[str, Any] = {}

    def no_signal() -> Any:
        raise _NoSignal

    for task in tasks:
        pos = _setting_pos(program, task)
        labels = None
        if task.labels is not None:
            if task.labels not in vocabularies:
                vocabularies[task.labels] = _labels(program, task.labels)
            labels = vocabularies[task.labels]
        try:
            prompter = TaskPrompter(task, env, labels, str(pos))
        except PromptError as exc:
            out.append(Diagnostic("error", _where(exc.where, pos), exc.message, exc.hint, "template-dry-run"))
            continue
        codes: dict[str, float] = {}
        if labels is not None and labels.vocabulary:
            first = labels.vocabulary[0]
            code = next((c for c, targets in labels.mapping.items() if first in targets), first)
            codes = {code: 100.0}
        context = {"record": {"id": "dry-run", "source": "dry-run", **DRY_META, "report": DRY_REPORT}}
        for seed in range(SEEDS):
            subject = Subject("dry-run", codes, dict(DRY_META), DRY_REPORT, no_signal)
            try:
                prompter.ask(subject, np.random.default_rng(seed), context)
            except PromptError as exc:
                out.append(
                    Diagnostic(
                        "error",
                        _where(exc.where, pos),
                        exc.message + " (found by check's dry run of the template)",
                        exc.hint,
                        "template-dry-run",
                    )
                )
                break
            except (_NoSignal, RecordError):
                break  # a fact of the signal: not asked here
    return out
