"""Fixture writers for the XML family: Philips Sierra ECG (XLI), GE MUSE with a real Median
waveform, HL7 aECG with units and origins of the test's choosing, and a packed-leads export.

The XLI encoder here is written from the format that sierraecg's decoder reads (sierraecg/xli.py
and lzw.py): per lead, an 8-byte header (compressed size int32 LE, 2 unused bytes, int16 LE
`start`) and a 10-bit MSB-first LZW stream of the lead's second-difference values, high bytes
first then low bytes. The tests decode these files with sierraecg itself, the independent reader.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from ecgspec.leads import STANDARD_12

from .fixtures import MUSE_LEADS, Digital

# ---- Philips Sierra XLI ----------------------------------------------------------------------


def lzw_encode(data: bytes, bits: int = 10) -> bytes:
    max_code = (1 << bits) - 2
    table = {bytes([i]): i for i in range(256)}
    next_code = 256
    codes: list[int] = []
    w = b""
    for c in data:
        wc = w + bytes([c])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if next_code <= max_code:
            table[wc] = next_code
            next_code += 1
        w = bytes([c])
    if w:
        codes.append(table[w])
    out = bytearray()
    acc = nbits = 0
    for code in codes:
        acc = (acc << bits) | code
        nbits += bits
        while nbits >= 8:
            nbits -= 8
            out.append((acc >> nbits) & 0xFF)
        acc &= (1 << nbits) - 1
    if nbits:
        out.append((acc << (8 - nbits)) & 0xFF)
    return bytes(out)


def xli_chunk(samples: np.ndarray) -> bytes:
    s = [int(v) for v in samples]
    n = len(s)
    assert n >= 3
    raw = [s[0], s[1]] + [2 * s[i - 1] - s[i - 2] - s[i] + 64 for i in range(3, n)] + [0]
    start = 2 * s[1] - s[0] - s[2]
    vals = np.array(raw, dtype=np.int64)
    assert vals.min() >= -32768 and vals.max() <= 32767 and -32768 <= start <= 32767
    u = (vals & 0xFFFF).astype(np.uint16)
    payload = bytes((u >> 8).astype(np.uint8)) + bytes((u & 0xFF).astype(np.uint8))
    packed = lzw_encode(payload)
    header = len(packed).to_bytes(4, "little", signed=True) + b"\0\0" + start.to_bytes(2, "little", signed=True)
    return header + packed


def philips_residuals(d: Digital) -> dict[str, np.ndarray]:
    """What a Philips cart stores: I, II, V1–V6 as counts, III, aVR, aVL, aVF as residuals."""
    c = {k: v.astype(np.int64) for k, v in d.counts.items()}
    i, ii, iii = c["I"], c["II"], c["III"]
    stored = dict(c)
    stored["III"] = (ii - i) - iii
    stored["aVR"] = -np.floor_divide(i + ii, 2) - c["aVR"]
    stored["aVL"] = np.floor_divide(i - iii, 2) - c["aVL"]
    stored["aVF"] = np.floor_divide(ii + iii, 2) - c["aVF"]
    return stored


def write_philips(d: Digital, path: Path, patient: str = "PH1", drop_chunks: int = 0, version: str = "1.04") -> Path:
    """A Philips Sierra ECG XML with XLI-compressed parsedwaveforms; resolution 1000/gain µV."""
    stored = philips_residuals(d)
    data = b"".join(xli_chunk(stored[lead]) for lead in STANDARD_12[: len(STANDARD_12) - drop_chunks])
    n = len(d.counts["I"])
    duration = int(round(n * 1000 / d.fs))
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<restingecgdata xmlns="http://www3.medical.philips.com">'
        f"<documentinfo><documenttype>SierraECG</documenttype><documentversion>{version}</documentversion>"
        "</documentinfo>"
        f"<patient><generalpatientdata><patientid>{patient}</patientid><age><years>57</years></age>"
        "<sex>Female</sex></generalpatientdata></patient>"
        '<dataacquisition date="2020-01-02" time="10:00:00"><signalcharacteristics>'
        f"<samplingrate>{d.fs:g}</samplingrate><resolution>{1000.0 / d.gain:g}</resolution>"
        "<acquisitiontype>STD-12</acquisitiontype><numberchannelsallocated>12</numberchannelsallocated>"
        "</signalcharacteristics></dataacquisition>"
        f'<waveforms><parsedwaveforms durationperchannel="{duration}" dataencoding="Base64" '
        f'compressflag="True" compressmethod="XLI" numberofleads="12" leadlabels="{" ".join(STANDARD_12)}">'
        + base64.b64encode(data).decode()
        + "</parsedwaveforms></waveforms></restingecgdata>\n"
    )
    path.write_text(xml, encoding="utf-8")
    return path


# ---- GE MUSE with a Median waveform -----------------------------------------------------------

MEDIAN_SAMPLES = 600


def median_counts(d: Digital) -> dict[str, np.ndarray]:
    """A stand-in representative beat: 1.2 s of the record's own counts."""
    n = min(MEDIAN_SAMPLES, len(d.counts["I"]))
    return {lead: d.counts[lead][:n] for lead in MUSE_LEADS}


def write_muse_median(
    d: Digital, path: Path, stored: dict[str, np.ndarray] | None = None, count: int | None = None
) -> Path:
    """GE MUSE XML with a Median waveform (8 leads, LeadSampleCountTotal each) and a Rhythm one."""
    uv = 1000.0 / d.gain
    med = stored if stored is not None else median_counts(d)

    def leads(counts: dict[str, np.ndarray], said: int | None) -> str:
        return "".join(
            f"<LeadData><LeadByteCountTotal>{2 * len(counts[lead])}</LeadByteCountTotal>"
            f"<LeadSampleCountTotal>{said if said is not None else len(counts[lead])}</LeadSampleCountTotal>"
            f"<LeadAmplitudeUnitsPerBit>{uv:g}</LeadAmplitudeUnitsPerBit>"
            f"<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits><FirstSampleBaseline>0</FirstSampleBaseline>"
            f"<LeadID>{lead}</LeadID>"
            f"<WaveFormData>{base64.b64encode(np.asarray(counts[lead]).astype('<i2').tobytes()).decode()}"
            "</WaveFormData></LeadData>"
            for lead in MUSE_LEADS
        )

    rhythm = {lead: d.counts[lead] for lead in MUSE_LEADS}
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<RestingECG><PatientDemographics><PatientID>M1</PatientID>'
        "<PatientAge>64</PatientAge><Gender>FEMALE</Gender></PatientDemographics>"
        "<RestingECGMeasurements><VentricularRate>61</VentricularRate><PRInterval>150</PRInterval>"
        "<QRSDuration>90</QRSDuration><QTInterval>400</QTInterval><QTCorrected>402</QTCorrected>"
        "<PAxis>40</PAxis><RAxis>30</RAxis><TAxis>20</TAxis></RestingECGMeasurements>"
        f"<Waveform><WaveformType>Median</WaveformType><SampleBase>{d.fs:g}</SampleBase>{leads(med, count)}"
        f"</Waveform><Waveform><WaveformType>Rhythm</WaveformType><SampleBase>{d.fs:g}</SampleBase>"
        f"{leads(rhythm, None)}</Waveform></RestingECG>\n"
    )
    path.write_text(xml, encoding="iso-8859-1")
    return path


# ---- HL7 aECG with units and origins ----------------------------------------------------------


def write_hl7_units(
    d: Digital, path: Path, unit: str = "nV", origin_uv: float = 0.0, write_unit: str | None = None
) -> Path:
    """HL7 aECG whose <scale> is written in `unit` (its number chosen so that digits are the counts)
    and whose <origin> is `origin_uv` µV; `write_unit` overrides the unit attribute that is written."""
    per_uv = {"nV": 1000.0, "uV": 1.0, "mV": 0.001}[unit]
    scale = 1000.0 / d.gain * per_uv
    time = (
        '<component><sequence><code code="TIME_ABSOLUTE"/><value><head value="20200102100000.000"/>'
        f'<increment value="{1 / d.fs:g}" unit="s"/></value></sequence></component>'
    )
    seqs = [time]
    for lead in STANDARD_12:
        digits = " ".join(str(int(v)) for v in d.counts[lead])
        seqs.append(
            f'<component><sequence><code code="MDC_ECG_LEAD_{lead.upper()}"/><value>'
            f'<origin value="{origin_uv:g}" unit="uV"/><scale value="{scale!r}" unit="{write_unit or unit}"/>'
            f"<digits>{digits}</digits></value></sequence></component>"
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3"><id root="1"/>'
        '<effectiveTime><low value="20200102100000"/></effectiveTime>'
        "<component><series><component><sequenceSet>" + "".join(seqs) + "</sequenceSet></component></series>"
        "</component></AnnotatedECG>\n"
    )
    path.write_text(xml, encoding="utf-8")
    return path


# ---- every lead in one element ----------------------------------------------------------------

PACKED_SPEC = """
format packed_cart from xml {
    files           = "*.pk.xml"
    leads           = "/cart/ecg/block"
    lead_names_path = "@names"
    data            = "text()"
    encoding        = base64_int16
    packing         = %(packing)s
    scale           = 1 µV
    scale_path      = "../@lsb"
    fs_path         = "ecg/@hz"
    derive          = [III: "II - I", aVR: "-(I + II)/2", aVL: "I - II/2", aVF: "II - I/2"]
}
"""

PACKED_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def write_packed(d: Digital, path: Path, packing: str) -> Path:
    table = np.stack([d.counts[lead] for lead in PACKED_LEADS])
    flat = table.reshape(-1) if packing == "concatenated" else table.T.reshape(-1)
    path.write_text(
        f'<cart><ecg hz="{d.fs:g}" lsb="{1000.0 / d.gain:g}"><block names="{" ".join(PACKED_LEADS)}">'
        + base64.b64encode(flat.astype("<i2").tobytes()).decode()
        + "</block></ecg></cart>",
        encoding="utf-8",
    )
    return path
