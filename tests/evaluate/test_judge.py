"""Judge failures (malformed JSON, timeouts, refusals, bad scores) are counted, never scored."""

from __future__ import annotations

import json

import pytest

from runtime.evaluate.backends.openai import OpenAIBackend
from runtime.evaluate.judge import Judge, parse_verdict
from runtime.evaluate.score import Prediction, score_plan

from .helpers import RuleServer, Task, completion, item, plan_of

RUBRIC = (
    "Criteria: {{ criteria|join(', ') }}\n{% for t in turns %}REF {{ t.reference }} GOT {{ t.response }}\n{% endfor %}"
)
CRITERIA = ("rhythm", "waveform", "diagnosis")


def judge_rule(body: dict) -> tuple[int, object, float]:
    text = body["messages"][-1]["content"]
    got = text.split("GOT ")[-1].strip()
    if got == "valid":
        return (
            200,
            completion(
                json.dumps({"Rhythm": {"Score": 8, "Explanation": "ok"}, "waveform": {"score": 6}, "diagnosis": 7})
            ),
            0,
        )
    if got == "malformed":
        return 200, completion('{"rhythm": {"score": 8}, "waveform": '), 0
    if got == "slow":
        return 200, completion("{}"), 2.0
    if got == "refuse":
        return 200, completion("I'm sorry, I can't help with grading medical reports."), 0
    if got == "refusal-field":
        return 200, completion("", refusal="declined"), 0
    if got == "eleven":
        return 200, completion(json.dumps({"rhythm": 11, "waveform": 5, "diagnosis": 5})), 0
    if got == "missing":
        return 200, completion(json.dumps({"rhythm": 5, "waveform": 5})), 0
    return 500, "boom", 0


def test_judge_counts_each_failure_kind_and_scores_only_valid_verdicts() -> None:
    kinds = ["valid", "malformed", "slow", "refuse", "refusal-field", "eleven", "missing", "error"]
    task = Task(
        id="report",
        form="report",
        metrics=("judge",),
        rubric=RUBRIC,
        criteria=CRITERIA,
        items=tuple(item(k, "reference report") for k in kinds),
    )
    preds = {(k, 0): Prediction(k) for k in kinds}
    with RuleServer(judge_rule) as srv:
        backend = OpenAIBackend(
            url=srv.url, model="judge-model", timeout=0.5, retries=1, backoff=0.01, concurrency=4, json_mode=True
        )
        res = score_plan(plan_of(task), preds, judge=Judge(backend)).tasks[0]
        backend.close()
        assert srv.bodies[0]["response_format"] == {"type": "json_object"} and srv.bodies[0]["temperature"] == 0
    assert res.judge is not None
    assert res.judge.scored == 1
    assert res.judge.failures == {
        "malformed_json": 1,
        "timeout": 1,
        "refusal": 2,
        "out_of_range": 1,
        "missing_criterion": 1,
        "http_error": 1,
    }
    assert res.metrics["judge"].value == pytest.approx(10 * (8 + 6 + 7) / 3)
    assert res.judge.criteria == {"rhythm": 80.0, "waveform": 60.0, "diagnosis": 70.0}
    assert {f.item for f in res.judge.failed} == set(kinds) - {"valid"}


def test_all_judge_failures_give_no_number() -> None:
    task = Task(id="r", form="report", metrics=("judge",), rubric=RUBRIC, criteria=CRITERIA, items=(item("a", "ref"),))
    with RuleServer(judge_rule) as srv:
        backend = OpenAIBackend(url=srv.url, model="j", retries=0, timeout=5)
        res = score_plan(plan_of(task), {("a", 0): Prediction("malformed")}, judge=Judge(backend)).tasks[0]
    assert res.metrics["judge"].value is None and res.judge and res.judge.failures == {"malformed_json": 1}


def test_no_judge_endpoint_reports_no_score() -> None:
    task = Task(id="r", form="report", metrics=("judge",), rubric=RUBRIC, criteria=CRITERIA, items=(item("a", "ref"),))
    res = score_plan(plan_of(task), {("a", 0): Prediction("x")}).tasks[0]
    assert res.metrics["judge"].value is None and "not judged" in res.notes[0]


@pytest.mark.parametrize(
    "text,kind",
    [
        ("{}", "missing_criterion"),
        ("[1, 2]", "malformed_json"),
        ('{"rhythm": "high", "waveform": 1, "diagnosis": 1}', "out_of_range"),
        ('{"rhythm": true, "waveform": 1, "diagnosis": 1}', "out_of_range"),
    ],
)
def test_parse_verdict_rejects_what_is_not_a_score(text: str, kind: str) -> None:
    assert parse_verdict(text, CRITERIA).failure == kind
