"""A paper's filter (`highpass`, `lowpass`, `notch`): applied, zero-phase, to what a page draws
and to nothing else, and printed truthfully in the footer. Real records from data/samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from ecgspec.ir import Paper
from ecgspec.measurements import measure_signal
from ecgspec.records import Record, read_wfdb
from ecgspec.render import render_page
from ecgspec.render.filters import describe, drawn_signals, plan
from ecgspec.render.layout import compose
from ecgspec.render.scene import Polyline, Scene, Text

from .helpers import REPO, check_text, messages, sample_record, shipped_layout, shipped_paper

SAMPLES = REPO / "data" / "samples"
HR06000 = SAMPLES / "cinc2021" / "HR06000"
PTB = SAMPLES / "ptbdb" / "s0010_re"
PTBXL_100HZ = SAMPLES / "ptbxl" / "records100" / "00001_lr"
# Every sample record but JS20003, whose own V6 runs more than half a 12x1 row below its baseline
# for long stretches (deep S waves and ST depression, not wander): no filter may move that.
WANDER_RECORDS = [
    *(SAMPLES / "cinc2021" / f"HR0600{i}" for i in range(10)),
    *(SAMPLES / "cinc2021" / f"JS2000{i}" for i in range(3)),
    PTB,
    PTBXL_100HZ,
]


layout = shipped_layout
paper = shipped_paper
record = sample_record


def with_wander(rec: Record) -> Record:
    """The record plus baseline wander as electrodes and breathing make it: a 0.3 Hz swing of
    1 mV and a 0.07 Hz drift of 0.6 mV, in another phase on every lead (so rows cross)."""
    t = np.arange(rec.n_samples) / rec.fs
    signals = {
        lead: x + 1.0 * np.sin(2 * np.pi * 0.3 * t + i) + 0.6 * np.sin(2 * np.pi * 0.07 * t + 2 * i)
        for i, (lead, x) in enumerate(rec.signals.items())
    }
    return Record(rec.id, rec.fs, signals, dict(rec.meta), rec.source)


def traces(scene: Scene) -> dict[str, np.ndarray]:
    return {
        i.role.removeprefix("trace:"): i.points for i in scene.items if isinstance(i, Polyline) and "trace:" in i.role
    }


def rows_left(rec: Record, p: Paper) -> dict[str, float]:
    """Per lead of a 12x1 page: the share of half-second stretches whose ink (the middle of the
    drawn trace over the stretch, so that a tall QRS does not count) lies outside the lead's row."""
    scene, geo = compose(rec, layout("12x1"), p)
    band = {slot.lead: (slot.top, slot.bottom) for slot in geo.labels}
    out = {}
    for lead, pts in traces(scene).items():
        top, bottom = band[lead]
        stretch = np.floor((pts[:, 0] - pts[0, 0]) / (0.5 * p.speed)).astype(int)
        middles = np.array([np.median(pts[stretch == k, 1]) for k in np.unique(stretch)])
        out[lead] = float(((middles < top) | (middles > bottom)).mean())
    return out


# ---- what the filter does to the page ---------------------------------------------------------


@pytest.mark.parametrize("path", WANDER_RECORDS, ids=lambda p: p.name)
def test_a_half_hertz_highpass_keeps_every_lead_of_a_wandering_record_in_its_row(path: Path):
    wandering = with_wander(record(path))
    filtered = rows_left(wandering, paper("monitoring"))  # 0.5–40 Hz
    assert max(filtered.values()) == 0.0, filtered
    # Without the filter the same page is the one the issue shows: rows drift into their neighbours.
    raw = rows_left(wandering, paper("standard"))
    assert sum(share > 0.2 for share in raw.values()) >= 6, raw


def test_the_page_draws_the_filtered_signal():
    rec = record(HR06000)
    p = paper("monitoring_50")
    scene, geo = compose(rec, layout("12x1"), p)
    drawn = drawn_signals(rec, p)
    assert len(geo.panels) == 12
    for panel in geo.panels:  # 10 s panels from 0 s: one point per sample of the 10 s record
        v = (panel.baseline - traces(scene)[panel.lead][:, 1]) / panel.mm_per_mV
        assert panel.t0 == 0.0 and len(v) == rec.n_samples
        np.testing.assert_allclose(v, drawn[panel.lead], atol=1e-9)
        assert np.abs(v - rec.signals[panel.lead]).max() > 0.01  # and not the raw one


def _lag_ms(a: np.ndarray, b: np.ndarray, fs: float) -> float:
    """How far `b` lags `a` (ms): the peak of their cross-correlation, to a fraction of a sample."""
    a, b = a - a.mean(), b - b.mean()
    c = sps.correlate(b, a, mode="full")
    k = int(np.argmax(c))
    y0, y1, y2 = c[k - 1], c[k], c[k + 1]
    frac = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return (k - (len(a) - 1) + frac) / fs * 1000.0


@pytest.mark.parametrize("path", [HR06000, SAMPLES / "cinc2021" / "JS20001", PTB], ids=lambda p: p.name)
def test_the_filter_is_zero_phase_so_no_qrs_moves_in_time(path: Path):
    rec = record(path)
    p = plan(paper("monitoring_50"), rec.fs)  # the strongest shipped filter: 0.5–40 Hz ~50 Hz
    assert p.applied == ("highpass", "notch", "lowpass")
    drawn = drawn_signals(rec, paper("monitoring_50"))
    half = int(0.1 * rec.fs)
    for lead in ("II", "V2", "V5"):
        x, y = rec.signals[lead], drawn[lead]
        one_way = sps.sosfilt(sps.butter(2, [0.5, 40.0], btype="bandpass", output="sos", fs=rec.fs), x)
        lags, causal = [], []
        for t in rec.rhythm.peaks:
            k = round(t * rec.fs)
            if half <= k < len(x) - half:
                lags.append(_lag_ms(x[k - half : k + half], y[k - half : k + half], rec.fs))
                causal.append(_lag_ms(x[k - half : k + half], one_way[k - half : k + half], rec.fs))
        assert len(lags) >= 8
        assert np.abs(lags).max() < 0.5, (lead, lags)  # under a quarter of a sample at 500 Hz
        assert np.median(causal) > 2.0, (lead, causal)  # the same band one way: QRS drawn late


def test_a_50_hz_notch_removes_mains_hum_and_keeps_the_ecg():
    rec = record(HR06000)
    t = np.arange(rec.n_samples) / rec.fs
    hum = Record(rec.id, rec.fs, {k: v + 0.2 * np.sin(2 * np.pi * 50.0 * t + 0.3) for k, v in rec.signals.items()})
    drawn = drawn_signals(hum, paper("diagnostic_50"))
    clean = drawn_signals(rec, paper("diagnostic_50"))
    inner = slice(int(rec.fs), rec.n_samples - int(rec.fs))  # without the filter's first and last second

    def at_50(x: np.ndarray) -> float:
        seg = x[inner] * np.hanning(len(x[inner]))
        spectrum = np.abs(np.fft.rfft(seg)) / seg.size
        freqs = np.fft.rfftfreq(seg.size, 1 / rec.fs)
        return float(spectrum[np.abs(freqs - 50.0) < 0.3].max())

    def in_band(x: np.ndarray) -> np.ndarray:
        return sps.sosfiltfilt(sps.butter(2, [1.0, 40.0], btype="bandpass", output="sos", fs=rec.fs), x)

    for lead in ("I", "II", "V3"):
        before, after, own = at_50(hum.signals[lead]), at_50(drawn[lead]), at_50(rec.signals[lead])
        assert after < before / 100, (lead, before, after)  # 40 dB down
        assert after < max(2 * own, 1e-4), (lead, after, own)  # down to what the record itself has
        # The page is the one the record without hum gives, to 0.01 mV, and that keeps the ECG:
        # its 1–40 Hz content (QRS, P and T waves) is the record's, to 0.02 mV.
        assert np.abs(drawn[lead][inner] - clean[lead][inner]).max() < 0.01
        assert np.abs(in_band(drawn[lead]) - in_band(rec.signals[lead]))[inner].max() < 0.02


# ---- what the filter leaves alone -------------------------------------------------------------


def test_measurements_still_read_the_unfiltered_signal():
    rec = read_wfdb(HR06000)
    kept = {k: v.copy() for k, v in rec.signals.items()}
    before = measure_signal(read_wfdb(HR06000))
    result = render_page(rec, layout("4x3"), paper("compact"))  # 0.5–40 Hz ~50 Hz
    assert result.sidecar.render.footer and "0.5–40 Hz" in result.sidecar.render.footer[0]
    for lead, x in kept.items():
        assert np.array_equal(rec.signals[lead], x), lead
    assert measure_signal(rec) == before
    # ...and what the page drew is another signal, which would measure otherwise.
    drawn = drawn_signals(rec, paper("compact"))
    as_drawn = Record(rec.id, rec.fs, {k: drawn[k] for k in rec.signals}, dict(rec.meta), rec.source)
    assert measure_signal(as_drawn) != before


def test_a_paper_without_a_filter_draws_the_record_as_it_is():
    rec = record(HR06000)
    assert drawn_signals(rec, paper("standard")) is rec.signals
    assert describe(paper("standard"), rec.fs) is None


# ---- the footer and the record of what was applied -------------------------------------------


def _footer(rec: Record, p: Paper) -> str:
    result = render_page(rec, layout("4x3"), p)
    printed = [i.text for i in result.scene.items if isinstance(i, Text) and i.role == "footer"]
    footer = "\n".join(result.sidecar.render.footer)
    for words in footer.split("   "):  # what the sidecar says is what the page prints
        assert any(words.strip() in text or text in words for text in printed), (words, printed)
    return footer


def test_the_footer_says_the_filter_the_page_applied():
    rec = record(HR06000)  # 500 Hz: every shipped filter applies
    assert "0.5–40 Hz ~50 Hz" in _footer(rec, paper("compact"))
    assert "0.05–150 Hz ~60 Hz" in _footer(rec, paper("muse"))
    assert "F 50~ 0.15–150 Hz" in _footer(rec, paper("pagewriter"))
    assert "0.5–40 Hz ~60 Hz" in _footer(rec, paper("monitoring_60"))
    assert "Hz" not in _footer(rec, paper("standard"))  # none applied, none printed
    assert "0.5 Hz high-pass" in _footer(rec, paper("standard", highpass=0.5))
    assert "40 Hz low-pass ~60 Hz" in _footer(rec, paper("standard", lowpass=40.0, notch=60.0))


def test_a_filter_the_record_cannot_take_is_skipped_and_not_printed():
    rec = record(PTBXL_100HZ)  # 100 Hz: nothing at or above 50 Hz
    footer = _footer(rec, paper("muse"))  # 0.05–150 Hz ~60 Hz declared
    assert "0.05 Hz high-pass" in footer and "150" not in footer and "~60" not in footer
    d = describe(paper("muse"), rec.fs)
    assert d is not None
    assert (d["highpass"], d["lowpass"], d["notch"]) == (0.05, 150.0, 60.0)
    assert d["applied"] == ["highpass"] and d["skipped"] == ["notch", "lowpass"]
    assert "Nyquist" in d["notes"][1] and "150 Hz" in d["notes"][1]
    assert d["text"] == "0.05 Hz high-pass"
    # A 40 Hz low-pass still fits under its 50 Hz Nyquist frequency.
    assert describe(paper("compact"), rec.fs)["applied"] == ["highpass", "lowpass"]  # type: ignore[index]


def test_a_record_states_its_own_filter_only_where_the_paper_applies_none():
    rec = record(HR06000)
    stated = Record(rec.id, rec.fs, rec.signals, {**rec.meta, "filter": "0.5-100 Hz"}, rec.source)
    assert "0.5-100 Hz" in _footer(stated, paper("standard"))
    footer = _footer(stated, paper("monitoring"))
    assert "0.5–40 Hz" in footer and "0.5-100 Hz" not in footer


# ---- the declaration -------------------------------------------------------------------------


def test_filter_settings_take_frequencies_inherit_and_switch_off_with_none(tmp_path: Path):
    p = check_text(
        tmp_path,
        "paper cart { highpass = 0.5 Hz; lowpass = 40 Hz; notch = 60 Hz }\n"
        "paper quiet extends cart { notch = none; lowpass = 100 Hz }\n",
    )
    assert p.ok, p.diagnostics
    cart, quiet = p.get("paper", "cart"), p.get("paper", "quiet")
    assert (cart.highpass, cart.lowpass, cart.notch) == (0.5, 40.0, 60.0)  # type: ignore[union-attr]
    assert (quiet.highpass, quiet.lowpass, quiet.notch) == (0.5, 100.0, None)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text,words",
    [
        ("paper p { highpass = 5 Hz; lowpass = 1 Hz }", "not above the high-pass"),
        ("paper p { lowpass = 40 mm }", "expected a frequency"),
        ("paper p { notch = 0 Hz }", "notch"),
    ],
)
def test_an_impossible_filter_is_a_spec_error(tmp_path: Path, text: str, words: str):
    p = check_text(tmp_path, text + "\n")
    assert not p.ok
    assert any(words in m for m in messages(p)), messages(p)
