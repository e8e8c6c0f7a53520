"""The evaluation report (runtime/evaluate/report.py): a hand-made plan scored by score_plan, plotted and
written as report.md + report.html, then read back as a reader would: the HTML parsed as XML, its tables
as cells, the plots' figures as matplotlib objects and, where Chromium exists, the page as pixels."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from ecgspec.artifacts.plan_schema import ExtractorModel, Plan
from ecgspec.artifacts.results import Results, TaskResult
from runtime.evaluate import report
from runtime.evaluate.score import Prediction, score_plan

from .helpers import Extract, Task, item, plan_of

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("SR", "AFIB", "STACH", "SBRAD", "PACE")
# (targets, response, per-label scores): SBRAD is answered but never a target, PACE is in neither
RHYTHMS: list[tuple[tuple[str, ...], str, dict[str, float]]] = [
    (("SR",), "SR", {"SR": 0.9, "AFIB": 0.1, "STACH": 0.2}),
    (("SR",), "AFIB", {"SR": 0.4, "AFIB": 0.6, "STACH": 0.1}),
    (("AFIB",), "AFIB", {"SR": 0.2, "AFIB": 0.8, "STACH": 0.3}),
    (("AFIB",), "SR", {"SR": 0.55, "AFIB": 0.45, "STACH": 0.25}),
    (("SR", "STACH"), "SR, STACH", {"SR": 0.7, "AFIB": 0.1, "STACH": 0.7}),
    (("SR",), "SR, SBRAD", {"SR": 0.8, "AFIB": 0.3, "STACH": 0.35, "SBRAD": 0.6}),
]
# (target letter, response); the last item has no prediction at all
CHOICES = [("A", "Answer: A")] * 4 + [("B", "Answer: B")] * 2 + [("B", "Answer: C"), ("C", "(C)"), ("D", "A.")]
CHOICES += [("D", "I am not sure."), ("C", None)]
OPTIONS = ("sinus rhythm", "atrial fibrillation", "atrial flutter", "sinus tachycardia")
RUBRIC = "Criteria: {{ criteria|join(', ') }}\n{% for t in turns %}{{ t.reference }} / {{ t.response }}\n{% endfor %}"


@dataclass
class Built:
    plan: Plan
    res: Results
    out: Path
    arrays: dict[str, dict[str, Any]]

    @property
    def html(self) -> str:
        return (self.out / "report.html").read_text(encoding="utf-8")

    def task(self, task_id: str) -> TaskResult:
        return next(t for t in self.res.tasks if t.id == task_id)


def sample_plan() -> Plan:
    rhythm = tuple(item(f"s{k}", target) for k, (target, _, _) in enumerate(RHYTHMS))
    hard = tuple(item(f"h{k}", target) for k, (target, _, _) in enumerate(RHYTHMS))
    mc = tuple(item(f"c{k}", letter, options=OPTIONS) for k, (letter, _) in enumerate(CHOICES))
    return plan_of(
        Task(id="scored_rhythm", form="multi_label", labels=LABELS, metrics=("auc", "f1", "hamming"), items=rhythm),
        Task(
            id="hard_rhythm",
            form="multi_label",
            labels=LABELS,
            metrics=("auc", "f1"),
            items=hard,
            extract=Extract(mode="constrained"),
        ),
        Task(id="choice", form="multiple_choice", metrics=("accuracy",), items=mc),
        Task(
            id="reports",
            form="report",
            metrics=("judge",),
            rubric=RUBRIC,
            criteria=("rhythm", "diagnosis"),
            items=(item("r0", "sinus rhythm"),),
        ),
        bootstrap=50,
        seed=1,
    )


def sample_predictions() -> dict[tuple[str, int], Prediction]:
    preds = {(f"s{k}", 0): Prediction(r, s) for k, (_, r, s) in enumerate(RHYTHMS)}
    # hard_rhythm is a constrained task: its replies are the JSON object it asks for (read alike as free text)
    preds |= {(f"h{k}", 0): Prediction(json.dumps({"labels": r.split(", ")})) for k, (_, r, _) in enumerate(RHYTHMS)}
    preds |= {(f"c{k}", 0): Prediction(r) for k, (_, r) in enumerate(CHOICES) if r is not None}
    preds[("r0", 0)] = Prediction("sinus rhythm, normal axis")
    return preds


def build(out: Path, mode: str = "default", model: str | None = "pulse-7b", with_plan: bool = True) -> Built:
    plan = sample_plan()
    scored = score_plan(plan, sample_predictions(), mode=mode)
    tasks = []
    for t in scored.tasks:
        plots = report.plot_task(t, scored.arrays.get(t.id, {}), out)
        tasks.append(t.model_copy(update={"plots": tuple(plots)}))
    res = Results(
        suite=plan.suite,
        version=plan.version,
        suite_hash=plan.suite_hash,
        spec_hash=plan.spec_hash,
        plan_hash=plan.content_hash(),
        scoring=mode,  # type: ignore[arg-type]
        backend="openai",
        model=model,
        generation={"temperature": 0.0, "max_tokens": 512, "stop": None},
        judge=None,
        bootstrap=plan.bootstrap,
        seed=plan.seed,
        created="2026-01-01T00:00:00+00:00",
        tasks=tuple(tasks),
    )
    report.write_report(res, out, plan=plan) if with_plan else report.write_report(res, out)
    return Built(plan, res, out, scored.arrays)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("report"))


def page(html: str) -> ET.Element:
    """The page parsed as XML: well-formed or an exception."""
    return ET.fromstring(html)


def cells(el: ET.Element) -> str:
    return " ".join("".join(el.itertext()).split())


def tables(root: ET.Element) -> list[list[dict[str, str]]]:
    """Every table as a list of {header: cell text} rows."""
    out = []
    for table in root.iter("table"):
        head = [cells(th) for th in table.iter("th")]
        body = table.find("tbody")
        rows = [] if body is None else body.findall("tr")
        out.append([dict(zip(head, (cells(td) for td in tr.findall("td")), strict=True)) for tr in rows])
    return out


def section_tables(root: ET.Element, task_id: str) -> list[list[dict[str, str]]]:
    """The tables under the h2 of a task (up to the next h2)."""
    body = root.find("body")
    assert body is not None
    found, inside = [], False
    for el in body:
        if el.tag == "h2":
            inside = cells(el) == task_id
        elif inside and el.tag == "table":
            wrapper = ET.Element("div")
            wrapper.append(el)
            found += tables(wrapper)
    return found


def wcag_contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG 2.x contrast ratio (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio), written here from the
    definition rather than taken from the code under test."""

    def lum(c: tuple[float, ...]) -> float:
        r, g, b_ = (x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_wcag_reference_values() -> None:
    # published pairs: black on white 21:1; #767676 on white 4.54:1 (the lightest AA grey on white)
    assert wcag_contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert wcag_contrast((0x76 / 255,) * 3, (1, 1, 1)) == pytest.approx(4.54, abs=0.01)


def test_html_is_well_formed_and_has_every_task(built: Built) -> None:
    root = page(built.html)
    assert root.tag == "html" and root.find("head/title") is not None
    assert [cells(h) for h in root.iter("h2")] == ["scored_rhythm", "hard_rhythm", "choice", "reports"]
    assert root.find("body/h1") is not None
    assert "Generation: temperature 0.0, max_tokens 512, stop n/a" in cells(root)


def test_html_shows_no_markdown_syntax_python_none_or_nan(built: Built) -> None:
    text = cells(page(built.html))
    assert "`" not in text and "**" not in text and "|" not in text
    assert not re.search(r"\bNone\b|\bnan\b|\bNaN\b|—", text), text


def test_summary_row_per_metric_states_its_scoring_and_answer_mode(built: Built) -> None:
    summary = tables(page(built.html))[0]
    got = {(r["task"], r["metric"]): (r["scoring mode"], r["answer mode"]) for r in summary}
    assert got == {
        ("scored_rhythm", "AUC"): ("default", "free text"),
        ("scored_rhythm", "F1"): ("default", "free text"),
        ("scored_rhythm", "Hamming loss"): ("default", "free text"),
        ("hard_rhythm", "AUC"): ("default", "constrained (json schema)"),
        ("hard_rhythm", "F1"): ("default", "constrained (json schema)"),
        ("choice", "accuracy"): ("default", "free text"),
        ("reports", "judge ×10"): ("default", "free text, judged"),
    }
    # the numbers are the results file's, and an unjudged task's score and interval are n/a
    for r in summary:
        m = built.task(r["task"]).metrics[{v: k for k, v in report._METRIC_NAMES.items()}[r["metric"]]]
        assert r["value"] == (report.NA if m.value is None else f"{m.value:.3f}")
        assert r["95% interval"] == (report.NA if m.lo is None else f"{m.lo:.3f}–{m.hi:.3f}")
    unjudged = next(r for r in summary if r["task"] == "reports")
    assert unjudged["value"] == unjudged["95% interval"] == unjudged["judge failures"] == "n/a"
    assert next(r for r in summary if r["task"] == "choice")["missing"] == "1"


def test_answer_mode_is_the_recorded_one_else_the_plans_else_na(built: Built, tmp_path: Path) -> None:
    llm = ExtractorModel(name="reader", model="qwen2.5-7b-instruct")
    task = Task(id="x", form="multi_label", labels=LABELS, extract=Extract(llm=llm))
    unrecorded = built.task("scored_rhythm").model_copy(update={"answer_mode": None})
    assert report.answer_mode(unrecorded, task) == "LLM extractor: reader"
    # what the scorer recorded wins over what the plan declares (an extractor declared but not run)
    assert report.answer_mode(built.task("scored_rhythm"), task) == "free text"
    # the old call, write_report(res, out), still works: the modes come from the results
    old = build(tmp_path, with_plan=False)
    modes = {r["task"]: r["answer mode"] for r in tables(page(old.html))[0]}
    assert modes == {
        "scored_rhythm": "free text",
        "hard_rhythm": "constrained (json schema)",
        "choice": "free text",
        "reports": "free text, judged",
    }
    # and results without a recorded mode, reported without the plan: unknown
    assert report.answer_mode(unrecorded, None) == "n/a"


def test_every_undefined_per_class_value_is_na(built: Built) -> None:
    root = page(built.html)
    targets = [set(t) for t, _, _ in RHYTHMS]
    answered = [set(r.split(", ")) for _, r, _ in RHYTHMS]
    for task_id in ("scored_rhythm", "hard_rhythm"):
        rows = {r["class"]: r for r in section_tables(root, task_id)[0]}
        assert list(rows) == list(LABELS)
        for c, r in rows.items():
            support = sum(c in t for t in targets)
            predicted = sum(c in a for a in answered)
            assert (r["support"], r["predicted"]) == (str(support), str(predicted))
            # 0/0 is undefined: precision of a class never answered, recall of one never a target, AUC of a
            # class with one value in the targets, F1 of a class in neither
            assert (r["precision"] == "n/a") == (predicted == 0)
            assert (r["recall"] == "n/a") == (support == 0)
            assert (r["AUC"] == "n/a") == (support in (0, len(RHYTHMS)))
            assert (r["F1"] == "n/a") == (support == predicted == 0)
            for v in r.values():
                assert v == "n/a" or re.fullmatch(r"[A-Z]+|\d+|\d\.\d{3}", v), v
    assert rows["SBRAD"]["precision"] == "0.000" and rows["SBRAD"]["F1"] == "0.000"


def test_classes_left_out_of_a_mean_and_missing_items_are_listed(built: Built) -> None:
    text = cells(page(built.html))
    assert re.search(r"Left out of the macro F1 and AUC \(in neither the targets nor the answers\): PACE\b", text)
    assert re.search(r"Left out of the macro AUC \(answered but in no target\): SBRAD\b", text)
    last = len(CHOICES) - 1  # no prediction; the one before it names no option
    assert built.task("choice").missing_ids == (f"c{last}",) and built.task("choice").fallback_ids == (f"c{last - 1}",)
    assert re.search(rf"Plan items without a prediction, left out of every metric: c{last}\b", text)
    assert re.search(rf"the fallback answered: c{last - 1}\b", text)


def test_confusion_counts_contrast_with_their_cells(built: Built) -> None:
    task = built.task("choice")
    assert task.confusion is not None
    fig = report.confusion_figure(task)
    ax = fig.axes[0]
    (im,) = ax.get_images()
    matrix = np.asarray(task.confusion["matrix"])
    assert {int(v) for v in matrix.ravel()} >= {0, 1, 4}  # light, middle and dark cells
    seen = set()
    for t in ax.texts:
        x, y = t.get_position()
        i, j = round(y), round(x)
        assert t.get_text() == str(matrix[i, j])
        cell = im.cmap(im.norm(matrix[i, j]))
        assert wcag_contrast(to_rgb(t.get_color()), cell) >= 4.5, (i, j, t.get_color(), cell)
        seen.add((i, j))
    assert seen == {(i, j) for i in range(matrix.shape[0]) for j in range(matrix.shape[1])}
    # the same colours survive into the PNG the report shows
    assert "choice_confusion.png" in task.plots and (built.out / "choice_confusion.png").stat().st_size > 0


def _roc_area(line: Any) -> float:
    x, y = (np.asarray(v, dtype=float) for v in line.get_data())
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def test_roc_images_where_auc_is_reported_and_their_areas_match_sklearn(built: Built) -> None:
    from sklearn.metrics import roc_auc_score

    root = page(built.html)
    shown = {img.get("src") for img in root.iter("img")}
    assert shown == {"scored_rhythm_roc.png", "hard_rhythm_roc.png", "choice_confusion.png"}
    assert all((built.out / s).is_file() for s in shown)
    y = np.array([[c in t for c in LABELS] for t, _, _ in RHYTHMS], dtype=int)
    scores = np.array([[s.get(c, 0.0) for c in LABELS] for _, _, s in RHYTHMS])
    said = np.array([[c in r.split(", ") for c in LABELS] for _, r, _ in RHYTHMS], dtype=int)
    for task_id, by in (("scored_rhythm", scores), ("hard_rhythm", said)):
        task = built.task(task_id)
        fig = report.roc_figure(task, built.arrays.get(task_id, {}))
        assert fig is not None
        panels = [ax for ax in fig.axes if ax.lines]
        defined = [j for j, c in enumerate(LABELS) if 0 < y[:, j].sum() < len(y)]
        assert [ax.get_title().split(":")[0] for ax in panels] == [LABELS[j] for j in defined]
        for ax, j in zip(panels, defined, strict=True):
            assert _roc_area(ax.lines[0]) == pytest.approx(roc_auc_score(y[:, j], by[:, j]))
            assert f"AUC {roc_auc_score(y[:, j], by[:, j]):.3f}" in ax.get_title()
        # the classes without an AUC are named in the figure, as n/a
        foot = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
        assert "AUC n/a" in foot and "PACE" in foot and "SBRAD" in foot
    assert report.roc_figure(built.task("choice"), {}) is None


def test_names_are_shown_as_written_not_as_markup(tmp_path: Path) -> None:
    weird = "m|<b>x</b>*y* `z` _a_ [l](u)"
    b = build(tmp_path, model=weird)
    root = page(b.html)
    assert weird in cells(root) and root.find(".//b") is None and root.find(".//a") is None
    assert tables(root)[0][0]["task"] == "scored_rhythm"  # the `|` did not split a table cell


def test_pulse_compat_report_says_so_and_keeps_na(tmp_path: Path) -> None:
    b = build(tmp_path, mode="pulse_compat")
    root = page(b.html)
    assert {r["scoring mode"] for r in tables(root)[0]} == {"pulse_compat"}
    rows = section_tables(root, "scored_rhythm")[0]
    assert rows and all(r["precision"] == r["recall"] == "n/a" for r in rows)  # the release computes neither
    assert not re.search(r"\bNone\b|\bnan\b|—", cells(root))


def _screenshot_module() -> Any:
    spec = importlib.util.spec_from_file_location("report_screenshot", ROOT / "docs" / "report_screenshot.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_headless_screenshot_of_the_report_is_not_blank(built: Built, tmp_path: Path) -> None:
    shot = _screenshot_module()
    if shot.find_chromium() is None:
        pytest.skip("no chromium binary on PATH")
    from PIL import Image

    png = tmp_path / "report.png"
    shot.screenshot(built.out / "report.html", png, width=1000, height=2400)
    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=float)
    assert rgb.shape[:2] == (2400, 1000)
    ink = (rgb.min(axis=2) < 200).mean()  # text, rules, table heads and plots
    assert ink > 0.02, ink
    # dark text at the top (the heading), and the Blues of a plot somewhere
    assert (rgb[:80].max(axis=2) < 80).any()
    blue = (rgb[..., 2] - rgb[..., 0] > 60) & (rgb[..., 2] > 100)
    assert blue.sum() > 200 and not math.isnan(float(rgb.std()))
