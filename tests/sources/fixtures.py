"""Fixture writers: the real sample records written into each database's layout or export format.

Each writer takes records as ADC counts with their gain (what a device stored) and writes them
the way the database or the hospital system does, so that the readers are tested on files
that carry real ECG signal. Nothing here is part of ecgspec: tests write, ecgspec reads.
"""

from __future__ import annotations

import base64
import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from ecgspec.leads import STANDARD_12, canonical_lead

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
PTBXL_RECORD = SAMPLES / "ptbxl" / "records100" / "00001_lr"
CINC = sorted(p.with_suffix("") for p in (SAMPLES / "cinc2021").glob("*.hea"))


@dataclass
class Digital:
    """A real record as stored: ADC counts per lead (canonical names), gain (counts per mV), rate."""

    name: str
    fs: float
    counts: dict[str, np.ndarray]
    gain: float
    meta: dict

    def mv(self, lead: str) -> np.ndarray:
        return self.counts[lead] / self.gain


def digital(record: Path) -> Digital:
    rec = wfdb.rdrecord(str(record), physical=False)
    names = [canonical_lead(n) for n in rec.sig_name]
    gains = set(rec.adc_gain)
    assert len(gains) == 1 and set(rec.baseline) == {0}, "fixtures assume one gain and zero baselines"
    counts = {n: rec.d_signal[:, j].astype(np.int64) for j, n in enumerate(names) if n in STANDARD_12}
    return Digital(record.name, float(rec.fs), counts, float(gains.pop()), {"comments": rec.comments})


def samples() -> list[Digital]:
    """Every real 12-lead sample record with one gain: PTB-XL 00001 and the 14 CinC records."""
    return [digital(PTBXL_RECORD), *(digital(p) for p in CINC)]


def assert_adc_equal(
    read: dict[str, np.ndarray], d: Digital, leads: tuple[str, ...] = STANDARD_12, steps: float = 1.0
) -> None:
    """|read − original| ≤ one ADC step for every sample of every lead."""
    for lead in leads:
        x = np.asarray(read[lead])
        assert x.shape == d.counts[lead].shape, f"{d.name} {lead}: {x.shape} vs {d.counts[lead].shape}"
        err = float(np.max(np.abs(x - d.mv(lead))))
        assert err <= steps / d.gain + 1e-12, f"{d.name} {lead}: off by {err * d.gain:.2f} ADC steps"


# ---- hospital exports ----------------------------------------------------------------------

MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def write_muse(d: Digital, path: Path, patient: str = "P1", age: int = 60, sex: str = "MALE") -> Path:
    """GE MUSE XML: 8 leads, base64 little-endian int16, µV per bit."""
    uv_per_bit = 1000.0 / d.gain
    leads = "".join(
        f"<LeadData><LeadByteCountTotal>{2 * len(d.counts[lead])}</LeadByteCountTotal>"
        f"<LeadSampleCountTotal>{len(d.counts[lead])}</LeadSampleCountTotal>"
        f"<LeadAmplitudeUnitsPerBit>{uv_per_bit:g}</LeadAmplitudeUnitsPerBit>"
        f"<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits><LeadID>{lead}</LeadID>"
        f"<WaveFormData>{base64.b64encode(d.counts[lead].astype('<i2').tobytes()).decode()}</WaveFormData>"
        "</LeadData>"
        for lead in MUSE_LEADS
    )
    median = (
        "<Waveform><WaveformType>Median</WaveformType><SampleBase>500</SampleBase><LeadData><LeadID>I</LeadID>"
        "<LeadAmplitudeUnitsPerBit>4.88</LeadAmplitudeUnitsPerBit><WaveFormData>AAAAAA==</WaveFormData>"
        "</LeadData></Waveform>"
    )
    xml = (
        f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<RestingECG><MuseInfo><MuseVersion>9.0.9.18167'
        f"</MuseVersion></MuseInfo><PatientDemographics><PatientID>{patient}</PatientID><PatientAge>{age}"
        f"</PatientAge><AgeUnits>YEARS</AgeUnits><Gender>{sex}</Gender></PatientDemographics>"
        f"<TestDemographics><AcquisitionDate>01-02-2020</AcquisitionDate></TestDemographics>"
        "<RestingECGMeasurements><VentricularRate>72</VentricularRate><PRInterval>164</PRInterval>"
        "<QRSDuration>92</QRSDuration><QTInterval>388</QTInterval><QTCorrected>425</QTCorrected>"
        f"<PAxis>48</PAxis><RAxis>-12</RAxis><TAxis>35</TAxis></RestingECGMeasurements>{median}"
        f"<Waveform><WaveformType>Rhythm</WaveformType><SampleBase>{d.fs:g}</SampleBase>{leads}</Waveform>"
        "</RestingECG>\n"
    )
    path.write_text(xml, encoding="iso-8859-1")
    return path


def write_hl7(d: Digital, path: Path, patient: str = "S-001") -> Path:
    """HL7 aECG: a time sequence and one sequence per lead, digits as text, scale in µV."""
    uv = 1000.0 / d.gain
    time = (
        f'<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
        f'<value xsi:type="GLIST_TS"><head value="20200102100000.000"/><increment value="{1 / d.fs:g}" '
        f'unit="s"/></value></sequence></component>'
    )
    seqs = [time]
    for lead in STANDARD_12:
        code = "MDC_ECG_LEAD_" + lead.upper()
        digits = " ".join(str(int(v)) for v in d.counts[lead])
        seqs.append(
            f'<component><sequence><code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>'
            f'<value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="{uv:g}" unit="uV"/>'
            f"<digits>{digits}</digits></value></sequence></component>"
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><id root="1.2.3"/><code code="93000"/>'
        '<effectiveTime><low value="20200102100000"/></effectiveTime>'
        "<componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>"
        f'<id extension="{patient}"/></trialSubject></subject></subjectAssignment></componentOf>'
        '</timepointEvent></componentOf><component><series><code code="RHYTHM"/><component><sequenceSet>'
        + "".join(seqs)
        + "</sequenceSet></component></series></component></AnnotatedECG>\n"
    )
    path.write_text(xml, encoding="utf-8")
    return path


# A hospital format that exists only as a spec: leads are <channel> elements with the name in an
# attribute, comma-separated nanovolt... no: counts, with a per-channel `lsb` in µV and the rate in
# an attribute of the root. No Python in ecgspec knows it.
ACME_SPEC = """
format acme_cardio from xml {
    files      = "*.acme.xml"
    leads      = "recording/channels/channel"
    lead_name  = "@label"
    data       = "samples"
    encoding   = text
    scale      = 1 µV
    scale_path = "@lsb"
    fs_path    = "recording/@rate"
    meta       = [patient: "person/@mrn", age: "person/age", sex: "person/sex"]
    meta_types = [age: number]
}
"""


def write_acme(d: Digital, path: Path, mrn: str = "MRN1") -> Path:
    chans = "".join(
        f'<channel label="Lead {lead}" lsb="{1000.0 / d.gain:g}"><samples>'
        + ",".join(str(int(v)) for v in d.counts[lead])
        + "</samples></channel>"
        for lead in STANDARD_12
    )
    path.write_text(
        f'<acme version="2"><person mrn="{mrn}"><age>61</age><sex>F</sex></person>'
        f'<recording rate="{d.fs:g}"><channels>{chans}</channels></recording></acme>',
        encoding="utf-8",
    )
    return path


def write_csv(d: Digital, path: Path, delimiter: str = ",") -> Path:
    """One column per lead, values in µV (integers when the gain allows)."""
    uv = {lead: d.counts[lead] * (1000.0 / d.gain) for lead in STANDARD_12}
    with path.open("w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(STANDARD_12)
        for i in range(len(uv["I"])):
            w.writerow([f"{uv[lead][i]:g}" for lead in STANDARD_12])
    return path


def write_json(d: Digital, path: Path, patient: str = "J1") -> Path:
    doc = {
        "sampling_rate": d.fs,
        "patient": {"id": patient, "age": 50, "sex": "male"},
        "leads": [
            {"name": lead, "samples": [float(v) * 1000.0 / d.gain for v in d.counts[lead]]} for lead in STANDARD_12
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_dicom(d: Digital, path: Path, patient: str = "D1") -> Path:
    """A DICOM 12-lead ECG: interleaved int16, sensitivity 1000/gain µV per count."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG waveform storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientID = patient
    ds.PatientAge = "063Y"
    ds.PatientSex = "F"
    mx = Dataset()
    mx.MultiplexGroupTimeOffset = 0.0
    mx.WaveformOriginality = "ORIGINAL"
    mx.NumberOfWaveformChannels = 12
    mx.NumberOfWaveformSamples = len(d.counts["I"])
    mx.SamplingFrequency = d.fs
    mx.WaveformBitsAllocated = 16
    mx.WaveformSampleInterpretation = "SS"
    chans = []
    for lead in STANDARD_12:
        ch = Dataset()
        src = Dataset()
        src.CodeValue = "5.6.3-9-1"
        src.CodingSchemeDesignator = "SCPECG"
        src.CodeMeaning = f"Lead {lead}"
        ch.ChannelSourceSequence = [src]
        ch.ChannelSensitivity = f"{1000.0 / d.gain:g}"
        unit = Dataset()
        unit.CodeValue = "uV"
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = "microvolt"
        ch.ChannelSensitivityUnitsSequence = [unit]
        ch.ChannelSensitivityCorrectionFactor = "1"
        ch.ChannelBaseline = "0"
        ch.WaveformBitsStored = 16
        chans.append(ch)
    mx.ChannelDefinitionSequence = chans
    data = np.stack([d.counts[lead] for lead in STANDARD_12], axis=1).astype("<i2")
    mx.WaveformData = data.tobytes()
    ds.WaveformSequence = [mx]
    ds.save_as(str(path), enforce_file_format=True)
    return path


# ---- databases -----------------------------------------------------------------------------


def write_wfdb(d: Digital, folder: Path, name: str, comments: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sig = np.stack([d.counts[lead] for lead in STANDARD_12], axis=1).astype(np.int16)
    wfdb.wrsamp(
        name,
        fs=d.fs,
        units=["mV"] * 12,
        sig_name=list(STANDARD_12),
        d_signal=sig,
        fmt=["16"] * 12,
        adc_gain=[d.gain] * 12,
        baseline=[0] * 12,
        comments=comments or [],
        write_dir=str(folder),
    )
    return folder / name


def write_mimic(records: list[Digital], root: Path) -> list[tuple[str, str]]:
    """MIMIC-IV-ECG layout: files/pNNNN/pSUBJECT/sSTUDY/STUDY + record_list.csv + machine_measurements.csv.
    Returns (study_id, subject_id) per record, in the order written (not sorted)."""
    rows, meas, ids = [], [], []
    for i, d in enumerate(records):
        subject = str(10000032 + (i // 2) * 7)  # two studies per patient
        study = str(40689238 - i * 1111)  # descending: the index is not in key order
        rel = f"files/p{subject[:4]}/p{subject}/s{study}/{study}"
        write_wfdb(d, root / Path(rel).parent, study)
        rows.append([subject, study, f"{study}", "2180-07-23 08:44:00", rel])
        rr = 800 + 10 * i
        meas.append(
            [
                subject,
                study,
                "6848296",
                "2180-07-23 08:44:00",
                "Sinus rhythm",
                "Normal ECG",
                *[""] * 16,
                "0.5-150 Hz",
                "60 Hz notch",
                str(rr),
                "40",
                "128",
                "170",
                "264",
                "29999" if i == 0 else "570",
                "81",
                "77",
                "29999" if i == 1 else "55",
            ]
        )
        ids.append((study, subject))
    with (root / "record_list.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["subject_id", "study_id", "file_name", "ecg_time", "path"])
        w.writerows(rows)
    with (root / "machine_measurements.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "subject_id",
                "study_id",
                "cart_id",
                "ecg_time",
                *[f"report_{i}" for i in range(18)],
                "bandwidth",
                "filtering",
                "rr_interval",
                "p_onset",
                "p_end",
                "qrs_onset",
                "qrs_end",
                "t_end",
                "p_axis",
                "qrs_axis",
                "t_axis",
            ]
        )
        w.writerows(meas)
    return ids


def write_code15(records: list[Digital], root: Path, labels: list[dict[str, bool]]) -> list[int]:
    """CODE-15%: exams.csv + exams_part0/1.hdf5, 4096 samples zero-padded on both sides, mV."""
    import h5py

    root.mkdir(parents=True, exist_ok=True)
    ids = [1169160 + 37 * i for i in range(len(records))][::-1]  # written out of key order
    parts: dict[str, list[int]] = {"exams_part0.hdf5": [], "exams_part1.hdf5": []}
    for i in range(len(records)):
        parts["exams_part0.hdf5" if i % 2 == 0 else "exams_part1.hdf5"].append(i)
    for fname, idx in parts.items():
        tr = np.zeros((len(idx) + 1, 4096, 12), dtype=np.float32)  # CODE-15 ends each part with an empty row
        for row, i in enumerate(idx):
            d = records[i]
            n = min(4000, len(d.counts["I"]))
            pad = (4096 - n) // 2
            for j, lead in enumerate(STANDARD_12):
                tr[row, pad : pad + n, j] = d.mv(lead)[:n]
        with h5py.File(root / fname, "w") as f:
            f["exam_id"] = np.array([ids[i] for i in idx] + [0], dtype=np.int64)
            f["tracings"] = tr
    with (root / "exams.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "exam_id",
                "age",
                "is_male",
                "nn_predicted_age",
                "1dAVb",
                "RBBB",
                "LBBB",
                "SB",
                "ST",
                "AF",
                "patient_id",
                "death",
                "timey",
                "normal_ecg",
                "trace_file",
            ]
        )
        for i in range(len(records)):
            lab = labels[i]
            fname = "exams_part0.hdf5" if i % 2 == 0 else "exams_part1.hdf5"
            w.writerow(
                [
                    ids[i],
                    40 + i,
                    i % 2 == 0,
                    41.5,
                    *(lab.get(c, False) for c in ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF")),
                    500 + i // 2,
                    "",
                    "",
                    not any(lab.values()),
                    fname,
                ]
            )
    return ids


def copy_record(record: Path, dest: Path, name: str | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in record.parent.glob(record.name + ".*"):
        target = dest / ((name + f.suffix) if name else f.name)
        shutil.copyfile(f, target)
        if name and f.suffix == ".hea":
            text = target.read_text().replace(record.name, name)
            target.write_text(text)
    return dest / (name or record.name)
