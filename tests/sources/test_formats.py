"""Hospital export formats, declared in specs: real sample records written in each format and
read back equal to ADC resolution (|read − original| ≤ one ADC step, every sample, every lead)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecgspec.leads import STANDARD_12
from ecgspec.measurements.machine import machine_measurements
from ecgspec.sources import open_source
from tests.helpers import check_text

from .fixtures import (
    ACME_SPEC,
    MUSE_LEADS,
    REPO,
    assert_adc_equal,
    samples,
    write_acme,
    write_csv,
    write_dicom,
    write_hl7,
    write_json,
    write_muse,
)

RECORDS = samples()
STD_FORMATS = REPO / "specs" / "formats"


def _source(tmp_path: Path, fmt_import: str, fmt: str, extra: str = "", body: str = "") -> str:
    return f'{fmt_import}\n{extra}\nsource hospital from {fmt} {{\n    root = "exports"\n{body}}}\n'


def _open(tmp_path: Path, text: str, name: str = "hospital"):
    program = check_text(tmp_path, text)
    assert program.ok, [d.message for d in program.diagnostics]
    return open_source(program, name)


def _read_all(reader):
    refs = list(reader.refs())
    return refs, {r.key: reader.read(r) for r in refs}


def test_ge_muse_xml_reads_back_every_stored_lead_to_adc_resolution_and_derives_the_limb_leads(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for i, d in enumerate(RECORDS):
        write_muse(d, out / f"{d.name}.xml", patient=f"P{i // 2}", age=40 + i)
    reader = _open(
        tmp_path, _source(tmp_path, 'import "std/formats/ge_muse.ecg"', "ge_muse", body="    patient = patient\n")
    )
    refs, recs = _read_all(reader)
    assert [r.key for r in refs] == sorted(d.name for d in RECORDS) and reader.skipped == []
    by_name = {d.name: d for d in RECORDS}
    for key, rec in recs.items():
        d = by_name[key]
        assert rec.fs == d.fs and rec.leads == STANDARD_12
        assert_adc_equal(rec.signals, d, MUSE_LEADS)
        # Derived leads follow Einthoven and Goldberger from the stored I and II to ADC resolution; the
        # device's own III, aVR… came from unrounded signals, so they match in shape, not to the count.
        i, ii = d.mv("I"), d.mv("II")
        for lead, want in (("III", ii - i), ("aVR", -(i + ii) / 2), ("aVL", i - ii / 2), ("aVF", ii - i / 2)):
            assert np.max(np.abs(rec.signals[lead] - want)) <= 1 / d.gain
            assert np.corrcoef(rec.signals[lead], d.mv(lead))[0, 1] > 0.98, (key, lead)
        assert rec.meta["sex"] == "Male" and rec.meta["synthetic"] is False
        # The cart's RestingECGMeasurements become the record's machine measurements.
        machine = machine_measurements(rec.meta)
        assert (machine.method, machine.pr.value, machine.qrs.value, machine.qt.value) == ("machine", 164, 92, 388)
        assert (machine.heart_rate.value, machine.qrs_axis.value, machine.qtc_bazett.value) == (72, -12, 425)
    assert refs[0].patient == "P0" and refs[0].meta["age"] == 40


def test_hl7_aecg_reads_back_to_adc_resolution_with_rate_from_the_sampling_interval(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for d in RECORDS[:6]:
        write_hl7(d, out / f"{d.name}.xml", patient=f"S-{d.name}")
    reader = _open(
        tmp_path, _source(tmp_path, 'import "std/formats/hl7_aecg.ecg"', "hl7_aecg", body="    patient = patient\n")
    )
    refs, recs = _read_all(reader)
    assert len(recs) == 6
    for d in RECORDS[:6]:
        rec = recs[d.name]
        assert rec.fs == pytest.approx(d.fs)
        assert_adc_equal(rec.signals, d)
    assert {r.patient for r in refs} == {f"S-{d.name}" for d in RECORDS[:6]}


def test_an_xml_format_declared_only_in_a_spec_reads_real_records_with_no_python_for_it(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for i, d in enumerate(RECORDS):
        write_acme(d, out / f"{d.name}.acme.xml", mrn=f"MRN{i}")
    (out / "notes.xml").write_text("<not-an-export/>")  # another file that the glob leaves out
    reader = _open(tmp_path, _source(tmp_path, "", "acme_cardio", ACME_SPEC, body="    patient = patient\n"))
    refs, recs = _read_all(reader)
    assert len(refs) == len(RECORDS) and reader.skipped == []
    for d in RECORDS:
        assert_adc_equal(recs[d.name + ".acme"].signals, d)
    assert refs[0].meta == {"patient": "MRN0", "age": 61, "sex": "Female"}


@pytest.mark.parametrize("delimiter, fmt", [(",", "csv_500hz_uv"), ("\t", "tsv_500hz_uv")])
def test_csv_and_tsv_exports_read_back_to_adc_resolution(tmp_path: Path, delimiter: str, fmt: str):
    out = tmp_path / "exports"
    out.mkdir()
    cinc = [d for d in RECORDS if d.fs == 500][:4]
    ext = "csv" if delimiter == "," else "tsv"
    for d in cinc:
        write_csv(d, out / f"{d.name}.{ext}", delimiter)
    reader = _open(tmp_path, _source(tmp_path, 'import "std/formats/csv.ecg"', fmt))
    _, recs = _read_all(reader)
    for d in cinc:
        assert recs[d.name].fs == 500
        assert_adc_equal(recs[d.name].signals, d)


def test_a_hospital_variant_extends_a_shipped_csv_format_with_its_own_rate(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    d = RECORDS[0]  # PTB-XL at 100 Hz
    write_csv(d, out / "ward3.csv")
    extra = "format ward3 extends csv_500hz_uv {\n    fs = 100 Hz\n}\n"
    reader = _open(tmp_path, _source(tmp_path, 'import "std/formats/csv.ecg"', "ward3", extra))
    _, recs = _read_all(reader)
    assert recs["ward3"].fs == 100
    assert_adc_equal(recs["ward3"].signals, d)


def test_json_exports_read_back_to_adc_resolution(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for d in RECORDS[:5]:
        write_json(d, out / f"{d.name}.json", patient=d.name)
    reader = _open(
        tmp_path, _source(tmp_path, 'import "std/formats/json.ecg"', "json_leads", body="    patient = patient\n")
    )
    refs, recs = _read_all(reader)
    for d in RECORDS[:5]:
        assert_adc_equal(recs[d.name].signals, d)
    assert refs[0].meta["sex"] == "Male"


def test_dicom_waveforms_read_back_to_adc_resolution(tmp_path: Path):
    pytest.importorskip("pydicom")
    out = tmp_path / "exports"
    out.mkdir()
    for d in RECORDS[:4]:
        write_dicom(d, out / f"{d.name}.dcm", patient=f"D-{d.name}")
    reader = _open(
        tmp_path, _source(tmp_path, 'import "std/formats/dicom.ecg"', "dicom_ecg", body="    patient = patient\n")
    )
    refs, recs = _read_all(reader)
    for d in RECORDS[:4]:
        assert recs[d.name].fs == d.fs
        assert_adc_equal(recs[d.name].signals, d)
    assert refs[0].patient == f"D-{RECORDS[0].name}" and refs[0].meta["age"] == 63


def test_a_source_over_a_format_splits_by_hashing_the_patient_field(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    for i, d in enumerate(RECORDS):
        write_acme(d, out / f"{d.name}.acme.xml", mrn=f"MRN{i // 3}")  # three records per patient
    body = "    patient = patient\n    split hash patient { train = 50%; test = 50% }\n"
    reader = _open(tmp_path, _source(tmp_path, "", "acme_cardio", ACME_SPEC, body=body))
    sides: dict[str, set[str]] = {}
    for ref in reader.refs():
        sides.setdefault(ref.patient, set()).add(ref.split)
    assert all(len(s) == 1 for s in sides.values()), sides
    assert {s for v in sides.values() for s in v} == {"train", "test"}
    train = [r.key for r in reader.refs("train")]
    test = [r.key for r in reader.refs("test")]
    assert set(train).isdisjoint(test) and len(train) + len(test) == len(RECORDS)


def test_missing_limb_leads_are_an_error_when_the_format_does_not_derive_them(tmp_path: Path):
    out = tmp_path / "exports"
    out.mkdir()
    write_muse(RECORDS[0], out / "a.xml")
    extra = "format muse_raw extends ge_muse {\n    derive = false\n}\n"
    reader = _open(tmp_path, _source(tmp_path, 'import "std/formats/ge_muse.ecg"', "muse_raw", extra))
    from ecgspec.records import RecordError

    ref = next(reader.refs())
    with pytest.raises(RecordError, match=r"a\.xml: has no lead III, aVR, aVL, aVF"):
        reader.read(ref)
    assert np.isfinite(RECORDS[0].mv("I")).all()
