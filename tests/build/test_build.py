"""`ecgspec build`: LLaVA manifests that trainers can load, answers grounded in the records,
the same bytes whatever the number of workers, and a killed build that resumes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import wfdb

from ecgspec.cli import main

from .conftest import REPO, tree_bytes

SNOMED_RHYTHM = {
    "426783006": "SR",
    "164889003": "AFIB",
    "427084000": "STACH",
    "426177001": "SBRAD",
    "427393009": "SARRH",
}
DESCRIPTION = {
    "SR": "sinus rhythm",
    "AFIB": "atrial fibrillation",
    "STACH": "sinus tachycardia",
    "SBRAD": "sinus bradycardia",
    "SARRH": "sinus arrhythmia",
}


def build(ws: Path, *args: str) -> int:
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        return main(["build", "mini.ecg", "-o", "out", "--no-progress", *args])
    finally:
        os.chdir(cwd)


def true_rhythms(ws: Path, record: str) -> set[str]:
    """The record's rhythm statements, read straight from its header's `# Dx` line."""
    head = wfdb.rdheader(str(ws / "data" / "cinc2021" / record))
    dx = next(c for c in head.comments if c.startswith("Dx"))
    return {SNOMED_RHYTHM[c] for c in dx.split(":", 1)[1].strip().split(",") if c in SNOMED_RHYTHM}


@pytest.fixture
def built(workspace: Path) -> Path:
    assert build(workspace, "-j", "1") == 0
    return workspace / "out"


def test_every_manifest_item_is_llava_format_with_an_image_that_opens(built: Path) -> None:
    items = json.loads((built / "manifests" / "mini.json").read_text())
    assert len(items) == 14
    assert len({i["id"] for i in items}) == len(items)
    for item in items:
        img = cv2.imread(str(built / "images" / item["image"]))
        assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
        conv = item["conversations"]
        assert conv and len(conv) % 2 == 0
        assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2)
        assert all(t["value"].strip() for t in conv)
        assert conv[0]["value"].startswith("<image>\n")
        assert sum(t["value"].count("<image>") for t in conv) == 1


def test_answers_are_grounded_in_the_records(built: Path, workspace: Path) -> None:
    lines = [json.loads(x) for x in (built / "prompts" / "mini.jsonl").read_text().splitlines()]
    by_form: dict[str, int] = {}
    for p in lines:
        record = p["provenance"]["record"]
        by_form[p["form"]] = by_form.get(p["form"], 0) + 1
        truth = true_rhythms(workspace, record)
        if p["task"] == "rhythm_mcq":
            letter = p["target"]
            chosen = p["options"]["ABCDEFGH".index(letter)]
            assert chosen in {DESCRIPTION[t] for t in truth}, (record, chosen, truth)
            others = [o for i, o in enumerate(p["options"]) if "ABCDEFGH"[i] != letter]
            assert not {DESCRIPTION[t] for t in truth} & set(others), "exactly one option may be true"
            assert all(o in p["question"] for o in p["options"])
            assert p["answer"].startswith(f"{letter}. ")
        elif p["task"] == "rhythm_closed":
            candidate = re.search(
                r"(sinus rhythm|atrial fibrillation|sinus tachycardia|sinus bradycardia|"
                r"sinus arrhythmia)",
                p["question"],
            ).group(1)
            present = candidate in {DESCRIPTION[t] for t in truth}
            assert p["target"] == ("yes" if present else "no")
            assert p["answer"].startswith("Yes" if present else "No")
        elif p["task"] in ("rate_open", "rate_fill"):
            bpm = p["target"]
            assert str(bpm) in p["answer"]
            # The measured rate agrees with the cardiologists' statements.
            if "SBRAD" in truth:
                assert bpm < 60, (record, bpm)
            if "STACH" in truth:
                assert bpm > 100, (record, bpm)
            if p["form"] == "fill_in":
                assert "___" in p["question"]
    assert by_form.get("multiple_choice") and by_form.get("closed") and by_form.get("open")


def test_unanswerable_tasks_are_skipped_and_counted(built: Path) -> None:
    report = json.loads((built / "build.json").read_text())["corpora"]["mini"]
    # The CinC records carry no free-text report: the report task is never asked, and says why.
    assert report["unanswered"]["report_open"] == {
        "the record has no report": report["unanswered"]["report_open"]["the record has no report"]
    }
    assert sum(report["unanswered"]["report_open"].values()) >= 1
    assert "report_open" not in report["counts"]["task"]
    assert report["items"] == 14 and report["instances"] == sum(report["counts"]["task"].values())


def test_two_workers_write_the_same_bytes_as_one(workspace: Path) -> None:
    assert build(workspace, "-j", "1", "-o", "one") == 0
    assert build(workspace, "-j", "2", "-o", "two") == 0
    one, two = tree_bytes(workspace / "one"), tree_bytes(workspace / "two")
    assert one.keys() == two.keys() and len(one) > 20
    assert one == two
    b1 = json.loads((workspace / "one" / "build.json").read_text())
    b2 = json.loads((workspace / "two" / "build.json").read_text())
    assert b1["corpora"] == b2["corpora"]


def test_a_build_killed_with_sigkill_resumes_and_loses_nothing(workspace: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "ecgspec", "build", "mini.ecg", "-o", "killed", "-j", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = workspace / "killed" / ".work" / "mini"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(work.glob("*.json"))) < 4:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(work.glob("*.json")))
    assert 4 <= done_before < 14, "the kill must land mid-build"
    assert not (workspace / "killed" / "manifests" / "mini.json").exists()

    result = subprocess.run(cmd, cwd=workspace, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (
        f"{done_before} resumed" in result.stdout
        or f"({14 - done_before} built, {done_before} resumed)" in result.stdout
    )
    assert build(workspace, "-j", "1", "-o", "fresh") == 0
    assert tree_bytes(workspace / "killed") == tree_bytes(workspace / "fresh")
    items = json.loads((workspace / "killed" / "manifests" / "mini.json").read_text())
    assert sorted(i["id"] for i in items) == sorted({i["id"] for i in items}) and len(items) == 14
    assert not list((workspace / "killed").rglob("*.tmp"))


def test_a_broken_record_is_reported_and_the_rest_built(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mat = workspace / "data" / "cinc2021" / "HR06003.mat"
    mat.write_bytes(mat.read_bytes()[:5000])  # truncated
    assert build(workspace, "-j", "2") == 0
    report = json.loads((workspace / "out" / "build.json").read_text())["corpora"]["mini"]
    assert report["items"] == 13
    assert [f["record"] for f in report["failed"]] == ["HR06003"]
    assert "HR06003" in report["failed"][0]["reason"]
    assert "HR06003" in capsys.readouterr().out


def test_editing_a_template_redoes_only_what_it_changes(workspace: Path) -> None:
    assert build(workspace, "-j", "1") == 0
    before = tree_bytes(workspace / "out")
    t = workspace / "templates" / "instruct" / "basic" / "rate_fill.j2"
    t.write_text(t.read_text().replace("Fill in the blank:", "Fill the gap:"))
    assert build(workspace, "-j", "1") == 0
    after = tree_bytes(workspace / "out")
    fills = [
        json.loads(x)
        for x in (workspace / "out" / "prompts" / "mini.jsonl").read_text().splitlines()
        if '"rate_fill"' in x
    ]
    assert fills and all("Fill the gap:" in f["question"] or "Complete the sentence" in f["question"] for f in fills)
    assert before != after


def test_editing_a_file_a_template_includes_redoes_its_items(workspace: Path) -> None:
    t = workspace / "templates" / "instruct" / "basic" / "rate_fill.j2"
    (t.parent / "rate_word.j2").write_text("heart rate")
    t.write_text(
        "{% block question %}{% include 'instruct/basic/rate_word.j2' %}: the rate on this ECG is ___ bpm."
        "{% endblock %}\n{% block answer %}{{ answer }}{% endblock %}\n"
    )
    assert build(workspace, "-j", "1") == 0
    first = (workspace / "out" / "prompts" / "mini.jsonl").read_text()
    assert '"question": "heart rate: the rate' in first
    (t.parent / "rate_word.j2").write_text("ventricular rate")
    assert build(workspace, "-j", "1") == 0
    fills = [
        json.loads(x)
        for x in (workspace / "out" / "prompts" / "mini.jsonl").read_text().splitlines()
        if '"rate_fill"' in x
    ]
    assert fills and all(f["question"].startswith("ventricular rate: the rate") for f in fills), fills


def test_the_shipped_ecginstruct_corpus_is_llava_format_in_all_four_families_and_forms(tmp_path: Path) -> None:
    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        assert main(["build", "specs/ecginstruct.ecg", "-o", str(tmp_path), "-j", "2", "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    items = json.loads((tmp_path / "manifests" / "ecginstruct.json").read_text())
    assert len(items) >= 30
    for item in items:
        conv = item["conversations"]
        assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2) and all(
            t["value"].strip() for t in conv
        )
        assert conv[0]["value"].startswith("<image>\n") and sum(t["value"].count("<image>") for t in conv) == 1
        assert (tmp_path / "images" / item["image"]).is_file()
    assert any(len(i["conversations"]) >= 4 for i in items), "some conversations are multi-turn"
    counts = json.loads((tmp_path / "build.json").read_text())["corpora"]["ecginstruct"]["counts"]
    assert set(counts["family"]) == {"basic", "rhythm", "morphology", "report"}
    assert set(counts["form"]) == {"closed", "open", "fill_in", "multiple_choice"}
    assert 0 < counts["distort"].get("clean", 0) < sum(counts["distort"].values())


def test_shards_built_apart_merge_into_the_same_corpus(workspace: Path) -> None:
    for i in range(3):
        assert build(workspace, "-j", "1", "-o", "sharded", "--shard", f"{i}/3") == 0
    assert not (workspace / "sharded" / "manifests").exists(), "a shard writes no artifacts"
    assert len(list((workspace / "sharded" / ".work" / "mini").glob("*.json"))) == 14
    assert build(workspace, "-j", "1", "-o", "sharded") == 0
    assert build(workspace, "-j", "1", "-o", "whole") == 0
    assert tree_bytes(workspace / "sharded") == tree_bytes(workspace / "whole")


def test_a_template_that_fails_on_a_record_is_a_located_error(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = workspace / "templates" / "instruct" / "basic" / "rate_open.j2"
    t.write_text("{% block question %}\nRate of {{ record.no_such_field }}?\n{% endblock %}\n")
    assert build(workspace, "-j", "1") == 1
    err = capsys.readouterr().err
    assert "rate_open.j2:2:1: error: task 'rate_open': template error" in err
    assert "no_such_field" in err and "Traceback" not in err
