"""Scoring: a plan and its responses → per-task results, in the correct mode or `pulse_compat`.

Responses come from a run (`runtime.evaluate.run`) or from a predictions file made elsewhere
(`read_predictions`: our predictions.jsonl, or the released PULSE JSONL outputs with
`question_id`/`text`, `id`/`response`, and for ECG Arena `predict_convs` or a list of responses).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecgspec.artifacts.plan_schema import LETTERS, ArtifactError, Item, Plan, Task
from ecgspec.artifacts.results import ClassRow, JudgeFailure, JudgeSummary, Metric, TaskResult

from . import compat
from .extract import extract
from .judge import Judge, Verdict, render_prompt
from .metrics import binarize, choice_metrics, label_metrics, mean_metric


@dataclass(frozen=True)
class Prediction:
    response: str
    scores: dict[str, float] | None = None  # per-label scores (probabilities), when the model gives them


@dataclass
class Scored:
    tasks: list[TaskResult] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # predictions.jsonl lines
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task, for plots


# ---- reading predictions ----------------------------------------------------------------------


def read_predictions(path: str | Path, plan: Plan) -> dict[tuple[str, int], Prediction]:
    """Every response in a predictions file, keyed (item id, turn). Raises ArtifactError naming the
    file and line of a malformed line, an unknown id or a duplicate."""
    path = Path(path)
    known = {it.id: it for t in plan.tasks for it in t.items}
    out: dict[tuple[str, int], Prediction] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise ArtifactError(f"{where}: a predictions line is a JSON object")
        item_id = obj.get("id", obj.get("question_id"))
        if not isinstance(item_id, (str, int)):
            raise ArtifactError(f"{where}: no `id` (or `question_id`)")
        item_id = str(item_id)
        if item_id not in known:
            raise ArtifactError(f"{where}: unknown item id '{item_id}': the plan has no such item")
        for turn, pred in _turns_of(obj, where):
            if (item_id, turn) in out:
                raise ArtifactError(f"{where}: a second response for item '{item_id}' turn {turn}")
            if turn >= len(known[item_id].turns):
                raise ArtifactError(
                    f"{where}: item '{item_id}' has {len(known[item_id].turns)} turn(s), not {turn + 1}"
                )
            out[(item_id, turn)] = pred
    return out


def _turns_of(obj: dict[str, Any], where: str) -> list[tuple[int, Prediction]]:
    scores = obj.get("scores")
    if scores is not None and not (
        isinstance(scores, dict)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values())
    ):
        raise ArtifactError(f"{where}: `scores` is an object of label → number")
    if "predict_convs" in obj:  # released ECG Arena output
        convs = obj["predict_convs"]
        if not isinstance(convs, list) or not all(
            isinstance(c, dict) and isinstance(c.get("answer"), str) for c in convs
        ):
            raise ArtifactError(f"{where}: `predict_convs` is a list of {{question, answer}}")
        return [(k, Prediction(c["answer"])) for k, c in enumerate(convs)]
    text = obj.get("response", obj.get("text"))
    if isinstance(text, list):  # released arena output with a list of responses
        if not all(isinstance(c, dict) and isinstance(c.get("response"), str) for c in text):
            raise ArtifactError(f"{where}: a list `response` holds {{response: text}} objects")
        return [(k, Prediction(c["response"])) for k, c in enumerate(text)]
    if not isinstance(text, str):
        raise ArtifactError(f"{where}: no `response` (or `text`) string")
    turn = obj.get("turn", 0)
    if not isinstance(turn, int) or turn < 0:
        raise ArtifactError(f"{where}: `turn` is a whole number ≥ 0")
    return [(turn, Prediction(text, {k: float(v) for k, v in scores.items()} if scores else None))]


# ---- scoring -----------------------------------------------------------------------------------


def _reference_text(item: Item) -> str:
    if item.turns[-1].answer is not None:
        return item.turns[-1].answer
    return item.target if isinstance(item.target, str) else ", ".join(item.target or ())


def score_plan(
    plan: Plan, preds: dict[tuple[str, int], Prediction], *, judge: Judge | None = None, mode: str | None = None
) -> Scored:
    mode = mode or plan.scoring
    out = Scored()
    stream = compat.FallbackStream(42)  # compat: the released script's one seeded stream, in plan order
    for task in plan.tasks:
        result = _score_task(plan, task, preds, mode, judge, stream, out)
        out.tasks.append(result)
    return out


def _final(task: Task, item: Item, preds: dict[tuple[str, int], Prediction]) -> Prediction | None:
    return preds.get((item.id, len(item.turns) - 1))


def _score_task(
    plan: Plan,
    task: Task,
    preds: dict[tuple[str, int], Prediction],
    mode: str,
    judge: Judge | None,
    stream: compat.FallbackStream,
    out: Scored,
) -> TaskResult:
    items = list(task.items)
    missing = [it.id for it in items if any((it.id, k) not in preds for k in range(len(it.turns)))]
    base: dict[str, Any] = {
        "id": task.id,
        "form": task.form,
        "n": len(items),
        "missing": len(missing),
        "missing_ids": tuple(missing),
    }
    if task.form in ("report", "open"):
        return _score_judged(plan, task, items, preds, judge, base, out)
    responses = [(p.response if (p := _final(task, it, preds)) else "") for it in items]
    if task.form == "multi_label":
        return (_multilabel_compat if mode == "pulse_compat" else _multilabel)(
            plan, task, items, responses, preds, base, out
        )
    if task.form == "multiple_choice":
        return _choice(plan, task, items, responses, mode, stream, base, out)
    return _select_all(plan, task, items, responses, mode, base, out)


def _row(task: Task, item: Item, response: str, extracted: Any, fallback: bool) -> dict[str, Any]:
    return {
        "task": task.id,
        "id": item.id,
        "turn": len(item.turns) - 1,
        "response": response,
        "extracted": list(extracted) if isinstance(extracted, tuple) else extracted,
        "fallback": fallback,
    }


def _multilabel(
    plan: Plan,
    task: Task,
    items: Sequence[Item],
    responses: Sequence[str],
    preds: dict[tuple[str, int], Prediction],
    base: dict[str, Any],
    out: Scored,
) -> TaskResult:
    classes = [*task.labels, *task.extract.answers]
    got = [extract(task, it.id, it.options, r, plan.seed) for it, r in zip(items, responses, strict=True)]
    out.rows += [_row(task, it, r, g.value, g.fallback) for it, r, g in zip(items, responses, got, strict=True)]
    y_true = binarize([it.target or () for it in items], classes)
    y_pred = binarize([g.value or () for g in got], classes)
    finals = [_final(task, it, preds) for it in items]
    have_scores = bool(items) and all(p is not None and p.scores for p in finals)
    scores = None
    if have_scores:
        scores = np.array([[float((p.scores or {}).get(c, 0.0)) for c in classes] for p in finals if p])
    ls = label_metrics(y_true, y_pred, classes, task.metrics, scores=scores, b=plan.bootstrap, seed=plan.seed)
    out.arrays[task.id] = {"classes": classes, "y_true": y_true, "scores": scores}
    fb = [it.id for it, g in zip(items, got, strict=True) if g.fallback]
    notes = () if have_scores else ("AUC from hard 0/1 labels: the predictions carry no per-label scores",)
    return TaskResult(
        **base,
        metrics=ls.metrics,
        per_class=tuple(ls.per_class),
        fallbacks=len(fb),
        fallback_ids=tuple(fb),
        auc_from="scores" if have_scores else "hard_labels",
        undefined_auc=tuple(ls.undefined_auc),
        notes=notes,
    )


def _nan_metric(x: float) -> Metric:
    return Metric(value=None if np.isnan(x) else x)


def _multilabel_compat(
    plan: Plan,
    task: Task,
    items: Sequence[Item],
    responses: Sequence[str],
    preds: dict[tuple[str, int], Prediction],
    base: dict[str, Any],
    out: Scored,
) -> TaskResult:
    space = list(task.labels)
    code15 = bool(task.extract.answers)
    truth, pred = [], []
    for it, r in zip(items, responses, strict=True):
        ref = _reference_text(it)
        truth.append(compat.code15_reference(ref, space) if code15 else compat.labels_in(ref, space))
        pred.append(compat.code15_prediction(r, space) if code15 else compat.labels_in(r, space))
        out.rows.append(_row(task, it, r, tuple(pred[-1]), False))
    s: dict[str, Any] = compat.multilabel_scores(pred, truth)
    metrics = {"f1": _nan_metric(s["f1"]), "auc": _nan_metric(s["auc"]), "hamming": _nan_metric(s["hamming"])}
    metrics = {k: v for k, v in metrics.items() if k in task.metrics}
    t, p = s["y_true"], s["y_pred"]
    rows = tuple(
        ClassRow(
            label=c,
            support=int(t[:, j].sum()),
            predicted=int(p[:, j].sum()),
            auc=None if np.isnan(s["auc_per_class"][j]) else s["auc_per_class"][j],
            f1=s["f1_per_class"][j],
            precision=None,
            recall=None,
        )
        for j, c in enumerate(s["classes"])
    )
    notes = [
        "pulse_compat: substring label matching, classes fitted on the references, AUC on hard labels",
        "precision/recall are not computed by the released scorer",
    ]
    if np.isnan(s["auc"]):
        notes.append("AUC is NaN under the released rules (a class with one value in the references); shown as null")
    return TaskResult(
        **base,
        metrics=metrics,
        per_class=rows,
        auc_from="hard_labels",
        undefined_auc=tuple(c for c, a in zip(s["classes"], s["auc_per_class"], strict=True) if np.isnan(a)),
        notes=tuple(notes),
    )


def _choice(
    plan: Plan,
    task: Task,
    items: Sequence[Item],
    responses: Sequence[str],
    mode: str,
    stream: compat.FallbackStream,
    base: dict[str, Any],
    out: Scored,
) -> TaskResult:
    letters_used: list[str | None] = []
    fb: list[str] = []
    n_opts = max((len(it.options or ()) for it in items), default=0)
    for it, r in zip(items, responses, strict=True):
        if mode == "pulse_compat":
            letter = compat.mcq_letter(r)
            fallback = letter is None
            if fallback:
                letter = stream.letter(len(it.options or ()))
        else:
            g = extract(task, it.id, it.options, r, plan.seed)
            letter, fallback = g.value if isinstance(g.value, str) else None, g.fallback
        letters_used.append(letter)
        if fallback:
            fb.append(it.id)
        out.rows.append(_row(task, it, r, letter, fallback))
    truth = [str(it.target) for it in items]
    metrics, confusion = choice_metrics(truth, letters_used, LETTERS[:n_opts], b=plan.bootstrap, seed=plan.seed)
    out.arrays[task.id] = {"confusion": confusion}
    notes = (
        ("pulse_compat: the released letter cascade over A-H and random.Random(42) fallbacks",)
        if mode == "pulse_compat"
        else ()
    )
    return TaskResult(
        **base, metrics=metrics, fallbacks=len(fb), fallback_ids=tuple(fb), confusion=confusion, notes=notes
    )


def _select_all(
    plan: Plan,
    task: Task,
    items: Sequence[Item],
    responses: Sequence[str],
    mode: str,
    base: dict[str, Any],
    out: Scored,
) -> TaskResult:
    picked: list[tuple[str, ...]] = []
    fb: list[str] = []
    for it, r in zip(items, responses, strict=True):
        if mode == "pulse_compat":
            cands = compat.ecgqa_candidates(it.turns[0].question, it.options)
            got = tuple(compat.ecgqa_prediction(r, cands))
            fallback = False
        else:
            g = extract(task, it.id, it.options, r, plan.seed)
            got, fallback = tuple(g.value or ()), g.fallback
        picked.append(got)
        if fallback:
            fb.append(it.id)
        out.rows.append(_row(task, it, r, got, fallback))
    classes = sorted(
        {o for it in items for o in (it.options or ())}
        | {t for it in items for t in (it.target or ())}
        | {p for g in picked for p in g}
    )
    y_true = binarize([it.target or () for it in items], classes)
    y_pred = binarize(picked, classes)
    ls = label_metrics(y_true, y_pred, classes, ["exact_match"], b=plan.bootstrap, seed=plan.seed)
    metrics = {"exact_match": ls.metrics["exact_match"]}
    if "accuracy" in task.metrics:
        metrics["accuracy"] = ls.metrics["exact_match"]
    notes = (
        ("pulse_compat: candidates from the question's `Options:`, substrings of the lower-cased response",)
        if mode == "pulse_compat"
        else ()
    )
    return TaskResult(**base, metrics=metrics, fallbacks=len(fb), fallback_ids=tuple(fb), notes=notes)


def judge_turns(item: Item, preds: dict[tuple[str, int], Prediction]) -> list[dict[str, str | None]]:
    turns = []
    for k, t in enumerate(item.turns):
        ref = t.answer
        if ref is None and k == len(item.turns) - 1 and isinstance(item.target, str):
            ref = item.target
        p = preds.get((item.id, k))
        turns.append({"question": t.question, "reference": ref, "response": p.response if p else ""})
    return turns


def _score_judged(
    plan: Plan,
    task: Task,
    items: Sequence[Item],
    preds: dict[tuple[str, int], Prediction],
    judge: Judge | None,
    base: dict[str, Any],
    out: Scored,
) -> TaskResult:
    answered = [it for it in items if it.id not in base["missing_ids"]]
    for it in items:
        for k in range(len(it.turns)):
            p = preds.get((it.id, k))
            out.rows.append(
                {
                    "task": task.id,
                    "id": it.id,
                    "turn": k,
                    "response": p.response if p else None,
                    "extracted": None,
                    "fallback": False,
                }
            )
    if judge is None:
        return TaskResult(
            **base,
            metrics={"judge": Metric(value=None)},
            notes=("not judged: no judge endpoint was given (--judge-url); no score is reported",),
        )
    jobs = [
        (it.id, render_prompt(task.rubric or "", task.criteria, judge_turns(it, preds)), task.criteria)
        for it in answered
    ]
    verdicts: dict[str, Verdict] = judge.judge(jobs)
    good = [(it.id, verdicts[it.id]) for it in answered if verdicts[it.id].failure is None]
    failed = tuple(
        JudgeFailure(item=i, kind=v.failure, detail=v.detail[:300])
        for i, v in sorted(verdicts.items())
        if v.failure is not None
    )
    kinds: dict[str, int] = {}
    for f in failed:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    crit = {
        c: (10 * float(np.mean([v.scores[c] for _, v in good if v.scores])) if good else None) for c in task.criteria
    }
    summary = JudgeSummary(model=judge.backend.model, criteria=crit, scored=len(good), failures=kinds, failed=failed)
    metric = mean_metric([v.score for _, v in good if v.score is not None], b=plan.bootstrap, seed=plan.seed)
    notes = (
        (f"{len(failed)} item(s) not scored: the judge failed ({', '.join(f'{k} {n}' for k, n in kinds.items())})",)
        if failed
        else ()
    )
    return TaskResult(**base, metrics={"judge": metric}, judge=summary, notes=notes)
