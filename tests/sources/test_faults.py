"""Fault injection: corrupted variants of the real sample records, each reported with its file,
the record skipped, no traceback, and every valid record beside them read unchanged."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgspec.records import RecordError, read_wfdb
from ecgspec.sources import open_source
from tests.helpers import check_text

from .fixtures import CINC, PTBXL_RECORD, copy_record, samples, write_muse

BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;'
    '&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
    "<RestingECG>&lol3;</RestingECG>\n"
)
EXTERNAL = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<RestingECG>&x;</RestingECG>\n'
)


def _wfdb_faults(src: Path, dest: Path, name: str) -> list[tuple[str, str]]:
    """Corrupted copies of one WFDB record; (record name, what was done) for each."""
    out = []
    hea = src.with_suffix(".hea").read_text()
    sig = next(p for p in src.parent.glob(src.name + ".*") if p.suffix in (".dat", ".mat"))
    data = sig.read_bytes()
    for frac in (0.0, 0.25, 0.5, 0.9):  # truncated signal file
        rec = copy_record(src, dest, f"{name}_trunc{int(frac * 100)}")
        Path(str(rec) + sig.suffix).write_bytes(data[: int(len(data) * frac)])
        out.append((rec.name, "truncated"))
    rec = copy_record(src, dest, f"{name}_nsamp")  # the header promises more samples than the file holds
    head = rec.with_suffix(".hea")
    first, *rest = head.read_text().splitlines()
    parts = first.split()
    parts[3] = str(int(parts[3]) * 2)
    head.write_text("\n".join([" ".join(parts), *rest]) + "\n")
    out.append((rec.name, "header/data mismatch"))
    rec = copy_record(src, dest, f"{name}_nolead")  # a lead renamed away: V3 is missing
    head = rec.with_suffix(".hea")
    head.write_text(head.read_text().replace(" V3\n", " X9\n", 1))
    out.append((rec.name, "missing lead"))
    rec = copy_record(src, dest, f"{name}_nosig")  # the signal file is gone
    Path(str(rec) + sig.suffix).unlink()
    out.append((rec.name, "missing signal file"))
    rec = copy_record(src, dest, f"{name}_garbage")  # the header is not a header
    rec.with_suffix(".hea").write_text("this is not a WFDB header\n")
    out.append((rec.name, "garbage header"))
    rec = copy_record(src, dest, f"{name}_empty")
    rec.with_suffix(".hea").write_text("")
    out.append((rec.name, "empty header"))
    rec = copy_record(src, dest, f"{name}_dx")  # a code no mapping knows
    head = rec.with_suffix(".hea")
    text = head.read_text()
    head.write_text(text.replace("# Dx: ", "# Dx: 999999999,") if "# Dx:" in text else text + "# Dx: 999999999\n")
    out.append((rec.name, "unknown code"))
    assert hea  # the original is untouched
    return out


def test_over_a_hundred_corrupted_wfdb_variants_are_each_reported_and_the_valid_records_survive(tmp_path: Path):
    db = tmp_path / "db"
    originals = [PTBXL_RECORD, *CINC]
    faults: list[tuple[str, str]] = []
    for src in originals:
        copy_record(src, db)
        faults += _wfdb_faults(src, db, src.name)
    # NaN: a whole lead of invalid samples (WFDB's -32768 in format 16) is more than a lead can miss.
    for src in originals[:5]:
        rec = copy_record(src, db, f"{src.name}_nan")
        sig = next(p for p in db.glob(rec.name + ".*") if p.suffix in (".dat", ".mat"))
        raw = bytearray(sig.read_bytes())
        offset = 24 if sig.suffix == ".mat" else 0
        counts = np.frombuffer(bytes(raw[offset:]), dtype="<i2").copy().reshape(-1, 12)
        counts[:, 4] = -32768
        raw[offset:] = counts.tobytes()
        sig.write_bytes(bytes(raw))
        faults.append((rec.name, "NaN lead"))
    assert len(faults) >= 100
    spec = 'import "std/sources.ecg"\nsource broken from cinc {\n  root = "db"\n  labels = snomed\n}\n'
    program = check_text(tmp_path, spec)
    reader = open_source(program, "broken")
    read, failed = {}, {}
    for ref in reader.refs():
        try:
            read[ref.key] = reader.read(ref)
        except RecordError as exc:
            failed[ref.key] = exc
    skipped = {s.key: s for s in reader.skipped}
    for name, what in faults:
        assert name not in read, f"{name} ({what}) was read as if valid"
        assert name in failed or name in skipped, f"{name} ({what}) was lost without a report"
        where = failed[name].path if name in failed else skipped[name].path
        assert name in where, f"{name} ({what}): the message names {where}"
    assert {s.key for s in reader.skipped if "unknown code" in s.reason} >= {
        n for n, w in faults if w == "unknown code"
    }
    # Every valid original is read exactly as read_wfdb reads it alone.
    for src in originals:
        alone = read_wfdb(src)
        for lead, x in alone.signals.items():
            np.testing.assert_array_equal(read[src.name].signals[lead], x)
    assert len(read) == len(originals)


@pytest.mark.parametrize(
    "variant",
    [
        "truncated",
        "not_xml",
        "bomb",
        "external",
        "bad_base64",
        "odd_bytes",
        "no_rate",
        "no_leads",
        "empty",
        "bad_scale",
        "text_in_rate",
        "dup_lead",
    ],
)
def test_broken_xml_exports_are_reported_with_their_file_and_never_expanded(tmp_path: Path, variant: str):
    out = tmp_path / "exports"
    out.mkdir()
    d = samples()[1]
    good = write_muse(d, out / "good.xml")
    text = good.read_text(encoding="iso-8859-1")
    bad = out / "bad.xml"
    body = {
        "truncated": text[: len(text) // 2],
        "not_xml": "MUSE export failed\n",
        "bomb": BOMB,
        "external": EXTERNAL,
        "bad_base64": text.replace("<LeadID>II</LeadID><WaveFormData>", "<LeadID>II</LeadID><WaveFormData>!!"),
        "odd_bytes": re.sub(r"(<LeadID>II</LeadID><WaveFormData>)[^<]*", r"\1AAAA", text),  # 3 bytes
        "no_rate": text.replace("<SampleBase>500</SampleBase>", "", 2),
        "no_leads": text.replace("LeadData", "LeadDatum"),
        "empty": "",
        "bad_scale": text.replace(
            "<LeadAmplitudeUnitsPerBit>1</LeadAmplitudeUnitsPerBit>",
            "<LeadAmplitudeUnitsPerBit>-1</LeadAmplitudeUnitsPerBit>",
            1,
        ),
        "text_in_rate": text.replace(
            "<WaveformType>Rhythm</WaveformType><SampleBase>500</SampleBase>",
            "<WaveformType>Rhythm</WaveformType><SampleBase>fast</SampleBase>",
        ),
        "dup_lead": text.replace("<LeadID>V1</LeadID>", "<LeadID>V2</LeadID>"),
    }[variant]
    bad.write_text(body, encoding="iso-8859-1")
    program = check_text(tmp_path, 'import "std/formats/ge_muse.ecg"\nsource h from ge_muse {\n  root = "exports"\n}\n')
    reader = open_source(program, "h")
    refs = list(reader.refs())
    problems = [s.path for s in reader.skipped]
    for ref in refs:
        if ref.key == "bad":
            with pytest.raises(RecordError) as exc:
                reader.read(ref)
            problems.append(exc.value.path)
        else:
            assert reader.read(ref).n_samples == 5000
    assert any(p.endswith("bad.xml") for p in problems), variant
    assert [r.key for r in refs if r.key == "good"] == ["good"]
    if variant in ("bomb", "external"):
        assert "entities" in " ".join(s.reason for s in reader.skipped)


def test_broken_index_rows_are_skipped_and_counted(tmp_path: Path):
    src = PTBXL_RECORD.parents[1]
    db = tmp_path / "ptbxl"
    shutil.copytree(src, db)
    index = db / "ptbxl_database.csv"
    lines = index.read_text().splitlines()
    lines[2] = lines[2].replace("\"{'NORM': 80.0, 'SBRAD': 0.0}\"", '"{NORM: eighty}"')
    lines[3] = "3,not,enough,cells"
    lines[4] = "x" + lines[4]
    index.write_text("\n".join(lines) + "\n")
    program = check_text(tmp_path, 'import "std/sources.ecg"\n', defines=['ptbxl_root="ptbxl"'])
    reader = open_source(program, "ptbxl_text")
    refs = list(reader.refs())
    assert len(refs) == 521 - 3
    reasons = {s.key: s.reason for s in reader.skipped}
    assert "00002" in reasons and "scp_codes" in reasons["00002"]
    assert any("cells" in r for r in reasons.values()) and any("not a record number" in r for r in reasons.values())
    assert all(
        s.path.endswith(tuple(f"ptbxl_database.csv:{n}" for n in range(1, 600))) or "ptbxl_database.csv" in s.path
        for s in reader.skipped
    )
