"""Families keep the shares their task weights give them: a turn is drawn of a family, and only
that family's tasks may fill it; one they cannot answer stays empty and is counted, unless the
corpus `refill`s. A conversation never asks one fact twice, and with `hide_in_header` a page
does not print the answer to its own question."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from ecgspec.build.item import _slots, printed_fields
from ecgspec.cli import main
from ecgspec.render import layout as layout_module
from ecgspec.render.header import Hidden, build_context, render_lines
from ecgspec.targets.prompts import Turn
from tests.helpers import REPO, sample_record, shipped_layout, shipped_paper


def no_refill(workspace: Path) -> None:
    """The workspace's corpus as the default has it: each family keeps its share (the shared
    workspace refills, as the tests of other behaviours expect every image built)."""
    spec = workspace / "mini.ecg"
    spec.write_text(spec.read_text().replace("    refill    = true\n", ""))


def build(workspace: Path, *extra: str) -> int:
    cwd = Path.cwd()
    os.chdir(workspace)
    try:
        return main(["build", "mini.ecg", "-o", "out", "--no-progress", "-j", "1", *extra])
    finally:
        os.chdir(cwd)


def _state(weights: dict[str, float], families: dict[str, str]) -> Any:
    prompters = {n: SimpleNamespace(task=SimpleNamespace(family=f)) for n, f in families.items()}
    return SimpleNamespace(task_weights=weights, prompters=prompters, synth=SimpleNamespace(off={}, active={}))


def test_each_turn_is_of_a_family_with_the_share_of_its_task_weights() -> None:
    # basic has many light tasks, report one heavy one: the shares are the weight sums, 0.3/0.3/0.4.
    weights = {"b1": 0.1, "b2": 0.1, "b3": 0.1, "r1": 0.3, "m1": 0.4}
    state = _state(weights, {"b1": "basic", "b2": "basic", "b3": "basic", "r1": "report", "m1": "morphology"})
    counts: dict[str, int] = {}
    n = 20_000
    for seed in range(n // 4):
        slots, queues = _slots(state, np.random.default_rng(seed), 4)
        assert sorted(queues["basic"]) == ["b1", "b2", "b3"]
        for f in slots:
            counts[f] = counts.get(f, 0) + 1
    assert counts["basic"] / n == pytest.approx(0.3, abs=0.012)
    assert counts["report"] / n == pytest.approx(0.3, abs=0.012)
    assert counts["morphology"] / n == pytest.approx(0.4, abs=0.012)


def _families(workspace: Path) -> dict[str, Any]:
    return json.loads((workspace / "out" / "build.json").read_text())["corpora"]["mini"]


def test_a_family_no_task_can_answer_leaves_its_turns_empty_and_counted(workspace: Path) -> None:
    # The CinC samples carry no report: every report turn is drawn, none filled, and none refilled.
    no_refill(workspace)
    assert build(workspace) == 0
    mini = _families(workspace)
    report = mini["families"]["report"]
    assert report["drawn"] > 0 and report["filled"] == 0 and report["unfilled"] == report["drawn"]
    assert "report" not in mini["counts"]["family"]
    drawn = sum(f["drawn"] for f in mini["families"].values())
    filled = sum(f["filled"] for f in mini["families"].values())
    assert filled == sum(mini["counts"]["family"].values()) < drawn


def test_a_corpus_that_refills_asks_another_family_instead(workspace: Path) -> None:
    assert "refill    = true" in (workspace / "mini.ecg").read_text()
    assert build(workspace) == 0
    mini = _families(workspace)
    assert "families" not in mini
    # Only two facts can be asked of these records (rate, rhythm): refilled, many items get both.
    assert "report" not in mini["counts"]["family"] and mini["counts"]["turns"].get("2", 0) > 0


def test_a_conversation_never_asks_one_fact_twice(workspace: Path) -> None:
    no_refill(workspace)
    spec = workspace / "mini.ecg"
    spec.write_text(spec.read_text().replace("turns     = 1..3", "turns     = 3"))
    assert build(workspace) == 0
    lines = [json.loads(x) for x in (workspace / "out" / "prompts" / "mini.jsonl").read_text().splitlines()]
    by_item: dict[str, list[str]] = {}
    for line in lines:
        by_item.setdefault(line["item"], []).append(line["task"])
    assert by_item
    for tasks in by_item.values():
        # rate_open and rate_fill both ask the rate; rhythm_mcq and rhythm_closed the rhythm labels.
        assert len({"rate_open", "rate_fill"} & set(tasks)) <= 1, tasks
        assert len({"rhythm_mcq", "rhythm_closed"} & set(tasks)) <= 1, tasks
        assert len(tasks) == len(set(tasks))


def test_a_page_whose_question_asks_the_rate_prints_no_rate(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_refill(workspace)
    spec = workspace / "mini.ecg"
    spec.write_text(spec.read_text().replace("    seed      = 5\n", "    seed      = 5\n    hide_in_header = true\n"))
    headers: list[tuple[bool, list[list[str]]]] = []
    original = layout_module.render_lines

    def capture(source: Any, ctx: Any, *, what: str) -> list[list[str]]:
        out = original(source, ctx, what=what)
        if what.endswith("header"):
            headers.append((isinstance(ctx["record"].get("heart_rate"), Hidden), out))
        return out

    monkeypatch.setattr(layout_module, "render_lines", capture)
    assert build(workspace) == 0
    lines = [json.loads(x) for x in (workspace / "out" / "prompts" / "mini.jsonl").read_text().splitlines()]
    asking_rate = {x["item"] for x in lines if x["provenance"]["fact"] == "record.heart_rate"}
    hidden = [text for is_hidden, text in headers if is_hidden]
    assert len(hidden) == len(asking_rate) > 0
    for text in hidden:
        printed = " ".join(" ".join(row) for row in text)
        assert "HR --- bpm" in printed, printed
    shown = [" ".join(" ".join(r) for r in text) for is_hidden, text in headers if not is_hidden]
    assert shown and all("HR ---" not in t for t in shown)


def test_the_fields_a_page_hides_are_those_its_questions_ask() -> None:
    def turn(fact: str, topics: tuple[str, ...] = ()) -> Turn:
        return Turn("t", "basic", "open", fact, "q", "a", None, topics=topics)

    assert printed_fields([turn("record.heart_rate")]) == ["heart_rate", "hr", "rr"]
    assert printed_fields([turn("record.av_block")]) == ["pr"]
    # A synthesised question about the QT asks what a QT and QTc header prints.
    assert printed_fields([turn("synth", ("qt",))]) == ["qt", "qtc"]
    assert "interpretation" in printed_fields([turn("record.labels")])


def test_a_hidden_field_prints_a_dash_or_nothing_whatever_the_template_does() -> None:
    record = sample_record(REPO / "data" / "samples" / "cinc2021" / "HR06000")
    record.meta["hidden_fields"] = ["heart_rate", "rr", "pr"]
    paper = shipped_paper("muse")
    ctx = build_context(record, paper, shipped_layout("4x3"))
    text = " ".join(" ".join(row) for row in render_lines(paper.header, ctx, what="paper 'muse' header"))
    assert "Vent. rate   --- BPM" in text
    assert "PR interval" not in text and "RR interval   --- ms" in text


def test_the_plan_draws_families_by_their_weights(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_refill(workspace)
    cwd = Path.cwd()
    os.chdir(workspace)
    try:
        assert main(["plan", "mini.ecg", "--calibrate", "0", "--json"]) == 0
    finally:
        os.chdir(cwd)
    q = json.loads(capsys.readouterr().out)["corpora"]["mini"]["questions"]
    drawn = q["families_drawn"]
    total = sum(drawn.values())
    # mini's tasks: rhythm 2, basic 2, report 1 (weight 1 each).
    assert drawn["rhythm"] / total == pytest.approx(0.4, abs=0.01)
    assert drawn["report"] / total == pytest.approx(0.2, abs=0.01)
    assert sum(q["per_task"].values()) == pytest.approx(q["expected"], rel=1e-6)
