"""The XML family (issue 15, part two): Philips Sierra XLI, GE MUSE medians, HL7 units and origins,
packed leads and derive formulas, read back exactly against an independent reader (sierraecg for
Philips; ElementTree by hand for the others), and each bad input refused with a reason."""

from __future__ import annotations

import base64
import typing
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from ecgspec.ir import Format
from ecgspec.leads import STANDARD_12
from ecgspec.records import RecordError
from ecgspec.sources.formats.codecs import CODECS
from tests.helpers import check_text

from .fixtures import MUSE_LEADS, REPO, assert_adc_equal, samples, write_muse
from .fixtures_xml import (
    PACKED_LEADS,
    PACKED_SPEC,
    median_counts,
    write_hl7_units,
    write_muse_median,
    write_packed,
    write_philips,
)

RECORDS = samples()
STD = REPO / "specs" / "formats"


def _open(tmp_path: Path, head: str, fmt: str, extra: str = ""):
    from ecgspec.sources import open_source

    text = f'{head}\n{extra}\nsource hospital from {fmt} {{\n    root = "exports"\n    patient = patient\n}}\n'
    program = check_text(tmp_path, text)
    assert program.ok, [d.message for d in program.diagnostics]
    return open_source(program, "hospital")


def _exports(tmp_path: Path) -> Path:
    out = tmp_path / "exports"
    out.mkdir(exist_ok=True)
    return out


def _diagnostics(tmp_path: Path, text: str) -> list:
    program = check_text(tmp_path, text)
    assert not program.ok
    return program.diagnostics


# ---- Philips Sierra ECG (XLI) ---------------------------------------------------------------


def test_philips_sierra_xli_reads_exactly_what_sierraecg_reads_and_the_original_counts(tmp_path: Path):
    sierraecg = pytest.importorskip("sierraecg")
    out = _exports(tmp_path)
    chosen = RECORDS[:3]
    for i, d in enumerate(chosen):
        write_philips(d, out / f"{d.name}.xml", patient=f"PH{i}", version=("1.03", "1.04")[i % 2])
    reader = _open(tmp_path, 'import "std/formats/philips_sierra.ecg"', "philips_sierra")
    refs = list(reader.refs())
    assert [r.key for r in refs] == sorted(d.name for d in chosen) and reader.skipped == []
    for d in chosen:
        rec = reader.read(next(r for r in refs if r.key == d.name))
        independent = sierraecg.read_file(str(out / f"{d.name}.xml"))
        resolution_mv = 1.0 / d.gain
        assert rec.fs == d.fs and rec.leads == STANDARD_12
        for lead in independent.leads:
            mine = rec.signals[lead.label] / resolution_mv
            assert np.array_equal(np.round(mine), lead.samples.astype(np.float64)), lead.label
            assert np.max(np.abs(mine - np.round(mine))) < 1e-6
        assert_adc_equal(rec.signals, d)  # the residual leads restored to the count
    assert refs[0].patient == "PH0" and refs[0].meta["age"] == 57 and refs[0].meta["sex"] == "Female"


def test_philips_with_chunks_missing_is_a_reported_skip(tmp_path: Path):
    out = _exports(tmp_path)
    write_philips(RECORDS[0], out / "short.xml", drop_chunks=2)
    reader = _open(tmp_path, 'import "std/formats/philips_sierra.ecg"', "philips_sierra")
    ref = next(reader.refs())
    with pytest.raises(
        RecordError, match=r"short\.xml: 12 leads are named but the data holds 10: the file is cut short"
    ):
        reader.read(ref)


def test_corrupt_xli_is_a_worded_error_not_a_hang(tmp_path: Path):
    out = _exports(tmp_path)
    path = write_philips(RECORDS[0], out / "bad.xml")
    text = path.read_text()
    start = text.index('">', text.index("<parsedwaveforms")) + 2
    forged = base64.b64encode((10**6).to_bytes(4, "little") + b"\0" * 20).decode()
    path.write_text(text[:start] + forged + text[text.index("</parsedwaveforms>") :])
    reader = _open(tmp_path, 'import "std/formats/philips_sierra.ecg"', "philips_sierra")
    with pytest.raises(RecordError, match=r"XLI chunk 1 claims 1000000 bytes"):
        reader.read(next(reader.refs()))


# ---- GE MUSE Median ----------------------------------------------------------------------------


def _by_hand_muse(path: Path, kind: str) -> dict[str, np.ndarray]:
    """The independent reader: ElementTree, base64, int16, µV per bit."""
    root = ET.parse(path).getroot()
    out = {}
    for wf in root.findall("Waveform"):
        if wf.findtext("WaveformType") != kind:
            continue
        for ld in wf.findall("LeadData"):
            counts = np.frombuffer(base64.b64decode(ld.findtext("WaveFormData") or ""), "<i2")
            out[ld.findtext("LeadID") or ""] = counts * float(ld.findtext("LeadAmplitudeUnitsPerBit") or 0) / 1000
    return out


def test_ge_muse_median_reads_the_median_beat_beside_the_rhythm_format(tmp_path: Path):
    out = _exports(tmp_path)
    d = RECORDS[1]
    path = write_muse_median(d, out / "m.xml")
    head = 'import "std/formats/ge_muse_median.ecg"\nimport "std/formats/ge_muse.ecg"'
    reader = _open(tmp_path, head, "ge_muse_median")
    ref = next(reader.refs())
    rec = reader.read(ref)
    want = _by_hand_muse(path, "Median")
    assert rec.leads == STANDARD_12 and rec.n_samples == len(median_counts(d)["I"])
    for lead in MUSE_LEADS:
        assert np.allclose(rec.signals[lead], want[lead], rtol=0, atol=1e-12), lead
    assert np.allclose(rec.signals["III"], want["II"] - want["I"])
    assert rec.meta["heart_rate"] == 61 and rec.meta["age"] == 64  # RestingECGMeasurements kept
    # The same file through ge_muse is still the rhythm strip.
    rhythm = _open(tmp_path, head, "ge_muse").read(ref)
    assert rhythm.n_samples == len(d.counts["I"])
    assert np.allclose(rhythm.signals["V1"], _by_hand_muse(path, "Rhythm")["V1"], rtol=0, atol=1e-12)


def test_a_muse_lead_cut_short_of_its_sample_count_is_refused(tmp_path: Path):
    out = _exports(tmp_path)
    d = RECORDS[1]
    med = median_counts(d)
    med["V3"] = med["V3"][:500]
    write_muse_median(d, out / "cut.xml", stored=med, count=600)
    reader = _open(tmp_path, 'import "std/formats/ge_muse_median.ecg"', "ge_muse_median")
    with pytest.raises(RecordError, match=r"lead V3 has 500 samples where the file says 600: cut short"):
        reader.read(next(reader.refs()))


def test_wrong_byte_order_is_an_implausible_record(tmp_path: Path):
    out = _exports(tmp_path)
    write_muse(RECORDS[1], out / "a.xml")
    extra = "format muse_be extends ge_muse {\n    encoding = base64_int16_be\n}\n"
    reader = _open(tmp_path, 'import "std/formats/ge_muse.ecg"', "muse_be", extra)
    with pytest.raises(RecordError, match=r"implausible record: lead .* \(a wrong gain or unit\?\)"):
        reader.read(next(reader.refs()))


def test_padding_samples_become_missing_and_follow_the_missing_sample_rule(tmp_path: Path):
    out = _exports(tmp_path)
    d = RECORDS[1]
    padded = median_counts(d)
    padded["V2"] = padded["V2"].copy()
    padded["V2"][-20:] = 32767  # 20 of 600: filled in and counted
    write_muse_median(d, out / "pad.xml", stored=padded)
    extra = "format muse_pad extends ge_muse_median {\n    invalid = 32767\n}\n"
    head = 'import "std/formats/ge_muse_median.ecg"'
    rec = _open(tmp_path, head, "muse_pad", extra).read(next(_open(tmp_path, head, "muse_pad", extra).refs()))
    assert rec.meta["nan_samples"] == {"V2": 20} and np.isfinite(rec.signals["V2"]).all()
    assert np.abs(rec.signals["V2"]).max() < 20
    # Without `invalid`, 32767 × 1 µV is 33 mV on 20 samples: not an ECG.
    reader = _open(tmp_path, head, "ge_muse_median")
    with pytest.raises(RecordError, match="implausible record: lead V2"):
        reader.read(next(reader.refs()))
    # Too many padding samples: the lead is refused.
    padded["V2"][-200:] = 32767
    write_muse_median(d, out / "pad.xml", stored=padded)
    reader = _open(tmp_path, head, "muse_pad", extra)
    with pytest.raises(RecordError, match=r"lead V2 is 33% missing samples"):
        reader.read(next(reader.refs()))


# ---- HL7 aECG units and origin -------------------------------------------------------------------


def _by_hand_hl7(path: Path) -> dict[str, np.ndarray]:
    units = {"uV": 1e-3, "nV": 1e-6, "mV": 1.0}
    ns = {"h": "urn:hl7-org:v3"}
    out = {}
    for seq in ET.parse(path).getroot().iterfind(".//h:sequence", ns):
        code = seq.find("h:code", ns).get("code")  # type: ignore[union-attr]
        if not code or not code.startswith("MDC_ECG_LEAD_"):
            continue
        scale, origin = seq.find("h:value/h:scale", ns), seq.find("h:value/h:origin", ns)
        digits = np.array((seq.findtext("h:value/h:digits", "", ns)).split(), dtype=float)
        s = float(scale.get("value")) * units[scale.get("unit")]  # type: ignore[union-attr, arg-type, index]
        o = float(origin.get("value")) * units[origin.get("unit")]  # type: ignore[union-attr, arg-type, index]
        out[code.removeprefix("MDC_ECG_LEAD_")] = o + s * digits
    return out


@pytest.mark.parametrize("unit", ["nV", "uV", "mV"])
def test_hl7_reads_scale_unit_and_origin_from_the_file(tmp_path: Path, unit: str):
    out = _exports(tmp_path)
    d = RECORDS[2]
    path = write_hl7_units(d, out / "u.xml", unit=unit, origin_uv=150.0)
    reader = _open(tmp_path, 'import "std/formats/hl7_aecg.ecg"', "hl7_aecg")
    rec = reader.read(next(reader.refs()))
    want = _by_hand_hl7(path)
    for lead in STANDARD_12:
        assert np.allclose(rec.signals[lead], want[lead.upper()], rtol=0, atol=1e-9), lead
        assert np.allclose(rec.signals[lead] - 0.150, d.mv(lead), rtol=0, atol=1e-9)


def test_a_nanovolt_scale_read_as_microvolts_is_refused_as_implausible(tmp_path: Path):
    out = _exports(tmp_path)
    write_hl7_units(RECORDS[2], out / "n.xml", unit="nV")
    # A format that ignores the file's unit takes 1000 nV as 1000 µV: traces 1000× too large.
    extra = "format hl7_no_units extends hl7_aecg {\n    scale_unit_path = none\n}\n"
    reader = _open(tmp_path, 'import "std/formats/hl7_aecg.ecg"', "hl7_no_units", extra)
    with pytest.raises(RecordError, match=r"implausible record: lead I .*wrong gain or unit"):
        reader.read(next(reader.refs()))


def test_an_unknown_unit_in_the_file_is_worded(tmp_path: Path):
    out = _exports(tmp_path)
    write_hl7_units(RECORDS[2], out / "k.xml", unit="uV", write_unit="furlongs")
    reader = _open(tmp_path, 'import "std/formats/hl7_aecg.ecg"', "hl7_aecg")
    with pytest.raises(RecordError, match=r"unknown unit 'furlongs' at value/scale/@unit"):
        reader.read(next(reader.refs()))


# ---- packed leads and derive formulas ----------------------------------------------------------


@pytest.mark.parametrize("packing", ["concatenated", "interleaved"])
def test_packed_leads_with_names_from_an_attribute_and_declared_formulas(tmp_path: Path, packing: str):
    out = _exports(tmp_path)
    d = RECORDS[3]
    write_packed(d, out / "a.pk.xml", packing)
    reader = _open(tmp_path, "", "packed_cart", PACKED_SPEC % {"packing": packing})
    rec = reader.read(next(reader.refs()))
    assert rec.leads == STANDARD_12
    assert_adc_equal(rec.signals, d, PACKED_LEADS)
    i, ii = d.mv("I"), d.mv("II")
    for lead, want in (("III", ii - i), ("aVR", -(i + ii) / 2), ("aVL", i - ii / 2), ("aVF", ii - i / 2)):
        assert np.allclose(rec.signals[lead], want, atol=1e-12), lead


def test_a_packed_element_that_does_not_divide_into_its_leads_is_refused(tmp_path: Path):
    out = _exports(tmp_path)
    path = write_packed(RECORDS[3], out / "a.pk.xml", "interleaved")
    text = path.read_text()
    b = text.index('">', text.index("<block")) + 2
    raw = base64.b64decode(text[b : text.index("</block>")])[:-2]
    path.write_text(text[:b] + base64.b64encode(raw).decode() + text[text.index("</block>") :])
    reader = _open(tmp_path, "", "packed_cart", PACKED_SPEC % {"packing": "interleaved"})
    with pytest.raises(RecordError, match=r"cannot be 8 leads of equal length: the file is cut short"):
        reader.read(next(reader.refs()))


# ---- paths checked with the spec --------------------------------------------------------------


def test_paths_that_used_to_fail_at_read_time_now_work(tmp_path: Path):
    out = _exports(tmp_path)
    write_muse(RECORDS[0], out / "a.xml")
    extra = (
        "format muse_paths extends ge_muse {\n"
        '    meta = [patient: "PatientDemographics/PatientID/text()", age: "//PatientAge", '
        'rate: "/RestingECG/Waveform[2]/SampleBase", first: "//LeadData[1]/LeadID"]\n'
        "    meta_types = [age: number]\n"
        "}\n"
    )
    reader = _open(tmp_path, 'import "std/formats/ge_muse.ecg"', "muse_paths", extra)
    ref = next(reader.refs())
    assert ref.patient == "P1" and ref.meta["age"] == 60 and ref.meta["first"] == "I"
    assert ref.meta["rate"] == f"{RECORDS[0].fs:g}"


@pytest.mark.parametrize(
    "field, path, words",
    [
        ("meta", '[patient: "PatientDemographics/PatientID/text()/x"]', "nothing can follow `text()`"),
        ("meta", "[age: \"Waveform[WaveformType='Rhythm'/SampleBase\"]", "expected ']' to close"),
        ("leads", "\"Waveform[WaveformType='Rhythm']/LeadData/@id\"", "must select elements"),
        ("data", '"WaveFormData["', "predicate is"),
        ("scale_path", '"LeadAmplitudeUnitsPerBit/"', "ends with '/'"),
        ("fs_path", '"count()"', "not a supported function"),
        ("length_path", '"a]"', "unbalanced ']'"),
    ],
)
def test_a_malformed_path_is_a_located_error_at_check(tmp_path: Path, field: str, path: str, words: str):
    text = f'import "std/formats/ge_muse.ecg"\nformat bad extends ge_muse {{\n    {field} = {path}\n}}\n'
    diags = _diagnostics(tmp_path, text)
    hit = [d for d in diags if words in d.message]
    assert hit, [d.message for d in diags]
    assert hit[0].pos.line == 3, hit[0].pos


def test_malformed_formulas_and_unknown_leads_in_derive_are_located(tmp_path: Path):
    text = (
        'import "std/formats/ge_muse.ecg"\n'
        'format bad extends ge_muse {\n    derive = [III: "II - (I", aVR: "-(I + XX)/2"]\n}\n'
    )
    messages = [d.message for d in _diagnostics(tmp_path, text)]
    assert any("III: malformed formula: '(' is not closed" in m for m in messages), messages
    assert any("aVR: 'XX' is not a lead name" in m for m in messages), messages


def test_xml_family_settings_belong_to_xml_formats(tmp_path: Path):
    text = 'format c from csv {\n    fs = 500 Hz\n    length_path = "n"\n}\n'
    messages = [d.message for d in _diagnostics(tmp_path, text)]
    assert any("`length_path` is a setting of xml formats, not of csv" in m for m in messages), messages


def test_the_encoding_setting_names_exactly_the_codec_registry():
    args = typing.get_args(Format.model_fields["encoding"].annotation)
    assert set(args) == set(CODECS)


def test_every_shipped_xml_format_checks(tmp_path: Path):
    names = ("philips_sierra", "ge_muse_median", "hl7_aecg", "ge_muse")
    text = "".join(f'import "std/formats/{n}.ecg"\n' for n in names)
    program = check_text(tmp_path, text)
    assert program.ok, [d.message for d in program.diagnostics]
    assert {n for (k, n) in program.decls if k == "format"} >= set(names)
    assert STD.is_dir()
