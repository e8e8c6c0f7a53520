"""A suite compiles into a valid evaluation plan with grounded targets; a corpus exports to Parquet."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import wfdb

from ecgspec.artifacts.plan_schema import load_plan
from ecgspec.cli import main

from .conftest import REPO

RHYTHM = {
    "426783006": "SR",
    "164889003": "AFIB",
    "427084000": "STACH",
    "426177001": "SBRAD",
    "427393009": "SARRH",
    "164890007": "AFLT",
    "426761007": "SVTAC",
    "10370003": "PACE",
}


def _run(*argv: str, cwd: Path = REPO) -> int:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return main(list(argv))
    finally:
        os.chdir(old)


def test_the_sample_suite_compiles_into_a_plan_whose_targets_are_the_records_statements(tmp_path: Path) -> None:
    assert _run("build", "specs/ecgbench_samples.ecg", "-o", str(tmp_path)) == 0
    plan_path = tmp_path / "plans" / "ecgbench_samples.json"
    plan = load_plan(plan_path)
    assert plan.suite == "ecgbench_samples" and plan.origin == "compiled"
    tasks = {t.id: t for t in plan.tasks}
    assert tasks["rhythm"].items and tasks["findings"].items
    for item in tasks["rhythm"].items:
        assert (plan_path.parent / item.image).is_file()
        assert "<image>" not in item.turns[0].question
        head = wfdb.rdheader(str(REPO / "data" / "samples" / "cinc2021" / item.record.split("/")[1]))
        dx = next(c for c in head.comments if c.startswith("Dx")).split(":", 1)[1].strip().split(",")
        expected = {RHYTHM[c] for c in dx if c in RHYTHM}
        # The vocabulary's `implies` (specs/ecginstruct.ecg): these three are sinus rhythms.
        expected |= {"SR"} if expected & {"STACH", "SBRAD", "SARRH"} else set()
        assert set(item.target) == expected
    for item in tasks["findings"].items:
        assert len(item.options) == 4 and item.target in "ABCD"


def test_a_suite_whose_data_are_missing_is_an_error_unless_asked_to_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("build", "specs/ecgbench.ecg", "-o", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "--skip-missing" in err and "Traceback" not in err
    assert _run("build", "specs/ecgbench.ecg", "-o", str(tmp_path), "--skip-missing") == 0
    out = capsys.readouterr().out
    assert "left out" in out and "import-released" in out


def test_a_corpus_exports_to_parquet_with_embedded_images(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert _run("build", "specs/ecginstruct.ecg", "-o", str(out), "--limit", "6", "-j", "1", "--no-progress") == 0
    assert _run("export", str(out), "ecginstruct") == 0
    table = pq.read_table(out / "hf" / "ecginstruct.parquet")
    manifest = json.loads((out / "manifests" / "ecginstruct.json").read_text())
    assert table.num_rows == len(manifest) == 6
    rows = table.to_pylist()
    for row, item in zip(rows, manifest, strict=True):
        assert row["id"] == item["id"] and row["conversations"] == item["conversations"]
        assert row["image"]["bytes"] == (out / "images" / item["image"]).read_bytes()
        assert row["source"] in ("ptbxl", "cinc_ptbxl", "ptbdb") and row["layout"]
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"}


SYNTH = """
import "std/layouts.ecg"
import "std/papers.ecg"

synth filler {
    count = 4
    fs    = 250 Hz
}

task rate {
    family   = basic
    form     = open
    question = "What is the heart rate?"
    answer   = record.heart_rate
}

corpus scale {
    from filler
    layout    = "12x1"
    tasks     = [rate]
    distorted = 0%
    dpi       = 40 dpi
}
"""


def test_synthetic_records_are_marked_in_every_artifact(tmp_path: Path) -> None:
    (tmp_path / "s.ecg").write_text(SYNTH)
    assert _run("build", "s.ecg", "-o", "out", "-j", "1", "--no-progress", cwd=tmp_path) == 0
    assert _run("export", "out", "scale", cwd=tmp_path) == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifests" / "scale.json").read_text())
    assert len(manifest) == 4 and all(i["synthetic"] is True for i in manifest)
    prompts = [json.loads(x) for x in (out / "prompts" / "scale.jsonl").read_text().splitlines()]
    assert prompts and all(p["provenance"]["synthetic"] is True for p in prompts)
    for item in manifest:
        sidecar = json.loads((out / "images" / item["image"]).with_suffix(".json").read_text())
        assert sidecar["record"]["synthetic"] is True
    assert all(r["synthetic"] for r in pq.read_table(out / "hf" / "scale.parquet").to_pylist())
    counts = json.loads((out / "build.json").read_text())["corpora"]["scale"]["counts"]
    assert counts["synthetic"] == {"yes": 4}
