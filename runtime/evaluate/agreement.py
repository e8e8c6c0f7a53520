"""How often the extractors read a response alike: default (correct mode), compat (the released ECGBench
rules) and, where configured, the LLM extractor — for `ecgspec score --compare-extractors`.

Each final-turn response of a multiple_choice, multi_label or select_all task is read three ways:

    default  what scoring reads in correct mode: `extract.extract` (or `constrained.read` for a task whose
             answers are constrained); a multiple-choice response it finds no letter in reads as nothing,
             not as the seeded random letter that scoring then draws
    compat   the released rules of `compat.py`: the letter cascade over A-H (no random fallback), label
             substrings (the CODE-15% NORM/ABNORMAL rule where the task declares `answers`), ECG-QA
             candidates from the question's `Options:` as substrings of the lower-cased response
    llm      the readings of `llm_extract` (an extraction that failed is left out of its columns and counted)

Two readings agree when they are the same letter (or both nothing) or the same set. Percentages are of
the responses both extractors read; items without a response are not compared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ecgspec.artifacts.plan_schema import Item, Plan, Task

from . import compat
from .backends.base import printable
from .constrained import FORMS, is_constrained, read
from .extract import extract
from .llm_extract import ExtractionOutcome

Reading = str | frozenset[str] | None  # a letter (None: no letter), or a set of labels or options
EXAMPLES: Final = 3
SHOWN: Final = 60  # characters of a response shown in an example


@dataclass(frozen=True)
class Disagreement:
    item: str
    response: str  # shortened, on one line
    readings: tuple[tuple[str, str], ...]  # (extractor, what it read), in column order


@dataclass(frozen=True)
class TaskAgreement:
    task: str
    form: str
    n: int  # responses compared
    default_compat: float | None  # share of responses read alike, 0-1; None when there is nothing to compare
    default_llm: float | None
    compat_llm: float | None
    llm: bool  # whether an LLM extractor read this task
    llm_failed: int
    examples: tuple[Disagreement, ...]


@dataclass(frozen=True)
class Agreement:
    tasks: tuple[TaskAgreement, ...]

    def render(self) -> str:
        """A plain-text table, then up to three disagreements per task."""
        head = ("task", "n", "default=compat", "default=llm", "compat=llm", "llm failed")
        rows = [
            (
                t.task,
                str(t.n),
                _pct(t.default_compat),
                _pct(t.default_llm) if t.llm else "—",
                _pct(t.compat_llm) if t.llm else "—",
                str(t.llm_failed) if t.llm else "—",
            )
            for t in self.tasks
        ]
        widths = [max(len(r[k]) for r in (head, *rows)) for k in range(len(head))]

        def line(cells: tuple[str, ...]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
            return "  ".join((first, *rest)).rstrip()

        out = ["Extractor agreement (share of responses two extractors read alike)", line(head)]
        out += [line(r) for r in rows]
        if not self.tasks:
            out.append("(no multiple_choice, multi_label or select_all task has a response)")
        shown = [t for t in self.tasks if t.examples]
        if shown:
            out += ["", f"Disagreements (at most {EXAMPLES} per task):"]
        for t in shown:
            for d in t.examples:
                out.append(f"  {t.task}/{d.item}: {d.response}")
                out.append("      " + " | ".join(f"{who}: {what}" for who, what in d.readings))
        return "\n".join(out) + "\n"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _shorten(text: str) -> str:
    one = re.sub(r"\s+", " ", printable(text)).strip()
    return repr(one if len(one) <= SHOWN else one[: SHOWN - 1] + "…")


def _show(r: Reading) -> str:
    if r is None:
        return "(nothing)"
    if isinstance(r, str):
        return r
    return "{" + ", ".join(sorted(r)) + "}" if r else "{}"


def default_reading(task: Task, item: Item, text: str, seed: int) -> Reading:
    got = read(task, item, text) if is_constrained(task) else extract(task, item.id, item.options, text, seed)
    if task.form == "multiple_choice":
        # A fallback letter is a draw, not a reading: comparing draws would measure the random stream.
        return None if got.fallback or not isinstance(got.value, str) else got.value
    return frozenset(got.value or ())


def compat_reading(task: Task, item: Item, text: str) -> Reading:
    if task.form == "multiple_choice":
        return compat.mcq_letter(text)
    if task.form == "multi_label":
        space = list(task.labels)
        found = compat.code15_prediction(text, space) if task.extract.answers else compat.labels_in(text, space)
        return frozenset(found)
    return frozenset(compat.ecgqa_prediction(text, compat.ecgqa_candidates(item.turns[0].question, item.options)))


def _llm_reading(task: Task, value: object) -> Reading:
    if task.form == "multiple_choice":
        return value if isinstance(value, str) else None
    return frozenset(value if isinstance(value, tuple) else ())


def _share(pairs: list[tuple[Reading, Reading]]) -> float | None:
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


def compare(
    plan: Plan, responses: Mapping[tuple[str, int], str], seed: int, llm: ExtractionOutcome | None = None
) -> Agreement:
    """Per task, how often the default, compat and (given its outcome) LLM extractors read a response alike."""
    out: list[TaskAgreement] = []
    for task in plan.tasks:
        if task.form not in FORMS:
            continue
        dc: list[tuple[Reading, Reading]] = []
        dl: list[tuple[Reading, Reading]] = []
        cl: list[tuple[Reading, Reading]] = []
        failed = 0
        read_by_llm = False
        examples: list[Disagreement] = []
        for it in task.items:
            key = (it.id, len(it.turns) - 1)
            text = responses.get(key)
            if text is None:
                continue
            d, c = default_reading(task, it, text, seed), compat_reading(task, it, text)
            dc.append((d, c))
            shown = [("default", _show(d)), ("compat", _show(c))]
            differ = d != c
            if llm is not None and key in llm.failures:
                read_by_llm = True
                failed += 1
                shown.append(("llm", f"failed ({llm.failures[key].kind})"))
            elif llm is not None and key in llm.extracted:
                read_by_llm = True
                got = _llm_reading(task, llm.extracted[key].value)
                dl.append((d, got))
                cl.append((c, got))
                shown.append(("llm", _show(got)))
                differ = differ or got != d or got != c
            if differ and len(examples) < EXAMPLES:
                examples.append(Disagreement(it.id, _shorten(text), tuple(shown)))
        if not dc:
            continue
        out.append(
            TaskAgreement(
                task=task.id,
                form=task.form,
                n=len(dc),
                default_compat=_share(dc),
                default_llm=_share(dl),
                compat_llm=_share(cl),
                llm=read_by_llm,
                llm_failed=failed,
                examples=tuple(examples),
            )
        )
    return Agreement(tuple(out))
