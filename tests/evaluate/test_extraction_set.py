"""The default extractor against a clinician's reading of realistic model answers.

tests/evaluate/extraction_set.jsonl holds model answers in the styles of real ECGBench outputs
(bare codes as PULSE writes them, GPT-4o's step-by-step reasoning with an `Answer:` line,
LLaVA-Med's hedged paragraphs, checklists, lists), each with the labels, letter or options a
clinician reads in it (`reading`; null for a multiple-choice answer that names no one letter), written
without running the extractor. Every answer is read with the shipped suite's own task declaration
(labels, synonyms, whole-answer classes, rules), so the shipped vocabularies are tested too.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from ecgspec.artifacts.plan_schema import Task
from ecgspec.artifacts.suite_tasks import empty_task
from ecgspec.program import load
from runtime.evaluate.extract import extract

ROOT = Path(__file__).resolve().parents[2]
SET = Path(__file__).with_name("extraction_set.jsonl")
SUITES = {"ecgbench": ROOT / "specs" / "ecgbench.ecg", "ecgbench_samples": ROOT / "specs" / "ecgbench_samples.ecg"}
AGREEMENT = 0.97  # per task form, over every shipped suite task of that form


@cache
def shipped_tasks() -> dict[tuple[str, str], Task]:
    program = load(list(SUITES.values()))
    assert program.ok, [d.message for d in program.diagnostics if d.severity == "error"]
    return {
        (name, st.id): empty_task(program, st)
        for name in SUITES
        for st in program.get("suite", name).tasks  # type: ignore[attr-defined]
    }


def labelled() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line.strip()]


def read(row: dict[str, Any]) -> Any:
    """What the default extractor reads in one answer, in the set's terms (a sorted label list, a
    letter, or None where a multiple-choice answer fell back)."""
    task = shipped_tasks()[(row["suite"], row["task"])]
    got = extract(task, row["id"], row.get("options"), row["response"], seed=0)
    if task.form == "multiple_choice":
        return None if got.fallback else got.value
    return sorted(got.value or ())


def expected(row: dict[str, Any]) -> Any:
    return row["reading"] if isinstance(row["reading"], str) or row["reading"] is None else sorted(row["reading"])


def test_the_labelled_set_covers_every_form_and_shipped_task_with_300_answers() -> None:
    rows = labelled()
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    forms = Counter(shipped_tasks()[(r["suite"], r["task"])].form for r in rows)
    assert set(forms) == {"multi_label", "multiple_choice", "select_all"}
    wanted = {k for k, t in shipped_tasks().items() if t.form in forms}
    assert wanted <= {(r["suite"], r["task"]) for r in rows}
    for r in rows:
        task = shipped_tasks()[(r["suite"], r["task"])]
        if task.form == "multi_label":
            assert set(r["reading"]) <= {*task.labels, *task.extract.answers}, r["id"]
        elif task.form == "multiple_choice":
            assert r["reading"] is None or r["reading"] in "ABCDEFGH"[: len(r["options"])], r["id"]
        else:
            assert set(r["reading"]) <= set(r["options"]), r["id"]


def test_default_extraction_agrees_with_the_clinician_reading_per_form(capsys: pytest.CaptureFixture[str]) -> None:
    per_form: dict[str, list[bool]] = defaultdict(list)
    per_task: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for row in labelled():
        form = shipped_tasks()[(row["suite"], row["task"])].form
        got, want = read(row), expected(row)
        per_form[form].append(got == want)
        per_task[row["task"]].append(got == want)
        if got != want:
            misses.append(f"  {row['id']}: read {got}, clinician {want}: {row['response'][:90]!r}")
    with capsys.disabled():
        print("\nextraction agreement with the clinician reading")
        for name, hits in sorted(per_task.items()):
            print(f"  task {name:12s} {sum(hits):4d}/{len(hits):<4d} {sum(hits) / len(hits):.3f}")
        for form, hits in sorted(per_form.items()):
            print(f"  form {form:16s} {sum(hits):4d}/{len(hits):<4d} {sum(hits) / len(hits):.3f}")
        print("disagreements:\n" + ("\n".join(misses) or "  none"))
    for form, hits in per_form.items():
        assert sum(hits) / len(hits) >= AGREEMENT, f"{form}: {sum(hits)}/{len(hits)}"


def test_label_confusion_per_task_counts_every_disagreement_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Per-class false positives and false negatives of the multi-label tasks, the confusion a reader
    of the agreement figure needs to see which classes the disagreements fall on."""
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for row in labelled():
        task = shipped_tasks()[(row["suite"], row["task"])]
        if task.form != "multi_label":
            continue
        got, want = set(read(row)), set(row["reading"])
        for c in got - want:
            confusion[row["task"]][f"{c} extra"] += 1
        for c in want - got:
            confusion[row["task"]][f"{c} missed"] += 1
    with capsys.disabled():
        for name, counts in sorted(confusion.items()):
            print(f"  {name}: " + (", ".join(f"{k} ×{v}" for k, v in sorted(counts.items())) or "no disagreement"))
    total = sum(sum(c.values()) for c in confusion.values())
    rows = [r for r in labelled() if shipped_tasks()[(r["suite"], r["task"])].form == "multi_label"]
    assert total <= len(rows) * 2 * (1 - AGREEMENT)
