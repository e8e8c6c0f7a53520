"""Artifact schemas: the files the compiler writes and the runtime reads (no torch, no sklearn).

`plan_schema.py` is an evaluation plan (`plans/NAME.json`), `results.py` the scored results of a run;
`suite_tasks.py` a suite declaration as a plan header and task shells.
"""

from .plan_schema import ArtifactError, Extract, Item, Plan, Task, Turn, load_plan
from .results import ClassRow, JudgeFailure, JudgeSummary, Metric, Results, TaskResult, write_text_atomic

__all__ = [
    "ArtifactError",
    "ClassRow",
    "Extract",
    "Item",
    "JudgeFailure",
    "JudgeSummary",
    "Metric",
    "Plan",
    "Results",
    "Task",
    "TaskResult",
    "Turn",
    "load_plan",
    "write_text_atomic",
]
