"""`results/NAME.json`: the scores of one run of a plan, with everything needed to trust them.

Results    {schema, suite, version, suite_hash, spec_hash, plan_hash, scoring, backend, model,
            generation, judge, created, tasks: [TaskResult]}
TaskResult {id, form, n, metrics: {name: Metric}, per_class: [ClassRow], fallbacks, fallback_ids,
            missing, missing_ids, auc_from, undefined_auc, judge, confusion, plots, notes}
Metric     {value, lo, hi}: the point estimate and its bootstrap 95% interval (null where undefined)
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
    missing: int = Field(0, description="plan items without a prediction (scored as no answer)")
    missing_ids: tuple[str, ...] = ()
    auc_from: Literal["scores", "hard_labels"] | None = None
    undefined_auc: tuple[str, ...] = Field((), description="classes left out of the macro AUC (one value in targets)")
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
