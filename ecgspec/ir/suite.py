"""`suite NAME version "V"`: a benchmark (ECGBench) as text: tasks, extraction, metrics, judges."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .base import Decl, Ident, Problem, RefTo, Statement, Template, TemplateFile
from .corpus import From

METRICS = ("auc", "f1", "hamming", "accuracy", "exact_match", "judge")


class SuiteTask(Statement):
    """`task NAME { from SOURCE split test; labels = superclass; metrics = [auc, f1] }`."""

    keyword: ClassVar[str] = "task"
    positional: ClassVar[tuple[str, ...]] = ("id",)
    takes_block: ClassVar[bool] = True
    statements: ClassVar[dict[str, type[Any]]] = {"from": From}

    id: Annotated[str, Ident()]
    sources: tuple[From, ...] = ()
    items: Annotated[str, Ident()] | None = Field(None, description="released item file to import instead")
    form: Literal["multi_label", "multiple_choice", "select_all", "report", "open"] = "multi_label"
    labels: Annotated[str, RefTo("labels")] | None = None
    prompt: Annotated[str, TemplateFile()] | None = None
    question: Annotated[str, Template()] | None = None
    options: int = Field(4, ge=2, le=26)
    metrics: tuple[Literal["auc", "f1", "hamming", "accuracy", "exact_match", "judge"], ...] = ("accuracy",)
    rubric: Annotated[str, TemplateFile()] | None = None
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
        return out
