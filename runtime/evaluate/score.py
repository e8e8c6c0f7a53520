"""Scoring: a plan and its responses → per-task results, in the correct mode or `pulse_compat`.

Responses come from a run (`runtime.evaluate.run`) or from a predictions file made elsewhere
(`read_predictions`: our predictions.jsonl, or the released PULSE JSONL outputs with
`question_id`/`text`, `id`/`response`, and for ECG Arena `predict_convs` or a list of responses).

An item without a response for one of its turns is *missing* (`missing_items`). The commands refuse
to score with items missing unless told to (`--allow-missing`); scoring leaves missing items out of
every metric and counts them, and a task with nothing answered has no score (null, "n/a"). Under
`pulse_compat` missing items are treated as the released scorer treats an absent line: dropped
(multi-label, ECG-QA, judged tasks), except that multiple-choice tasks get no score at all, since
the release skips a MMMU-ECG/CSN/G12EC file whose line count is not the file's full count (its
random fallbacks for the lines present are still drawn, so later tasks draw what they drew there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ecgspec.artifacts.plan_schema import LETTERS, ArtifactError, Item, Plan, Task
from ecgspec.artifacts.results import (
    ClassRow,
    ExcludedClass,
    JudgeFailure,
    JudgeSummary,
    Metric,
    TaskResult,
)

from . import compat, constrained
from .constrained import is_constrained, mode_of
from .extract import Extracted, extract
from .judge import Judge, Verdict, render_prompt
from .metrics import binarize, bootstrap_many, choice_metrics, label_metrics, mean_metric


@dataclass(frozen=True)
class Prediction:
    response: str
    scores: dict[str, float] | None = None  # per-label scores (probabilities), when the model gives them


@dataclass
class Scored:
    tasks: list[TaskResult] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # predictions.jsonl lines
    arrays: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task, for plots
    # What a declared LLM extractor read, keyed (item id, turn); None when no extractor ran. An answer it
    # could not read is absent here: the item is left out and counted, never read another way.
    readings: Mapping[tuple[str, int], Extracted] | None = None


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


def missing_items(plan: Plan, preds: dict[tuple[str, int], Prediction]) -> list[tuple[str, str]]:
    """(task id, item id) of every plan item without a response for one of its turns, in plan order."""
    return [(t.id, it.id) for t in plan.tasks for it in t.items if _lacks(it, preds)]


def _lacks(item: Item, preds: dict[tuple[str, int], Prediction]) -> bool:
    return any((item.id, k) not in preds for k in range(len(item.turns)))


def describe_missing(plan: Plan, lost: Sequence[tuple[str, str]], shown: int = 5) -> str:
    """'5 of 200 items have no prediction: mmmu_ecg/m1, …, and 2 more' — for an error message."""
    total = sum(len(t.items) for t in plan.tasks)
    names = ", ".join(f"{t}/{i}" for t, i in lost[:shown])
    more = f", and {len(lost) - shown} more" if len(lost) > shown else ""
    return f"{len(lost)} of {total} item(s) have no prediction: {names}{more}"


# ---- scoring -----------------------------------------------------------------------------------


def _reference_text(item: Item) -> str:
    if item.turns[-1].answer is not None:
        return item.turns[-1].answer
    return item.target if isinstance(item.target, str) else ", ".join(item.target or ())


def score_plan(
    plan: Plan,
    preds: dict[tuple[str, int], Prediction],
    *,
    judge: Judge | None = None,
    mode: str | None = None,
    readings: Mapping[tuple[str, int], Extracted] | None = None,
) -> Scored:
    """Score every task. `readings` are an LLM extractor's (llm_extract.extract_declared): where given, the tasks
    that declare an extractor are read by it alone."""
    mode = mode or plan.scoring
    out = Scored(readings=readings)
    stream = compat.FallbackStream(42)  # compat: the released script's one seeded stream, in plan order
    for task in plan.tasks:
        result = _score_task(plan, task, preds, mode, judge, stream, out)
        out.tasks.append(result)
    return out


def _final(item: Item, preds: dict[tuple[str, int], Prediction]) -> Prediction:
    return preds[(item.id, len(item.turns) - 1)]


def extract_all(
    plan: Plan,
    task: Task,
    items: Sequence[Item],
    responses: Sequence[str],
    readings: Mapping[tuple[str, int], Extracted] | None = None,
) -> list[Extracted]:
    """Correct-mode answers of a task's responses: the one place scoring reads answers out of text. A constrained
    task's replies are parsed as the structured answer they must be; a task read by an LLM extractor takes its
    readings (the items it failed on are already left out)."""
    if is_constrained(task):
        return [constrained.read(task, it, r) for it, r in zip(items, responses, strict=True)]
    if readings is not None and read_by_llm(task):
        return [readings[(it.id, len(it.turns) - 1)] for it in items]
    return [extract(task, it.id, it.options, r, plan.seed) for it, r in zip(items, responses, strict=True)]


def read_by_llm(task: Task) -> bool:
    """Whether a task's answers are the LLM extractor's to read (it reads only the closed forms' free text)."""
    return (
        task.extract.llm is not None
        and task.extract.llm.backend != "none"
        and task.form in constrained.FORMS
        and not is_constrained(task)
    )


def answer_mode(task: Task, readings: Mapping[tuple[str, int], Extracted] | None) -> str:
    """How a task's answers were read, as the report states it beside each number."""
    if task.form in ("report", "open"):
        return "free text, judged"
    if task.extract.llm is not None and not is_constrained(task) and (readings is None or not read_by_llm(task)):
        return f"free text (extractor {task.extract.llm.name} not run)"
    return mode_of(task)


def _score_task(
    plan: Plan,
    task: Task,
    preds: dict[tuple[str, int], Prediction],
    mode: str,
    judge: Judge | None,
    stream: compat.FallbackStream,
    out: Scored,
) -> TaskResult:
    missing = {it.id for it in task.items if _lacks(it, preds)}
    items = [it for it in task.items if it.id not in missing]  # missing items are in no metric
    unread: list[str] = []
    if out.readings is not None and read_by_llm(task) and mode != "pulse_compat":
        # the extractor's failures are counted and left out, never read by another rule or drawn at random
        unread = [it.id for it in items if (it.id, len(it.turns) - 1) not in out.readings]
        items = [it for it in items if it.id not in set(unread)]
    base: dict[str, Any] = {
        "id": task.id,
        "form": task.form,
        "n": len(task.items),
        "missing": len(missing),
        "missing_ids": tuple(it.id for it in task.items if it.id in missing),
        "answer_mode": "released scorer's rules" if mode == "pulse_compat" else answer_mode(task, out.readings),
        "extractor_failures": len(unread),
        "extractor_failure_ids": tuple(unread),
    }
    # An unread answer is still a response: predictions.jsonl keeps it, so the file scores again without it
    # being reported missing (and is read again), marked `unread` and with nothing extracted.
    out.rows += [
        {**_row(task, it, _final(it, preds).response, None, False), "unread": True}
        for it in task.items
        if it.id in set(unread)
    ]
    if task.form in ("report", "open"):
        return _score_judged(plan, task, items, preds, judge, base, out)
    if not items:
        note = (
            f"no item read: the extractor could read none of the {len(unread)} answers, so there is no score"
            if unread
            else "no answered items: every item is missing, so there is no score"
        )
        return TaskResult(
            **base,
            metrics={m: Metric(value=None) for m in task.metrics if m != "judge"},
            notes=(note,) if task.items else (),
        )
    responses = [_final(it, preds).response for it in items]
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
    got = extract_all(plan, task, items, responses, out.readings)
    out.rows += [_row(task, it, r, g.value, g.fallback) for it, r, g in zip(items, responses, got, strict=True)]
    y_true = binarize([it.target or () for it in items], classes)
    y_pred = binarize([g.value or () for g in got], classes)
    finals = [_final(it, preds) for it in items]
    have_scores = all(p.scores for p in finals)
    scores = None
    if have_scores:
        scores = np.array([[float((p.scores or {}).get(c, 0.0)) for c in classes] for p in finals])
    ls = label_metrics(y_true, y_pred, classes, task.metrics, scores=scores, b=plan.bootstrap, seed=plan.seed)
    out.arrays[task.id] = {"classes": classes, "y_true": y_true, "scores": scores}
    fb = [it.id for it, g in zip(items, got, strict=True) if g.fallback]
    notes = [] if have_scores else ["AUC from hard 0/1 labels: the predictions carry no per-label scores"]
    excluded = _excluded_default(classes, y_true, y_pred, task.metrics)
    absent = [e.label for e in excluded if e.reason == "absent"]
    f1_zero = None
    if absent and "f1" in task.metrics:
        from sklearn.metrics import f1_score

        # the results say it as `excluded_classes` and `f1_absent_as_zero`, which the report lays out
        f1_zero = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    return TaskResult(
        **base,
        metrics=ls.metrics,
        per_class=tuple(ls.per_class),
        fallbacks=len(fb),
        fallback_ids=tuple(fb),
        auc_from="scores" if have_scores else "hard_labels",
        undefined_auc=tuple(ls.undefined_auc),
        excluded_classes=tuple(excluded),
        f1_absent_as_zero=f1_zero,
        notes=tuple(notes),
    )


def _excluded_default(
    classes: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray, wanted: Sequence[str]
) -> list[ExcludedClass]:
    """The classes correct mode leaves out of a macro mean (metrics.label_metrics), and why."""
    n = len(y_true)
    out = []
    for j, c in enumerate(classes):
        support, predicted = int(y_true[:, j].sum()), int(y_pred[:, j].sum())
        left_out: tuple[str, ...] = ("auc",)
        reason: Literal["absent", "no_positive_target", "in_every_target"]
        if support == 0 and predicted == 0:
            reason, left_out = "absent", ("f1", "auc")
        elif support == 0:
            reason = "no_positive_target"
        elif support == n:
            reason = "in_every_target"
        else:
            continue
        metrics = tuple(m for m in left_out if m in wanted)
        if metrics:
            out.append(ExcludedClass(label=c, reason=reason, metrics=metrics))
    return out


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
    t, p = s["y_true"], s["y_pred"]
    # each resample scored by the released rules (classes refitted on its references)
    cis = bootstrap_many(len(t), plan.bootstrap, plan.seed, partial(compat.multilabel_resample, t, p), 3)
    metrics: dict[str, Metric] = {}
    for name, ci in zip(("f1", "auc", "hamming"), cis, strict=True):
        if name in task.metrics:
            value = None if np.isnan(s[name]) else float(s[name])
            metrics[name] = Metric(
                value=value, lo=ci[0] if value is not None else None, hi=ci[1] if value is not None else None
            )
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
    if np.isnan(s["auc"]) and s["classes"]:
        notes.append("AUC is NaN under the released rules (a class with one value in the references); shown as null")
    # the released classes are those of the references: every other class is out of every metric
    answered = {c for labels in pred for c in labels}
    excluded = [
        ExcludedClass(
            label=c,
            reason="answers_only" if c in answered else "absent",
            metrics=tuple(m for m in ("f1", "auc", "hamming") if m in task.metrics),
        )
        for c in [*task.labels, *task.extract.answers]
        if c not in s["classes"]
    ]
    if excluded:
        notes.append(
            "pulse_compat scores only the classes seen in the references; left out: "
            + ", ".join(f"{e.label} ({e.reason.replace('_', ' ')})" for e in excluded)
        )
    return TaskResult(
        **base,
        metrics=metrics,
        per_class=rows,
        auc_from="hard_labels",
        undefined_auc=tuple(c for c, a in zip(s["classes"], s["auc_per_class"], strict=True) if np.isnan(a)),
        excluded_classes=tuple(e for e in excluded if e.metrics),
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
    if mode == "pulse_compat":
        for r, it in zip(responses, items, strict=True):
            letter = compat.mcq_letter(r)
            if letter is None:
                letter = stream.letter(len(it.options or ()))
                fb.append(it.id)
            letters_used.append(letter)
    else:
        for it, g in zip(items, extract_all(plan, task, items, responses, out.readings), strict=True):
            letters_used.append(g.value if isinstance(g.value, str) else None)
            if g.fallback:
                fb.append(it.id)
    out.rows += [
        _row(task, it, r, letter, it.id in fb) for it, r, letter in zip(items, responses, letters_used, strict=True)
    ]
    truth = [str(it.target) for it in items]
    metrics, confusion = choice_metrics(truth, letters_used, LETTERS[:n_opts], b=plan.bootstrap, seed=plan.seed)
    out.arrays[task.id] = {"confusion": confusion}
    notes: tuple[str, ...] = ()
    if mode == "pulse_compat":
        notes = ("pulse_compat: the released letter cascade over A-H and random.Random(42) fallbacks",)
        if base["missing"]:
            # the release skips a file with fewer lines than the task's items (after drawing its fallbacks)
            metrics = {name: Metric(value=None) for name in metrics}
            notes += (
                f"pulse_compat: no score: {base['missing']} of {base['n']} items missing, and the released "
                "scorer skips a multiple-choice file whose line count is not the task's full count",
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
    if mode == "pulse_compat":
        for it, r in zip(items, responses, strict=True):
            picked.append(tuple(compat.ecgqa_prediction(r, compat.ecgqa_candidates(it.turns[0].question, it.options))))
    else:
        for it, g in zip(items, extract_all(plan, task, items, responses, out.readings), strict=True):
            picked.append(tuple(g.value or ()))
            if g.fallback:
                fb.append(it.id)
    out.rows += [_row(task, it, r, got, it.id in fb) for it, r, got in zip(items, responses, picked, strict=True)]
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
    """`items`: the answered items (missing ones are not judged, as in the release, which judges the lines
    of a predictions file)."""
    for it in items:
        for k in range(len(it.turns)):
            out.rows.append(
                {
                    "task": task.id,
                    "id": it.id,
                    "turn": k,
                    "response": preds[(it.id, k)].response,
                    "extracted": None,
                    "fallback": False,
                }
            )
    if not items and task.items:
        return TaskResult(
            **base,
            metrics={"judge": Metric(value=None)},
            notes=("no answered items: every item is missing, so there is no score",),
        )
    if judge is None:
        return TaskResult(
            **base,
            metrics={"judge": Metric(value=None)},
            notes=("not judged: no judge endpoint was given (--judge-url); no score is reported",),
        )
    jobs = [
        (it.id, render_prompt(task.rubric or "", task.criteria, judge_turns(it, preds)), task.criteria) for it in items
    ]
    verdicts: dict[str, Verdict] = judge.judge(jobs)
    good = [(it.id, verdicts[it.id]) for it in items if verdicts[it.id].failure is None]
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
