"""Measurements from the signal (ecgspec.measurements.signal) against known intervals and axes.

The synthetic records come from the declared generator (ecgspec.measurements.synthetic): every
P onset, QRS onset/offset and T offset is an exact time, and the net QRS area points at a set
frontal axis. Real records: every shipped sample measures without an exception, and its rate
agrees with wfdb's XQRS (and with a machine value, where the metadata has one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecgspec.measurements import NOT_MEASURED
from ecgspec.measurements.signal import FLAT_T_MV, measure_signal
from ecgspec.measurements.synthetic import SynthParams, synth_ecg
from ecgspec.records import read_wfdb
from ecgspec.records.measure import measure_rhythm
from ecgspec.records.record import Record

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
SHIPPED = [
    SAMPLES / "ptbxl" / "records100" / "00001_lr",
    *sorted(p.with_suffix("") for p in (SAMPLES / "cinc2021").glob("*.hea")),
    SAMPLES / "ptbdb" / "s0010_re",
]

# (PR, QRS, QT in s, QRS axis in degrees, heart rate, sampling rate): each value of the brief
# (PR 140/200/240, QRS 80/120/150, QT 360/440, axis -45/30/100) at least once, at 100-1000 Hz.
CASES = [
    (0.140, 0.080, 0.360, 30.0, 60.0, 500.0),
    (0.200, 0.120, 0.440, -45.0, 60.0, 500.0),
    (0.240, 0.150, 0.440, 100.0, 55.0, 500.0),
    (0.140, 0.150, 0.360, -45.0, 72.0, 500.0),
    (0.240, 0.080, 0.440, 30.0, 65.0, 1000.0),
    (0.200, 0.120, 0.360, 100.0, 80.0, 100.0),
    (0.160, 0.100, 0.320, 60.0, 100.0, 500.0),
]


def _record(p: SynthParams, name: str = "syn") -> Record:
    return Record(name, p.fs, synth_ecg(p).signals)


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=lambda c: (
        f"pr{c[0] * 1000:.0f}-qrs{c[1] * 1000:.0f}-qt{c[2] * 1000:.0f}-ax{c[3]:.0f}-{c[4]:.0f}bpm-{c[5]:.0f}Hz"
    ),
)
def test_intervals_axis_and_rate_of_a_known_ecg(case):
    pr, qrs, qt, axis, hr, fs = case
    m = measure_signal(_record(SynthParams(pr=pr, qrs=qrs, qt=qt, axis=axis, heart_rate=hr, fs=fs, seed=int(fs + hr))))
    assert m.method.startswith("neurokit2 ")
    assert m.pr.value == pytest.approx(pr * 1000, abs=10)
    assert m.qrs.value == pytest.approx(qrs * 1000, abs=10)
    assert m.qt.value == pytest.approx(qt * 1000, abs=10)
    assert m.qrs_axis.value == pytest.approx(axis, abs=10)
    assert m.heart_rate.value == pytest.approx(hr, abs=1)
    assert m.p_axis.value == pytest.approx(50.0, abs=15) and m.t_axis.value == pytest.approx(40.0, abs=15)
    rr = 60.0 / hr
    assert m.qtc_bazett.value == pytest.approx(m.qt.value / rr**0.5, rel=0.03)
    assert m.qtc_fridericia.value == pytest.approx(m.qt.value / rr ** (1 / 3), rel=0.03)
    for measure in (m.heart_rate, m.pr, m.qrs, m.qt, m.qrs_axis):
        assert measure.confident and measure.quality >= 0.8, measure
    assert m.rr_variation.value is not None and m.rr_variation.value < 0.02
    assert m.beats >= 8


def test_st_level_and_t_polarity_per_lead():
    # ST shifted by 0.2 mV along the T vector (40°): + in II (cos 20°), − in aVR; T upright in II.
    m = measure_signal(_record(SynthParams(st=0.2, t_axis=40.0)))
    assert m.st_level["II"].value == pytest.approx(0.2 * np.cos(np.radians(20)), abs=0.03)
    assert m.st_level["aVR"].value < -0.1
    plain = measure_signal(_record(SynthParams()))
    assert all(abs(s.value) < 0.03 for s in plain.st_level.values() if s.value is not None)
    assert plain.t_polarity["II"] == "positive" and plain.t_polarity["aVR"] == "negative"
    # T axis 40° is perpendicular to -50°: lead III (120°) is far from it, I and II near.
    assert plain.t_polarity["I"] == "positive"
    assert set(plain.t_polarity.values()) <= {"positive", "negative", "biphasic", "flat"}
    assert FLAT_T_MV == 0.05


def test_t_polarity_follows_the_t_axis():
    # T vector at 90° (down): lead I sees none of it (flat), aVF all (upright), aVR negative;
    # at 180° lead I sees it reversed.
    down = measure_signal(_record(SynthParams(t_axis=90.0)))
    assert down.t_polarity["I"] == "flat" and down.t_polarity["aVF"] == "positive"
    assert down.t_polarity["aVR"] == "negative"
    left = measure_signal(_record(SynthParams(t_axis=180.0)))
    assert left.t_polarity["I"] == "negative"


@pytest.mark.parametrize(
    "edit",
    ["flat", "noise", "two_leads", "short", "one_flat_lead"],
)
def test_bad_signals_never_raise(edit):
    p = SynthParams(heart_rate=70.0)
    sig = dict(synth_ecg(p).signals)
    rng = np.random.default_rng(3)
    if edit == "flat":
        sig = {k: np.zeros_like(v) for k, v in sig.items()}
    elif edit == "noise":
        sig = {k: rng.normal(0, 0.5, len(v)) for k, v in sig.items()}
    elif edit == "two_leads":
        sig = {k: sig[k] for k in ("II", "V5")}
    elif edit == "short":
        sig = {k: v[:400] for k, v in sig.items()}
    elif edit == "one_flat_lead":
        sig["V1"] = np.zeros_like(sig["V1"])
    m = measure_signal(Record(edit, 500.0, sig))
    if edit in ("flat", "short"):
        assert m.heart_rate == NOT_MEASURED and m.qt == NOT_MEASURED and m.st_level == {}
    if edit == "two_leads":
        assert m.qrs_axis == NOT_MEASURED and set(m.st_level) <= {"II", "V5"}
        assert m.heart_rate.value == pytest.approx(70, abs=1) and m.qt.value == pytest.approx(400, abs=15)
    if edit == "one_flat_lead":
        assert "V1" not in m.st_level and m.qrs.value == pytest.approx(100, abs=10)
    m.as_json()


def test_measurements_are_cached_by_record_content():
    p = SynthParams(heart_rate=66.0)
    a = measure_signal(_record(p))
    assert measure_signal(_record(p)) is a  # another object with the same id and signal
    assert measure_signal(_record(p, name="other")) is not a
    changed = _record(p)
    changed.signals["II"] = changed.signals["II"] * 1.01
    assert measure_signal(changed) is not a


def test_neurokit2_is_not_imported_until_something_is_measured():
    code = (
        "import sys, ecgspec.measurements, ecgspec.measurements.signal, ecgspec.records.measure, ecgspec.records\n"
        "assert 'neurokit2' not in sys.modules, 'neurokit2 imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_rhythm_finds_the_known_beats():
    s = synth_ecg(SynthParams(heart_rate=75.0, fs=500.0))
    rhythm = measure_rhythm(Record("r", 500.0, s.signals))
    assert len(rhythm.peaks) == len(s.r_peaks)
    assert np.max(np.abs(rhythm.peaks - s.r_peaks)) < 0.02
    assert rhythm.heart_rate == pytest.approx(75.0, abs=0.5)


def _xqrs_rate(rec: Record) -> float:
    from wfdb import processing

    x, fs = rec.signals["II"], rec.fs
    if fs != 500:
        t = np.arange(len(x)) / fs
        x, fs = np.interp(np.arange(0, t[-1], 1 / 500), t, x), 500.0
    peaks = processing.xqrs_detect(x, fs=fs, verbose=False)
    return 60.0 * fs / float(np.mean(np.diff(peaks)))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_record_measures(path: Path):
    rec = read_wfdb(path)
    m = measure_signal(rec)
    assert m.heart_rate.value == pytest.approx(_xqrs_rate(rec), abs=4.0)
    machine = rec.meta.get("heart_rate")
    if isinstance(machine, (int, float)):
        assert m.heart_rate.value == pytest.approx(machine, abs=4.0)
    assert m.heart_rate.value == pytest.approx(rec.rhythm.heart_rate)  # the header's rate, same beats
    for measure in (m.qrs, m.qt, m.qrs_axis):
        assert measure.value is not None
    assert 40 <= m.qrs.value <= 160 and 200 <= m.qt.value <= 600
    assert set(m.st_level) <= set(rec.leads) and set(m.t_polarity) <= set(rec.leads)
