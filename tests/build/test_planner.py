"""`ecgspec plan`: its counts are what `ecgspec build` then builds, its render mix is the declared
one, and its memory does not grow with the number of items."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgspec.cli import main

from .conftest import REPO


def _in(ws: Path, *args: str) -> int:
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        return main(list(args))
    finally:
        os.chdir(cwd)


def plan(ws: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    assert _in(ws, "plan", "mini.ecg", "--json", *args) == 0
    return json.loads(capsys.readouterr().out)


def _spec(ws: Path, **replace: str) -> None:
    text = (ws / "mini.ecg").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    (ws / "mini.ecg").write_text(text)


def test_counts_equal_the_build(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _spec(workspace, **{"turns     = 1..3": "turns     = 2\n    variants  = 2"})
    p = plan(workspace, capsys, "--limit", "9", "--calibrate", "0")["corpora"]["mini"]
    assert _in(workspace, "build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1", "--limit", "9") == 0
    built = json.loads((workspace / "out" / "build.json").read_text())["corpora"]["mini"]
    assert p["images"] == 9 and p["records"] == 5
    assert built["items"] + sum(built["skipped"].values()) + len(built["failed"]) == p["images"]
    assert {k: v["images"] for k, v in p["sources"].items()} == {"cinc": 9}
    # Two turns an image, five tasks: every image gets two questions unless its record cannot
    # answer enough tasks — those record-dependent shortfalls are counted from the items' results.
    assert p["questions"]["expected"] == 2 * p["images"]
    results = [json.loads(f.read_text()) for f in (workspace / "out" / ".work" / "mini").glob("*.json")]
    shortfall = sum(2 - len(r.get("turns", ())) for r in results)
    assert built["instances"] == p["questions"]["expected"] - shortfall
    assert sum(p["questions"]["per_task"].values()) == pytest.approx(p["questions"]["expected"], abs=0.5)


def test_calibrated_questions_equal_the_build(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Calibrating as many items as the build makes builds the very same items (one variant each).
    p = plan(workspace, capsys, "--limit", "6", "--calibrate", "6")["corpora"]["mini"]
    assert _in(workspace, "build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1", "--limit", "6") == 0
    built = json.loads((workspace / "out" / "build.json").read_text())["corpora"]["mini"]
    assert p["images"] == 6
    assert p["questions"]["calibrated"] == built["instances"]
    per_task = {t: round(n) for t, n in p["questions"]["calibrated_per_task"].items() if n}
    asked: dict[str, int] = {}
    for f in (workspace / "out" / ".work" / "mini").glob("*.json"):
        for turn in json.loads(f.read_text()).get("turns", ()):
            asked[turn["task"]] = asked.get(turn["task"], 0) + 1
    assert per_task == asked
    for share in p["questions"]["answerable"].values():
        assert share is None or 0 <= share <= 1
    t = p["time"]
    assert t["seconds_per_item"] > 0 and set(t["wall_hours"]) == {"1", "8", "64", "512"}
    assert p["bytes"]["from"].startswith("calibration") and p["bytes"]["per_image"]["image"] > 0


def test_json_schema(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = plan(workspace, capsys, "--calibrate", "0", "--workers", "2", "16")
    assert data["schema"] == "ecgspec.plan/1" and data["workers"] == [2, 16]
    c = data["corpora"]["mini"]
    assert set(c) >= {"records", "images", "sources", "questions", "render", "bytes", "time", "calibration"}
    assert c["time"] is None and c["calibration"] is None
    assert set(c["questions"]) >= {"expected", "per_task", "turns_mean", "record_dependent"}
    assert c["questions"]["turns_mean"] == pytest.approx(2.0)
    assert set(c["bytes"]) == {"from", "per_image", "images_written", "total", "without_work"}
    assert c["bytes"]["from"].startswith("per-layout estimate")
    capsys.readouterr()
    assert _in(workspace, "plan", "mini.ecg", "--calibrate", "0") == 0
    assert "corpus mini: 14 records" in capsys.readouterr().out


def test_render_mix_is_the_declared_weights(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    render = plan(workspace, capsys, "--calibrate", "0")["corpora"]["mini"]["render"]
    assert render["layout"] == pytest.approx({"4x3": 0.7, "12x1": 0.3})
    assert render["paper"] == {"standard": 1.0}
    assert render["distort"] == pytest.approx({"clean": 0.5, "scanned": 0.25, "mild": 0.25})


SYNTH = """
import "std/layouts.ecg"
import "std/papers.ecg"

synth gen {{
    count = {count}
}}

task rate {{
    family   = basic
    form     = open
    template = "instruct/basic/rate_open.j2"
    answer   = record.heart_rate
}}

corpus big {{
    from gen
    layout    = choice["4x3": 0.5, "12x1": 0.5]
    distorted = 0%
    tasks     = [rate]
    turns     = 1..2
    variants  = 2
}}
"""


def _peak_kib(ws: Path, count: int) -> tuple[int, dict]:
    spec = ws / f"synth{count}.ecg"
    spec.write_text(SYNTH.format(count=count))
    code = (
        "import resource, subprocess, sys; "
        f"p = subprocess.run([sys.executable, '-m', 'ecgspec', 'plan', {str(spec)!r}, '--json', '--calibrate', '0'], "
        "check=True, capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(p.stdout)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ws, env=env, check=True, capture_output=True, text=True)
    kib, _, rest = out.stdout.partition("\n")
    return int(kib), json.loads(rest)


def test_a_synthetic_100k_corpus_plans_in_bounded_memory(workspace: Path) -> None:
    small, p_small = _peak_kib(workspace, 10_000)
    big, p_big = _peak_kib(workspace, 100_000)
    assert p_small["corpora"]["big"]["images"] == 20_000
    assert p_big["corpora"]["big"]["images"] == 200_000
    assert p_big["corpora"]["big"]["questions"]["expected"] == pytest.approx(200_000)  # one task: one question an image
    assert big < small * 1.2, f"peak RSS grew from {small} KiB to {big} KiB"
