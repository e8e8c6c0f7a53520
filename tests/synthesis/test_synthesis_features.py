"""Report revision, plans of a synthesis, hashes that ignore where a model runs, and conversations that
never ask one fact twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ecgspec.cli import main
from ecgspec.program import load
from tests.build.conftest import MINI
from tests.synthesis.conftest import REPO, SPEC, fields, verdict
from tests.synthesis.stub_server import StubServer

REVISION = """
import "std/layouts.ecg"
import "std/papers.ecg"
import "std/sources.ecg"

let llm_url = "http://127.0.0.1:9/v1"

llm writer {
    backend = openai
    url     = llm_url
    model   = "stub"
    retries = 0
}

instruct revised {
    mode      = report
    generator = writer
    judge     = writer
    prompt    = "synth/report.j2"
    rubric    = "synth/judge.j2"
    labels    = superclass
}

task report_open {
    family   = report
    form     = open
    question = "Write the report of this ECG."
    answer   = record.report
}

corpus reports {
    from ptbxl
    distorted = 0%
    tasks     = [report_open]
    revise    = revised
    dpi       = 40 dpi
}
"""
REVISED = "Rhythm: sinus rhythm. Rate: 64 bpm. Morphology: low QRS voltage in the limb leads. Impression: sinus rhythm."


@pytest.fixture
def ptbxl_workspace(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "templates" / "synth", tmp_path / "templates" / "synth")
    (tmp_path / "data" / "samples").mkdir(parents=True)
    shutil.copytree(REPO / "data" / "samples" / "ptbxl", tmp_path / "data" / "samples" / "ptbxl")
    (tmp_path / "reports.ecg").write_text(REVISION, encoding="utf-8")
    return tmp_path


def test_a_revised_report_is_the_target_of_the_report_tasks(ptbxl_workspace: Path, tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> str:
        if body["messages"][0]["content"].startswith("You review"):
            assert "Revised report: " + REVISED in body["messages"][1]["content"]  # the judge sees the revision
            return verdict(5)
        assert "sinusrhythmus periphere niederspannung" in body["messages"][1]["content"]  # the original, German
        return json.dumps({"report": REVISED})

    out = tmp_path / "out"
    with StubServer(reply) as srv:
        args = ["build", str(ptbxl_workspace / "reports.ecg"), "-o", str(out), "-D", f'llm_url="{srv.url}"']
        assert main([*args, "--no-progress", "--root", str(ptbxl_workspace)]) == 0
    lines = [json.loads(x) for x in (out / "prompts" / "reports.jsonl").read_text().splitlines()]
    assert lines and all(x["answer"] == REVISED and x["target"] == REVISED for x in lines)
    counts = json.loads((out / "build.json").read_text())["corpora"]["reports"]["synthesis"]["instructs"]["revised"]
    assert counts["kept"] == counts["planned"] == 1


def test_plan_shows_the_exact_prompts_and_estimates_tokens_and_gpu_hours(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(workspace / "synth.ecg"), "--calibrate", "0", "--json", "--show-prompts", "2"]) == 0
    plan = json.loads(capsys.readouterr().out)
    sy = plan["corpora"]["mini"]["synthesis"]
    assert sy["records"] == 14
    assert sy["instructs"]["qa"]["requests"] == 28 and sy["instructs"]["qa"]["judge"]["requests"] == 28
    assert sy["instructs"]["talk"]["requests"] == 14 and "judge" not in sy["instructs"]["talk"]
    writer = sy["models"]["writer"]
    assert writer["requests"] == 42 and writer["tokens_in"] > 0 and writer["gpu_hours"] >= 0
    first = sy["prompts"][0]
    assert first["messages"][0] == {"role": "system", "content": "GEN qa"}
    assert fields({"messages": first["messages"]})["record"] == "HR06000"  # exactly what the build sends


def test_the_shipped_recipe_renders_its_prompts_for_the_sample_records(capsys: pytest.CaptureFixture[str]) -> None:
    spec = REPO / "specs" / "ecginstruct.ecg"
    assert main(["plan", str(spec), "--calibrate", "0", "--json", "--show-prompts", "3"]) == 0
    sy = json.loads(capsys.readouterr().out)["corpora"]["ecginstruct"]["synthesis"]
    assert set(sy["instructs"]) == {"report_revision", "ecg_qa", "ecg_dialogue"}
    assert all("backend = none" in why for why in sy["off"].values())  # off until a model is served
    user = sy["prompts"][0]["messages"][1]["content"]
    assert "Report: " in user and "{{" not in user


def test_where_a_model_runs_is_not_part_of_any_content_hash(workspace: Path) -> None:
    spec = workspace / "synth.ecg"
    a = load([spec], defines=['llm_url="http://10.0.0.1:8000/v1"'])
    b = load([spec], defines=['llm_url="http://10.0.0.2:9000/v1"'])
    assert a.hash_of("corpus", "mini") == b.hash_of("corpus", "mini")
    hotter = spec.read_text().replace("temperature = 0.7", "temperature = 0.9")
    (workspace / "hot.ecg").write_text(hotter)
    assert load([workspace / "hot.ecg"]).hash_of("llm", "writer") != a.hash_of("llm", "writer")


def test_a_conversation_never_asks_one_fact_twice(tmp_path: Path) -> None:
    # rate_open and rate_fill ask the same fact; with up to 3 turns of 5 tasks they would meet often.
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    (tmp_path / "mini.ecg").write_text(MINI.replace("turns     = 1..3", "turns     = 3\n    variants  = 3"))
    out = tmp_path / "out"
    assert main(["build", str(tmp_path / "mini.ecg"), "-o", str(out), "--no-progress", "-j", "1"]) == 0
    by_item: dict[str, list[str]] = {}
    for line in (out / "prompts" / "mini.jsonl").read_text().splitlines():
        x = json.loads(line)
        by_item.setdefault(x["item"], []).append(x["task"])
    assert not [t for t in by_item.values() if {"rate_open", "rate_fill"} <= set(t)]
    assert not [t for t in by_item.values() if {"rhythm_mcq", "rhythm_closed"} <= set(t)]
    unanswered = json.loads((out / "build.json").read_text())["corpora"]["mini"]["unanswered"]
    assert any("an earlier turn asked" in reason for task in unanswered.values() for reason in task)


def test_a_model_that_is_off_asks_the_templated_tasks_instead(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = workspace / "synth.ecg"
    spec.write_text(SPEC.replace("    backend     = openai\n", "    backend     = none\n"))
    out = tmp_path / "out"
    assert main(["build", str(spec), "-o", str(out), "--no-progress", "-j", "1"]) == 0
    built = json.loads((out / "build.json").read_text())["corpora"]["mini"]
    assert "synthesis" not in built and not (out / "synth").exists()
    tasks = {json.loads(x)["task"] for x in (out / "prompts" / "mini.jsonl").read_text().splitlines()}
    assert tasks == {"rate_open"}
    # the instructs that are off are not drawn at all (their family's turns are not left empty), and the build
    # says why they are missing
    assert set(built["families"]) == {"basic"} and built["unanswered"] == {}
    assert "synthesis is off for qa, talk: llm 'writer' (generator) has `backend = none`" in capsys.readouterr().out
