"""Records whose files say nonsense: a malformed header is named, never quoted; a sampling rate
that is not a positive number is refused before wfdb defaults it; samples that cannot be an ECG
in millivolts are refused with their reason, and the other records of the source still build.

Every bad record here is a copy of a real PhysioNet record shipped in data/samples/, changed in
one place.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgspec.cli import main
from ecgspec.leads import STANDARD_12
from ecgspec.records import RecordError, implausible, read_wfdb
from ecgspec.sources import open_source
from tests.build.conftest import MINI
from tests.helpers import REPO, check_text

CINC = REPO / "data" / "samples" / "cinc2021"
PTBXL = REPO / "data" / "samples" / "ptbxl" / "records100" / "00001_lr"
MARKER = "MARKER-c0ffee-NOT-FOR-MESSAGES"


def _copy(src: Path, dest: Path, name: str | None = None) -> Path:
    """A copy of a WFDB record under `name` (header and signal files renamed to match)."""
    dest.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    for f in src.parent.glob(src.name + ".*"):
        text_or_bytes = f.read_bytes()
        if f.suffix == ".hea":
            text = text_or_bytes.decode().replace(src.name, name)
            (dest / (name + ".hea")).write_text(text)
        else:
            (dest / (name + f.suffix)).write_bytes(text_or_bytes)
    return dest / name


def _edit_header(record: Path, old: str, new: str, count: int = 1) -> None:
    hea = record.with_suffix(".hea")
    text = hea.read_text()
    assert old in text
    hea.write_text(text.replace(old, new, count))


# ---- (c) a malformed header is named, never quoted --------------------------------------------

MALFORMED = {
    "garbage": f"{MARKER} is not a header at all\n",
    "record_line": f"HR06000 twelve {MARKER} 5000\n",
    "signal_line": None,  # the record line, then a signal line of nonsense (written below)
    "rate_field": None,  # the record line's rate field holds the marker
    "date_field": None,  # the record line's date field holds the marker
    "binary": None,
}


@pytest.mark.parametrize("variant", sorted(MALFORMED))
def test_a_malformed_header_is_named_and_its_content_never_quoted(
    tmp_path: Path, variant: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "db"
    rec = _copy(CINC / "HR06000", db)
    _copy(CINC / "HR06001", db)
    hea = rec.with_suffix(".hea")
    lines = hea.read_text().splitlines()
    body = {
        "signal_line": "\n".join([lines[0], f"{MARKER} 16 200 bad {MARKER}", *lines[2:]]) + "\n",
        "rate_field": "\n".join([lines[0].replace(" 500 ", f" 500/{MARKER} "), *lines[1:]]) + "\n",
        "date_field": "\n".join([lines[0] + f" 10:00:00 01/01/{MARKER}", *lines[1:]]) + "\n",
    }.get(variant, MALFORMED[variant])
    if variant == "binary":
        hea.write_bytes(b"\x00\x01" + MARKER.encode() + b"\xff\xfe\n")
    else:
        assert body is not None
        hea.write_text(body)

    # Read alone (the 12 leads, as a source reads it): the error names the record, and says nothing
    # of what is in the header.
    with pytest.raises(RecordError) as exc:
        read_wfdb(rec, leads=STANDARD_12)
    assert "HR06000" in exc.value.path and MARKER not in str(exc.value)

    # Through a source: skipped while listing or failed when read, named, never quoted.
    program = check_text(tmp_path, 'source s from wfdb {\n  root = "db"\n}\n')
    reader = open_source(program, "s")
    problems: list[str] = []
    read = []
    for ref in reader.refs():
        try:
            read.append(reader.read(ref).id)
        except RecordError as err:
            problems.append(str(err))
    problems += [str(s) for s in reader.skipped]
    assert read == ["HR06001"]
    assert any("HR06000.hea" in p or "HR06000" in p for p in problems)
    assert all(MARKER not in p for p in problems)

    monkeypatch.chdir(tmp_path)
    main(["sources", "spec.ecg", "--json"])
    out, err = capsys.readouterr()
    assert MARKER not in out + err and "HR06000" in out


# ---- (d) a sampling rate that is not a positive number ----------------------------------------


@pytest.mark.parametrize("rate", ["-500", "0", "nan", "inf", "-inf", "1e3"])
def test_a_sampling_rate_that_is_not_a_positive_number_is_refused_with_a_reason(tmp_path: Path, rate: str) -> None:
    db = tmp_path / "db"
    rec = _copy(CINC / "HR06000", db, "bad")
    _edit_header(rec, "bad 12 500 5000", f"bad 12 {rate} 5000")
    _copy(CINC / "HR06001", db)

    # wfdb alone reads -500, nan and inf as 250 Hz and 1e3 as 1 Hz: the field is read first.
    with pytest.raises(RecordError, match="sampling rate") as exc:
        read_wfdb(rec)
    assert exc.value.path.endswith("bad.hea")

    # A folder source skips it while listing; an index source refuses it when reading.
    program = check_text(tmp_path, 'source s from wfdb {\n  root = "db"\n}\n')
    reader = open_source(program, "s")
    refs = list(reader.refs())
    assert [r.key for r in refs] == ["HR06001"]
    (skip,) = reader.skipped
    assert skip.key == "bad" and "sampling rate" in skip.reason and skip.path.endswith("bad.hea")

    (tmp_path / "db" / "index.csv").write_text("id,file\nbad,bad\nHR06001,HR06001\n")
    program = check_text(
        tmp_path, 'source t from table {\n  root = "db"\n  index = "index.csv"\n  key = "id"\n  file = "file"\n}\n'
    )
    reader = open_source(program, "t")
    outcome = {}
    for ref in reader.refs():
        try:
            outcome[ref.key] = reader.read(ref).fs
        except RecordError as err:
            outcome[ref.key] = str(err)
    assert outcome["HR06001"] == 500.0
    assert isinstance(outcome["bad"], str) and "sampling rate" in outcome["bad"]


def test_a_header_without_a_rate_keeps_the_wfdb_default(tmp_path: Path) -> None:
    rec = _copy(PTBXL, tmp_path)
    _edit_header(rec, "00001_lr 12 100 1000", "00001_lr 12")
    # No rate at all is WFDB's documented default of 250 Hz; the sample count is then not checked.
    assert read_wfdb(rec).fs == 250.0


# ---- (e) samples that cannot be an ECG in millivolts ------------------------------------------


def _nan_lead(record: Path, lead: int) -> None:
    """Every sample of one lead set to format 16's invalid-sample marker (NaN once read)."""
    mat = record.with_suffix(".mat")
    raw = bytearray(mat.read_bytes())
    counts = np.frombuffer(bytes(raw[24:]), dtype="<i2").copy().reshape(-1, 12)  # samples × leads
    counts[:, lead] = -32768
    raw[24:] = counts.tobytes()
    mat.write_bytes(bytes(raw))


def test_implausible_samples_are_refused_with_a_reason_and_the_rest_still_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(REPO / "templates" / "instruct", ws / "templates" / "instruct")
    db = ws / "data" / "cinc2021"
    for name in ("HR06000", "HR06001", "JS20000"):
        _copy(CINC / name, db)
    huge = _copy(CINC / "HR06002", db)  # lead I's gain 1e-297 ADC units per mV: samples of ±1e300 mV
    _edit_header(huge, "HR06002.mat 16x1+24 1000.0(0)/mv", "HR06002.mat 16x1+24 1e-297(0)/mv")
    gained = _copy(CINC / "HR06003", db)  # every lead 100 times too large: up to ~200 mV
    _edit_header(gained, "1000.0(0)/mv", "10.0(0)/mv", count=12)
    nan = _copy(CINC / "HR06004", db)  # lead V2: no valid sample at all
    _nan_lead(nan, 7)
    (ws / "mini.ecg").write_text(MINI, encoding="utf-8")

    monkeypatch.chdir(ws)
    assert main(["build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1"]) == 0
    stdout = capsys.readouterr().out
    report = json.loads((ws / "out" / "build.json").read_text())["corpora"]["mini"]
    failed = {f["record"]: f["reason"] for f in report["failed"]}
    assert set(failed) == {"HR06002", "HR06003", "HR06004"}, failed
    assert "implausible" in failed["HR06002"] and "lead I" in failed["HR06002"]
    assert "implausible" in failed["HR06003"] and "20 mV" in failed["HR06003"]
    assert "V2" in failed["HR06004"] and "missing" in failed["HR06004"]
    assert all(name in reason for name, reason in failed.items())
    manifest = json.loads((ws / "out" / "manifests" / "mini.json").read_text())
    assert {item["id"].split("-")[1] for item in manifest} == {"HR06000", "HR06001", "JS20000"}
    assert not list((ws / "out" / "images").rglob("HR0600[234]*"))
    assert "HR06002" in stdout


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda x: x.__setitem__((slice(100, 200), 0), 1e300), "reaches"),
        (lambda x: x.__setitem__((slice(0, 1), 3), -1e300), "reaches"),
        (lambda x: x.__setitem__((slice(100, 200), 1), 50.0), "beyond"),
        (lambda x: x.__setitem__((slice(10, 12), 5), np.inf), "infinite"),
        (lambda x: x.__setitem__((slice(None), 2), np.nan), "missing"),
    ],
    ids=["1e300", "one_sample", "50mV", "inf", "nan_lead"],
)
def test_every_reader_refuses_implausible_samples(tmp_path: Path, change, reason: str) -> None:
    """The same check for a reader that is not WFDB: a table source of NumPy arrays in mV."""
    good = read_wfdb(CINC / "HR06000")
    x = np.stack([good.signals[k] for k in good.signals], axis=1)
    db = tmp_path / "db"
    db.mkdir()
    np.save(db / "good.npy", x)
    bad = x.copy()
    change(bad)
    np.save(db / "bad.npy", bad)
    (db / "index.csv").write_text("id,file\nbad,bad.npy\ngood,good.npy\n")
    program = check_text(
        tmp_path,
        'source t from table {\n  root = "db"\n  index = "index.csv"\n  key = "id"\n  file = "file"\n'
        "  sample_rate = 500 Hz\n}\n",
    )
    reader = open_source(program, "t")
    refs = {r.key: r for r in reader.refs()}
    assert reader.read(refs["good"]).n_samples == 5000
    with pytest.raises(RecordError, match=reason) as exc:
        reader.read(refs["bad"])
    assert exc.value.path.endswith("bad.npy")


def test_the_shipped_records_are_all_plausible() -> None:
    for hea in sorted((REPO / "data" / "samples").rglob("*.hea")):
        rec = read_wfdb(hea.with_suffix(""))
        assert implausible(rec.signals, rec.fs) is None, hea.name
