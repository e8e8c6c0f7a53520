"""`results/NAME.json`: the scores of one run of a plan, with everything needed to trust them.

Results    {schema, suite, version, suite_hash, spec_hash, plan_hash, scoring, backend, model,
            generation, judge, created, tasks: [TaskResult]}
TaskResult {id, form, n, metrics: {name: Metric}, per_class: [ClassRow], fallbacks, fallback_ids,
            missing, missing_ids, auc_from, undefined_auc, excluded_classes, f1_absent_as_zero,
            judge, confusion, plots, notes}
Metric     {value, lo, hi}: the point estimate and its bootstrap 95% interval (null where undefined)

Missing items (no prediction for one of their turns; scored only with `--allow-missing`) are left
out of every metric and counted in `missing`/`missing_ids`; a metric with nothing to measure is
null ("n/a"), never 0 or 0.5.

Classes left out of a macro mean are listed in `excluded_classes`, one ExcludedClass each, with the
reason and the metrics it is left out of:

  absent              in neither the targets nor the answers: no F1 (0/0) and no AUC; left out of
                      the macro F1 and AUC (pulse_compat: of every metric: its classes are the ones
                      seen in the references)
  answers_only        pulse_compat only: answered but in no reference, so not one of the released
                      scorer's classes; those answers are dropped from every metric
  no_positive_target  default mode: no target has it but some answer does; F1 0 (counted), AUC
                      undefined (left out of the macro AUC)
  in_every_target     default mode: every target has it; AUC undefined (left out of the macro AUC)

(Under pulse_compat a class in every reference is not left out: its AUC is NaN and so is the
mean, as in the release; it is listed in `undefined_auc` and a note says so.)
`f1_absent_as_zero` is the macro F1 had each `absent` class been counted as F1 0 (scikit-learn's
`zero_division=0`), so the size of that choice is visible; null when no class is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..atomic import AtomicWriter

RESULTS_SCHEMA: Final = "ecgspec.results/1"


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a file so that a reader never sees half of it: tmp file in the same folder + os.replace
    (ecgspec.atomic: the mode a plain open() would give, 0666 & ~umask)."""
    with AtomicWriter(path, text=True) as f:
        f.write(text)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Metric(_Model):
    value: float | None
    lo: float | None = None
    hi: float | None = None


class ClassRow(_Model):
    label: str
    support: int = Field(description="items whose target has the label")
    predicted: int = Field(description="items whose extracted answer has the label")
    auc: float | None = Field(None, description="null when the class has one value in the targets")
    f1: float | None = Field(None, description="null when neither targets nor answers have the class")
    precision: float | None = None
    recall: float | None = None


class ExcludedClass(_Model):
    label: str
    reason: Literal["absent", "answers_only", "no_positive_target", "in_every_target"] = Field(
        description="why the class is left out (see the module docstring)"
    )
    metrics: tuple[str, ...] = Field(description="the task metrics whose mean leaves it out: f1, auc, hamming")


class JudgeFailure(_Model):
    item: str
    kind: Literal["timeout", "http_error", "malformed_json", "missing_criterion", "out_of_range", "refusal"]
    detail: str = ""


class JudgeSummary(_Model):
    model: str
    criteria: dict[str, float | None] = Field(description="criterion → mean score ×10 over judged items")
    scored: int
    failures: dict[str, int] = Field(description="failure kind → count; failed items are never scored")
    failed: tuple[JudgeFailure, ...] = ()


class TaskResult(_Model):
    id: str
    form: str
    n: int
    metrics: dict[str, Metric]
    per_class: tuple[ClassRow, ...] = ()
    fallbacks: int = Field(0, description="items where nothing was extracted and the fallback answered")
    fallback_ids: tuple[str, ...] = ()
    missing: int = Field(0, description="plan items without a prediction, left out of every metric")
    missing_ids: tuple[str, ...] = ()
    answer_mode: str | None = Field(
        None,
        description="how answers were read: free text (the extractor's rules), constrained (json schema), "
        "LLM extractor: NAME, or the released scorer's rules (pulse_compat)",
    )
    extractor_failures: int = Field(
        0, description="answers the declared LLM extractor could not read: left out of every metric, never filled in"
    )
    extractor_failure_ids: tuple[str, ...] = ()
    auc_from: Literal["scores", "hard_labels"] | None = None
    undefined_auc: tuple[str, ...] = Field(
        (), description="classes with one value in the targets: no AUC (default: left out of the mean; compat: NaN)"
    )
    excluded_classes: tuple[ExcludedClass, ...] = Field(
        (), description="classes left out of a macro mean, each with the reason and the metrics"
    )
    f1_absent_as_zero: float | None = Field(
        None, description="macro F1 counting each class absent from targets and answers as 0; null if none is"
    )
    judge: JudgeSummary | None = None
    confusion: dict[str, Any] | None = None
    plots: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


class Results(_Model):
    schema_: Literal["ecgspec.results/1"] = Field(RESULTS_SCHEMA, alias="schema")
    suite: str
    version: str
    suite_hash: str
    spec_hash: str
    plan_hash: str
    scoring: Literal["default", "pulse_compat"]
    backend: str | None = None
    model: str | None = None
    generation: dict[str, Any] = Field(default_factory=dict)
    judge: str | None = None
    bootstrap: int = 0
    seed: int = 0
    created: str
    tasks: tuple[TaskResult, ...]

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(
            path,
            json.dumps(self.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False, allow_nan=False)
            + "\n",
        )
        return path
