"""The readable report of a results file: report.md and report.html, per-task and per-class tables,
ROC curves per class wherever an AUC is reported, and confusion matrices for multiple choice.

The report is laid out by two Jinja templates shipped beside this module (templates/report.md.j2,
report.html.j2, rendered in a sandbox); the HTML is the Markdown rendered by markdown-it-py. Every
undefined value (None, NaN, a precision of a class never answered, ...) is shown as "n/a", in tables
and plots alike. matplotlib is imported only here, lazily, through its object API (no pyplot, no display).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ecgspec.artifacts.results import ClassRow, Results, TaskResult, write_text_atomic

if TYPE_CHECKING:
    from jinja2 import Environment
    from matplotlib.figure import Figure

    from ecgspec.artifacts.plan_schema import Plan, Task

NA = "n/a"
TEMPLATES = Path(__file__).parent / "templates"

_METRIC_NAMES = {"auc": "AUC", "f1": "F1", "hamming": "Hamming loss", "accuracy": "accuracy", "judge": "judge ×10"}
_SCORING_MEANS = {"default": "correct rules", "pulse_compat": "the released ECGBench scorer's rules"}
_AUC_FROM = {"scores": "per-label scores", "hard_labels": "hard 0/1 labels"}
_NO_ANSWER = "-"  # metrics.choice_metrics' column for an item where no letter was read
# TaskResult fields the report lays out itself; any other field (added later) is listed by its description.
_SHOWN = {
    "id", "form", "n", "metrics", "per_class", "fallbacks", "fallback_ids", "missing", "missing_ids",
    "auc_from", "undefined_auc", "excluded_classes", "f1_absent_as_zero", "judge", "confusion", "plots", "notes",
    "answer_mode", "extractor_failures", "extractor_failure_ids",
}  # fmt: skip
_EXCLUDED_WHY = {
    "absent": "in neither the targets nor the answers",
    "answers_only": "answered but in no reference; its answers are dropped",
    "no_positive_target": "answered but in no target",
    "in_every_target": "in every target",
}


# ---- values ------------------------------------------------------------------------------------


def fmt(x: float | None, digits: int = 3) -> str:
    """A number with `digits` decimals; "n/a" for an undefined one (None or NaN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return NA
    return f"{x:.{digits}f}"


def text(x: object) -> str:
    """A setting or name as shown: "n/a" when it was not given."""
    return NA if x is None or x == "" else str(x)


def interval(m: Any) -> str:
    """A metric's bootstrap 95% interval, "n/a" when there is none (no resamples, or no value)."""
    if m.value is None or m.lo is None or m.hi is None:
        return NA
    return f"{fmt(m.lo)}–{fmt(m.hi)}"


def class_cells(r: ClassRow) -> dict[str, str]:
    """A per-class row. Precision is undefined for a class never answered and recall for a class never in
    the targets (0/0), whatever a scorer stored there (scikit-learn's zero_division fills in 0)."""
    return {
        "label": r.label,
        "support": str(r.support),
        "predicted": str(r.predicted),
        "auc": fmt(r.auc),
        "f1": fmt(r.f1),
        "precision": NA if r.predicted == 0 else fmt(r.precision),
        "recall": NA if r.support == 0 else fmt(r.recall),
    }


def answer_mode(task: TaskResult, plan_task: Task | None) -> str:
    """How the scored answer was obtained, as the plan declares it (`extract.mode`, `extract.llm`), in the
    words of constrained.mode_of; "n/a" without the plan."""
    from .constrained import mode_of

    recorded = getattr(task, "answer_mode", None)  # a results file that records it wins
    if recorded:
        return str(recorded)
    if task.form in ("report", "open"):
        return "free text, judged"
    return NA if plan_task is None else mode_of(plan_task)


def _ids(ids: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


def _extra_value(v: Any) -> str | None:
    """A later-added TaskResult field as text, or None when it is empty or not a plain value."""
    if v is None or v == () or v == [] or v == {} or isinstance(v, bool) and not v:
        return None
    if isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in v):
        return _ids([str(x) for x in v])
    if isinstance(v, dict) and all(isinstance(x, (str, int, float, type(None))) for x in v.values()):
        return ", ".join(f"{k} {fmt(x) if isinstance(x, float) or x is None else x}" for k, x in v.items())
    if isinstance(v, float):
        return fmt(v)
    if isinstance(v, (str, int)):
        return str(v)
    return None


def _described(task: TaskResult, name: str) -> str:
    info = type(task).model_fields.get(name)
    text = (info.description if info is not None else None) or name.replace("_", " ")
    return text[:1].upper() + text[1:].rstrip(".")


def excluded_facts(task: TaskResult) -> list[tuple[str, str]]:
    """Classes left out of a macro mean, grouped by why and by the metrics they are left out of."""
    excluded = getattr(task, "excluded_classes", ())
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for e in excluded:
        groups.setdefault((str(e.reason), tuple(e.metrics)), []).append(e.label)
    facts = []
    for (why, metrics), labels in groups.items():
        named = " and ".join(_METRIC_NAMES.get(m, m) for m in metrics) or "every metric"
        facts.append((f"Left out of the macro {named} ({_EXCLUDED_WHY.get(why, why)})", _ids(labels)))
    no_auc = {e.label for e in excluded if "auc" in e.metrics}
    if rest := [c for c in task.undefined_auc if c not in no_auc]:
        facts.append(("No AUC (one value in the targets)", _ids(rest)))
    absent_as_zero = getattr(task, "f1_absent_as_zero", None)
    if absent_as_zero is not None:
        facts.append(("Macro F1 with every absent class counted as 0", fmt(absent_as_zero)))
    return facts


def task_facts(task: TaskResult) -> list[tuple[str, str]]:
    """What a reader needs besides the tables: classes left out of a macro mean, missing and fallback items,
    and whatever else the results file records for the task."""
    facts = excluded_facts(task)
    if task.missing:
        facts.append((_described(task, "missing"), _ids(task.missing_ids) or str(task.missing)))
    if task.fallbacks:
        facts.append((_described(task, "fallbacks"), _ids(task.fallback_ids) or str(task.fallbacks)))
    if task.extractor_failures:
        facts.append(
            (_described(task, "extractor_failures"), _ids(task.extractor_failure_ids) or str(task.extractor_failures))
        )
    for name in type(task).model_fields:
        if name in _SHOWN:
            continue
        shown = _extra_value(getattr(task, name, None))
        if shown is not None:
            facts.append((_described(task, name), shown))
    return facts


# ---- the view the templates lay out --------------------------------------------------------------


@dataclass(frozen=True)
class MetricView:
    name: str
    value: str
    interval: str


@dataclass(frozen=True)
class TaskView:
    id: str
    form: str
    n: int
    scoring: str
    answer_mode: str
    metrics: list[MetricView]
    fallbacks: int
    missing: int
    judge_failures: str
    auc_from: str
    notes: tuple[str, ...]
    facts: list[tuple[str, str]]
    per_class: list[dict[str, str]]
    judge: dict[str, Any] | None
    plots: list[dict[str, str]]


@dataclass(frozen=True)
class ReportView:
    suite: str
    version: str
    scoring: str
    scoring_means: str
    backend: str
    model: str
    judge: str
    generation: str
    suite_hash: str
    spec_hash: str
    plan_hash: str
    intervals: str
    created: str
    tasks: list[TaskView] = field(default_factory=list)


def view(res: Results, plan: Plan | None = None) -> ReportView:
    by_id = {t.id: t for t in plan.tasks} if plan is not None else {}
    tasks = []
    for t in res.tasks:
        scoring = str(getattr(t, "scoring", None) or res.scoring)
        judge = None
        if t.judge:
            failures = ", ".join(f"{k} {n}" for k, n in t.judge.failures.items() if n) or "none"
            judge = {
                "model": t.judge.model,
                "scored": t.judge.scored,
                "failures": failures,
                "criteria": [(c, fmt(v, 1)) for c, v in t.judge.criteria.items()],
            }
        tasks.append(
            TaskView(
                id=t.id,
                form=t.form,
                n=t.n,
                scoring=scoring,
                answer_mode=answer_mode(t, by_id.get(t.id)),
                metrics=[MetricView(_METRIC_NAMES.get(k, k), fmt(m.value), interval(m)) for k, m in t.metrics.items()]
                or [MetricView(NA, NA, NA)],
                fallbacks=t.fallbacks,
                missing=t.missing,
                judge_failures=str(sum(t.judge.failures.values())) if t.judge else NA,
                auc_from=_AUC_FROM.get(t.auc_from, t.auc_from) if t.auc_from else "",
                notes=t.notes,
                facts=task_facts(t),
                per_class=[class_cells(r) for r in t.per_class],
                judge=judge,
                plots=[{"alt": _plot_alt(t.id, p), "src": quote(p)} for p in t.plots],
            )
        )
    intervals = (
        f"percentile bootstrap, {res.bootstrap} resamples, seed {res.seed}"
        if res.bootstrap
        else "none (bootstrap = 0): point estimates only"
    )
    return ReportView(
        suite=res.suite,
        version=res.version,
        scoring=res.scoring,
        scoring_means=_SCORING_MEANS.get(res.scoring, res.scoring),
        backend=text(res.backend),
        model=text(res.model),
        judge=text(res.judge),
        generation=", ".join(f"{k} {text(v)}" for k, v in res.generation.items()) or NA,
        suite_hash=res.suite_hash[:16],
        spec_hash=res.spec_hash[:16],
        plan_hash=res.plan_hash[:16],
        intervals=intervals,
        created=res.created,
        tasks=tasks,
    )


def _plot_alt(task_id: str, name: str) -> str:
    stem = Path(name).stem
    kind = stem[len(task_id) + 1 :] if stem.startswith(task_id + "_") else stem
    return f"{task_id}: " + {"confusion": "confusion matrix", "roc": "ROC curve per class"}.get(kind, kind)


# ---- rendering -----------------------------------------------------------------------------------

# Markdown's inline specials, backslash-escaped so that a label or a model name shows as written and
# cannot open a table cell, a link or raw HTML; `_` only at a word's edge, where it could emphasise.
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|&~]|(?<!\w)_|_(?!\w)")


def md_escape(value: object) -> str:
    if value is None:
        return NA
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(value).split()))


@cache
def _environments() -> tuple[Environment, Environment]:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    loader = FileSystemLoader(TEMPLATES)
    # Markdown: every {{ }} value goes through md_escape (finalize), Markdown's own autoescape.
    md_env = SandboxedEnvironment(
        loader=loader, autoescape=False, finalize=md_escape, undefined=StrictUndefined, keep_trailing_newline=True
    )
    html_env = SandboxedEnvironment(loader=loader, autoescape=True, undefined=StrictUndefined)
    return md_env, html_env


def markdown(res: Results, plan: Plan | None = None) -> str:
    md_env, _ = _environments()
    md = md_env.get_template("report.md.j2").render(r=view(res, plan))
    return re.sub(r"\n{3,}", "\n\n", md)  # the templates' optional blocks leave runs of blank lines


def html_page(res: Results, md: str | None = None, plan: Plan | None = None) -> str:
    """The HTML page: the Markdown report rendered by markdown-it-py (raw HTML in it disabled, so its output
    holds only what the renderer makes) inside templates/report.html.j2."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    if md is None:
        md = markdown(res, plan)
    body = MarkdownIt("commonmark", {"html": False, "xhtmlOut": True}).enable("table").render(md)
    _, html_env = _environments()
    return html_env.get_template("report.html.j2").render(
        title=f"{res.suite} {res.version}: results", body=Markup(body)
    )


def write_report(res: Results, out_dir: Path, plan: Plan | None = None) -> tuple[Path, Path]:
    """report.md and report.html in out_dir. With the plan, each task row says its answer mode."""
    md = markdown(res, plan)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text_atomic(md_path, md)
    write_text_atomic(html_path, html_page(res, md))
    return md_path, html_path


# ---- plots -----------------------------------------------------------------------------------------


def relative_luminance(rgb: Iterable[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour with channels in [0, 1]."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in list(rgb)[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: Iterable[float], b: Iterable[float]) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour_on(background: Iterable[float]) -> str:
    """Black or white, whichever contrasts more with the background."""
    bg = list(background)
    return "black" if contrast_ratio(bg, (0.0, 0.0, 0.0)) >= contrast_ratio(bg, (1.0, 1.0, 1.0)) else "white"


def confusion_figure(task: TaskResult) -> Figure:
    """The confusion matrix of a multiple-choice task, each cell annotated with its count in black or white
    by the cell's luminance."""
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    assert task.confusion is not None
    labels = ["no answer" if x == _NO_ANSWER else str(x) for x in task.confusion["labels"]]
    matrix = task.confusion["matrix"]
    side = max(3.2, 0.55 * len(labels) + 1.6)
    fig = Figure(figsize=(side, side), dpi=100)
    ax = fig.add_subplot()
    top = max((v for row in matrix for v in row), default=0)
    im = ax.imshow(matrix, cmap="Blues", norm=Normalize(vmin=0, vmax=max(top, 1)))
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("extracted answer")
    ax.set_ylabel("target")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            bg = im.cmap(im.norm(v))
            ax.text(j, i, str(v), ha="center", va="center", fontsize=10, color=text_colour_on(bg))
    ax.set_title(f"{task.id}: confusion (n={task.n})", fontsize=10)
    fig.tight_layout()
    return fig


def _hard_label_point(r: ClassRow, n: int) -> tuple[float, float]:
    """(FPR, TPR) of a class scored on hard 0/1 labels, from its counts over the n scored items: the ROC of
    a hard classifier is this one operating point joined to (0, 0) and (1, 1). TP comes from
    F1 = 2TP / (support + predicted)."""
    tp = round((r.f1 or 0.0) * (r.support + r.predicted) / 2)
    fp = r.predicted - tp
    return fp / (n - r.support), tp / r.support


def roc_figure(task: TaskResult, arrays: dict[str, Any]) -> Figure | None:
    """One panel per class whose AUC is reported; classes with an undefined AUC are named as n/a beneath.
    From the per-label scores when the predictions carry them (scikit-learn roc_curve), else from the
    hard-label counts. None when no class has an AUC."""
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    rows = [r for r in task.per_class if r.auc is not None and not math.isnan(r.auc)]
    if not rows:
        return None
    scores, classes = arrays.get("scores"), list(arrays.get("classes") or ())
    cols = min(4, len(rows))
    nrows = math.ceil(len(rows) / cols)
    undefined = [r.label for r in task.per_class if r.auc is None or math.isnan(r.auc)]
    foot = 0.5 if undefined else 0.0
    fig = Figure(figsize=(max(2.7 * cols + 0.3, 4.6), 2.75 * nrows + 0.45 + foot), dpi=100)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for k, r in enumerate(rows):
        ax = axes[k // cols][k % cols]
        if scores is not None and r.label in classes:
            j = classes.index(r.label)
            fpr, tpr, _ = roc_curve(arrays["y_true"][:, j], scores[:, j])
            ax.plot(fpr, tpr, color="#1f5fa8", lw=1.6, label="per-label scores")
        else:
            # missing items and those the extractor could not read are in no metric
            x, y = _hard_label_point(r, task.n - task.missing - task.extractor_failures)
            ax.plot([0.0, x, 1.0], [0.0, y, 1.0], color="#1f5fa8", lw=1.6, label="hard labels")
            ax.plot([x], [y], "o", color="#1f5fa8", ms=4)
        ax.plot([0, 1], [0, 1], ":", color="#666666", lw=0.8)
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
        ax.set_title(f"{r.label}: AUC {fmt(r.auc)} (n+={r.support})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("false positive rate", fontsize=8)
        ax.set_ylabel("true positive rate", fontsize=8)
    for k in range(len(rows), nrows * cols):
        axes[k // cols][k % cols].set_axis_off()
    fig.suptitle(f"{task.id}: ROC per class (from {_AUC_FROM.get(str(task.auc_from), NA)})", fontsize=10)
    if undefined:
        wrap = textwrap.fill("AUC n/a (one value in the targets): " + ", ".join(undefined), max(30 * cols, 55))
        fig.text(0.5, 0.01, wrap, ha="center", va="bottom", fontsize=8, color="#333333")
    fig.tight_layout(rect=(0, foot / fig.get_figheight(), 1, 1))
    return fig


def plot_task(task: TaskResult, arrays: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG plots for one task; returns their names relative to out_dir."""
    names: list[str] = []
    figures: list[tuple[str, Figure | None]] = []
    if task.confusion:
        figures.append((f"{task.id}_confusion.png", confusion_figure(task)))
    figures.append((f"{task.id}_roc.png", roc_figure(task, arrays)))
    for name, fig in figures:
        if fig is not None:
            fig.savefig(out_dir / name)
            names.append(name)
    return names
