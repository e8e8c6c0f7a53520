"""`suite NAME version "V"`: a benchmark (ECGBench) as text: tasks, extraction, metrics, judges."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .base import DataPath, Decl, Ident, Problem, RefTo, Statement, Template, TemplateFile
from .corpus import From

METRICS = ("auc", "f1", "hamming", "accuracy", "exact_match", "judge")


McqRule = Literal["bare_letter", "answer_is", "letter_paren", "letter_dot", "option_text"]
MCQ_RULES: tuple[McqRule, ...] = ("bare_letter", "answer_is", "letter_paren", "letter_dot", "option_text")


class SuiteTask(Statement):
    """`task NAME { from SOURCE split test; labels = superclass; metrics = [auc, f1] }`.

    How answers are read is declared here too: `answers` (whole-answer classes besides the labels),
    `extract` (multiple-choice letter rules, in order), `fallback` (when nothing is extracted), and
    for judged tasks `rubric` and `criteria`. A task that exists only as a released file names it in
    `items` instead of `from`."""

    keyword: ClassVar[str] = "task"
    positional: ClassVar[tuple[str, ...]] = ("id",)
    takes_block: ClassVar[bool] = True
    statements: ClassVar[dict[str, type[Any]]] = {"from": From}

    id: Annotated[str, Ident()]
    sources: tuple[From, ...] = ()
    items: Annotated[str, DataPath()] | None = Field(
        None,
        description="the released item file (JSON or Parquet with id, image, conversations): imported "
        "when the suite is built from the released files, or when the task has no `from`",
    )
    form: Literal["multi_label", "multiple_choice", "select_all", "report", "open"] = Field(
        "multi_label", description="the answer form: labels, one letter, a set of options, a judged text"
    )
    labels: Annotated[str, RefTo("labels")] | None = Field(
        None, description="the label vocabulary (its `synonyms` are matched too)"
    )
    answers: tuple[Annotated[str, Ident()], ...] = Field(
        (), description="whole-answer classes besides the labels, e.g. `[NORM, ABNORMAL]` (CODE-15%)"
    )
    synonyms: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description='words that mean one of the task\'s `answers` classes, e.g. `{ NORM: ["normal ECG"] }` '
        "(a label's synonyms are declared in its `labels`)",
    )
    prompt: Annotated[str, TemplateFile()] | None = None
    question: Annotated[str, Template()] | None = None
    options: int = Field(4, ge=2, le=26, description="options per multiple-choice item")
    extract: tuple[McqRule, ...] = Field(MCQ_RULES, description="multiple-choice letter rules, tried in order")
    fallback: Literal["random", "none"] = Field(
        "random", description="nothing extracted: a seeded random option (counted) or none (wrong)"
    )
    answer_mode: Literal["free", "constrained"] = Field(
        "free",
        description="free text read by the extractor, or a constrained answer (guided choice / JSON schema "
        "through the backend's structured outputs) scored directly (multiple_choice, multi_label, select_all)",
    )
    negation: tuple[str, ...] = Field(
        (), description='negation cues besides the built-in ones, e.g. `["not consistent with"]`'
    )
    extractor: Annotated[str, RefTo("llm")] | None = Field(
        None, description="an `llm` that reads free-text answers into labels or a letter (its failures are counted)"
    )
    metrics: tuple[Literal["auc", "f1", "hamming", "accuracy", "exact_match", "judge"], ...] = ("accuracy",)
    rubric: Annotated[str, TemplateFile()] | None = Field(None, description="judge rubric template (judged tasks)")
    criteria: tuple[Annotated[str, Ident()], ...] = Field((), description="judged criteria, 0-10 each")
    limit: int | None = Field(None, ge=1)
    layout: Annotated[str, RefTo("layout")] = "4x3"
    paper: Annotated[str, RefTo("paper")] = "standard"


class Suite(Decl):
    """A benchmark: its tasks, how answers are read, how they are scored."""

    kind: ClassVar[str] = "suite"
    headers: ClassVar[dict[str, str]] = {
        "extends": "the suite this one inherits from",
        "version": 'the suite\'s version, e.g. `version "1.0"`',
    }
    statements: ClassVar[dict[str, type[Any]]] = {"task": SuiteTask}

    version: str = Field(description="version (from the `version` header)")
    tasks: tuple[SuiteTask, ...] = ()
    scoring: Literal["default", "pulse_compat"] = Field("default", description="`pulse_compat` reproduces the paper")
    judge: str | None = Field(None, description="judge model, pinned by name")
    bootstrap: int = Field(1000, ge=0, le=100000, description="bootstrap resamples for 95% intervals")
    seed: int = 0

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        ids = [t.id for t in self.tasks]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            out.append(("tasks", f"task '{dup}' is declared twice in the suite", None))
        if any("judge" in t.metrics for t in self.tasks) and not self.judge:
            out.append(("judge", "a task is judged but the suite names no `judge` model", None))
        for t in self.tasks:
            stray = [k for k in t.synonyms if k not in t.answers]
            if stray:
                out.append(
                    (
                        "tasks",
                        f"task '{t.id}': `synonyms` names {', '.join(stray)}, not among its `answers`",
                        "a label's synonyms belong in its `labels` declaration",
                    )
                )
            if t.negation and t.form in ("report", "open"):
                out.append(("tasks", f"task '{t.id}' is judged: its `negation` cues would never be read", None))
            if any(not cue.strip() or not any(ch.isalpha() for ch in cue) for cue in t.negation):
                out.append(("tasks", f"task '{t.id}': a `negation` cue is words, e.g. \"not consistent with\"", None))
            if not t.sources and not t.items:
                out.append(
                    (
                        "tasks",
                        (f"task '{t.id}' has no items: write `from SOURCE split test` or `items = \"FILE\"`"),
                        None,
                    )
                )
        return out
