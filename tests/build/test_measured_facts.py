"""Measured facts: intervals, axes, ST and T asked from the machine's measurements where a record
has them and from the signal otherwise, only where confident and away from each class's margin,
with the method in every answered turn's provenance; `ecgspec measure` shows both sides."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

import ecgspec.measurements as measurements
from ecgspec.cli import main
from ecgspec.ir.task import CONTIGUOUS, CRITERIA, FACTS, LEAD_GROUPS
from ecgspec.measurements import Measure, Measurements
from ecgspec.measurements.machine import MACHINE, machine_measurements, measured
from ecgspec.targets.facts import COMPUTE, FACT_MEASURES, Subject, Unknown, measurement_provenance

from .conftest import REPO

SIGNAL = "neurokit2 test (fixed)"


def sure(value: float, spread: float | None = 5.0) -> Measure:
    return Measure(value, 1.0, spread)


def fixed(**values: Any) -> Measurements:
    return Measurements(method=SIGNAL, beats=10, **values)


@pytest.fixture
def signal(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the signal measurement with fixed Measurements (`state["m"]`), counting calls."""
    state: dict[str, Any] = {"m": fixed(), "calls": 0}

    def fake(record: Any) -> Measurements:
        state["calls"] += 1
        return state["m"]

    monkeypatch.setattr(measurements, "measure_signal", fake)
    return state


def subject(meta: dict[str, Any] | None = None) -> Subject:
    return Subject("k", {}, meta or {}, None, lambda: object())


def ask(name: str, meta: dict[str, Any] | None = None) -> Any:
    return COMPUTE[name](subject(meta), None)


# ---- machine first, then the signal ---------------------------------------------------------


def test_machine_measurements_are_read_from_meta_where_plausible() -> None:
    m = machine_measurements(
        {"heart_rate": 75.0, "rr": 800, "pr": 130, "qrs": 94, "qt": 380, "qtc": 425.0, "qrs_axis": 270, "t_axis": 29999}
    )
    assert m.method == MACHINE
    assert (m.pr.value, m.pr.quality, m.qrs.value, m.qtc_bazett.value) == (130, 1.0, 94, 425.0)
    assert m.qrs_axis.value == -90  # 270° is -90°
    assert m.t_axis.value is None  # MIMIC's "not measured"
    assert m.qtc_fridericia.value == pytest.approx(380 / 0.8 ** (1 / 3), abs=0.1)
    assert machine_measurements({"qrs": 5, "pr": True, "qt": float("nan")}).qrs.value is None


def test_facts_prefer_the_machine_and_fall_back_to_the_signal(signal: dict[str, Any]) -> None:
    signal["m"] = fixed(pr=sure(172), qrs=sure(88), qt=sure(396), qtc_bazett=sure(431), heart_rate=sure(66))
    machine = {"pr": 150.4, "qrs": 102, "qt": 380, "qtc": 410, "heart_rate": 72}
    assert [ask(f, machine) for f in ("record.pr", "record.qrs", "record.qt", "record.qtc")] == [150, 102, 380, 410]
    assert ask("record.heart_rate", machine) == 72
    assert signal["calls"] == 0  # the machine had every one: the signal was never measured
    assert [ask(f) for f in ("record.pr", "record.qrs", "record.qt", "record.qtc")] == [172, 88, 396, 431]
    assert ask("record.heart_rate") == 66
    # A record with some machine measures: each measure from where it is.
    s = subject({"qrs": 102})
    assert (COMPUTE["record.qrs"](s, None), COMPUTE["record.pr"](s, None)) == (102, 172)
    assert measurement_provenance("record.qrs", s) == {"qrs": MACHINE}
    assert measurement_provenance("record.pr", s) == {"pr": SIGNAL}


def test_the_axis_uses_the_merged_measurements_and_keeps_its_margin(signal: dict[str, Any]) -> None:
    signal["m"] = fixed(qrs_axis=sure(-60))
    assert ask("record.axis") == "left axis deviation"
    assert ask("record.axis", {"qrs_axis": 45}) == "normal axis"
    assert isinstance(ask("record.axis", {"qrs_axis": -30 + CRITERIA.axis_margin - 1}), Unknown)
    assert ask("record.axis", {"qrs_axis": -30 + CRITERIA.axis_margin}) == "normal axis"


def test_the_merged_view_remembers_which_method_gave_each_measure(signal: dict[str, Any]) -> None:
    signal["m"] = fixed(pr=sure(172), qrs=sure(88), st_level={"V1": sure(0.1)}, t_polarity={"V1": "negative"})
    view = measured(subject({"qrs": 102}))
    merged, methods = view.merged()
    assert (merged.pr.value, merged.qrs.value) == (172, 102)
    assert methods["pr"] == SIGNAL and methods["qrs"] == MACHINE and methods["st_level"] == SIGNAL
    assert merged.t_polarity == {"V1": "negative"}


# ---- confident measures only ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("measure", "why"),
    [
        (Measure(None), "could not be measured"),
        (Measure(180.0, 0.4, 5.0), "too few beats"),
        (Measure(180.0, 1.0, CRITERIA.interval_spread + 1), "varies too much"),
    ],
)
def test_an_unconfident_interval_is_not_asked(signal: dict[str, Any], measure: Measure, why: str) -> None:
    signal["m"] = fixed(pr=measure, qrs=measure)
    for fact in ("record.pr", "record.av_block"):
        value = ask(fact)
        assert isinstance(value, Unknown) and why in value.reason


# ---- classifications: not asked within the margin, right on both sides ---------------------


def _cases(threshold: float, margin: float, below: str, above: str) -> list[Any]:
    """(value, expected) at the margin's edges and just inside it, for a threshold and margin."""
    return [
        (threshold - margin, below),
        (threshold - margin + 1, None),
        (threshold, None),
        (threshold + margin - 1, None),
        (threshold + margin, above),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    _cases(CRITERIA.pr_long, CRITERIA.pr_margin, "PR not prolonged", "first-degree AV block"),
)
def test_first_degree_av_block(signal: dict[str, Any], value: float, expected: str | None) -> None:
    signal["m"] = fixed(pr=sure(value))
    got = ask("record.av_block")
    assert got == expected if expected else isinstance(got, Unknown)
    assert ask("record.av_block", {"pr": value}) == got  # the machine's value, the same rule


@pytest.mark.parametrize(
    ("value", "expected"), _cases(CRITERIA.qrs_wide, CRITERIA.qrs_margin, "narrow QRS", "wide QRS")
)
def test_wide_qrs(signal: dict[str, Any], value: float, expected: str | None) -> None:
    signal["m"] = fixed(qrs=sure(value))
    got = ask("record.wide_qrs")
    assert got == expected if expected else isinstance(got, Unknown)


@pytest.mark.parametrize(
    ("sex", "limit"), [("M", CRITERIA.qtc_long_male), ("F", CRITERIA.qtc_long_female), (None, CRITERIA.qtc_long_female)]
)
def test_prolonged_qtc_by_sex(signal: dict[str, Any], sex: str | None, limit: float) -> None:
    m = CRITERIA.qtc_margin
    for value, expected in _cases(limit, m, "QTc not prolonged", "prolonged QTc"):
        signal["m"] = fixed(qtc_bazett=sure(value))
        got = ask("record.long_qtc", {"sex": sex} if sex else {})
        assert got == expected if expected else isinstance(got, Unknown), (sex, value, got)


def _st(levels: dict[str, float]) -> Measurements:
    base = {lead: 0.0 for group in LEAD_GROUPS.values() for lead in group}
    return fixed(st_level={lead: sure(v, 0.01) for lead, v in {**base, **levels}.items()})


@pytest.mark.parametrize("group", list(LEAD_GROUPS))
def test_st_deviation_per_lead_group(signal: dict[str, Any], group: str) -> None:
    fact = f"record.st_{group}"
    a, b = CONTIGUOUS[group][0]
    up, down, margin = CRITERIA.st_elevation, CRITERIA.st_depression, CRITERIA.st_margin + 0.001
    cases = [
        ({}, "no ST deviation"),
        ({a: up + margin, b: up + margin}, "ST elevation"),
        ({a: up + margin, b: up - margin / 2}, None),  # the second lead within the margin
        ({a: up + 0.2}, "no ST deviation"),  # one lead alone is not two contiguous leads
        ({a: up - margin, b: up - margin}, "no ST deviation"),
        ({a: -(down + margin), b: -(down + margin)}, "ST depression"),
        ({a: -down, b: -down}, None),
        ({a: -(down - margin), b: -(down - margin)}, "no ST deviation"),
    ]
    apart = [(c, d) for c, d in CONTIGUOUS[group] if not {c, d} & {a, b}]
    if apart:  # elevation in one pair and depression in another: neither is asked
        (c, d) = apart[0]
        cases.append(({a: up + margin, b: up + margin, c: -0.3, d: -0.3}, None))
    for levels, expected in cases:
        signal["m"] = _st(levels)
        got = ask(fact)
        assert got == expected if expected else isinstance(got, Unknown), (levels, got)
    signal["m"] = fixed(st_level={k: v for k, v in _st({}).st_level.items() if k != a})
    assert "not measured" in ask(fact).reason


@pytest.mark.parametrize("group", list(LEAD_GROUPS))
def test_t_wave_inversion_per_lead_group(signal: dict[str, Any], group: str) -> None:
    fact = f"record.t_inversion_{group}"
    leads = LEAD_GROUPS[group]
    a, b = CONTIGUOUS[group][0]
    upright = dict.fromkeys(leads, "positive")
    cases = [
        (upright, "no T-wave inversion"),
        ({**upright, a: "negative"}, "no T-wave inversion"),  # one lead alone (V1, III, aVL are often so)
        ({**upright, a: "negative", b: "negative"}, "T-wave inversion"),
        ({**upright, a: "negative", b: "flat"}, None),
        ({k: v for k, v in upright.items() if k != a}, None),
    ]
    for polarity, expected in cases:
        signal["m"] = fixed(t_polarity=polarity)
        got = ask(fact)
        assert got == expected if expected else isinstance(got, Unknown), (polarity, got)


def test_every_measured_fact_is_declared_with_its_measures() -> None:
    assert set(FACT_MEASURES) <= set(FACTS)
    for name in FACT_MEASURES:
        fact = FACTS[name]
        assert fact.shape in ("number", "category") and (fact.unit or fact.values)


# ---- builds and provenance ------------------------------------------------------------------

SPEC = """
import "std/layouts.ecg"
import "std/papers.ecg"

source cinc from wfdb {
    root = "data/cinc2021"
}

task pr_fill {
    family   = basic
    form     = fill_in
    template = "instruct/basic/intervals_fill.j2"
    answer   = record.pr
}

corpus mini {
    from cinc
    layout    = choice["4x3": 1]
    distorted = 0%
    tasks     = [pr_fill]
    turns     = 1
    dpi       = 40 dpi
    seed      = 5
}
"""


def _build(ws: Path, spec: str, name: str, *args: str) -> dict[str, Any]:
    (ws / f"{name}.ecg").write_text(spec, encoding="utf-8")
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        assert main(["build", f"{name}.ecg", "-o", "out", "--no-progress", "-j", "1", *args]) == 0
    finally:
        os.chdir(cwd)
    return json.loads((ws / "out" / "build.json").read_text())


def test_unconfident_measures_are_counted_per_task_and_reason(workspace: Path, signal: dict[str, Any]) -> None:
    signal["m"] = fixed(pr=Measure(170.0, 0.3, 4.0))
    report = _build(workspace, SPEC, "m", "--limit", "3")
    corpus = report["corpora"]["mini"]
    assert corpus["instances"] == 0
    assert corpus["unanswered"] == {"pr_fill": {"the PR interval was measured on too few beats to be trusted": 3}}


def test_provenance_names_the_method_of_each_answer(workspace: Path, signal: dict[str, Any]) -> None:
    signal["m"] = fixed(pr=sure(170.2))
    _build(workspace, SPEC, "m", "--limit", "2")
    lines = [json.loads(x) for x in (workspace / "out" / "prompts" / "mini.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["target"] == 170 and line["answer"] == "170"
        assert line["provenance"]["measurement"] == {"pr": SIGNAL}


def test_the_shipped_corpus_asks_measured_questions_of_records_without_machine_measurements(tmp_path: Path) -> None:
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        out = tmp_path / "ei"
        assert main(["build", "specs/ecginstruct.ecg", "-o", str(out), "--no-progress", "-j", "1"]) == 0
    finally:
        os.chdir(cwd)
    prompts = [json.loads(x) for x in (out / "prompts" / "ecginstruct.jsonl").read_text().splitlines()]
    measured_facts = {"record.pr", "record.qrs", "record.qt", "record.av_block", "record.wide_qrs", "record.long_qtc"}
    asked = [p for p in prompts if p["provenance"]["fact"] in measured_facts]
    assert asked, "no interval question on the shipped samples"
    for p in asked:  # none of the shipped sources has machine intervals: all from the signal
        (method,) = p["provenance"]["measurement"].values()
        assert method.startswith("neurokit2 ")
    morphology = [p for p in prompts if p["provenance"]["fact"].startswith(("record.st_", "record.t_inversion_"))]
    assert morphology and all(p["family"] == "morphology" for p in morphology)
    counts = json.loads((out / "build.json").read_text())["corpora"]["ecginstruct"]["counts"]["task"]
    assert sum(n for task, n in counts.items() if task.startswith(("pr_", "qrs_", "qt_"))) > 0


# ---- ecgspec measure ------------------------------------------------------------------------


def _measure(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        code = main(["measure", "specs/ecginstruct.ecg", *args])
    finally:
        os.chdir(cwd)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_measure_prints_a_table_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _measure(capsys, "cinc_ptbxl", "--limit", "2")
    assert code == 0
    assert out.count("cinc_ptbxl/HR0600") == 2 and "neurokit2" in out
    for row in ("heart rate (bpm)", "PR (ms)", "QRS (ms)", "QT (ms)", "QTc Bazett (ms)", "QRS axis (deg)", "ST level"):
        assert row in out
    assert "machine" not in out.split("\n", 2)[1]  # no machine column where the record has none


def test_measure_json_puts_machine_and_signal_side_by_side(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _measure(capsys, "ptbdb", "--json")
    assert code == 0
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert line["source"] == "ptbdb" and line["machine"] is None
    assert line["signal"]["method"].startswith("neurokit2") and line["signal"]["qrs"]["quality"] > 0
    # A record with machine measurements gets both columns.
    from ecgspec import measure_cli

    class Reader:
        name = "mimic"

        def read(self, ref: Any) -> Any:
            return object()

    class Ref:
        key = "s1"
        meta: ClassVar[dict[str, int]] = {"pr": 150, "qrs": 90}

    monkeypatch.setattr(measurements, "measure_signal", lambda record: fixed(pr=sure(160)))
    result = measure_cli.measure_one(Reader(), Ref())
    assert result["machine"]["pr"]["value"] == 150 and result["signal"]["pr"]["value"] == 160
    text = measure_cli.table(result)
    assert "machine" in text and "150" in text and "160" in text


def test_measure_rejects_an_unknown_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _measure(capsys, "nope")
    assert code == 2
    assert "no source named 'nope'" in err
