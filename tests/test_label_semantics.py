"""Label semantics: answers come from a record's labels closed under `implies`, a wrong option is
surely wrong (not implied, not a synonym, not a rate class the measured rate falls in), and a
record whose labels contradict `excludes` is not asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ecgspec.ir import Task
from ecgspec.records import Record
from ecgspec.sources.labels import LabelSet, label_set
from ecgspec.targets.facts import Subject, Unknown, fact_value
from ecgspec.targets.prompts import TaskPrompter, Turn, make_environment
from ecgspec.targets.suite_forms import FORMS, FormInput
from tests.helpers import check_text, messages

SPEC = """
labels rhythm {
    vocabulary   = [SR, AFIB, STACH, SBRAD, NSSTTA, TAB]
    map          = [NSR: [SR], STach: [STACH], AF: [AFIB], SB: [SBRAD], NST_: [NSSTTA]]
    implies      = [STACH: [SR], SBRAD: [SR]]
    excludes     = [AFIB: [SR]]
    heart_rate   = [SBRAD: 0..60 bpm, STACH: 100..220 bpm]
    descriptions = [SR: "sinus rhythm", AFIB: "atrial fibrillation", STACH: "sinus tachycardia",
                    SBRAD: "sinus bradycardia", NSSTTA: "nonspecific ST-T abnormality", TAB: "T wave abnormality"]
    synonyms     = [NSSTTA: ["nonspecific ST-T change", "T-wave abnormality"]]
}
"""


@pytest.fixture(scope="module")
def labels(tmp_path_factory: pytest.TempPathFactory) -> LabelSet:
    program = check_text(tmp_path_factory.mktemp("spec"), SPEC)
    assert not messages(program), messages(program)
    return label_set(program, "rhythm")


def _subject(codes: list[str], bpm: float | None = None) -> Subject:
    meta = {"heart_rate": bpm} if bpm is not None else {}
    # Without a machine rate the signal is measured: a flat line, on which no rate can be.
    flat = Record("flat", 500.0, {"I": np.zeros(5000), "II": np.zeros(5000)})
    return Subject("k", dict.fromkeys(codes, 100.0), meta, None, lambda: flat)


def _task(form: str, options: int = 4) -> Task:
    q = "Is it {{ candidate }}?" if form == "closed" else "Which?\n{% for c in choices %}{{ c }}\n{% endfor %}"
    if form == "open":
        q = "What rhythm?"
    return Task(
        name="t", family="rhythm", form=form, question=q, answer="record.labels", labels="rhythm", options=options
    )


def _asks(labels: LabelSet, form: str, codes: list[str], bpm: float | None = None, n: int = 200) -> list[Any]:
    prompter = TaskPrompter(_task(form), make_environment(None), labels)
    return [prompter.ask(_subject(codes, bpm), np.random.default_rng(seed)) for seed in range(n)]


def test_a_label_that_implies_sinus_rhythm_answers_yes_to_sinus_rhythm_whichever_source_labelled_it(
    labels: LabelSet,
) -> None:
    # STach alone and NSR + STach are one rhythm: both closed sets hold SR, so the answers agree.
    assert fact_value("record.labels", _subject(["STach"]), labels) == ("SR", "STACH")
    assert fact_value("record.labels", _subject(["NSR", "STach"]), labels) == ("SR", "STACH")
    for codes in (["STach"], ["NSR", "STach"]):
        asked_sr = [
            t for t in _asks(labels, "closed", codes, bpm=120) if isinstance(t, Turn) and "sinus rhythm" in t.question
        ]
        assert asked_sr and all(t.target == "yes" for t in asked_sr), codes
    opened = _asks(labels, "open", ["STach"], bpm=120, n=1)[0]
    assert opened.target == ["SR", "STACH"]


def test_a_record_whose_labels_exclude_each_other_is_not_asked(labels: LabelSet) -> None:
    value = fact_value("record.labels", _subject(["AF", "NSR"]), labels)
    assert isinstance(value, Unknown) and "AFIB excludes SR" in value.reason
    # Through an implication too: sinus tachycardia is a sinus rhythm, which AF excludes.
    assert isinstance(fact_value("record.labels", _subject(["AF", "STach"]), labels), Unknown)


def _wrong_options(turns: list[Any]) -> set[str]:
    out: set[str] = set()
    for t in turns:
        assert isinstance(t, Turn)
        letter = t.target
        out |= {o for i, o in enumerate(t.options or []) if "ABCDEFGH"[i] != letter}
    return out


def test_a_rate_class_that_the_measured_rate_falls_in_is_never_a_wrong_option(labels: LabelSet) -> None:
    at_56 = _asks(labels, "multiple_choice", ["NSR"], bpm=56)
    assert "sinus bradycardia" not in _wrong_options(at_56)
    # Within the rate margin of a class (62 bpm, 3 bpm above 60) it is not sure either.
    assert "sinus bradycardia" not in _wrong_options(_asks(labels, "multiple_choice", ["NSR"], bpm=62))
    # Well outside it, it is a fair distractor: the rule removes only what the rate supports.
    assert "sinus bradycardia" in _wrong_options(_asks(labels, "multiple_choice", ["NSR"], bpm=80))
    # Without a confident rate, no rate class is offered as wrong.
    assert not {"sinus bradycardia", "sinus tachycardia"} & _wrong_options(_asks(labels, "multiple_choice", ["NSR"]))


def test_no_closed_question_answered_no_names_a_label_the_record_implies_or_its_rate_supports(
    labels: LabelSet,
) -> None:
    for t in _asks(labels, "closed", ["SB"], bpm=55):
        assert isinstance(t, Turn)
        if t.target == "no":
            assert not any(w in t.question for w in ("sinus rhythm", "sinus bradycardia")), t.question


def test_a_synonym_of_a_true_label_is_never_a_distractor(labels: LabelSet) -> None:
    # NSSTTA's synonym "T-wave abnormality" is TAB's description (spelt with a hyphen).
    wrong = _wrong_options(_asks(labels, "multiple_choice", ["NST_", "NSR"], bpm=75))
    assert "T wave abnormality" not in wrong
    assert "atrial fibrillation" in wrong


def test_suite_forms_close_the_truth_and_keep_distractors_surely_wrong(labels: LabelSet) -> None:
    from ecgspec.ir.suite import SuiteTask
    from ecgspec.sources.base import RecordRef

    def run(form: str, codes: list[str], bpm: float | None, seed: int) -> Any:
        ref = RecordRef(source="s", key="k", meta={"heart_rate": bpm} if bpm else {})
        st = SuiteTask(id="t", form=form, labels="rhythm", options=3, metrics=("accuracy",), items="x.json")
        truth = labels.map(dict.fromkeys(codes, 100.0))
        i = FormInput(st, ref, "t/k", truth, labels, None, np.random.default_rng(seed), {}, lambda c: "q")
        return FORMS[form](i)

    (q,) = run("multi_label", ["STach"], None, 0)
    assert q.target == ("SR", "STACH")
    assert run("multi_label", ["AF", "NSR"], None, 0) == "the record's labels contradict each other (AFIB excludes SR)"
    seen: set[str] = set()
    for seed in range(100):
        (q,) = run("multiple_choice", ["NSR"], 57, seed)
        seen |= {o for i, o in enumerate(q.options) if "ABC"[i] != q.target}
    assert "sinus bradycardia" not in seen and "atrial fibrillation" in seen


def test_implies_and_excludes_name_only_vocabulary_labels(tmp_path: Path) -> None:
    program = check_text(
        tmp_path,
        "labels r {\n    vocabulary = [SR, AFIB]\n    implies = [STACH: [SR]]\n    excludes = [AFIB: [SRR]]\n}\n",
    )
    errors = messages(program)
    assert any("`implies` names labels outside the vocabulary: STACH" in e for e in errors), errors
    assert any("`excludes` names labels outside the vocabulary: SRR" in e for e in errors), errors
