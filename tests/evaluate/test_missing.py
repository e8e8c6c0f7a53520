"""Missing predictions are never scored: `score` and `eval` refuse them unless `--allow-missing`; with it,
missing items are left out of every metric and counted, a task with nothing answered has no score, and
pulse_compat does what the released scorer does with an absent line (read from AIMedLab/PULSE,
evaluation/evaluate_ecgbench.py: it scores the lines of a predictions file, and skips a multiple-choice
file whose line count is not the full count after drawing its fallbacks)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, hamming_loss

from ecgspec.cli import main
from runtime.evaluate.score import Prediction, missing_items, score_plan

from .helpers import RuleServer, Task, completion, item, plan_of, released_f1_auc_hl, user_text, write_jsonl

SUPER = ("NORM", "MI", "STTC", "CD", "HYP")


def _preds(texts: dict[str, str]) -> dict[tuple[str, int], Prediction]:
    return {(k, 0): Prediction(v) for k, v in texts.items()}


def _mcq(task_id: str, targets: str, n_options: int = 4, prefix: str = "m") -> Task:
    opts = tuple(f"option {i}" for i in range(n_options))
    return Task(
        id=task_id,
        form="multiple_choice",
        metrics=("accuracy",),
        items=tuple(item(f"{prefix}{k}", t, options=opts) for k, t in enumerate(targets)),
    )


def _ptb(refs: dict[str, tuple[str, ...]]) -> Task:
    return Task(
        id="ptb",
        form="multi_label",
        labels=SUPER,
        metrics=("auc", "f1", "hamming"),
        items=tuple(item(k, v, answer=", ".join(v)) for k, v in refs.items()),
    )


def _results(out: Path) -> dict:
    return json.loads((out / "results" / "mini.json").read_text())


# ---- the commands refuse missing items -------------------------------------------------------------


def test_score_refuses_missing_items_naming_the_first_few_and_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_of(_mcq("mc", "ABCDABCD")).write(tmp_path / "plan.json")
    f = write_jsonl(tmp_path / "p.jsonl", [{"id": "m0", "response": "A"}, {"id": "m1", "response": "B"}])
    out = tmp_path / "out"
    assert main(["score", str(plan), "--predictions", str(f), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "6 of 8 item(s) have no prediction: mc/m2, mc/m3, mc/m4, mc/m5, mc/m6, and 1 more" in err
    assert "--allow-missing" in err and "Traceback" not in err
    assert not (out / "results").exists()  # nothing scored, nothing written

    assert main(["score", str(plan), "--predictions", str(f), "-o", str(out), "--allow-missing"]) == 0
    res = _results(out)["tasks"][0]
    assert res["missing"] == 6 and res["missing_ids"] == [f"m{k}" for k in range(2, 8)]
    assert res["metrics"]["accuracy"]["value"] == 1.0  # the two answered items, both right
    assert "missing 6" in capsys.readouterr().out


def test_an_empty_predictions_file_is_refused_and_allowed_it_scores_nothing_as_na(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_of(_ptb({"p1": ("NORM",), "p2": ("MI",)}), _mcq("mc", "AB"), bootstrap=50).write(tmp_path / "plan.json")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "out"
    assert main(["score", str(plan), "--predictions", str(empty), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "4 of 4 item(s) have no prediction" in err and "hold no prediction" in err

    for scoring in ("default", "pulse_compat"):
        rc = main(
            ["score", str(plan), "--predictions", str(empty), "-o", str(out), "--allow-missing", "--scoring", scoring]
        )
        assert rc == 0
        tasks = _results(out)["tasks"]
        # never F1 0.000 [0.000, 0.000] or AUC 0.500 [0.500, 0.500]: there is nothing to measure
        assert [sorted(t["metrics"]) for t in tasks] == [["auc", "f1", "hamming"], ["accuracy"]]
        assert all(m == {"value": None, "lo": None, "hi": None} for t in tasks for m in t["metrics"].values())
        assert all(any("no answered items" in n for n in t["notes"]) for t in tasks)
        shown = capsys.readouterr().out
        assert "f1 n/a" in shown and "accuracy n/a" in shown and "0.500" not in shown and "0.000" not in shown
    assert (out / "predictions.jsonl").read_text() == ""


def test_an_unparseable_predictions_line_fails_score_with_its_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_of(_mcq("mc", "AB")).write(tmp_path / "plan.json")
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "m0", "response": "A"}\n{"id": "m1", "response": \n')
    assert main(["score", str(plan), "--predictions", str(f), "-o", str(tmp_path / "o"), "--allow-missing"]) == 1
    assert "p.jsonl:2: invalid JSON" in capsys.readouterr().err


def test_score_tasks_scores_only_the_named_tasks_and_names_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_of(_mcq("mc", "AB"), _mcq("other", "AB", prefix="o")).write(tmp_path / "plan.json")
    f = write_jsonl(tmp_path / "p.jsonl", [{"id": "m0", "response": "A"}, {"id": "m1", "response": "A"}])
    out = tmp_path / "out"
    assert main(["score", str(plan), "--predictions", str(f), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "2 of 4 item(s) have no prediction: other/o0, other/o1" in err and "--tasks mc." in err
    assert main(["score", str(plan), "--predictions", str(f), "-o", str(out), "--tasks", "mc"]) == 0
    assert [(t["id"], t["missing"], t["metrics"]["accuracy"]["value"]) for t in _results(out)["tasks"]] == [
        ("mc", 0, 0.5)
    ]
    assert main(["score", str(plan), "--predictions", str(f), "-o", str(out), "--tasks", "mc,nope"]) == 1
    assert "no task 'nope' (tasks: mc, other)" in capsys.readouterr().err


def test_eval_refuses_failed_responses_and_allowed_scores_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = Task(
        id="mc",
        form="multiple_choice",
        items=tuple(item(f"i{k}", "A", question=f"question {k}", options=("x", "y")) for k in range(4)),
    )
    plan = plan_of(task).write(tmp_path / "plan.json")

    def rule(body: dict) -> tuple[int, object, float]:
        if user_text(body) == "question 2":  # a 4xx is not retried: this item never gets a response
            return 400, {"error": "bad request"}, 0
        return 200, completion("A"), 0

    out = tmp_path / "out"
    args = ["eval", str(plan), "--backend", "openai", "--model", "m", "--retries", "0", "-o", str(out)]
    with RuleServer(rule) as srv:
        assert main([*args, "--url", srv.url]) == 1
        err = capsys.readouterr().err
        assert "1 of 4 item(s) have no prediction: mc/i2" in err and "rerun" in err
        assert not (out / "results").exists()
        assert main([*args, "--url", srv.url, "--allow-missing"]) == 0
    res = _results(out)["tasks"][0]
    assert res["missing_ids"] == ["i2"] and res["metrics"]["accuracy"]["value"] == 1.0 and res["fallbacks"] == 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["i0", "i1", "i3"]


def test_missing_items_counts_an_item_missing_any_of_its_turns() -> None:
    from ecgspec.artifacts.plan_schema import Item, Turn

    two = Item(id="t", turns=(Turn(question="q1"), Turn(question="q2")), target="ref")
    task = Task(id="arena", form="open", metrics=("judge",), rubric="r", criteria=("accuracy",), items=(two,))
    plan = plan_of(task)
    assert missing_items(plan, _preds({"t": "first"})) == [("arena", "t")]
    assert missing_items(plan, {("t", 0): Prediction("a"), ("t", 1): Prediction("b")}) == []


# ---- default mode: missing items are in no metric --------------------------------------------------


def test_allowed_missing_multiple_choice_items_are_left_out_not_answered_at_random() -> None:
    task = _mcq("mc", "ABCDA")
    scored = score_plan(plan_of(task, seed=3), _preds({"m0": "A", "m1": "C", "m3": "D"}))
    res = scored.tasks[0]
    assert res.missing == 2 and res.missing_ids == ("m2", "m4")
    assert res.fallbacks == 0  # no random letter stands in for a missing answer
    assert [r["id"] for r in scored.rows] == ["m0", "m1", "m3"]
    assert res.metrics["accuracy"].value == pytest.approx(accuracy_score(["A", "B", "D"], ["A", "C", "D"]))
    assert res.confusion is not None and sum(map(sum, res.confusion["matrix"])) == 3


def test_allowed_missing_multilabel_items_are_left_out_of_every_metric() -> None:
    refs = {"p1": ("NORM",), "p2": ("MI",), "p3": ("MI", "CD"), "p4": ("NORM",)}
    answers = {"p1": "NORM", "p2": "MI", "p4": "CD"}
    res = score_plan(plan_of(_ptb(refs)), _preds(answers)).tasks[0]
    assert res.missing_ids == ("p3",)
    t = np.array([[c in refs[k] for c in SUPER] for k in answers], dtype=int)
    p = np.array([[c == answers[k] for c in SUPER] for k in answers], dtype=int)
    assert res.metrics["f1"].value == pytest.approx(f1_score(t, p, average="macro", zero_division=np.nan))
    assert res.metrics["hamming"].value == pytest.approx(hamming_loss(t, p))
    assert {r.label: r.support for r in res.per_class}["MI"] == 1


# ---- pulse_compat: what the released scorer does with an absent line -------------------------------


def test_compat_multilabel_drops_missing_items_as_the_released_scorer_does() -> None:
    refs = {"p1": ("NORM",), "p2": ("MI",), "p3": ("HYP",), "p4": ("NORM", "MI"), "p5": ("CD",), "p6": ("NORM",)}
    answers = {"p1": "NORM", "p2": "ABNORMAL, MI", "p4": "MI", "p5": "CD and HYP", "p6": "STTC"}
    res = score_plan(plan_of(_ptb(refs), scoring="pulse_compat"), _preds(answers)).tasks[0]
    # the released loop reads the lines present; p3 (the one HYP reference) is not among them, so HYP is not
    # one of its classes and the HYP in p5's answer is dropped
    lines = [([c for c in SUPER if c in answers[k]], [c for c in SUPER if c in ", ".join(refs[k])]) for k in answers]
    f1, auc, hl = released_f1_auc_hl([q for q, _ in lines], [r for _, r in lines])
    assert res.metrics["f1"].value == pytest.approx(f1, abs=1e-12)
    assert res.metrics["auc"].value == pytest.approx(auc, abs=1e-12)
    assert res.metrics["hamming"].value == pytest.approx(hl, abs=1e-12)
    assert res.missing_ids == ("p3",)
    assert {(e.label, e.reason) for e in res.excluded_classes} == {("HYP", "answers_only"), ("STTC", "answers_only")}


def test_compat_multiple_choice_with_missing_items_has_no_score_but_still_draws_its_fallbacks() -> None:
    first = _mcq("mmmu", "ABCD")
    second = _mcq("csn", "ABCDEFGH", n_options=8, prefix="c")
    preds = _preds({"m0": "hmm", "m1": "B.", "m3": "no idea", **{f"c{k}": "unsure" for k in range(8)}})
    scored = score_plan(plan_of(first, second, scoring="pulse_compat"), preds)
    mmmu, csn = scored.tasks
    # the release skips a MMMU-ECG file of 3 lines instead of 200 (after drawing for its 2 fallbacks)
    assert mmmu.metrics["accuracy"].value is None and mmmu.missing_ids == ("m2",)
    assert any("skips" in n for n in mmmu.notes) and mmmu.fallbacks == 2
    rng = random.Random(42)
    drawn = [rng.choice(["A", "B", "C", "D"]) for _ in range(2)]
    drawn_csn = [rng.choice(list("ABCDEFGH")) for _ in range(8)]
    ex = {r["id"]: r["extracted"] for r in scored.rows}
    assert [ex["m0"], ex["m3"]] == drawn
    assert [ex[f"c{k}"] for k in range(8)] == drawn_csn  # the stream goes on where the skipped file left it
    assert csn.metrics["accuracy"].value == pytest.approx(accuracy_score(list("ABCDEFGH"), drawn_csn))


def test_compat_select_all_scores_the_lines_present() -> None:
    q = "Which? Options: yes, no, not sure. Only answer based on the given Options without any explanation."
    opts = ("yes", "no", "not sure")
    task = Task(
        id="qa",
        form="select_all",
        metrics=("exact_match",),
        items=(item("q1", ("yes",), q, opts), item("q2", ("no",), q, opts), item("q3", ("no",), q, opts)),
    )
    res = score_plan(plan_of(task, scoring="pulse_compat"), _preds({"q1": "Yes", "q3": "yes"})).tasks[0]
    # released: pass_list over the two lines present, sum / len
    assert res.metrics["exact_match"].value == pytest.approx(1 / 2) and res.missing == 1


def test_judged_tasks_judge_only_answered_items_and_write_rows_only_for_them() -> None:
    task = Task(
        id="rep",
        form="report",
        metrics=("judge",),
        rubric="r",
        criteria=("rhythm",),
        items=(item("r1", "Sinus rhythm."), item("r2", "AF.")),
    )
    scored = score_plan(plan_of(task), _preds({"r1": "Sinus rhythm."}))
    assert [r["id"] for r in scored.rows] == ["r1"] and scored.tasks[0].missing_ids == ("r2",)
    none = score_plan(plan_of(task), {}).tasks[0]
    assert none.metrics["judge"].value is None and any("no answered items" in n for n in none.notes)
