"""Extractor agreement on a small hand-made response set; every number below was worked out by hand from
the documented rules (runtime/evaluate/extract.py for default, the released rules in compat.py)."""

from __future__ import annotations

from ecgspec.artifacts.plan_schema import Extract, Task
from runtime.evaluate.agreement import compare
from runtime.evaluate.extract import Extracted
from runtime.evaluate.llm_extract import ExtractionFailure, ExtractionOutcome

from .helpers import item, plan_of

OPTIONS = ("sinus rhythm", "atrial fibrillation", "atrial flutter", "sinus bradycardia")
QA = ("sinus rhythm", "atrial fibrillation", "left axis deviation")
LONG = "ABNORMAL ECG with STTC, followed by a long explanation that goes on and on about the tracing"

PLAN = plan_of(
    Task(
        id="mcq",
        form="multiple_choice",
        items=tuple(item(f"m{k}", "A", options=OPTIONS) for k in range(1, 6)),
    ),
    Task(
        id="labels",
        form="multi_label",
        labels=("NORM", "MI", "STTC", "CD", "HYP"),
        items=(item("l1", ("MI",)), item("l2", ("STTC",)), item("l3", ("CD", "HYP"))),
    ),
    Task(
        id="select",
        form="select_all",
        items=tuple(
            item(f"s{k}", ("sinus rhythm",), question=f"Which of these apply? Options: {', '.join(QA)}", options=QA)
            for k in (1, 2)
        ),
    ),
    Task(
        id="cmcq",
        form="multiple_choice",
        extract=Extract(mode="constrained"),
        items=(item("c1", "B", options=OPTIONS),),
    ),
    Task(id="report", form="report", metrics=("judge",), rubric="r", criteria=("rhythm",), items=(item("r1", "x"),)),
)

RESPONSES = {
    # default B, compat B (the exact letter)
    ("m1", 0): "B",
    # default C (answer_is); compat nothing: no "C." (it is "C)."), no "Answer:" in that case
    ("m2", 0): "The answer is (C).",
    # default A (the last "Answer:"); compat D (the first "X." found, "D.")
    ("m3", 0): "I think D. Answer: A",
    # both nothing (default falls back to a random letter, which is not a reading)
    ("m4", 0): "No idea.",
    # m5: no response
    ("l1", 0): "MI",  # both {MI}
    ("l2", 0): LONG,  # default {STTC}; compat {NORM, STTC}: NORM is a substring of ABNORMAL
    ("l3", 0): "Answer: HYP, CD",  # both {CD, HYP}
    ("s1", 0): "Sinus rhythm, left axis deviation",  # both read the two options
    # default {atrial fibrillation} ("rhythm-like" is not the word "rhythm"); compat adds sinus rhythm
    ("s2", 0): "Atrial fibrillation with sinus rhythm-like pauses",
    ("c1", 0): '{"answer": "B"}',  # default B (the structured reply); compat reads no letter in JSON
    ("r1", 0): "a report",
}

LLM = ExtractionOutcome(
    extracted={
        ("m1", 0): Extracted("B"),
        ("m2", 0): Extracted("C"),
        ("m3", 0): Extracted("A"),
        ("s1", 0): Extracted(("sinus rhythm", "left axis deviation")),
        ("s2", 0): Extracted(("atrial fibrillation",)),
    },
    failures={("m4", 0): ExtractionFailure("timeout", "no answer in 300 s")},
)


def test_agreement_shares_per_task_match_the_hand_count() -> None:
    got = {t.task: t for t in compare(PLAN, RESPONSES, seed=0, llm=LLM).tasks}
    assert list(got) == ["mcq", "labels", "select", "cmcq"]  # the judged task has no answer to compare
    mcq, labels, select, cmcq = got["mcq"], got["labels"], got["select"], got["cmcq"]
    # mcq: default=compat on m1, m4 of m1-m4; the LLM read m1-m3 (m4 failed), agreeing with default on all
    # three and with compat on m1 only.
    assert (mcq.n, mcq.default_compat, mcq.default_llm, mcq.compat_llm) == (4, 2 / 4, 3 / 3, 1 / 3)
    assert mcq.llm and mcq.llm_failed == 1
    assert [d.item for d in mcq.examples] == ["m2", "m3"]  # m4: default and compat agree, the LLM failed
    assert (labels.n, labels.default_compat, labels.default_llm, labels.llm) == (3, 2 / 3, None, False)
    assert (select.n, select.default_compat, select.default_llm, select.compat_llm) == (2, 1 / 2, 2 / 2, 1 / 2)
    assert (cmcq.n, cmcq.default_compat) == (1, 0.0)


def test_without_an_llm_only_default_and_compat_are_compared() -> None:
    got = compare(PLAN, RESPONSES, seed=0)
    assert all(not t.llm and t.default_llm is None and t.compat_llm is None for t in got.tasks)
    assert [t.default_compat for t in got.tasks] == [2 / 4, 2 / 3, 1 / 2, 0.0]


def test_the_table_and_examples_render_as_plain_text() -> None:
    text = compare(PLAN, RESPONSES, seed=0, llm=LLM).render()
    lines = text.splitlines()
    assert lines[1].split() == ["task", "n", "default=compat", "default=llm", "compat=llm", "llm", "failed"]
    assert [ln.split() for ln in lines[2:6]] == [
        ["mcq", "4", "50.0%", "100.0%", "33.3%", "1"],
        ["labels", "3", "66.7%", "—", "—", "—"],
        ["select", "2", "50.0%", "100.0%", "50.0%", "0"],
        ["cmcq", "1", "0.0%", "—", "—", "—"],
    ]
    assert "  mcq/m2: 'The answer is (C).'\n      default: C | compat: (nothing) | llm: C\n" in text
    assert "  mcq/m3: 'I think D. Answer: A'\n      default: A | compat: D | llm: A\n" in text
    # A long response is cut to 60 characters, on one line.
    assert f"  labels/l2: '{LONG[:59]}…'\n      default: {{STTC}} | compat: {{NORM, STTC}}\n" in text
    assert (
        "  select/s2: 'Atrial fibrillation with sinus rhythm-like pauses'\n"
        "      default: {atrial fibrillation} | compat: {atrial fibrillation, sinus rhythm}"
        " | llm: {atrial fibrillation}\n"
    ) in text
    assert "mcq/m4" not in text and "mcq/m1" not in text
