"""Scoring: hand-made predictions with known answers for every task type; correct mode equals direct
scikit-learn calls on the same arrays, pulse_compat equals the released scorer's rules."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, roc_auc_score

from runtime.evaluate.metrics import _auc_per_class, _f1_per_class, label_metrics
from runtime.evaluate.score import Prediction, score_plan

from .helpers import Extract, Task, item, plan_of, released_f1_auc_hl

SUPER = ("NORM", "MI", "STTC", "CD", "HYP")


def _preds(texts: dict[str, str]) -> dict[tuple[str, int], Prediction]:
    return {(k, 0): Prediction(v) for k, v in texts.items()}


def ptb_task() -> Task:
    targets = {"p1": ("NORM",), "p2": ("STTC",), "p3": ("MI", "CD"), "p4": ("HYP",), "p5": ("NORM",), "p6": ("CD",)}
    return Task(
        id="ptb",
        form="multi_label",
        labels=SUPER,
        metrics=("auc", "f1", "hamming"),
        synonyms={"MI": ("myocardial infarction",)},
        items=tuple(item(k, v, answer=", ".join(v)) for k, v in targets.items()),
    )


PTB_RESPONSES = {
    "p1": "NORM",
    "p2": "ABNORMAL ECG with STTC",  # trap: NORM inside ABNORMAL, ST inside STTC
    "p3": "Signs of myocardial infarction and CD.",
    "p4": "STTC",
    "p5": "normal",  # not a label, not a synonym
    "p6": "CD",
}


def test_multilabel_correct_mode_equals_sklearn_and_skips_the_norm_abnormal_trap() -> None:
    task = ptb_task()
    scored = score_plan(plan_of(task), _preds(PTB_RESPONSES))
    res = scored.tasks[0]
    extracted = {r["id"]: r["extracted"] for r in scored.rows}
    assert extracted["p2"] == ["STTC"]  # not NORM from ABNORMAL
    assert extracted["p3"] == ["MI", "CD"]  # synonym
    assert extracted["p5"] == [] and res.fallbacks == 1
    truth = [["NORM"], ["STTC"], ["MI", "CD"], ["HYP"], ["NORM"], ["CD"]]
    pred = [["NORM"], ["STTC"], ["MI", "CD"], ["STTC"], [], ["CD"]]
    t = np.array([[c in r for c in SUPER] for r in truth], dtype=int)
    p = np.array([[c in r for c in SUPER] for r in pred], dtype=int)
    assert res.metrics["f1"].value == pytest.approx(f1_score(t, p, average="macro", zero_division=np.nan))
    assert res.metrics["hamming"].value == pytest.approx(hamming_loss(t, p))
    assert res.metrics["auc"].value == pytest.approx(roc_auc_score(t, p, average="macro"))
    per = {r.label: r for r in res.per_class}
    assert per["HYP"].f1 == 0.0 and per["NORM"].support == 2
    assert res.auc_from == "hard_labels"


def test_pulse_compat_multilabel_reproduces_substring_matching_and_hard_label_auc() -> None:
    task = ptb_task()
    res = score_plan(plan_of(task, scoring="pulse_compat"), _preds(PTB_RESPONSES)).tasks[0]
    # The released rules: case-sensitive substrings; classes fitted on the references (sorted).
    truth = [[c for c in SUPER if c in ref] for ref in ["NORM", "STTC", "MI, CD", "HYP", "NORM", "CD"]]
    pred = [[c for c in SUPER if c in r] for r in PTB_RESPONSES.values()]
    assert pred[1] == ["NORM", "STTC"]  # the trap the released scorer falls into
    classes = sorted({c for r in truth for c in r})
    t = np.array([[c in r for c in classes] for r in truth], dtype=int)
    p = np.array([[c in r for c in classes] for r in pred], dtype=int)
    assert res.metrics["f1"].value == pytest.approx(float(np.mean(f1_score(t, p, average=None))))
    assert res.metrics["auc"].value == pytest.approx(
        float(np.mean([roc_auc_score(t[:, j], p[:, j]) for j in range(len(classes))]))
    )
    assert res.metrics["hamming"].value == pytest.approx(hamming_loss(t, p))
    assert res.metrics["f1"].value != score_plan(plan_of(task), _preds(PTB_RESPONSES)).tasks[0].metrics["f1"].value


def test_pulse_compat_auc_is_nan_when_a_class_has_one_value_and_correct_mode_leaves_it_out() -> None:
    task = Task(
        id="t",
        form="multi_label",
        labels=("AF", "RBBB"),
        metrics=("auc", "f1"),
        items=(
            item("a", ("AF",), answer="AF"),
            item("b", ("AF", "RBBB"), answer="AF, RBBB"),
            item("c", ("AF",), answer="AF"),
        ),
    )
    preds = _preds({"a": "AF", "b": "RBBB", "c": "AF"})
    compat = score_plan(plan_of(task, scoring="pulse_compat"), preds).tasks[0]
    assert compat.metrics["auc"].value is None and any("NaN" in n for n in compat.notes)
    assert compat.undefined_auc == ("AF",)
    good = score_plan(plan_of(task), preds).tasks[0]
    assert good.undefined_auc == ("AF",)
    assert good.metrics["auc"].value == pytest.approx(roc_auc_score([0, 1, 0], [0, 1, 0]))


def code15_task() -> Task:
    targets = {"c1": ("NORM",), "c2": ("ABNORMAL",), "c3": ("ST",), "c4": ("AF", "RBBB"), "c5": ("SB",)}
    return Task(
        id="code15",
        form="multi_label",
        labels=("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF"),
        metrics=("auc", "f1", "hamming"),
        extract=Extract(answers=("NORM", "ABNORMAL")),
        items=tuple(item(k, v, answer=" ".join(v)) for k, v in targets.items()),
    )


CODE15_RESPONSES = {
    "c1": "NORM",
    "c2": "ABNORMAL",
    "c3": "STTC changes, ST",
    "c4": "Answer: AF, RBBB",
    "c5": "SB with ST-elevation",
}


def test_code15_norm_abnormal_answers_and_st_trap_in_both_modes() -> None:
    task = code15_task()
    classes = ["1dAVb", "RBBB", "LBBB", "SB", "ST", "AF", "NORM", "ABNORMAL"]
    scored = score_plan(plan_of(task), _preds(CODE15_RESPONSES))
    ex = {r["id"]: r["extracted"] for r in scored.rows}
    assert ex["c1"] == ["NORM"] and ex["c2"] == ["ABNORMAL"] and ex["c3"] == ["ST"] and ex["c5"] == ["SB"]
    truth = [t.target for t in task.items]
    t = np.array([[c in r for c in classes] for r in truth], dtype=int)
    p = np.array([[c in ex[k] for c in classes] for k in CODE15_RESPONSES], dtype=int)
    assert scored.tasks[0].metrics["f1"].value == pytest.approx(f1_score(t, p, average="macro", zero_division=np.nan))

    compat = score_plan(plan_of(task, scoring="pulse_compat"), _preds(CODE15_RESPONSES))
    cex = {r["id"]: r["extracted"] for r in compat.rows}
    assert cex["c2"] == ["ABNORMAL"] and cex["c1"] == ["NORM"]
    assert cex["c3"] == ["ST"] and cex["c5"] == ["SB", "ST"]  # ST inside STTC counted once, inside ST-elevation
    # ST is a substring of "STTC changes, ST"; released label lists hold each label once
    ref_classes = sorted({c for r in truth for c in r})
    t2 = np.array([[c in r for c in ref_classes] for r in truth], dtype=int)
    p2 = np.array([[c in cex[k] for c in ref_classes] for k in CODE15_RESPONSES], dtype=int)
    assert compat.tasks[0].metrics["f1"].value == pytest.approx(float(np.mean(f1_score(t2, p2, average=None))))


def mcq_task(n: int = 4) -> Task:
    opts = tuple(f"option {i}" for i in range(n))
    rows = {"m1": "B", "m2": "C", "m3": "A", "m4": "D", "m5": "A"}
    return Task(
        id="mcq",
        form="multiple_choice",
        metrics=("accuracy",),
        items=tuple(item(k, v, options=opts) for k, v in rows.items()),
    )


MCQ_RESPONSES = {
    "m1": "B",
    "m2": "The answer is (C).",
    "m3": "I am not sure.",
    "m4": "Answer: A normal ECG, D.",
    "m5": "option 0",
}


def test_multiple_choice_correct_mode_rules_fallback_and_accuracy() -> None:
    task = mcq_task()
    scored = score_plan(plan_of(task, seed=3), _preds(MCQ_RESPONSES))
    ex = {r["id"]: (r["extracted"], r["fallback"]) for r in scored.rows}
    assert ex["m1"] == ("B", False) and ex["m2"] == ("C", False) and ex["m5"] == ("A", False)
    assert ex["m3"][1] is True  # nothing extracted: the seeded fallback answered, and it is counted
    res = scored.tasks[0]
    assert res.fallbacks == sum(f for _, f in ex.values()) and "m3" in res.fallback_ids
    again = score_plan(plan_of(task, seed=3), _preds(MCQ_RESPONSES))
    assert [r["extracted"] for r in again.rows] == [r["extracted"] for r in scored.rows]  # seeded
    truth = [it.target for it in task.items]
    assert res.metrics["accuracy"].value == pytest.approx(accuracy_score(truth, [ex[k][0] for k in MCQ_RESPONSES]))


def test_pulse_compat_multiple_choice_cascade_and_seed_42_fallbacks() -> None:
    task = mcq_task()
    scored = score_plan(plan_of(task, scoring="pulse_compat"), _preds(MCQ_RESPONSES))
    ex = {r["id"]: r["extracted"] for r in scored.rows}
    # "Answer: A normal ECG, D." → the released cascade finds "D." before looking after "Answer:"
    assert ex["m4"] == "D"
    # "The answer is (C)." has no "C." and no "Answer:": the released cascade extracts nothing there,
    # nor from "I am not sure." or "option 0"; those three draw from one Random(42) stream, in order.
    rng = random.Random(42)
    draws = [rng.choice(["A", "B", "C", "D"]) for _ in range(3)]
    assert [ex["m2"], ex["m3"], ex["m5"]] == draws
    assert scored.tasks[0].fallbacks == 3
    truth = [it.target for it in task.items]
    assert scored.tasks[0].metrics["accuracy"].value == pytest.approx(accuracy_score(truth, list(ex.values())))


def test_select_all_is_exact_set_match_and_compat_reads_options_from_the_question() -> None:
    q = "Which? Options: yes, no, not sure. Only answer based on the given Options without any explanation."
    opts = ("yes", "no", "not sure")
    task = Task(
        id="qa",
        form="select_all",
        metrics=("exact_match",),
        items=(item("q1", ("yes",), q, opts), item("q2", ("not sure",), q, opts), item("q3", ("no",), q, opts)),
    )
    preds = _preds({"q1": "Yes.", "q2": "not sure", "q3": "No, not sure"})
    res = score_plan(plan_of(task), preds)
    assert [r["extracted"] for r in res.rows] == [["yes"], ["not sure"], ["no", "not sure"]]
    assert res.tasks[0].metrics["exact_match"].value == pytest.approx(2 / 3)
    compat = score_plan(plan_of(task, scoring="pulse_compat"), preds)
    # released: candidates "yes", "no", "not sure." (the period stays); substrings of the lower-cased text
    assert [r["extracted"] for r in compat.rows] == [["yes"], ["no"], ["no"]]
    hits = [set(p) == set(it.target) for p, it in zip([["yes"], ["no"], ["no"]], task.items, strict=True)]
    assert compat.tasks[0].metrics["exact_match"].value == pytest.approx(sum(hits) / 3)


def test_bootstrap_formulas_equal_sklearn_on_resamples() -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, (40, 4))
    p = rng.integers(0, 2, (40, 4))
    s = rng.random((40, 4))
    for _ in range(5):
        ix = rng.integers(0, 40, 40)
        assert np.allclose(
            _f1_per_class(t[ix], p[ix]), f1_score(t[ix], p[ix], average=None, zero_division=np.nan), equal_nan=True
        )
        assert np.allclose(_auc_per_class(t[ix], s[ix]), [roc_auc_score(t[ix][:, j], s[ix][:, j]) for j in range(4)])
        assert np.allclose(_auc_per_class(t[ix], p[ix]), [roc_auc_score(t[ix][:, j], p[ix][:, j]) for j in range(4)])
    ls = label_metrics(t, p, list("abcd"), ["f1", "auc"], scores=s, b=200, seed=1)
    f1 = ls.metrics["f1"]
    assert f1.lo is not None and f1.hi is not None and f1.lo <= f1.value <= f1.hi
    assert ls.metrics["auc"].value == pytest.approx(roc_auc_score(t, s, average="macro"))


def test_auc_uses_scores_when_predictions_carry_them() -> None:
    task = Task(
        id="t",
        form="multi_label",
        labels=("AF", "RBBB"),
        metrics=("auc",),
        items=(item("a", ("AF",)), item("b", ("RBBB",)), item("c", ("AF", "RBBB")), item("d", ())),
    )
    sc = {"a": (0.9, 0.2), "b": (0.3, 0.8), "c": (0.6, 0.4), "d": (0.1, 0.5)}
    preds = {(k, 0): Prediction("AF", {"AF": v[0], "RBBB": v[1]}) for k, v in sc.items()}
    res = score_plan(plan_of(task), preds).tasks[0]
    assert res.auc_from == "scores"
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert res.metrics["auc"].value == pytest.approx(roc_auc_score(y, np.array(list(sc.values())), average="macro"))


def test_pulse_compat_intervals_bootstrap_the_released_statistic_from_the_plan_seed() -> None:
    rng = np.random.default_rng(5)
    truth = {f"i{k}": [c for c in SUPER if rng.random() < 0.35] or ["NORM"] for k in range(30)}
    answers = {k: ", ".join(c for c in SUPER if (c in v) != (rng.random() < 0.2)) for k, v in truth.items()}
    task = Task(
        id="ptb",
        form="multi_label",
        labels=SUPER,
        metrics=("auc", "f1", "hamming"),
        items=tuple(item(k, tuple(v), answer=", ".join(v)) for k, v in truth.items()),
    )
    res = score_plan(plan_of(task, scoring="pulse_compat", bootstrap=60, seed=11), _preds(answers)).tasks[0]
    pred = [[c for c in SUPER if c in answers[k]] for k in truth]
    gold = [[c for c in SUPER if c in ", ".join(v)] for v in truth.values()]
    # the released statistic on each resample of items (numpy default_rng(seed), n of n with replacement),
    # undefined resamples left out, percentile 95% interval
    draws = np.random.default_rng(11)
    per: list[tuple[float, float, float]] = []
    for _ in range(60):
        ix = draws.integers(0, 30, 30)
        per.append(released_f1_auc_hl([pred[i] for i in ix], [gold[i] for i in ix]))
    for k, name in enumerate(("f1", "auc", "hamming")):
        vals = [v[k] for v in per if not np.isnan(v[k])]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        m = res.metrics[name]
        assert m.lo == pytest.approx(lo, abs=1e-12) and m.hi == pytest.approx(hi, abs=1e-12), name
        assert m.value == pytest.approx(released_f1_auc_hl(pred, gold)[k], abs=1e-12)
    again = score_plan(plan_of(task, scoring="pulse_compat", bootstrap=60, seed=11), _preds(answers)).tasks[0]
    assert again.metrics == res.metrics


def test_excluded_classes_say_why_each_class_is_left_out_of_a_macro_mean() -> None:
    refs = {"a": ("NORM",), "b": ("MI",), "c": ("NORM", "MI"), "d": ("NORM",)}
    answers = {"a": "NORM", "b": "MI and CD", "c": "NORM", "d": "NORM"}
    task = Task(
        id="ptb",
        form="multi_label",
        labels=SUPER,
        metrics=("auc", "f1"),
        items=tuple(item(k, v, answer=", ".join(v)) for k, v in refs.items()),
    )
    res = score_plan(plan_of(task), _preds(answers)).tasks[0]
    why = {(e.label, e.reason, e.metrics) for e in res.excluded_classes}
    assert why == {
        ("STTC", "absent", ("f1", "auc")),
        ("HYP", "absent", ("f1", "auc")),
        ("CD", "no_positive_target", ("auc",)),  # its false positive still counts as F1 0
    }
    t = np.array([[c in refs[k] for c in SUPER] for k in refs], dtype=int)
    p = np.array([[c in answers[k] for c in SUPER] for k in refs], dtype=int)
    assert res.metrics["f1"].value == pytest.approx(f1_score(t, p, average="macro", zero_division=np.nan))
    assert res.f1_absent_as_zero == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
    assert res.f1_absent_as_zero < res.metrics["f1"].value
    assert not any("counting them as 0" in n for n in res.notes)  # said once, by the fields above

    every = Task(
        id="t",
        form="multi_label",
        labels=("AF", "RBBB"),
        metrics=("auc", "f1"),
        items=(item("x", ("AF",)), item("y", ("AF", "RBBB"))),
    )
    res = score_plan(plan_of(every), _preds({"x": "AF", "y": "AF"})).tasks[0]
    assert [(e.label, e.reason, e.metrics) for e in res.excluded_classes] == [("AF", "in_every_target", ("auc",))]
    assert res.f1_absent_as_zero is None

    compat = score_plan(plan_of(task, scoring="pulse_compat"), _preds(answers)).tasks[0]
    assert {(e.label, e.reason) for e in compat.excluded_classes} == {
        ("CD", "answers_only"),
        ("STTC", "absent"),
        ("HYP", "absent"),
    }
    assert all(e.metrics == ("f1", "auc") for e in compat.excluded_classes)
