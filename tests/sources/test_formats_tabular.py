"""Hospital formats, part two (issue 15): DICOM waveform groups, CSV preambles, JSON leads as
keys and a record-level scale, and metadata that stays text unless a format types it.

Every file is written here by the test, and each reading is checked against an independent
reader: pydicom's own `waveform_array` for DICOM, the `csv` module and plain string handling
for CSV, the original ADC counts for all.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ecgspec.leads import STANDARD_12
from ecgspec.records import RecordError
from ecgspec.sources import open_source
from tests.helpers import check_text

from .fixtures import Digital, assert_adc_equal, samples, write_dicom

RECORDS = samples()[:4]


def _open(tmp_path: Path, text: str, name: str = "hospital"):
    program = check_text(tmp_path, text)
    assert program.ok, [d.message for d in program.diagnostics]
    return open_source(program, name)


def _source(fmt_import: str, fmt: str, body: str = "", extra: str = "") -> str:
    return f'{fmt_import}\n{extra}\nsource hospital from {fmt} {{\n    root = "exports"\n{body}}}\n'


def _errors(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    program = check_text(tmp_path, text)
    return [(d.pos.line, d.pos.col, d.message) for d in program.diagnostics if d.severity == "error"]


# ---- DICOM: which waveform group ------------------------------------------------------------------

MEDIAN_N = 600  # 1.2 s at 500 Hz


def write_dicom_groups(d: Digital, path: Path, labels: tuple[str, str] = ("MEDIAN", "RHYTHM")) -> Path:
    """A DICOM ECG whose first multiplex group is a 1.2 s median beat (500 Hz, baseline −12.5 µV,
    2.5 µV per count) and whose second is the record's rhythm strip (fixtures.write_dicom)."""
    import pydicom
    from pydicom.dataset import Dataset

    write_dicom(d, path, patient=f"D-{d.name}")
    ds = pydicom.dcmread(str(path))
    rhythm = ds.WaveformSequence[0]
    rhythm.MultiplexGroupLabel = labels[1]
    median = Dataset()
    median.MultiplexGroupLabel = labels[0]
    median.MultiplexGroupTimeOffset = 0.0
    median.WaveformOriginality = "DERIVED"
    median.NumberOfWaveformChannels = 12
    median.NumberOfWaveformSamples = MEDIAN_N
    median.SamplingFrequency = 500
    median.WaveformBitsAllocated = 16
    median.WaveformSampleInterpretation = "SS"
    chans = []
    for ch in rhythm.ChannelDefinitionSequence:
        c = Dataset()
        c.ChannelSourceSequence = ch.ChannelSourceSequence
        c.ChannelSensitivity = "2.5"
        c.ChannelSensitivityUnitsSequence = ch.ChannelSensitivityUnitsSequence
        c.ChannelSensitivityCorrectionFactor = "1"
        c.ChannelBaseline = "-12.5"
        c.WaveformBitsStored = 16
        chans.append(c)
    median.ChannelDefinitionSequence = chans
    beat = np.stack([d.counts[lead][:MEDIAN_N] for lead in STANDARD_12], axis=1) // 3 + 7
    median.WaveformData = beat.astype("<i2").tobytes()
    ds.WaveformSequence = [median, rhythm]
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _pydicom_mv(path: Path, index: int) -> dict[str, np.ndarray]:
    """pydicom's own decoding of one group (its sensitivity unit, µV here), in mV, by lead."""
    import pydicom

    ds = pydicom.dcmread(str(path))
    arr = ds.waveform_array(index)
    names = [
        str(ch.ChannelSourceSequence[0].CodeMeaning).removeprefix("Lead ")
        for ch in ds.WaveformSequence[index].ChannelDefinitionSequence
    ]
    return {n: arr[:, j] * 1e-3 for j, n in enumerate(names)}


def _dicom_exports(tmp_path: Path, **kw) -> Path:
    out = tmp_path / "exports"
    out.mkdir()
    for d in RECORDS:
        write_dicom_groups(d, out / f"{d.name}.dcm", **kw)
    return out


def test_dicom_reads_the_rhythm_group_when_the_median_beats_come_first(tmp_path: Path):
    pytest.importorskip("pydicom")
    out = _dicom_exports(tmp_path)
    reader = _open(tmp_path, _source('import "std/formats/dicom.ecg"', "dicom_ecg", "    patient = patient\n"))
    refs = list(reader.refs())
    assert len(refs) == len(RECORDS) and reader.skipped == []
    for ref in refs:
        rec = reader.read(ref)
        d = next(d for d in RECORDS if d.name == ref.key)
        expected = _pydicom_mv(out / f"{d.name}.dcm", 1)
        assert rec.fs == d.fs and len(rec.signals["I"]) == len(d.counts["I"]) > MEDIAN_N
        for lead in STANDARD_12:
            np.testing.assert_array_equal(rec.signals[lead], expected[lead])
        assert_adc_equal(rec.signals, d)
    assert reader.notes == [
        f"waveform group RHYTHM (index 1 of 2, {len(RECORDS[0].counts['I']) / RECORDS[0].fs:.1f} s) "
        f"in {len(RECORDS)} files (RHYTHM, else the longest)"
    ]
    from ecgspec.sources.cli import summarise

    assert summarise(reader, None, None)["notes"] == reader.notes  # what `ecgspec sources` prints


def test_dicom_median_reads_the_median_group_exactly_as_pydicom_does(tmp_path: Path):
    pytest.importorskip("pydicom")
    out = _dicom_exports(tmp_path)
    reader = _open(tmp_path, _source('import "std/formats/dicom_median.ecg"', "dicom_median"))
    for ref in reader.refs():
        rec = reader.read(ref)
        expected = _pydicom_mv(out / f"{ref.key}.dcm", 0)
        assert rec.fs == 500.0 and len(rec.signals["V6"]) == MEDIAN_N
        for lead in STANDARD_12:
            np.testing.assert_array_equal(rec.signals[lead], expected[lead])
        d = next(d for d in RECORDS if d.name == ref.key)  # the baseline is added after scaling, in µV
        stored = d.counts["II"][:MEDIAN_N] // 3 + 7
        np.testing.assert_allclose(rec.signals["II"], (stored * 2.5 - 12.5) / 1000, rtol=0, atol=1e-12)
    assert reader.notes[0].startswith("waveform group MEDIAN (index 0 of 2, 1.2 s) in 4 files")


@pytest.mark.parametrize("group", ['"rhythm"', "1"])
def test_dicom_group_by_label_in_any_case_or_by_index(tmp_path: Path, group: str):
    pytest.importorskip("pydicom")
    _dicom_exports(tmp_path)
    extra = f"format mine extends dicom_ecg {{\n    group = {group}\n}}\n"
    reader = _open(tmp_path, _source('import "std/formats/dicom.ecg"', "mine", extra=extra))
    ref = next(reader.refs())
    d = next(d for d in RECORDS if d.name == ref.key)
    assert_adc_equal(reader.read(ref).signals, d)


def test_dicom_without_labels_reads_the_longest_group(tmp_path: Path):
    pytest.importorskip("pydicom")
    _dicom_exports(tmp_path, labels=("", ""))
    reader = _open(tmp_path, _source('import "std/formats/dicom.ecg"', "dicom_ecg"))
    ref = next(reader.refs())
    d = next(d for d in RECORDS if d.name == ref.key)
    assert_adc_equal(reader.read(ref).signals, d)
    assert reader.notes[0].startswith("waveform group (no label) (index 1 of 2")


def test_dicom_a_file_without_the_named_group_is_skipped_with_its_groups(tmp_path: Path):
    pytest.importorskip("pydicom")
    out = tmp_path / "exports"
    out.mkdir()
    write_dicom(RECORDS[0], out / "only_rhythm.dcm")
    write_dicom_groups(RECORDS[1], out / "both.dcm")
    reader = _open(tmp_path, _source('import "std/formats/dicom_median.ecg"', "dicom_median"))
    assert [r.key for r in reader.refs()] == ["both"]
    [skip] = reader.skipped
    assert skip.key == "only_rhythm" and "no waveform group labelled MEDIAN" in skip.reason
    assert "0: (no label) " in skip.reason


def test_dicom_group_belongs_to_dicom_formats_and_counts_from_0(tmp_path: Path):
    errors = _errors(tmp_path, 'format f from csv {\n    fs = 500 Hz\n    group = "RHYTHM"\n}\n')
    assert errors == [(3, 13, "format 'f': `group` is a setting of dicom formats, not of csv")]
    errors = _errors(tmp_path, "format f from dicom {\n    group = -1\n}\n")
    assert errors == [(2, 13, "format 'f': a waveform group's index counts from 0")]


# ---- CSV: a vendor's preamble --------------------------------------------------------------------


def write_vendor_csv(path: Path, counts: dict[str, np.ndarray], gain: float, fs: float, patient: str) -> Path:
    with path.open("w", newline="") as f:
        f.write(f"Patient ID: {patient}\r\nAcquired: 2020-01-02 10:00:00\r\n")
        f.write(f"Sampling Rate (Hz): {fs:g}\r\nGain (digit/millivolt): {gain:g}\r\n")
        w = csv.writer(f)
        w.writerow(STANDARD_12)
        for i in range(len(counts["I"])):
            w.writerow([int(counts[lead][i]) for lead in STANDARD_12])
    return path


def parse_vendor_csv(path: Path) -> tuple[float, dict[str, np.ndarray], dict[str, str]]:
    """By hand: `Key: value` lines until the header, then csv rows of digits divided by the gain."""
    with path.open(newline="") as f:
        pre = dict(f.readline().rstrip("\r\n").split(": ", 1) for _ in range(4))
        rows = list(csv.reader(f))
    gain = float(pre["Gain (digit/millivolt)"])
    header, body = rows[0], rows[1:]
    mv = {h: np.array([float(r[j]) for r in body]) / gain for j, h in enumerate(header)}
    return float(pre["Sampling Rate (Hz)"]), mv, pre


def test_vendor_csv_reads_rate_gain_and_patient_from_the_preamble(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for i, d in enumerate(RECORDS):
        write_vendor_csv(out / f"{d.name}.csv", d.counts, d.gain, d.fs, patient=f"{i:07d}")
    d0 = RECORDS[0]  # one export at 2048 digits per mV, as the vendor writes it
    counts_2048 = {lead: np.round(d0.mv(lead) * 2048).astype(np.int64) for lead in STANDARD_12}
    write_vendor_csv(out / "g2048.csv", counts_2048, 2048, 500, patient="0000989")
    reader = _open(tmp_path, _source('import "std/formats/vendor_csv.ecg"', "vendor_csv", "    patient = patient\n"))
    refs = {r.key: r for r in reader.refs()}
    assert len(refs) == len(RECORDS) + 1 and reader.skipped == []
    assert refs["g2048"].patient == "0000989" and refs["g2048"].meta["date"] == "2020-01-02 10:00:00"
    for key, ref in refs.items():
        rec = reader.read(ref)
        fs, mv, pre = parse_vendor_csv(out / f"{key}.csv")
        assert rec.fs == fs and rec.meta["patient"] == pre["Patient ID"]
        for lead in STANDARD_12:
            np.testing.assert_array_equal(rec.signals[lead], mv[lead])
        if key != "g2048":
            assert_adc_equal(rec.signals, next(d for d in RECORDS if d.name == key))
    assert rec.fs == 500 and abs(float(np.max(np.abs(rec.signals["II"] - d0.mv("II"))))) <= 0.5 / 2048 + 1e-12


def test_a_vendor_csv_without_its_rate_line_is_a_broken_record(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    path = write_vendor_csv(out / "a.csv", RECORDS[0].counts, 1000, 500, "P1")
    path.write_text(path.read_text().replace("Sampling Rate (Hz): 500", "Rate unknown"))
    reader = _open(tmp_path, _source('import "std/formats/vendor_csv.ecg"', "vendor_csv"))
    with pytest.raises(RecordError, match="gives the sampling rate"):
        reader.read(next(reader.refs()))


def test_csv_patterns_are_checked_where_they_are_written(tmp_path: Path):
    text = (
        "format v from csv {\n"
        "    skip = 2\n"
        '    rate_pattern = "Rate: (\\\\d+"\n'
        '    gain_pattern = "Gain: \\\\d+"\n'
        '    meta = [patient: "ID: (a)(b)"]\n'
        "}\n"
    )
    errors = _errors(tmp_path, text)
    assert [(line, col) for line, col, _ in errors] == [(3, 20), (4, 20), (5, 22)]
    assert "does not compile" in errors[0][2] and "0 groups" in errors[1][2] and "2 groups" in errors[2][2]
    errors = _errors(tmp_path, 'format w from csv {\n    rate_pattern = "R: (\\\\d+)"\n}\n')
    assert [m for _, _, m in errors] == [
        "format 'w': patterns are searched in the lines before the header, and `skip` is 0"
    ]


# ---- JSON: leads as keys, a record-level scale ------------------------------------------------------


def test_json_leads_as_keys_with_one_scale_for_the_record(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for d in RECORDS:
        doc = {
            "sampling_rate": d.fs,
            "uv_per_digit": 1000.0 / d.gain,
            "patient": {"id": "0042", "age": 50, "sex": "F"},
            "leads": {lead: [int(v) for v in d.counts[lead]] for lead in STANDARD_12},
        }
        (out / f"{d.name}.json").write_text(json.dumps(doc), encoding="utf-8")
    reader = _open(tmp_path, _source('import "std/formats/json.ecg"', "json_lead_keys", "    patient = patient\n"))
    refs = list(reader.refs())
    assert refs[0].patient == "0042" and refs[0].meta["age"] == 50 and refs[0].meta["sex"] == "Female"
    for ref in refs:
        assert_adc_equal(reader.read(ref).signals, next(d for d in RECORDS if d.name == ref.key))


def test_json_leads_as_keys_with_a_samples_path_and_per_lead_scale(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    d = RECORDS[0]
    doc = {
        "fs": d.fs,
        "ecg": {
            f"Lead {lead}": {"lsb": 1000.0 / d.gain, "digits": [int(v) for v in d.counts[lead]]} for lead in STANDARD_12
        },
    }
    (out / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    extra = (
        'format keyed from json {\n    leads = "ecg"\n    leads_as_keys = true\n    data = "digits"\n'
        '    scale = 1 µV\n    scale_path = "lsb"\n    fs_path = "fs"\n}\n'
    )
    reader = _open(tmp_path, _source("", "keyed", extra=extra))
    assert_adc_equal(reader.read(next(reader.refs())).signals, d)


def test_json_leads_as_an_object_without_leads_as_keys_says_so(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    (out / "a.json").write_text(json.dumps({"sampling_rate": 500, "leads": {"I": [1, 2]}}), encoding="utf-8")
    reader = _open(tmp_path, _source('import "std/formats/json.ecg"', "json_leads"))
    with pytest.raises(RecordError, match="leads_as_keys = true"):
        reader.read(next(reader.refs()))


# ---- metadata types --------------------------------------------------------------------------------

META_FORMAT = """
format clinic from json {
    files      = "*.json"
    leads      = "leads"
    lead_name  = "name"
    data       = "samples"
    fs         = 500 Hz
    meta       = [mrn: "mrn", date: "date", age: "age", weight: "weight", ward: "ward"]
    meta_types = [age: number, weight: number]
}
"""


def test_meta_stays_text_unless_a_number_is_declared_and_splits_by_the_text(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    leads = [{"name": lead, "samples": [0.0, 0.1, 0.2]} for lead in STANDARD_12]
    doc = {"mrn": "0000989", "date": "20200102", "age": "61", "weight": "n/a", "ward": 7, "leads": leads}
    (out / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    body = "    patient = mrn\n    split hash mrn { train = 60%; test = 40% }\n"
    reader = _open(tmp_path, _source("", "clinic", body, extra=META_FORMAT))
    [ref] = list(reader.refs())
    assert ref.meta == {"mrn": "0000989", "date": "20200102", "age": 61, "ward": 7}
    assert ref.patient == "0000989"
    # SHA-256 of the text, computed here: '0000989' falls in the last 40%, '989' would not.
    unit = int.from_bytes(hashlib.sha256(b"0000989").digest()[:8], "big") / 2**64
    assert unit >= 0.6 and int.from_bytes(hashlib.sha256(b"989").digest()[:8], "big") / 2**64 < 0.6
    assert ref.split == "test"
    rec = reader.read(ref)
    assert rec.meta["mrn"] == "0000989" and rec.meta["date"] == "20200102" and rec.meta["age"] == 61


def test_meta_types_name_meta_fields(tmp_path: Path):
    text = META_FORMAT.replace("weight: number]", "weight: number, height: number]")
    errors = _errors(tmp_path, text)
    assert len(errors) == 1 and "'height' is not a `meta` field" in errors[0][2] and errors[0][0] == 9


def test_ge_muse_measurements_stay_numbers_for_the_machine_measurements(tmp_path: Path):
    from ecgspec.measurements.machine import machine_measurements

    from .fixtures import write_muse

    out = tmp_path / "exports"
    out.mkdir()
    write_muse(RECORDS[0], out / "a.xml", patient="0000989", age=61)
    reader = _open(tmp_path, _source('import "std/formats/ge_muse.ecg"', "ge_muse", "    patient = patient\n"))
    ref = next(reader.refs())
    assert ref.patient == "0000989" and ref.meta["age"] == 61 and ref.meta["date"] == "01-02-2020"
    machine = machine_measurements(reader.read(ref).meta)
    assert machine.heart_rate is not None and machine.qrs is not None
