"""`ecgspec build` with LLM synthesis, end to end, against a scripted OpenAI-compatible server on
127.0.0.1: what should be dropped is dropped, each stage's count is right, a rerun sends nothing,
an interrupted synthesis resumes without sending a cached prompt again, and `-j` changes no byte."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ecgspec.cli import main
from tests.build.conftest import tree_bytes
from tests.synthesis.conftest import REPO, dialogue, fields, pair, verdict
from tests.synthesis.stub_server import StubServer

RECORDS = [f"HR060{i:02d}" for i in range(10)] + [f"JS2000{i}" for i in range(4)]  # the sample, in plan order
DESCRIBE = {
    "SR": "sinus rhythm",
    "AFIB": "atrial fibrillation",
    "STACH": "sinus tachycardia",
    "SBRAD": "sinus bradycardia",
    "SARRH": "sinus arrhythmia",
}


def script(body: dict[str, Any]) -> Any:
    """The server's replies: each record of the sample plays one scenario (see the expected counts)."""
    system = body["messages"][0]["content"]
    f = fields(body)
    n = RECORDS.index(f["record"])
    retry = len(body["messages"]) > 2
    if system.startswith("JUDGE"):
        tag = f["question"]
        return {
            "[4-0]": verdict(2, "vague"),
            "[4-1]": "the pair looks fine",  # no JSON at all
            "[5-0]": verdict(7),  # outside 0-5
            "[5-1]": {"refusal": "I cannot judge medical content."},
        }.get(tag, verdict(5 if n < 4 else 4.5))
    if system == "GEN qa":
        i = int(f["index"])
        if (n, i) == (0, 1):
            return '{"question": "[0-1] rhythm?", "answer": '  # cut short: never valid
        if (n, i) == (1, 0) and not retry:
            return {"refusal": "I can't help with that."}
        if (n, i) == (1, 1):
            return "I'm sorry, I can't help with medical questions."
        if (n, i) == (2, 0):  # states what the record's labels contradict
            labels = [x for x in f["labels"].split(",") if x]
            answer = f"There is no {DESCRIBE[labels[0]]}." if labels else "This is atrial fibrillation."
            return pair("[2-0] What does the rhythm strip show?", answer)
        if n == 3:
            return pair("[3] What rhythm is this?", "It is the rhythm the tracing shows.")
        return pair(f"[{n}-{i}] Describe feature {n * 2 + i} of this tracing.", "As the tracing shows.")
    assert system == "GEN talk"
    if n == 0:  # the third question asks the rate again: that turn goes
        return dialogue(
            ("What is the heart rate?", "As measured."),
            ("What is the QRS duration?", "Within limits."),
            ("How fast is the rate in beats per minute?", "As measured."),
        )
    if n == 1:  # every question asks the rate: one turn is left, too few for a dialogue
        return dialogue(
            ("What is the heart rate?", "As measured."),
            ("Is the rate fast?", "Not especially."),
            ("How many beats per minute?", "As measured."),
        )
    if n == 2:
        return dialogue(("What is the rhythm?", "As shown."), ("Is it regular?", "Yes."))  # 2 turns, 3 asked
    return dialogue(
        (f"[{n}] What is the rhythm?", "As shown."),
        ("What is the QRS duration?", "Within limits."),
        ("What does this mean for the patient?", "Nothing urgent."),
    )


EXPECTED_QA = {
    "planned": 28,
    "generated": 28,
    "retried": 3,
    "invalid": 2,
    "invalid_malformed_json": 1,
    "invalid_refused": 1,
    "contradicted": 1,
    "judged": 25,
    "judge_failed": 3,
    "judge_malformed_json": 1,
    "judge_out_of_range": 1,
    "judge_refusal": 1,
    "below_threshold": 1,
    "duplicates": 1,
    "kept": 20,
}
EXPECTED_TALK = {
    "planned": 14,
    "generated": 14,
    "retried": 2,
    "invalid": 1,
    "invalid_form": 1,
    "repeated_fact": 3,
    "dropped_dialogues": 1,
    "kept": 12,
}


def _build(ws: Path, out: Path, url: str, *extra: str) -> int:
    return main(["build", str(ws / "synth.ecg"), "-o", str(out), "-D", f'llm_url="{url}"', "--no-progress", *extra])


def _counts(out: Path) -> dict[str, dict[str, int]]:
    return json.loads((out / "build.json").read_text())["corpora"]["mini"]["synthesis"]["instructs"]


def _pick(counts: dict[str, int], expected: dict[str, int]) -> dict[str, int]:
    return {k: counts.get(k, 0) for k in expected}


def test_each_stage_drops_what_it_should_and_counts_it(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StubServer(script) as srv:
        assert _build(workspace, out, srv.url, "-j", "1") == 0
        sent = len(srv.bodies)
    counts = _counts(out)
    assert _pick(counts["qa"], EXPECTED_QA) == EXPECTED_QA
    assert _pick(counts["talk"], EXPECTED_TALK) == EXPECTED_TALK
    # Every distinct prompt once: generations, retries and verdicts (the two duplicates of HR06003 are the
    # same pair of the same record, so one verdict request serves both).
    assert sent == 28 + 3 + 24 + 14 + 2
    assert counts["qa"]["tokens_in"] > 0 and counts["qa"]["tokens_out"] > 0

    dropped = [json.loads(x) for x in (out / "synth" / "mini.dropped.jsonl").read_text().splitlines()]
    stages = sorted((d["record"], d["instruct"], d["index"], d["stage"]) for d in dropped)
    assert ("cinc/HR06002", "qa", 0, "contradicted") in stages
    assert ("cinc/HR06003", "qa", 1, "duplicate") in stages
    assert ("cinc/HR06004", "qa", 0, "below_threshold") in stages
    assert ("cinc/HR06001", "talk", 0, "repeated_fact") in stages

    lines = [json.loads(x) for x in (out / "prompts" / "mini.jsonl").read_text().splitlines()]
    synth = [x for x in lines if x["task"] in ("qa", "talk")]
    assert synth, "no synthesised turn reached the prompt set"
    for x in synth:
        p = x["provenance"]["synth"]
        assert p["generator"] == "stub-writer" and len(p["prompt_hash"]) == 64 and p["template"] == "synth/gen.j2"
        assert "[0-1]" not in x["question"] and "[3] " not in x["answer"]
    judged = [x for x in synth if x["task"] == "qa"]
    assert judged and all(x["provenance"]["synth"]["judge"] == "stub-referee" for x in judged)
    assert all(x["provenance"]["synth"]["score"] >= 4 for x in judged)
    # A dialogue is a whole conversation: its turns, in order, and nothing else.
    manifest = json.loads((out / "manifests" / "mini.json").read_text())
    by_item: dict[str, list[dict[str, Any]]] = {}
    for x in lines:
        by_item.setdefault(x["item"], []).append(x)
    talks = [turns for turns in by_item.values() if turns[0]["task"] == "talk"]
    assert talks and all(len(t) >= 2 and {x["task"] for x in t} == {"talk"} for t in talks)
    assert len(manifest) == len(by_item)

    # A conversation never asks the same fact twice.
    rate_turns = [sum(1 for x in t if x["task"] == "rate_open") for t in by_item.values()]
    assert max(rate_turns) <= 1


def test_a_rerun_sends_nothing_and_writes_the_same_bytes(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StubServer(script) as srv:
        assert _build(workspace, out, srv.url, "-j", "1") == 0
    first = tree_bytes(out, skip=("build.json", ".work", "cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm"))
    with StubServer(script) as srv:
        assert _build(workspace, out, srv.url, "-j", "1") == 0
        assert srv.bodies == []
    assert (
        tree_bytes(out, skip=("build.json", ".work", "cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm")) == first
    )


def test_the_build_is_byte_identical_for_any_jobs_given_the_cached_replies(workspace: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    with StubServer(script) as srv:
        assert _build(workspace, one, srv.url, "-j", "1") == 0
    shutil.copy(one / "synth" / "cache.sqlite", tmp_path / "replies.sqlite")
    # No server at all now: every reply must come from the (shared) cache.
    assert (
        _build(workspace, two, "http://127.0.0.1:9/v1", "-j", "2", "--synth-cache", str(tmp_path / "replies.sqlite"))
        == 0
    )
    skip = ("build.json", ".work", "cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm")
    assert tree_bytes(one, skip=skip) == tree_bytes(two, skip=skip)


def test_failed_requests_stop_the_build_and_a_rerun_sends_only_those(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    def flaky(body: dict[str, Any]) -> Any:
        if fields(body)["record"] == "HR06007" and body["messages"][0]["content"].startswith("GEN"):
            return (503, '{"error": {"message": "overloaded"}}')
        return script(body)

    with StubServer(flaky) as srv:
        assert _build(workspace, out, srv.url, "-j", "1") == 1
    err = capsys.readouterr().err
    assert "synthesis requests failed" in err and "rerun" in err
    assert not (out / "manifests" / "mini.json").exists()
    with StubServer(script) as srv:
        assert _build(workspace, out, srv.url, "-j", "1") == 0
    # Only the failed record's requests go out again (its judge's too, which never got that far).
    assert srv.bodies and all(fields(b)["record"] == "HR06007" for b in srv.bodies)
    assert _pick(_counts(out)["qa"], EXPECTED_QA) == EXPECTED_QA


def test_a_killed_synthesis_resumes_without_losing_or_resending_replies(workspace: Path, tmp_path: Path) -> None:
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    with StubServer(script) as srv:
        assert _build(workspace, clean, srv.url, "-j", "1") == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with StubServer(script, delay=0.05) as srv:
        cmd = [
            sys.executable, "-m", "ecgspec", "build", str(workspace / "synth.ecg"), "-o", str(killed),
            "-D", f'llm_url="{srv.url}"', "--no-progress", "-j", "1",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(srv.bodies) < 30 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the build ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = len(srv.bodies)
        assert 30 <= before < 71
        assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
        twice = [k for k, n in srv.calls.items() if n > 1]
    # Only what was in flight when the build died (at most `concurrency` = 8) is asked again.
    assert len(twice) <= 8
    skip = ("build.json", ".work", "cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm")
    assert tree_bytes(killed, skip=skip) == tree_bytes(clean, skip=skip)
    assert _pick(_counts(killed)["qa"], EXPECTED_QA) == EXPECTED_QA
