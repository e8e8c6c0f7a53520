"""Facts are grounded in the signal, and prompts keep exactly one true option and a sandbox."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from ecgspec.draw import stream
from ecgspec.ir import Task
from ecgspec.ir.task import FACTS
from ecgspec.measurements import measure_signal
from ecgspec.records import Record
from ecgspec.targets import facts
from ecgspec.targets.facts import COMPUTE, Subject, Unknown
from ecgspec.targets.prompts import PromptError, TaskPrompter, _number_distractors, make_environment


def _beats(fs: float, rate: float, seconds: float = 10.0, jitter: list[float] | None = None) -> np.ndarray:
    """A train of QRS-like spikes (a narrow Gaussian) at `rate` bpm, or at the RR intervals in `jitter`."""
    n = int(fs * seconds)
    t = np.arange(n) / fs
    x = np.zeros(n)
    times, now, i = [], 0.4, 0
    while now < seconds - 0.3:
        times.append(now)
        now += jitter[i % len(jitter)] if jitter else 60.0 / rate
        i += 1
    for c in times:
        x += np.exp(-0.5 * ((t - c) / 0.012) ** 2)
    return x


def _record(angle_deg: float, rate: float = 70.0, jitter: list[float] | None = None) -> Record:
    """Leads I and aVF seeing a frontal QRS vector at `angle_deg` (aVF scaled by √3/2, as augmented leads are)."""
    fs = 500.0
    beat = _beats(fs, rate, jitter=jitter)
    a = math.radians(angle_deg)
    signals = {"I": math.cos(a) * beat, "II": beat * 0.8 + 0.05, "aVF": (math.sqrt(3) / 2) * math.sin(a) * beat}
    return Record("syn", fs, signals)


def _subject(record: Record, meta: dict | None = None, codes: dict | None = None, report: str | None = None) -> Subject:
    return Subject("k", codes or {}, meta or {}, report, lambda: record)


def test_the_facts_declared_for_the_checker_are_the_facts_computed() -> None:
    assert set(FACTS) == set(COMPUTE)


@pytest.mark.parametrize(
    ("angle", "expected"),
    [
        (60, "normal axis"),
        (-60, "left axis deviation"),
        (130, "right axis deviation"),
        (-135, "extreme axis deviation"),
    ],
)
def test_the_axis_is_measured_from_leads_i_and_avf(angle: float, expected: str) -> None:
    rec = _record(angle)
    assert measure_signal(rec).qrs_axis.value == pytest.approx(angle, abs=3)
    assert facts.axis(_subject(rec), None) == expected


def test_a_borderline_axis_is_not_asked_and_the_machine_axis_wins() -> None:
    assert isinstance(facts.axis(_subject(_record(-32)), None), Unknown)
    assert facts.axis(_subject(_record(-32), meta={"qrs_axis": 10}), None) == "normal axis"


def test_the_rate_and_its_class_come_from_the_beats() -> None:
    fast = _subject(_record(60, rate=120))
    assert facts.heart_rate(fast, None) == pytest.approx(120, abs=2)
    assert facts.rate(fast, None) == "tachycardia"
    assert facts.rate(_subject(_record(60, rate=45)), None) == "bradycardia"
    assert isinstance(facts.rate(_subject(_record(60, rate=61)), None), Unknown)


def test_regularity_separates_steady_from_chaotic_rr() -> None:
    steady = _subject(_record(60, rate=75))
    chaotic = _subject(_record(60, jitter=[0.45, 0.95, 0.6, 1.1, 0.5, 0.8]))
    assert facts.regularity(steady, None) == "regular"
    assert facts.regularity(chaotic, None) == "irregular"


def test_missing_measurements_and_reports_are_unknown_not_guessed() -> None:
    s = _subject(_record(60))
    flat = _subject(Record("flat", 500.0, {"I": np.zeros(5000), "aVF": np.zeros(5000)}))
    assert isinstance(COMPUTE["record.qrs"](flat, None), Unknown)  # nothing on the signal to measure
    assert COMPUTE["record.qrs"](_subject(_record(60), meta={"qrs": 96.4}), None) == 96
    assert isinstance(facts.report(s, None), Unknown)
    assert isinstance(facts.age(_subject(_record(60), meta={"age": 300}), None), Unknown)  # PTB-XL's >89 marker


@pytest.mark.parametrize("value", [40, 72, 150, 480])
def test_number_distractors_are_distinct_and_clearly_wrong(value: int) -> None:
    for seed in range(20):
        wrong = _number_distractors(value, 3, np.random.default_rng(seed))
        assert len(wrong) == 3 == len(set(wrong))
        assert all(w > 0 and abs(w - value) >= max(5, round(0.1 * value)) for w in wrong)


class _Labels:
    name = "rhythm"
    vocabulary = ("SR", "AFIB", "STACH", "SBRAD", "SARRH")
    descriptions: ClassVar[dict[str, str]] = {"SR": "sinus rhythm", "AFIB": "atrial fibrillation"}

    def map(self, codes):
        return tuple(v for v in self.vocabulary if v in codes)


def _task(**kw) -> Task:
    base = {
        "name": "t",
        "family": "rhythm",
        "form": "multiple_choice",
        "answer": "record.labels",
        "labels": "rhythm",
        "question": "Which? {% for c in choices %}{{ c }} {% endfor %}",
    }
    return Task(**{**base, **kw})


def test_a_multiple_choice_question_has_exactly_one_true_option() -> None:
    prompter = TaskPrompter(_task(options=4), make_environment(None), _Labels())
    subject = _subject(_record(60), codes={"SR": 100.0, "STACH": 100.0})
    for seed in range(30):
        turn = prompter.ask(subject, stream("h", seed))
        assert not isinstance(turn, Unknown)
        assert len(turn.options) == 4
        true = [o for o in turn.options if o in ("sinus rhythm", "STACH")]
        assert len(true) == 1 and turn.options["ABCD".index(turn.target)] == true[0]


def test_closed_questions_ask_about_true_and_absent_labels_alike() -> None:
    prompter = TaskPrompter(
        _task(form="closed", question="Is there {{ candidate }}?"), make_environment(None), _Labels()
    )
    subject = _subject(_record(60), codes={"AFIB": 100.0})
    answers = [prompter.ask(subject, stream("h", i)) for i in range(200)]
    yes = [a for a in answers if a.target == "yes"]
    assert 70 < len(yes) < 130
    assert all(a.question == "Is there atrial fibrillation?" for a in yes)
    assert all("atrial fibrillation" not in a.question for a in answers if a.target == "no")


def test_a_template_cannot_reach_python_internals() -> None:
    prompter = TaskPrompter(_task(form="open", question="{{ pick.__globals__ }}"), make_environment(None), _Labels())
    with pytest.raises(PromptError, match="template error"):
        prompter.ask(_subject(_record(60), codes={"SR": 100.0}), stream("h", 1))


def test_a_template_file_cannot_include_files_outside_the_templates_folder(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "t" / "q.j2").write_text('{% include "../secret.txt" %}')
    prompter = TaskPrompter(
        _task(form="open", question=None, template="q.j2"), make_environment(tmp_path / "t"), _Labels()
    )
    with pytest.raises(PromptError) as err:
        prompter.ask(_subject(_record(60), codes={"SR": 100.0}), stream("h", 1))
    assert err.value.where.endswith("q.j2:1:1")
    assert "includes '../secret.txt', which is not in the templates folder" in err.value.message


def test_a_multiple_choice_template_that_hides_its_options_is_an_error() -> None:
    prompter = TaskPrompter(_task(question="Which rhythm?"), make_environment(None), _Labels())
    with pytest.raises(PromptError, match="does not show its option"):
        prompter.ask(_subject(_record(60), codes={"SR": 100.0}), stream("h", 1))
