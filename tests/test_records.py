"""Reading real WFDB records into mV, under canonical lead names, and measuring their rate.

The sample records are real PhysioNet data (data/samples/README.md): PTB-XL at 100 Hz, the
CinC 2021 MAT v4 repackaging (units written `mv`, gain 1000/mV) at 500 Hz, and PTB at 1000 Hz
with three extra Frank leads.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgspec.leads import STANDARD_12
from ecgspec.records import RecordError, read_wfdb
from ecgspec.records.measure import measure_rhythm

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
PTBXL = SAMPLES / "ptbxl" / "records100" / "00001_lr"
PTB = SAMPLES / "ptbdb" / "s0010_re"
CINC = sorted(p.with_suffix("") for p in (SAMPLES / "cinc2021").glob("*.hea"))
SHIPPED = [PTBXL, *CINC, PTB]


def _copy(record: Path, dest: Path) -> Path:
    """A writable copy of a record's files in dest; returns the new record path."""
    for f in record.parent.glob(record.name + ".*"):
        shutil.copyfile(f, dest / f.name)
    return dest / record.name


def test_the_shipped_records_are_all_here():
    # 1 PTB-XL + 10 HR + 4 JS CinC records + 1 PTB record.
    assert len(SHIPPED) == 16 and all(p.with_suffix(".hea").is_file() for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_record_reads_with_canonical_leads_in_plausible_mv(path: Path):
    rec = read_wfdb(path)
    assert rec.leads == STANDARD_12
    assert rec.fs in (100.0, 500.0, 1000.0)
    for name, x in rec.signals.items():
        assert x.dtype in (np.float32, np.float64) and x.shape == (rec.n_samples,)
        first10 = x[: int(10 * rec.fs)]
        p2p = float(first10.max() - first10.min())
        assert 0.05 < p2p < 10.0, f"{rec.id} {name}: {p2p:.3f} mV peak to peak is not an ECG in mV"
    assert rec.meta["nan_samples"] == {}


def test_ptbxl_lead_ii_is_in_millivolts():
    rec = read_wfdb(PTBXL)
    ii = rec.signals["II"]
    assert 0.5 <= ii.max() - ii.min() <= 5.0
    assert rec.fs == 100.0 and rec.duration == pytest.approx(10.0)


def test_uppercase_and_lowercase_lead_names_become_canonical():
    assert wfdb.rdheader(str(PTBXL)).sig_name[3] == "AVR"
    assert wfdb.rdheader(str(PTB)).sig_name[3] == "avr"
    assert "aVR" in read_wfdb(PTBXL).signals and "aVR" in read_wfdb(PTB).signals


def test_cinc_mat_records_apply_the_header_gain_and_lowercase_mv_units():
    head = wfdb.rdheader(str(CINC[0]))
    assert head.units[0] == "mv" and head.adc_gain[0] == 1000.0
    rec = read_wfdb(CINC[0])
    raw = wfdb.rdrecord(str(CINC[0]), physical=False).d_signal[:, 0]
    np.testing.assert_allclose(rec.signals["I"], raw / 1000.0)
    assert rec.fs == 500.0 and rec.n_samples == 5000


def test_extra_leads_are_left_out_unless_selected():
    rec = read_wfdb(PTB)
    assert "X" not in rec.signals and rec.fs == 1000.0 and rec.duration == pytest.approx(38.4)
    picked = read_wfdb(PTB, leads=["vx", "ii", "AVF"])
    assert picked.leads == ("X", "II", "aVF")
    np.testing.assert_array_equal(picked.signals["II"], rec.signals["II"])


def test_selecting_a_lead_the_record_lacks_names_the_record():
    with pytest.raises(RecordError, match="has no lead V4R") as info:
        read_wfdb(PTBXL, leads=["II", "V4R"])
    assert "00001_lr" in str(info.value)


def test_header_comments_become_metadata():
    hr = read_wfdb(CINC[0])
    assert hr.meta["age"] == 59 and hr.meta["sex"] == "Female"
    assert hr.meta["dx"] == ["164934002", "426783006"]
    ptb = read_wfdb(PTB)
    assert ptb.meta["age"] == 81 and ptb.meta["sex"] == "Female" and ptb.meta["date"] == "01/10/1990"
    assert ptb.meta["reason_for_admission"] == "Myocardial infarction"


def test_microvolt_records_are_converted_to_millivolts(tmp_path: Path):
    rec = read_wfdb(PTBXL)
    uv = np.stack([rec.signals[n] for n in rec.leads], axis=1) * 1000.0
    wfdb.wrsamp(
        "uv",
        fs=rec.fs,
        units=["uV"] * 12,
        sig_name=list(rec.leads),
        p_signal=uv,
        fmt=["32"] * 12,
        adc_gain=[1.0] * 12,
        baseline=[0] * 12,
        write_dir=str(tmp_path),
    )
    back = read_wfdb(tmp_path / "uv")
    for n in rec.leads:
        np.testing.assert_allclose(back.signals[n], rec.signals[n], atol=1e-3)


def test_missing_samples_are_interpolated_and_counted(tmp_path: Path):
    path = _copy(PTBXL, tmp_path)
    raw = wfdb.rdrecord(str(path), physical=False)
    d = raw.d_signal.copy()
    d[100:104, 1] = -32768  # format 16's invalid-sample marker → NaN in physical units
    wfdb.wrsamp(
        path.name,
        fs=raw.fs,
        units=raw.units,
        sig_name=raw.sig_name,
        d_signal=d,
        fmt=raw.fmt,
        adc_gain=raw.adc_gain,
        baseline=raw.baseline,
        write_dir=str(tmp_path),
    )
    rec = read_wfdb(path)
    assert rec.meta["nan_samples"] == {"II": 4}
    ii = rec.signals["II"]
    assert np.isfinite(ii).all()
    np.testing.assert_allclose(ii[100:104], np.linspace(ii[99], ii[104], 6)[1:-1])


def test_a_truncated_signal_file_raises_record_error_naming_the_file(tmp_path: Path):
    path = _copy(PTBXL, tmp_path)
    dat = path.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:10001])
    with pytest.raises(RecordError) as info:
        read_wfdb(path)
    assert str(path) in str(info.value) and "truncated" in str(info.value)


def test_a_signal_file_cut_at_a_whole_frame_is_caught_too(tmp_path: Path):
    path = _copy(PTBXL, tmp_path)
    dat = path.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: 24 * 500])  # 500 whole frames of 12 × 16 bits
    with pytest.raises(RecordError, match="truncated|holds|promises"):
        read_wfdb(path)


def test_a_missing_signal_file_raises_record_error(tmp_path: Path):
    path = _copy(CINC[0], tmp_path)
    path.with_suffix(".mat").unlink()
    with pytest.raises(RecordError, match="HR06000"):
        read_wfdb(path)


def test_a_garbled_header_raises_record_error(tmp_path: Path):
    (tmp_path / "junk.hea").write_text("this is not a header\n")
    with pytest.raises(RecordError) as info:
        read_wfdb(tmp_path / "junk")
    assert "junk" in str(info.value)


def test_a_missing_record_raises_record_error():
    with pytest.raises(RecordError, match="no such record header"):
        read_wfdb(SAMPLES / "nowhere" / "r1")


def test_a_lead_in_a_unit_that_is_not_a_voltage_is_refused(tmp_path: Path):
    path = _copy(PTBXL, tmp_path)
    hea = path.with_suffix(".hea")
    hea.write_text(hea.read_text().replace("/mV", "/mmHg", 1))
    with pytest.raises(RecordError, match="mmHg"):
        read_wfdb(path)


def _reference_rate(rec) -> float:
    """Heart rate by wfdb's XQRS on lead II, at 500 Hz (XQRS misses beats at 100 and 1000 Hz)."""
    from wfdb import processing

    x, fs = rec.signals["II"], rec.fs
    if fs != 500:
        t = np.arange(len(x)) / fs
        t5 = np.arange(0, t[-1], 1 / 500)
        x, fs = np.interp(t5, t, x), 500.0
    peaks = processing.xqrs_detect(x, fs=fs, verbose=False)
    return 60.0 * fs / float(np.mean(np.diff(peaks)))  # the ventricular rate: beats over time


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_heart_rate_measured_on_the_signal_agrees_with_wfdb_xqrs(path: Path):
    rec = read_wfdb(path)
    ours = measure_rhythm(rec)
    assert ours.heart_rate is not None
    assert ours.heart_rate == pytest.approx(_reference_rate(rec), abs=4.0)
    assert ours.rr == pytest.approx(60.0 / ours.heart_rate)
