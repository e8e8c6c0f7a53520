"""A task asked of one record: the question (a sandboxed Jinja template) and its grounded answer.

The answer comes from the record's facts (ecgspec.targets.facts), never from the template:
a template words the question, and may word the answer, but it is given the answer, so it
cannot make one up. Multiple-choice options are the true value and distractors drawn from the
vocabulary the record surely does not have (ecgspec.targets.semantics: not a label it has or
implies, not a synonym of one, not a rate class its measured rate falls in), so exactly one
option is true; closed questions ask about a true label or such a distractor, half and half.

Templates run in the shared sandbox (ecgspec.templating: Jinja's ImmutableSandboxedEnvironment
with a time, output and value-size budget per render) with StrictUndefined and a loader that
cannot leave the templates folder, links included: a spec's templates are other people's data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .. import templating
from ..ir import Task
from ..ir.task import FACTS
from .facts import Subject, Unknown, fact_value
from .semantics import distractors

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = "___"


class PromptError(Exception):
    """A template that fails for a record: a mistake in the spec's templates, located."""

    def __init__(self, where: str, message: str, hint: str | None = None):
        super().__init__(where, message, hint)  # all three in args: it crosses process boundaries
        self.where, self.message, self.hint = where, message, hint

    def __str__(self) -> str:
        return f"{self.where}: error: {self.message}" + (f"\n  hint: {self.hint}" if self.hint else "")


@dataclass(frozen=True)
class Turn:
    """One question and its answer, with what the answer is grounded in."""

    task: str
    family: str
    form: str
    fact: str
    question: str
    answer: str
    target: Any  # labels (list), a value, a letter, "yes"/"no", or the report text
    options: list[str] | None = None
    synth: dict[str, Any] | None = None  # a synthesised turn's provenance (ecgspec.synthesis)
    topics: tuple[str, ...] = ()  # what a synthesised question asks about (ecgspec.synthesis.grounding)

    def as_json(self) -> dict[str, Any]:
        out = {
            "task": self.task,
            "family": self.family,
            "form": self.form,
            "fact": self.fact,
            "question": self.question,
            "answer": self.answer,
            "target": self.target,
            "options": self.options,
        }
        if self.synth is not None:
            out["synth"] = self.synth
        return out


def _template_line(exc: BaseException, filename: str, template: Any) -> int | None:
    """The template line a runtime error (an undefined field) happened on: the innermost frame of
    the template's compiled code, mapped back through Jinja's line table."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def render_block(tmpl: Any, block: str, ctx: dict[str, Any]) -> str | None:
    """A template's `block` rendered with `ctx`, trailing spaces and outer blank lines trimmed.
    Without blocks, the whole template is the question (and there is no answer block). Each
    render runs within the sandbox's budget (ecgspec.templating); any failure is a TemplateError."""
    if block in tmpl.blocks:
        text = templating.render_block(tmpl, block, ctx)
    elif block == "question":
        text = tmpl.render(ctx)
    else:
        return None
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def make_environment(templates: Path | Sequence[Path] | None) -> ImmutableSandboxedEnvironment:
    """The one Jinja environment of a build: sandboxed and budgeted, strict, loading from the
    templates folders in order (`Program.template_folders`; the shipped library, `std/`, last)."""
    given = [templates] if isinstance(templates, Path) else list(templates or [])
    loader = templating.ConfinedLoader(given) if given else None
    return templating.SandboxedTemplates(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _number_distractors(value: int, k: int, rng: np.random.Generator) -> list[int]:
    """k plausible wrong values: 15–60% away from the true one, none within 10% (or 5 units) of it."""
    gap = max(5, round(0.1 * value))
    pool = sorted({round(value * (1 + s * d)) for d in (0.15, 0.25, 0.35, 0.45, 0.6) for s in (-1, 1)})
    pool = [p for p in pool if p > 0 and abs(p - value) >= gap]
    picks = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [pool[int(i)] for i in sorted(picks)]


def _measured_bpm(subject: Subject) -> float | None:
    """The rate the record's rate facts use (machine, else signal), or None where not confident."""
    bpm = fact_value("record.heart_rate", subject)
    return float(bpm) if isinstance(bpm, (int, float)) else None


@dataclass
class TaskPrompter:
    """Asks one task of records. Holds the task's compiled templates; `ask` is per record."""

    task: Task
    env: ImmutableSandboxedEnvironment
    labels: Any = None  # the task's LabelSet (ecgspec.sources), for label facts
    where: str = ""  # the task's place in the spec, for errors in an inline question
    _template: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        try:
            if self.task.template is not None:
                self._template = self.env.get_template(self.task.template)
                # The file it was read from: with several folders and std/, not necessarily the first's.
                self.where = self._template.filename or self.task.template
            else:
                self._template = self.env.from_string(self.task.question or "")
        except TemplateNotFound:
            raise PromptError(self.where, f"task '{self.task.name}': no template '{self.task.template}'") from None
        except templating.TemplateEscapeError as exc:
            raise PromptError(
                self.where, f"task '{self.task.name}': {exc}", "templates may be only files under the templates folder"
            ) from None
        except TemplateError as exc:
            raise PromptError(self._at(exc), f"task '{self.task.name}': template error: {exc}") from None

    @property
    def fact(self) -> str:
        return self.task.answer

    def _at(self, exc: TemplateError) -> str:
        line = getattr(exc, "lineno", None) or _template_line(exc, self.where, self._template)
        filename = getattr(exc, "filename", None)  # an included template's file, when it failed there
        if filename and line:
            return f"{filename}:{line}:1"
        if self.task.template is not None and line:
            return f"{self.where}:{line}:1"
        return self.where

    def _render(self, block: str, ctx: dict[str, Any]) -> str | None:
        try:
            return render_block(self._template, block, ctx)
        except TemplateNotFound as exc:
            raise PromptError(
                self._at(exc),
                f"task '{self.task.name}': the template includes '{exc.name}', which is not in the templates folder",
                "templates may include only files under the templates folder",
            ) from None
        except templating.TemplateEscapeError as exc:
            raise PromptError(
                self._at(exc),
                f"task '{self.task.name}': template error: {exc}",
                "templates may include only files under the templates folder",
            ) from None
        except TemplateError as exc:
            raise PromptError(
                self._at(exc),
                f"task '{self.task.name}': template error: {exc}",
                "the template may use record, options, choices, candidate, answer, answer_text, "
                "unit and pick(); test a field with `is defined`",
            ) from None

    def ask(self, subject: Subject, rng: np.random.Generator, context: dict[str, Any] | None = None) -> Turn | Unknown:
        task, spec = self.task, FACTS[self.task.answer]
        value = fact_value(task.answer, subject, self.labels)
        if isinstance(value, Unknown):
            return value
        describe = (lambda x: self.labels.descriptions.get(x, x)) if self.labels is not None else (lambda x: x)
        ctx: dict[str, Any] = dict(context or {})
        ctx.update(
            task={"name": task.name, "family": task.family, "form": task.form},
            fact=task.answer,
            unit=spec.unit,
            pick=lambda seq: seq[int(rng.integers(len(seq)))] if len(seq) else "",
            options=[],
            choices=[],
            letters=[],
            candidate=None,
        )
        options: list[str] | None = None
        target: Any  # a letter, "yes"/"no", the true labels or the value: what the answer is scored against
        if spec.shape in ("labels", "category"):
            truth = tuple(value) if isinstance(value, tuple) else (str(value),)
            vocab: Sequence[str] = self.labels.vocabulary if self.labels is not None else spec.values
            # A wrong option must be wrong: not implied, not a synonym, not a rate the record has.
            others = distractors(truth, vocab, self.labels, lambda: _measured_bpm(subject))
            if task.form == "closed":
                present = not others or bool(rng.random() < 0.5)
                pool = truth if present else others
                candidate = pool[int(rng.integers(len(pool)))]
                ctx.update(candidate=describe(candidate), candidate_label=candidate, present=present)
                answer_text, target = ("Yes." if present else "No."), ("yes" if present else "no")
            elif task.form == "multiple_choice":
                if not others:
                    return Unknown("the vocabulary has no label the record surely lacks, so no distractor")
                correct = truth[int(rng.integers(len(truth)))]
                k = min(task.options - 1, len(others))
                picks = [others[int(i)] for i in rng.choice(len(others), size=k, replace=False)]
                labels = [correct, *picks]
                order = rng.permutation(len(labels))
                labels = [labels[int(i)] for i in order]
                options = [describe(x) for x in labels]
                letter = LETTERS[labels.index(correct)]
                answer_text, target = f"{letter}. {describe(correct)}", letter
            else:
                answer_text, target = ", ".join(describe(t) for t in truth), list(truth)
            ctx.update(answer=list(truth), labels=list(vocab))
        elif spec.shape == "number":
            assert isinstance(value, int)
            text = f"{value} {spec.unit}".strip()
            if task.form == "multiple_choice":
                wrong = _number_distractors(value, task.options - 1, rng)
                if not wrong:
                    return Unknown("no plausible distractor for this value")
                values = [value, *wrong]
                values = [values[int(i)] for i in rng.permutation(len(values))]
                options = [f"{v} {spec.unit}".strip() for v in values]
                letter = LETTERS[values.index(value)]
                answer_text, target = f"{letter}. {text}", letter
            else:
                answer_text, target = text, value
            ctx.update(answer=value)
        else:
            answer_text, target = str(value), str(value)
            ctx.update(answer=str(value))
        if options is not None:
            ctx.update(
                options=options,
                letters=list(LETTERS[: len(options)]),
                choices=[f"{LETTERS[i]}. {o}" for i, o in enumerate(options)],
            )
        ctx.update(answer_text=answer_text)
        question = self._render("question", ctx) or ""
        answer = self._render("answer", ctx) or answer_text
        self._validate(question, answer, options)
        return Turn(task.name, task.family, task.form, task.answer, question, answer, target, options)

    def _validate(self, question: str, answer: str, options: list[str] | None) -> None:
        name = self.task.name
        if not question.strip():
            raise PromptError(self.where, f"task '{name}': the question renders empty")
        if not answer.strip():
            raise PromptError(self.where, f"task '{name}': the answer renders empty")
        if "<image>" in question or "<image>" in answer:
            raise PromptError(
                self.where,
                f"task '{name}': a template may not write `<image>`",
                "the build puts the image token at the start of the first question itself",
            )
        if options is not None:
            missing = [o for o in options if o not in question]
            if missing:
                raise PromptError(
                    self.where,
                    f"task '{name}': the multiple-choice question does not show its option '{missing[0]}'",
                    "show them, one option a line: `{% for c in choices %}` then `{{ c }}` then `{% endfor %}`",
                )
        if self.task.form == "fill_in" and BLANK not in question:
            raise PromptError(self.where, f"task '{name}': a fill-in question needs a blank `{BLANK}`")


def template_digest(env: ImmutableSandboxedEnvironment, tasks: Sequence[Task]) -> str:
    """A hash of the template files the tasks use, and of every file they include, import or extend
    (followed transitively): editing any of them redoes the items it words, and only those builds."""
    from jinja2.meta import find_referenced_templates

    h = hashlib.sha256()
    loader = env.loader
    # Breadth first, each level sorted: a template that includes nothing hashes as it always did.
    pending = sorted({t.template for t in tasks if t.template})
    seen: set[str] = set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        assert isinstance(loader, FileSystemLoader)  # a task names a template file only with a templates folder
        try:
            source, _, _ = loader.get_source(env, name)
        except TemplateNotFound:
            h.update(name.encode() + b"\0(missing)\0")  # reported where it is used
            continue
        h.update(name.encode() + b"\0" + source.encode() + b"\0")
        try:
            refs = find_referenced_templates(env.parse(source))
        except TemplateError:
            continue  # a template that does not parse fails the build where it is rendered
        pending += sorted(r for r in refs if r is not None and r not in seen)
    return h.hexdigest()
