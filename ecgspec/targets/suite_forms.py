"""The forms of a suite task: how one record becomes the questions of an evaluation plan.

One function per form, registered in `FORMS`. Each gets a `FormInput` (the task, the record's
index entry, its true labels, a random stream and the prompt context) and returns the questions
to ask, or a reason to skip the record (counted in the task's report). Targets come from the
record's statements through the task's `labels`, as in a corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from jinja2 import Environment, TemplateError

from ..ir.suite import SuiteTask
from .prompts import LETTERS, PromptError, render_block
from .semantics import close, contradiction, distractors

if TYPE_CHECKING:
    from ..sources.base import RecordRef
    from ..sources.labels import LabelSet

DEFAULT_PROMPTS = {
    "multi_label": "bench/multi_label.j2",
    "multiple_choice": "bench/multiple_choice.j2",
    "select_all": "bench/select_all.j2",
    "report": "bench/report.j2",
}


@dataclass(frozen=True)
class Question:
    """One plan item's question: its id, the target the answer is scored against, its options."""

    id: str
    target: Any
    options: list[str] | None
    text: str


@dataclass
class FormInput:
    """What a form sees of one record of a suite task."""

    task: SuiteTask
    ref: RecordRef
    base_id: str  # TASK/SOURCE-KEY: the item id, or the stem of several
    truth: tuple[str, ...]  # the record's labels in the task's vocabulary (or as the source gives them)
    labels: LabelSet | None  # the task's own vocabulary
    source_labels: LabelSet | None  # the vocabulary of the record's source
    rng: np.random.Generator
    ctx: dict[str, Any]  # the prompt context; a form adds `options`, `choices`, `qa`
    ask: Callable[[dict[str, Any]], str]  # renders the task's question with a context


Form = Callable[[FormInput], "list[Question] | str"]
FORMS: dict[str, Form] = {}


def form(name: str) -> Callable[[Form], Form]:
    def register(fn: Form) -> Form:
        FORMS[name] = fn
        return fn

    return register


def _closed_truth(i: FormInput, own: LabelSet | None) -> tuple[str, ...] | str:
    """The record's labels closed under the vocabulary's `implies`, or why they contradict themselves."""
    truth = close(i.truth, own)
    why = contradiction(truth, own)
    return why if why is not None else truth


def _index_bpm(ref: RecordRef) -> float | None:
    """The rate the record's index gives (a machine measurement), if any: a plan reads no signal."""
    value = (ref.meta or {}).get("heart_rate")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@form("multi_label")
def multi_label(i: FormInput) -> list[Question] | str:
    if i.labels is None:
        return "the task names no `labels`"
    truth = _closed_truth(i, i.labels)
    if isinstance(truth, str):
        return truth
    return [Question(i.base_id, truth, None, i.ask(i.ctx))]


@form("multiple_choice")
def multiple_choice(i: FormInput) -> list[Question] | str:
    # Without its own `labels`, a task chooses among its source's vocabulary.
    own = i.labels if i.labels is not None else i.source_labels
    truth = _closed_truth(i, own)
    if isinstance(truth, str):
        return truth
    pool_true = list(truth)
    universe = list(own.vocabulary) if own is not None else []
    # A wrong option must be wrong (ecgspec.targets.semantics): not implied, no synonym, no rate it has.
    others = distractors(pool_true, universe, own, lambda: _index_bpm(i.ref))
    if own is None or not pool_true or not others:
        return "no true label in the vocabulary, or no distractor"
    correct = pool_true[int(i.rng.integers(len(pool_true)))]
    k = min(i.task.options - 1, len(others))
    chosen = [correct, *(others[int(j)] for j in i.rng.choice(len(others), size=k, replace=False))]
    chosen = [chosen[int(j)] for j in i.rng.permutation(len(chosen))]
    options = [own.descriptions.get(c, c) for c in chosen]
    i.ctx.update(options=options, choices=[f"{LETTERS[n]}. {o}" for n, o in enumerate(options)])
    return [Question(i.base_id, LETTERS[chosen.index(correct)], options, i.ask(i.ctx))]


@form("select_all")
def select_all(i: FormInput) -> list[Question] | str:
    if not i.ref.qa:
        return "the record has no questions"
    out = []
    for n, qa in enumerate(i.ref.qa):
        opts = list(qa.get("options") or []) or None
        i.ctx.update(qa=qa, options=opts or [])
        out.append(Question(f"{i.base_id}/q{n}", tuple(str(a) for a in qa.get("answer") or ()), opts, i.ask(i.ctx)))
    return out


@form("report")
def report(i: FormInput) -> list[Question] | str:
    if not (i.ref.report or "").strip():
        return "the record has no report"
    return [Question(i.base_id, (i.ref.report or "").strip(), None, i.ask(i.ctx))]


@form("open")
def open_question(i: FormInput) -> list[Question] | str:
    # The question is the task's own, judged against no fixed reference.
    return [Question(i.base_id, None, None, i.ask(i.ctx))]


def question(env: Environment, task: SuiteTask, ctx: dict[str, Any], where: str) -> str:
    """The task's question for one record: its inline `question`, its `prompt` file or the form's default."""
    name = task.prompt or DEFAULT_PROMPTS.get(task.form)
    tmpl = None
    try:
        if task.question:
            tmpl = env.from_string(task.question)
        elif name is None:
            raise PromptError(where, f"task '{task.id}': an open task needs a `question` or a `prompt`")
        else:
            tmpl = env.get_template(name)
        text = render_block(tmpl, "question", ctx) or ""
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        # The file that failed: an included one, else the one the prompt was read from (with several
        # folders and std/, not necessarily the first folder's); an inline question is the spec's.
        failed = getattr(exc, "filename", None) or (tmpl.filename if tmpl is not None else None)
        at = f"{failed}:{line}:1" if (failed and line) else where
        raise PromptError(at, f"suite task '{task.id}': template error: {exc}") from None
    if not text:
        raise PromptError(where, f"suite task '{task.id}': the question renders empty")
    return text
