"""Export a plan as an lmms-eval task folder, scored by ecgspec's own scorer.

`export` writes one task YAML per exported task, a group YAML named after the suite, the items as
JSON lines, a copy of the plan (`plan.json`) and a small `utils.py` whose hooks call back into this
module. lmms-eval runs the model; `process_results` only keeps each response, and every metric's
aggregation hands the task's responses to `runtime.evaluate.score.score_plan` on the copied plan, so
lmms-eval reports the numbers `ecgspec score` gives for the same responses: the same extraction, the
same classes left out of a macro mean, the same fallbacks, in the plan's scoring mode. ecgspec must
therefore be installed where lmms-eval runs (`pip install 'ecgspec[lmms]'`).

Each task lists the metrics `ecgspec score` reports for it (found by scoring the task once at export
time), plus `fallbacks` (items where nothing was extracted), each with a function as its aggregation:
lmms-eval silently drops a metric without a working aggregation, and a string names one only if it is
registered. Generation is greedy with the length `ecgspec eval` uses, and `until: []`, since
lmms-eval's default stop sequence ("\\n\\n") would cut a reasoned answer before its `Answer:` line.

A constrained task's question carries the sentence that asks for its JSON answer, as `ecgspec eval` sends
it; lmms-eval enforces no schema, so a reply that is not that JSON is a counted fallback. A declared LLM
extractor is not run inside lmms-eval (the default rules read those tasks); score the logged samples with
`ecgspec score` to use it. Left out: judged tasks (report, open), since lmms-eval's judge helpers score failures as numbers,
and multi-turn items; score their logged samples with `ecgspec score`. lmms-eval scores tasks one by
one, so under `pulse_compat` a multiple-choice task's random fallbacks are drawn from a fresh stream
rather than where earlier tasks left the released script's one stream. Data and image paths in the
folder are absolute (lmms-eval resolves `data_files` against the working directory); re-export
after moving the plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from ecgspec.artifacts.plan_schema import ArtifactError, Item, Plan, Task, load_plan
from ecgspec.artifacts.results import TaskResult, write_text_atomic

from .run import constrained_turn
from .score import Prediction, score_plan

MAX_NEW_TOKENS = 512  # `ecgspec eval --max-tokens` default
FALLBACKS = "fallbacks"
_LOWER_IS_BETTER = {"hamming", FALLBACKS}


def exported(task: Task) -> bool:
    return task.form not in ("report", "open") and all(len(it.turns) == 1 for it in task.items)


def task_metrics(plan: Plan, task: Task) -> list[str]:
    """The metrics `ecgspec score` reports for the task, then `fallbacks`."""
    preds = {(it.id, 0): Prediction("") for it in task.items}
    return [*_score(_single(plan, task), preds).metrics, FALLBACKS]


def _question(task: Task, item: Item) -> str:
    """The question as `ecgspec eval` asks it: a constrained task's carries the sentence that asks for its JSON
    answer (lmms-eval enforces no schema, so the answer is asked for in words and validated when scored)."""
    guided = constrained_turn(task, item, 0)
    return f"{item.turns[0].question}\n\n{guided[1]}" if guided else item.turns[0].question


def export(plan: Plan, plan_dir: Path, out: Path) -> list[Path]:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    metrics: dict[str, list[str]] = {}
    for task in plan.tasks:
        if not exported(task):
            continue
        metrics[task.id] = task_metrics(plan, task)
        data = out / f"{task.id}.jsonl"
        rows = [
            {
                "id": it.id,
                "task": task.id,
                "question": _question(task, it),
                "image": str((plan_dir / it.image).resolve()) if it.image else None,
                "answer": it.target if isinstance(it.target, str) else ", ".join(it.target or ()),
            }
            for it in task.items
        ]
        write_text_atomic(data, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        yaml_path = out / f"{plan.suite}_{task.id}.yaml"
        write_text_atomic(yaml_path, task_yaml(plan, task, data, metrics[task.id]))
        written += [data, yaml_path]
    group = out / f"{plan.suite}.yaml"
    write_text_atomic(group, f"group: {plan.suite}\ntask:\n" + "".join(f"  - {plan.suite}_{t}\n" for t in metrics))
    plan.write(out / "plan.json")
    write_text_atomic(out / "utils.py", utils_source(plan, metrics))
    return [*written, group, out / "plan.json", out / "utils.py"]


def task_yaml(plan: Plan, task: Task, data: Path, metrics: Sequence[str]) -> str:
    metric_list = "".join(
        f"  - metric: {m}\n    aggregation: !function utils.agg_{m}\n"
        f"    higher_is_better: {str(m not in _LOWER_IS_BETTER).lower()}\n"
        for m in metrics
    )
    # JSON strings are YAML double-quoted scalars: paths with spaces or colons stay one value.
    return (
        f"task: {plan.suite}_{task.id}\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        "doc_to_visual: !function utils.doc_to_visual\n"
        "doc_to_text: !function utils.doc_to_text\n"
        "doc_to_target: answer\n"
        "generation_kwargs:\n"
        f"  max_new_tokens: {MAX_NEW_TOKENS}\n"
        "  temperature: 0.0\n"
        "  top_p: 1.0\n"
        "  num_beams: 1\n"
        "  do_sample: false\n"
        "  until: []\n"
        "process_results: !function utils.process_results\n"
        f"metric_list:\n{metric_list}"
        "metadata:\n"
        f"  version: {json.dumps(plan.version)}\n"
        f"  suite_hash: {plan.suite_hash}\n"
        f"  plan_hash: {plan.content_hash()}\n"
    )


_UTILS = '''"""lmms-eval hooks for {suite} {version} (plan hash {short}), written by `ecgspec export-lmms`.

Every metric is aggregated by ecgspec's own scorer on plan.json beside this file, so the numbers
are those `ecgspec score` gives for the same responses; ecgspec must be installed where lmms-eval
runs (pip install 'ecgspec[lmms]').
"""

from pathlib import Path

try:
    from runtime.evaluate import lmms_export as ecgspec_hooks
except ImportError as exc:
    raise ImportError(
        "this task folder is scored by ecgspec: install it where lmms-eval runs (pip install 'ecgspec[lmms]')"
    ) from exc

PLAN = Path(__file__).with_name("plan.json")
PLAN_HASH = "{plan_hash}"
METRICS = {metrics}


def doc_to_visual(doc):
    return ecgspec_hooks.doc_to_visual(doc)


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return ecgspec_hooks.doc_to_text(doc)


def process_results(doc, results):
    return ecgspec_hooks.process_results(doc, results, METRICS[doc["task"]])
'''

_AGG = """

def agg_{metric}(items):
    return ecgspec_hooks.aggregate(PLAN, PLAN_HASH, "{metric}", items)
"""


def utils_source(plan: Plan, metrics: Mapping[str, Sequence[str]]) -> str:
    head = _UTILS.format(
        suite=plan.suite,
        version=plan.version,
        short=plan.content_hash()[:16],
        plan_hash=plan.content_hash(),
        metrics=json.dumps({k: list(v) for k, v in metrics.items()}),
    )
    names = sorted({m for ms in metrics.values() for m in ms})
    return head + "".join(_AGG.format(metric=m) for m in names)


# ---- the hooks, called from the exported utils.py inside lmms-eval --------------------------------


def doc_to_visual(doc: Mapping[str, Any]) -> list[Any]:
    from PIL import Image

    if not doc.get("image"):
        return []
    with Image.open(doc["image"]) as img:
        return [img.convert("RGB")]


def doc_to_text(doc: Mapping[str, Any]) -> str:
    return str(doc["question"])


def process_results(doc: Mapping[str, Any], results: Sequence[str], metrics: Sequence[str]) -> dict[str, Any]:
    """Every metric gets the response itself: scoring needs the whole task, so it happens when aggregating."""
    row = {"task": doc["task"], "id": doc["id"], "response": results[0] if results else ""}
    return {m: row for m in metrics}


def aggregate(plan_path: Path, plan_hash: str, metric: str, items: Sequence[Mapping[str, Any]]) -> float | int | None:
    """One metric of one task over lmms-eval's responses, as `ecgspec score` computes it (None where
    it is undefined). Items lmms-eval did not run (`--limit`) are left out, as missing items are."""
    if not items:
        return None
    tasks = {str(x["task"]) for x in items}
    if len(tasks) != 1:
        raise ValueError(f"metric {metric}: responses of several tasks ({', '.join(sorted(tasks))}) in one aggregation")
    answers = tuple(sorted((str(x["id"]), str(x["response"])) for x in items))
    result = _scored(str(plan_path), plan_hash, tasks.pop(), answers)
    if metric == FALLBACKS:
        return result.fallbacks
    if metric not in result.metrics:
        raise ArtifactError(
            f"{plan_path}: ecgspec score no longer reports {metric!r} for task {result.id!r}; re-export the task folder"
        )
    return result.metrics[metric].value


@lru_cache(maxsize=4)
def _plan(path: str, plan_hash: str) -> Plan:
    plan = load_plan(path)
    if plan.content_hash() != plan_hash:
        raise ArtifactError(f"{path}: not the plan this task folder was exported from; re-export it")
    return plan


@lru_cache(maxsize=64)
def _scored(path: str, plan_hash: str, task_id: str, answers: tuple[tuple[str, str], ...]) -> TaskResult:
    """Scored once per task and set of responses: each of the task's metrics asks for the same result."""
    plan = _plan(path, plan_hash)
    try:
        task = plan.task(task_id)
    except KeyError:
        raise ArtifactError(f"{path}: the plan has no task {task_id!r}; re-export the task folder") from None
    preds = {(item_id, 0): Prediction(response) for item_id, response in answers}
    unknown = sorted({i for i, _ in answers} - {it.id for it in task.items})
    if unknown:
        raise ArtifactError(f"{path}: task {task_id!r} has no item {unknown[0]!r}; re-export the task folder")
    if len(preds) != len(answers):
        raise ArtifactError(f"task {task_id!r}: lmms-eval gave an item more than one response (repeats are not scored)")
    ran = task.model_copy(update={"items": tuple(it for it in task.items if (it.id, 0) in preds)})
    return _score(_single(plan, ran), preds)


def _single(plan: Plan, task: Task) -> Plan:
    # The bootstrap only makes intervals, which lmms-eval has no place for; the point values do not use it.
    return plan.model_copy(update={"tasks": (task,), "bootstrap": 0})


def _score(plan: Plan, preds: dict[tuple[str, int], Prediction]) -> TaskResult:
    return score_plan(plan, preds).tasks[0]
