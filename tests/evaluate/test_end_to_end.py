"""End to end: a mini suite built from the shipped records, run with the tiny transformers model and
against an OpenAI-compatible server on 127.0.0.1, scored and reported; and a run killed with SIGKILL
that resumes without losing, duplicating or re-sending a cached request."""

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

from ecgspec.artifacts.plan import Item, Plan, Task, Turn, load_plan
from ecgspec.cli import main

from .helpers import RuleServer, completion, user_text

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ["HR06000", "HR06001", "JS20000"]


def _dx(record: str) -> tuple[str, ...]:
    for line in (ROOT / "data/samples/cinc2021" / f"{record}.hea").read_text().splitlines():
        if line.startswith("# Dx:"):
            return tuple(line.split(":", 1)[1].strip().split(","))
    return ()


def _sex(record: str) -> str:
    text = (ROOT / "data/samples/cinc2021" / f"{record}.hea").read_text()
    return "B" if "Sex: Male" in text else "A"


@pytest.fixture(scope="module")
def mini_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render three shipped records and write a plan of three tasks (labels, choice, judged report)."""
    from ecgspec.program import load
    from ecgspec.render.api import render_page, write_outputs
    from ecgspec.render.record import read_wfdb

    out = tmp_path_factory.mktemp("mini")
    program = load([ROOT / "specs/layouts.ecg", ROOT / "specs/papers.ecg"], root=ROOT)
    layout, paper = program.get("layout", "4x3"), program.get("paper", "standard")
    for r in RECORDS:
        page = render_page(read_wfdb(ROOT / "data/samples/cinc2021" / r), layout, paper, dpi=50)
        write_outputs(page, out / "images" / f"{r}.png")
    codes = tuple(sorted({c for r in RECORDS for c in _dx(r)}))
    dx = Task(id="dx", form="multi_label", labels=codes, metrics=("f1", "hamming", "auc"), items=tuple(
        Item(id=f"dx-{r}", image=f"../images/{r}.png", turns=(Turn(question=f"[{r}] Which SNOMED codes?"),),
             target=_dx(r), record=r) for r in RECORDS))
    sex = Task(id="sex", form="multiple_choice", items=tuple(
        Item(id=f"sex-{r}", image=f"../images/{r}.png", options=("female", "male"),
             turns=(Turn(question=f"[{r}] Sex of the patient? A. female B. male"),), target=_sex(r), record=r)
        for r in RECORDS))
    report = Task(id="report", form="report", metrics=("judge",), criteria=("rhythm", "diagnosis"),
                  rubric=(ROOT / "templates/judge/report.j2").read_text(), items=tuple(
                      Item(id=f"rep-{r}", image=f"../images/{r}.png", turns=(Turn(question=f"[{r}] Write a report."),),
                           target="sinus rhythm", record=r) for r in RECORDS))
    plan = Plan(suite="mini", version="0.1", suite_hash="a" * 64, spec_hash=program.spec_hash(), judge="judge-1",
                bootstrap=50, tasks=(dx, sex, report))
    return plan.write(out / "plans" / "mini.json").parent.parent / "plans" / "mini.json"


def model_rule(body: dict) -> tuple[int, object, float]:
    """The 'model': answers every question about a record from the record's header, or a judge verdict."""
    text = user_text(body)
    if "Reference report" in text:
        return 200, completion(json.dumps({"rhythm": {"score": 9}, "diagnosis": {"score": 5}})), 0
    rec = text[text.index("[") + 1:text.index("]")]
    if "SNOMED" in text:
        return 200, completion("Codes: " + ", ".join(_dx(rec))), 0
    if "Sex" in text:
        return 200, completion(f"Answer: {_sex(rec)}"), 0
    return 200, completion("Sinus rhythm."), 0


def test_eval_against_an_openai_compatible_server_scores_and_reports(mini_plan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with RuleServer(model_rule) as srv:
        rc = main(["eval", str(mini_plan), "--backend", "openai", "--url", srv.url, "--model", "m", "-o", str(out),
                   "--judge-url", srv.url])
        assert rc == 0
        first = sum(srv.calls.values())
        sent = [b for b in srv.bodies if "Reference report" not in user_text(b)]
        assert sent[0]["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
        # a second run answers every model request from the cache (judge verdicts are cached too)
        assert main(["eval", str(mini_plan), "--backend", "openai", "--url", srv.url, "--model", "m",
                     "-o", str(out), "--judge-url", srv.url]) == 0
        assert sum(srv.calls.values()) == first
    res = json.loads((out / "results" / "mini.json").read_text())
    by = {t["id"]: t for t in res["tasks"]}
    assert by["dx"]["metrics"]["f1"]["value"] == 1.0 and by["dx"]["metrics"]["hamming"]["value"] == 0.0
    assert by["sex"]["metrics"]["accuracy"]["value"] == 1.0 and by["sex"]["fallbacks"] == 0
    assert by["report"]["metrics"]["judge"]["value"] == pytest.approx(70.0)
    assert res["plan_hash"] == load_plan(mini_plan).content_hash() and res["model"] == "m"
    assert (out / "report.md").read_text().count("## ") == 3 and (out / "report.html").exists()
    assert (out / "sex_confusion.png").stat().st_size > 0
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rows} == {it.id for t in load_plan(mini_plan).tasks for it in t.items}
    # the same responses, scored from the predictions file by `score`
    assert main(["score", str(mini_plan), "--predictions", str(out / "predictions.jsonl"), "-o",
                 str(tmp_path / "s")]) == 0
    again = json.loads((tmp_path / "s" / "results" / "mini.json").read_text())
    assert again["tasks"][0]["metrics"] == res["tasks"][0]["metrics"]


def test_eval_with_the_tiny_transformers_model(mini_plan: Path, tmp_path: Path) -> None:
    tiny = pytest.importorskip("runtime.model.tiny", reason="runtime/model/tiny.py (trainer engineer) not present")
    ckpt = tiny.save_tiny_llava(tmp_path / "tiny")
    out = tmp_path / "out"
    assert main(["eval", str(mini_plan), "--backend", "transformers", "--model", str(ckpt), "--max-tokens", "8",
                 "--tasks", "dx,sex", "-o", str(out)]) == 0
    res = json.loads((out / "results" / "mini.json").read_text())
    assert [t["id"] for t in res["tasks"]] == ["dx", "sex"] and res["backend"] == "transformers"
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(isinstance(r["response"], str) for r in rows)
    sex = next(t for t in res["tasks"] if t["id"] == "sex")
    assert sex["fallbacks"] == sum(r["fallback"] for r in rows if r["task"] == "sex")


def test_a_killed_run_resumes_without_losing_duplicating_or_resending(tmp_path: Path) -> None:
    n = 24
    task = Task(id="mc", form="multiple_choice", items=tuple(
        Item(id=f"i{k:02d}", options=("x", "y"), turns=(Turn(question=f"item {k:02d}: A or B?"),), target="A")
        for k in range(n)))
    plan_path = Plan(suite="kill", version="1", suite_hash="h", spec_hash="h", bootstrap=0, tasks=(task,)).write(
        tmp_path / "kill.json")
    out = tmp_path / "out"
    with RuleServer(lambda body: (200, completion("A"), 0.05)) as srv:
        cmd = [sys.executable, "-m", "ecgspec", "eval", str(plan_path), "--backend", "openai", "--url", srv.url,
               "--model", "m", "--concurrency", "2", "-o", str(out)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.time() + 60
        while sum(srv.calls.values()) < 8 and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = sum(srv.calls.values())
        with sqlite3.connect(out / "cache.sqlite") as db:
            cached = {r[0] for r in db.execute("SELECT item FROM responses")}
        assert 0 < len(cached) < n, "the run was not killed mid-way"
        assert main(["eval", str(plan_path), "--backend", "openai", "--url", srv.url, "--model", "m",
                     "--concurrency", "2", "-o", str(out)]) == 0
        # every prompt reached the server once, except those in flight at the kill (sent, never cached)
        resent = {t for t, c in srv.calls.items() if c > 1}
        assert all(c <= 2 for c in srv.calls.values())
        assert not {t for t in resent if t.split(":")[0].replace("item ", "i") in cached}
        assert sum(srv.calls.values()) == n + (before - len(cached))
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [f"i{k:02d}" for k in range(n)]
