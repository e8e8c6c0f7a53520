"""Checking a declaration end to end: `sources --decode`, `render SPEC:SOURCE/RECORD`,
`preview SPEC SOURCE` and `build --strict`, on a WFDB folder of the shipped samples and on GE
MUSE exports the fixtures write from real records."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecgspec.cli import main
from ecgspec.leads import STANDARD_12
from ecgspec.records import read_wfdb

from .fixtures import CINC, PTBXL_RECORD, REPO, Digital, digital, write_muse

SAMPLES = REPO / "data" / "samples"


def _wfdb_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "s.ecg"
    spec.write_text(f'source cinc from wfdb {{\n    root = "{SAMPLES / "cinc2021"}"\n}}\n', encoding="utf-8")
    return spec


def _with(d: Digital, name: str, lead: str, change) -> Digital:
    counts = {k: v.copy() for k, v in d.counts.items()}
    change(counts[lead])
    return replace(d, name=name, counts=counts)


@pytest.fixture
def muse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Digital]:
    """tmp_path/{m.ecg, exports/*.xml}: GE MUSE exports of real records, some of them changed in one
    lead — clipped, beyond 5 mV, beyond 20 mV (implausible)."""
    base = digital(CINC[0])
    assert base.gain == 1000.0  # counts per mV: the changes below are in µV
    records = {
        "a_clean": replace(base, name="a_clean"),
        "b_ptbxl": replace(digital(PTBXL_RECORD), name="b_ptbxl"),
        "c_clipped": _with(base, "c_clipped", "V1", lambda x: np.clip(x, -150, 150, out=x)),
        "d_tall": _with(base, "d_tall", "V2", lambda x: x.__setitem__(slice(1000, 1003), 8000)),
        "e_huge": _with(base, "e_huge", "V3", lambda x: x.__setitem__(slice(1000, 1050), 25000)),
    }
    exports = tmp_path / "exports"
    exports.mkdir()
    for d in records.values():
        write_muse(d, exports / f"{d.name}.xml")
    (tmp_path / "m.ecg").write_text(
        'import "std/formats/ge_muse.ecg"\n\nsource hospital from ge_muse {\n    root = "exports"\n}\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return records


# ---- sources --decode -------------------------------------------------------------------------


def test_decode_a_wfdb_folder_describes_every_lead_as_the_file_holds_it(tmp_path: Path, capsys, monkeypatch):
    spec = _wfdb_spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["sources", str(spec), "cinc", "--decode", "2", "--data-root", str(SAMPLES)]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)["sources"][0]
    assert [r["key"] for r in result["decoded"]] == ["HR06000", "HR06001"]
    for r in result["decoded"]:
        want = read_wfdb(SAMPLES / "cinc2021" / r["key"])
        assert r["verdict"] == "ok" and r["reason"] is None and r["fs"] == want.fs == 500.0
        assert list(r["leads"]) == list(STANDARD_12) and r["missing_leads"] == []
        for lead, s in r["leads"].items():
            x = want.signals[lead]
            assert s["samples"] == x.size == r["samples"] and s["fs"] == 500.0
            assert s["min_mv"] == pytest.approx(x.min(), abs=1e-4) and s["max_mv"] == pytest.approx(x.max(), abs=1e-4)
            assert s["mean_mv"] == pytest.approx(x.mean(), abs=1e-4)
            assert s["flags"] == [] and s["nan_share"] == 0.0 and not s["flat"]

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "source cinc from wfdb: 2 records decoded" in out
    assert "record HR06000" in out and "5000 samples at 500 Hz (10 s)" in out
    assert "min mV" in out and "max mV" in out and "mean mV" in out
    assert out.count("verdict ok") == 2
    row = next(line for line in out.splitlines() if line.strip().startswith("V6 "))
    assert row.split()[:3] == ["V6", "5000", "500"]


def test_decode_a_format_source_flags_clipping_tall_waves_and_implausible_records(muse: dict[str, Digital], capsys):
    assert main(["sources", "m.ecg", "hospital", "--decode", "5", "--json"]) == 0
    decoded = {r["key"]: r for r in json.loads(capsys.readouterr().out)["sources"][0]["decoded"]}
    assert list(decoded) == sorted(muse)
    for key, r in decoded.items():
        d = muse[key]
        assert r["fs"] == d.fs and list(r["leads"]) == list(STANDARD_12)  # III, aVR… derived from I and II
        for lead in ("I", "II", "V4"):
            assert r["leads"][lead]["min_mv"] == pytest.approx(d.mv(lead).min(), abs=1e-3)
            assert r["leads"][lead]["max_mv"] == pytest.approx(d.mv(lead).max(), abs=1e-3)
    assert decoded["a_clean"]["verdict"] == "ok" and decoded["b_ptbxl"]["verdict"] == "ok"
    assert decoded["b_ptbxl"]["fs"] == 100.0 and decoded["b_ptbxl"]["samples"] == 1000
    clipped = decoded["c_clipped"]["leads"]["V1"]
    assert clipped["clipped_run"] >= 10 and any(f.startswith("clipped") for f in clipped["flags"])
    assert decoded["c_clipped"]["verdict"] == "ok"
    tall = decoded["d_tall"]["leads"]["V2"]
    assert tall["beyond_5mv"] == 3 and tall["max_mv"] == pytest.approx(8.0) and decoded["d_tall"]["verdict"] == "ok"
    huge = decoded["e_huge"]
    assert huge["verdict"] == "implausible" and "lead V3" in huge["reason"] and "20 mV" in huge["reason"]

    assert main(["sources", "m.ecg", "hospital", "--decode", "5"]) == 0
    out = capsys.readouterr().out
    assert "source hospital from ge_muse: 5 records decoded" in out
    assert "clipped: " in out and "beyond ±5 mV: 3 samples" in out
    assert "verdict implausible: lead V3 is beyond ±20 mV" in out
    assert main(["sources", "m.ecg", "hospital", "--decode", "5", "--strict"]) == 1  # one is implausible
    capsys.readouterr()
    assert main(["sources", "m.ecg", "hospital", "--decode", "2", "--strict"]) == 0


def test_decode_reports_a_record_that_cannot_be_read_and_misuse_exits_2(muse, capsys):
    bad = Path("exports") / "a_clean.xml"
    bad.write_text(bad.read_text(encoding="iso-8859-1").replace("<WaveFormData>", "<WaveFormData>!!"), "iso-8859-1")
    (Path("exports") / "z_cut.xml").write_text("<RestingECG><Waveform>", encoding="utf-8")
    assert main(["sources", "m.ecg", "hospital", "--decode", "1"]) == 0
    out = capsys.readouterr().out
    assert "record a_clean  " in out and "verdict broken: " in out and "a_clean.xml: lead I: " in out
    assert main(["sources", "m.ecg", "hospital", "--decode", "9"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1 while listing" in out and "z_cut.xml: z_cut: malformed XML" in out
    assert main(["sources", "m.ecg", "hospital", "--decode", "1", "--strict"]) == 1
    capsys.readouterr()
    assert _exit(["sources", "m.ecg", "hospital", "--decode", "0"]) == 2
    assert "--decode must be at least 1" in capsys.readouterr().err


# ---- render SPEC:SOURCE/RECORD -----------------------------------------------------------------


def test_render_a_record_of_a_format_source_by_its_key(muse, capsys):
    assert main(["sources", "m.ecg", "hospital", "--decode", "2", "--json"]) == 0
    decoded = json.loads(capsys.readouterr().out)["sources"][0]["decoded"][1]
    assert decoded["key"] == "b_ptbxl"
    assert main(["render", "m.ecg:hospital/b_ptbxl", "--dpi", "60", "-o", "x.png"]) == 0
    assert "record hospital:b_ptbxl" in capsys.readouterr().err
    sidecar = json.loads(Path("x.json").read_text())
    assert sidecar["record"] == {"source": "hospital:b_ptbxl", "id": "b_ptbxl", "fs": decoded["fs"], "synthetic": False}
    assert {lead["name"] for lead in sidecar["leads"]} == set(decoded["leads"])
    for lead in sidecar["leads"]:
        if lead["rhythm"]:  # the full-length strip spans the record: the decoded length
            assert lead["t1"] - lead["t0"] == pytest.approx(decoded["seconds"], abs=0.05)
    with Image.open("x.png") as im:
        assert im.size == (sidecar["image"]["width"], sidecar["image"]["height"])


def test_render_a_record_of_a_wfdb_folder_source_matches_rendering_its_path(tmp_path: Path, monkeypatch):
    spec = _wfdb_spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    common = ["--dpi", "60", "--data-root", str(SAMPLES)]
    assert main(["render", f"{spec}:cinc/JS20000", *common, "-o", "a.png"]) == 0
    assert main(["render", str(SAMPLES / "cinc2021" / "JS20000"), *common, "-o", "b.png"]) == 0
    a, b = json.loads(Path("a.json").read_text()), json.loads(Path("b.json").read_text())
    assert a["leads"] == b["leads"] and a["image"] == b["image"]
    assert np.array_equal(np.asarray(Image.open("a.png")), np.asarray(Image.open("b.png")))


@pytest.mark.parametrize(
    ("target", "code", "words"),
    [
        ("m.ecg:hospitl/a_clean", 2, ["declares no source named 'hospitl'", "did you mean 'hospital'?"]),
        ("m.ecg:nothing_like_it/a", 2, ["declares no source named 'nothing_like_it'", "its sources: hospital"]),
        ("m.ecg:hospital/zzz", 2, ["source 'hospital' has no record 'zzz'", "a_clean, b_ptbxl, c_clipped"]),
        ("m.ecg:hospital/a_clen", 2, ["has no record 'a_clen'", "did you mean 'a_clean'?"]),
        ("m.ecg:hospital", 2, ["give SPEC:SOURCE/RECORD"]),
        ("nope.ecg:hospital/a", 2, ["no such spec file: nope.ecg"]),
        ("m.ecg:hospital/e_huge", 1, ["e_huge.xml", "implausible record: lead V3"]),
    ],
)
def test_render_errors_are_worded(muse, capsys, target: str, code: int, words: list[str]):
    assert _exit(["render", target, "-o", "x.png"]) == code
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert "Traceback" not in err and not Path("x.png").exists()


def _exit(argv: list[str]) -> int:
    """The exit status, whether the command returns it or argparse exits with it (misuse)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


# ---- preview SPEC SOURCE ------------------------------------------------------------------------


def test_preview_a_source_tiles_its_records_and_marks_the_broken_ones(muse, capsys):
    assert main(["preview", "m.ecg", "hospital", "-n", "5", "--width", "200", "--dpi", "40", "-o", "sheet.png"]) == 0
    err = capsys.readouterr().err
    assert "wrote sheet.png: 5 records of source hospital, layout 4x3, paper standard" in err
    assert "1 could not be read or drawn" in err  # e_huge: implausible
    with Image.open("sheet.png") as im:
        assert im.size[0] > 3 * 200 and im.size[1] > 2 * 100  # 3 columns, 2 rows
    assert main(["preview", "m.ecg", "hospitl", "-o", "x.png"]) == 1
    assert "did you mean 'hospital'?" in capsys.readouterr().err


# ---- build --strict ------------------------------------------------------------------------------

STRICT_SPEC = """
import "std/layouts.ecg"
import "std/papers.ecg"

source cinc from wfdb {
    root = "db"
}

task rate_open {
    family   = basic
    form     = open
    template = "instruct/basic/rate_open.j2"
    answer   = record.heart_rate
}

corpus mini {
    from cinc
    layout    = "4x3"
    tasks     = [rate_open]
    dpi       = 40 dpi
    distorted = 0%
}
"""


def _workspace(root: Path, broken: bool) -> Path:
    shutil.copytree(REPO / "templates" / "instruct", root / "templates" / "instruct")
    db = root / "db"
    db.mkdir()
    for name in ("HR06000", "HR06001"):
        for f in (SAMPLES / "cinc2021").glob(name + ".*"):
            shutil.copy(f, db / f.name)
    if broken:
        mat = db / "HR06001.mat"
        mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 3])
    (root / "mini.ecg").write_text(STRICT_SPEC, encoding="utf-8")
    return root


@pytest.mark.parametrize("broken", [False, True], ids=["clean", "truncated"])
def test_build_strict_fails_on_a_broken_record_after_building(tmp_path: Path, capsys, monkeypatch, broken: bool):
    monkeypatch.chdir(_workspace(tmp_path, broken))
    code = main(["build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1", "--strict"])
    captured = capsys.readouterr()
    report = json.loads(Path("out/build.json").read_text())["corpora"]["mini"]
    if not broken:
        assert code == 0 and report["failed"] == [] and report["skipped"] == {}
        assert "--strict" not in captured.err
        return
    assert code == 1 and "Traceback" not in captured.err
    assert [f["record"] for f in report["failed"]] == ["HR06001"] and report["items"] == 1  # still built
    assert "--strict: 1 record skipped or broken (mini: broken record 1)" in captured.err
    assert "cinc:HR06001: " in captured.err and "HR06001" in captured.err
    # without --strict the same build is a success that reports the broken record
    assert main(["build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1"]) == 0
