"""A corpus's `window`: which part of a record longer than a page each image shows. The pages
start where the window does, the sidecar's times stay those of the source record, `all` makes one
item per whole window, `random` draws a start per item reproducibly, a short record falls back,
and a corpus that sets nothing is the same, byte for byte."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ecgspec.build.work_items import page_seconds, window_count
from ecgspec.cli import main
from ecgspec.program import load
from ecgspec.records import read_wfdb
from ecgspec.render.digitise import digitise
from ecgspec.render.sidecar import Sidecar

from .conftest import REPO, tree_bytes

# data/samples/ptbdb/s0010_re: 38400 samples at 1000 Hz; every CinC 2021 sample is 10 s.
PTBDB_SECONDS = 38.4
PAGE = 10.0  # layout 4x3: four 2.5 s columns, and a rhythm strip as long as a row

SPEC = """
import "std/layouts.ecg"
import "std/papers.ecg"

source ptbdb from wfdb {
    root = "data/ptbdb"
}

source cinc from wfdb {
    root    = "data/cinc2021"
    records = "HR06000"
}

task rate_open {
    family   = basic
    form     = open
    template = "instruct/basic/rate_open.j2"
    answer   = record.heart_rate
}

corpus long {
    from SOURCE
    layout    = "4x3"
    tasks     = [rate_open]
    distorted = 0%
SETTINGS
}
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """tmp_path/{templates/, data/ptbdb/, data/cinc2021/}: a spec root; `spec()` writes its spec."""
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    shutil.copytree(REPO / "data" / "samples" / "ptbdb", tmp_path / "data" / "ptbdb")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    return tmp_path


def spec(ws: Path, settings: str, source: str = "ptbdb", dpi: int = 60) -> None:
    lines = "\n".join(f"    {line.strip()}" for line in [f"dpi = {dpi} dpi", *settings.strip().splitlines()])
    text = SPEC.replace("SOURCE", source).replace("SETTINGS", lines)
    (ws / "w.ecg").write_text(text, encoding="utf-8")


def run(ws: Path, *args: str) -> int:
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        return main([*args[:1], "w.ecg", *args[1:]])
    finally:
        os.chdir(cwd)


def build(ws: Path, out: str = "out", *args: str) -> Path:
    assert run(ws, "build", "-o", out, "--no-progress", *args) == 0
    return ws / out


def results(out: Path) -> dict[str, dict]:
    """Item id → its stored result (OUT/.work)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / ".work" / "long").glob("*.json"))}


def sidecar(out: Path, result: dict) -> dict:
    return json.loads((out / "images" / result["image"]).with_suffix(".json").read_text())


def lead(side: dict, name: str, rhythm: bool = False) -> dict:
    return next(x for x in side["leads"] if x["name"] == name and x["rhythm"] == rhythm)


def test_a_page_is_as_long_as_its_layout_draws(ws: Path) -> None:
    (ws / "l.ecg").write_text(
        'import "std/layouts.ecg"\n'
        'layout sim extends "4x3" { windows = simultaneous\n rhythm = [] }\n'
        'layout strip extends "4x3" { rhythm_duration = 12 s }\n',
        encoding="utf-8",
    )
    program = load([ws / "l.ecg"])
    assert page_seconds(program.get("layout", "4x3")) == PAGE
    assert page_seconds(program.get("layout", "12x1")) == PAGE
    assert page_seconds(program.get("layout", "sim")) == 2.5  # every column shows the same seconds
    assert page_seconds(program.get("layout", "strip")) == 12.0
    assert [window_count(0.0, PAGE, s) for s in (38.4, 30.0, 10.0, 9.0, None)] == [3, 3, 1, 1, 1]


def test_first_window_from_zero_is_byte_identical_to_no_window_setting(workspace: Path) -> None:
    """The build fixture's corpus, as it is and with the defaults written out: the same ids,
    hashes, images and results."""
    cwd = Path.cwd()
    os.chdir(workspace)
    try:
        assert main(["build", "mini.ecg", "-o", "plain", "--no-progress", "-j", "2"]) == 0
        text = (workspace / "mini.ecg").read_text(encoding="utf-8")
        explicit = text.replace(
            "    seed      = 5\n", "    seed      = 5\n    window = first\n    window_start = 0 s\n"
        )
        assert explicit != text
        (workspace / "mini.ecg").write_text(explicit, encoding="utf-8")
        assert main(["build", "mini.ecg", "-o", "explicit", "--no-progress", "-j", "2"]) == 0
    finally:
        os.chdir(cwd)
    plain, written = (tree_bytes(workspace / d, skip=("build.json",)) for d in ("plain", "explicit"))
    assert len(plain) > 20 and plain == written
    assert not any(p.rsplit("/", 1)[-1].count("_w") for p in plain)  # no window suffix
    b1, b2 = (json.loads((workspace / d / "build.json").read_text()) for d in ("plain", "explicit"))
    assert b1["corpora"] == b2["corpora"]


def test_window_start_draws_the_samples_from_that_time(ws: Path) -> None:
    spec(ws, "window_start = 12 s", dpi=200)
    out = build(ws)
    (result,) = results(out).values()
    assert result["status"] == "ok" and result["render"]["window_start"] == 12.0
    side = sidecar(out, result)
    assert [(x["name"], x["t0"]) for x in side["leads"] if x["name"] in ("I", "aVR", "V1", "V4")] == [
        ("I", 12.0),
        ("aVR", 14.5),
        ("V1", 17.0),
        ("V4", 19.5),
    ]
    strip = lead(side, "II", rhythm=True)
    assert strip["t0"] == 12.0 and strip["t1"] == pytest.approx(22.0, abs=2e-3)
    prompts = [json.loads(line) for line in (out / "prompts" / "long.jsonl").read_text().splitlines()]
    assert prompts and all(p["provenance"]["window_start"] == 12.0 for p in prompts)

    # What is drawn is the record from 12 s on: read back from the pixels, it follows the record's
    # samples at the sidecar's times, and not those of the record's first seconds.
    import cv2

    image = cv2.cvtColor(cv2.imread(str(out / "images" / result["image"])), cv2.COLOR_BGR2RGB)
    rec = read_wfdb(ws / "data" / "ptbdb" / "s0010_re")
    for trace in digitise(image, Sidecar.model_validate(side)):
        keep = np.isfinite(trace.v) & ~trace.ambiguous
        assert keep.mean() > 0.8, trace.lead.name
        x = rec.signals[trace.lead.name]
        times = np.arange(len(x)) / rec.fs
        here = np.interp(trace.t[keep], times, x)
        first = np.interp(trace.t[keep] - 12.0, times, x)
        v = trace.v[keep]
        assert np.corrcoef(v, here)[0, 1] > 0.9, trace.lead.name
        assert np.median(np.abs(v - here)) < 0.05, trace.lead.name
        assert np.corrcoef(v, first)[0, 1] < 0.6, trace.lead.name


def test_all_makes_one_item_per_whole_window_of_each_variant(ws: Path) -> None:
    spec(ws, "window = all\nwindow_start = 5 s\nvariants = 2")
    out = build(ws, "out", "-j", "2")
    done = results(out)
    # 38.4 s from 5 s: three whole 10 s windows (5, 15, 25); the last 3.4 s are not a page.
    assert sorted(done) == [f"ptbdb-s0010_re-v{v}-w{k}" for v in (0, 1) for k in (0, 1, 2)]
    for item_id, r in done.items():
        k = int(item_id.rsplit("-w", 1)[1])
        assert r["status"] == "ok"
        assert r["image"] == f"long/ptbdb/s0010_re_v{r['variant']}_w{k}.png"
        assert r["render"]["window"] == k and r["render"]["window_start"] == 5.0 + k * PAGE
        side = sidecar(out, r)
        assert lead(side, "I")["t0"] == 5.0 + k * PAGE
        assert lead(side, "aVR")["t0"] == 5.0 + k * PAGE + 2.5
        strip = lead(side, "II", rhythm=True)
        assert strip["t0"] == 5.0 + k * PAGE and strip["t1"] == pytest.approx(5.0 + (k + 1) * PAGE, abs=2e-3)
    manifest = json.loads((out / "manifests" / "long.json").read_text())
    assert [m["id"] for m in manifest] == [f"ptbdb-s0010_re-v{v}-w{k}" for v in (0, 1) for k in (0, 1, 2)]
    assert len({m["image"] for m in manifest}) == 6


def test_random_windows_are_reproducible_across_runs_and_jobs_and_differ_between_items(ws: Path) -> None:
    spec(ws, "window = random\nwindow_start = 2 s\nvariants = 4")
    one = build(ws, "one", "-j", "1")
    two = build(ws, "two", "-j", "3")
    assert tree_bytes(one) == tree_bytes(two)
    starts = []
    for r in results(one).values():
        start = r["render"]["window_start"]
        assert 2.0 <= start <= PTBDB_SECONDS - PAGE
        assert lead(sidecar(one, r), "I")["t0"] == start
        starts.append(start)
    assert len(starts) == 4 and len(set(starts)) == 4


@pytest.mark.parametrize("window", ["first", "random", "all"])
def test_a_record_shorter_than_the_window_falls_back_without_error(ws: Path, window: str) -> None:
    spec(ws, f"window = {window}\nwindow_start = 12 s", source="cinc")
    out = build(ws)
    (r,) = results(out).values()
    assert r["status"] == "ok", r.get("reason")
    assert r["id"] == "cinc-HR06000-v0" + ("-w0" if window == "all" else "")
    # A 10 s record cannot show a 10 s page from 12 s: its page is the latest that fits, from 0 s.
    assert r["render"]["window_start"] == 0.0
    assert lead(sidecar(out, r), "I")["t0"] == 0.0


def test_plan_says_all_multiplies_images_by_an_unknown_factor(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec(ws, "window = all")
    assert run(ws, "plan", "--calibrate", "0") == 0
    assert "factor unknown until the records are read" in capsys.readouterr().out
    assert run(ws, "plan", "--calibrate", "0", "--json") == 0
    plan = json.loads(capsys.readouterr().out)["corpora"]["long"]
    assert plan["images"] == 1 and plan["window"]["mode"] == "all" and plan["window"]["windows_per_record"] is None
