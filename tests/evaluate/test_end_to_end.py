"""End to end: the sample suite compiled by `ecgspec build specs/ecgbench_samples.ecg`, run with the tiny
transformers model and against an OpenAI-compatible server on 127.0.0.1, scored and reported; and a run killed
with SIGKILL that resumes without losing, duplicating or re-sending a cached request."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecgspec.artifacts.plan_schema import Item, Plan, Task, Turn, load_plan
from ecgspec.cli import main
from runtime.evaluate.backends.base import data_url
from tests.helpers import ecgspec_build

from .helpers import RuleServer, completion, user_text

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mini_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT/plans/ecgbench_samples.json of `ecgspec build specs/ecgbench_samples.ecg -o OUT`: a multi-label
    rhythm task and a 4-option findings task over the held-out CinC 2021 sample records."""
    out = ecgspec_build("specs/ecgbench_samples.ecg", tmp_path_factory.mktemp("bench") / "bench")
    plan_path = out / "plans" / "ecgbench_samples.json"
    plan = load_plan(plan_path)
    assert [t.id for t in plan.tasks] == ["rhythm", "findings"] and all(t.items for t in plan.tasks)
    assert all(it.image and (plan_path.parent / it.image).is_file() for t in plan.tasks for it in t.items)
    return plan_path


def oracle(plan_path: Path):
    """The 'model': answers each request with the item's target, found by (image bytes, question) — the
    compiled questions do not name the record, the image does."""
    plan = load_plan(plan_path)
    answers: dict[tuple[str, str], str] = {}
    for task in plan.tasks:
        for it in task.items:
            assert it.image is not None
            text = ", ".join(it.target) if task.form == "multi_label" else f"Answer: {it.target}"
            answers[(data_url(plan_path.parent / it.image), it.turns[0].question)] = text

    def rule(body: dict) -> tuple[int, object, float]:
        content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
        url = next(p["image_url"]["url"] for p in content if p.get("type") == "image_url")
        return 200, completion(answers[(url, user_text(body))]), 0

    return rule


def test_eval_against_an_openai_compatible_server_scores_and_reports(mini_plan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = load_plan(mini_plan)
    n_items = sum(len(t.items) for t in plan.tasks)
    with RuleServer(oracle(mini_plan)) as srv:
        rc = main(["eval", str(mini_plan), "--backend", "openai", "--url", srv.url, "--model", "m", "-o", str(out)])
        assert rc == 0
        first = sum(srv.calls.values())
        assert len(srv.bodies) == n_items
        assert srv.bodies[0]["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
        # a second run answers every model request from the cache
        assert (
            main(["eval", str(mini_plan), "--backend", "openai", "--url", srv.url, "--model", "m", "-o", str(out)]) == 0
        )
        assert sum(srv.calls.values()) == first
    res = json.loads((out / "results" / "ecgbench_samples.json").read_text())
    by = {t["id"]: t for t in res["tasks"]}
    assert set(by) == {"rhythm", "findings"}
    # every label right: F1 1 on each class that occurs; a class in neither targets nor answers has no F1
    # and stays out of the macro mean, so perfect answers score a macro F1 of 1
    rhythm = by["rhythm"]
    assert rhythm["metrics"]["hamming"]["value"] == 0.0
    present = [c for c in rhythm["per_class"] if c["support"] or c["predicted"]]
    assert present and all(c["f1"] == 1.0 and c["support"] == c["predicted"] for c in present)
    assert rhythm["metrics"]["f1"]["value"] == 1.0
    assert all(c["f1"] is None for c in rhythm["per_class"] if not (c["support"] or c["predicted"]))
    assert by["findings"]["metrics"]["accuracy"]["value"] == 1.0 and by["findings"]["fallbacks"] == 0
    assert res["plan_hash"] == plan.content_hash() and res["model"] == "m"
    assert (out / "report.md").read_text().count("## ") == 2 and (out / "report.html").exists()
    assert (out / "findings_confusion.png").stat().st_size > 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rows} == {it.id for t in plan.tasks for it in t.items}
    # the same responses, scored from the predictions file by `score`
    assert (
        main(["score", str(mini_plan), "--predictions", str(out / "predictions.jsonl"), "-o", str(tmp_path / "s")]) == 0
    )
    again = json.loads((tmp_path / "s" / "results" / "ecgbench_samples.json").read_text())
    assert [t["metrics"] for t in again["tasks"]] == [t["metrics"] for t in res["tasks"]]
    # a line lost from the predictions file: refused, then, allowed, left out and counted
    short = tmp_path / "short.jsonl"
    short.write_text("".join(x + "\n" for x in (out / "predictions.jsonl").read_text().splitlines()[1:]))
    args = ["score", str(mini_plan), "--predictions", str(short), "-o", str(tmp_path / "m")]
    assert main(args) == 1 and not (tmp_path / "m" / "results").exists()
    assert main([*args, "--allow-missing"]) == 0
    lost = json.loads((tmp_path / "m" / "results" / "ecgbench_samples.json").read_text())
    assert [t["missing_ids"] for t in lost["tasks"]] == [
        [rows[0]["id"]] if t["id"] == rows[0]["task"] else [] for t in lost["tasks"]
    ]


def test_eval_with_the_tiny_transformers_model(mini_plan: Path, tmp_path: Path) -> None:
    tiny = pytest.importorskip("runtime.model.tiny", reason="runtime/model/tiny.py (trainer engineer) not present")
    ckpt = tiny.save_tiny_llava(tmp_path / "tiny")
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                str(mini_plan),
                "--backend",
                "transformers",
                "--model",
                str(ckpt),
                "--max-tokens",
                "8",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    plan = load_plan(mini_plan)
    res = json.loads((out / "results" / "ecgbench_samples.json").read_text())
    assert [t["id"] for t in res["tasks"]] == ["rhythm", "findings"] and res["backend"] == "transformers"
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == sum(len(t.items) for t in plan.tasks) and all(isinstance(r["response"], str) for r in rows)
    findings = next(t for t in res["tasks"] if t["id"] == "findings")
    assert findings["fallbacks"] == sum(r["fallback"] for r in rows if r["task"] == "findings")
    assert (out / "report.md").read_text().count("## ") == 2


def test_a_killed_run_resumes_without_losing_duplicating_or_resending(tmp_path: Path) -> None:
    n = 24
    task = Task(
        id="mc",
        form="multiple_choice",
        items=tuple(
            Item(id=f"i{k:02d}", options=("x", "y"), turns=(Turn(question=f"item {k:02d}: A or B?"),), target="A")
            for k in range(n)
        ),
    )
    plan_path = Plan(suite="kill", version="1", suite_hash="h", spec_hash="h", bootstrap=0, tasks=(task,)).write(
        tmp_path / "kill.json"
    )
    out = tmp_path / "out"
    with RuleServer(lambda body: (200, completion("A"), 0.05)) as srv:
        cmd = [
            sys.executable,
            "-m",
            "ecgspec",
            "eval",
            str(plan_path),
            "--backend",
            "openai",
            "--url",
            srv.url,
            "--model",
            "m",
            "--concurrency",
            "2",
            "-o",
            str(out),
        ]
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.time() + 60
        while sum(srv.calls.values()) < 8 and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = sum(srv.calls.values())
        with sqlite3.connect(out / "cache.sqlite") as db:
            cached = {r[0] for r in db.execute("SELECT item FROM responses")}
        assert 0 < len(cached) < n, "the run was not killed mid-way"
        assert (
            main(
                [
                    "eval",
                    str(plan_path),
                    "--backend",
                    "openai",
                    "--url",
                    srv.url,
                    "--model",
                    "m",
                    "--concurrency",
                    "2",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        # every prompt reached the server once, except those in flight at the kill (sent, never cached)
        resent = {t for t, c in srv.calls.items() if c > 1}
        assert all(c <= 2 for c in srv.calls.values())
        assert not {t for t in resent if t.split(":")[0].replace("item ", "i") in cached}
        assert sum(srv.calls.values()) == n + (before - len(cached))
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [f"i{k:02d}" for k in range(n)]
