"""The readable report of a results file: report.md and report.html, per-task and per-class tables,
ROC curves per class (when the predictions carry scores) and confusion matrices for multiple choice.
matplotlib is imported only here, lazily, with the Agg backend (no display)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ecgspec.artifacts.results import Results, TaskResult, write_text_atomic


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _metric_cell(m: Any) -> str:
    if m.value is None:
        return "n/a"
    ci = f" [{_fmt(m.lo)}, {_fmt(m.hi)}]" if m.lo is not None else ""
    return f"{_fmt(m.value)}{ci}"


def plot_task(task: TaskResult, arrays: dict[str, Any], out_dir: Path) -> list[str]:
    """PNG plots for one task; returns their names relative to out_dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []
    if task.confusion:
        labels, matrix = task.confusion["labels"], task.confusion["matrix"]
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("extracted")
        ax.set_ylabel("target")
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_title(f"{task.id}: confusion")
        name = f"{task.id}_confusion.png"
        fig.tight_layout()
        fig.savefig(out_dir / name)
        plt.close(fig)
        names.append(name)
    if arrays.get("scores") is not None:
        from sklearn.metrics import roc_curve

        y, s, classes = arrays["y_true"], arrays["scores"], arrays["classes"]
        fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
        for j, c in enumerate(classes):
            if 0 < y[:, j].sum() < len(y):
                fpr, tpr, _ = roc_curve(y[:, j], s[:, j])
                ax.plot(fpr, tpr, label=c)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{task.id}: ROC per class")
        ax.legend(fontsize=7)
        name = f"{task.id}_roc.png"
        fig.tight_layout()
        fig.savefig(out_dir / name)
        plt.close(fig)
        names.append(name)
    return names


def markdown(res: Results) -> str:
    lines = [
        f"# {res.suite} {res.version} — results",
        "",
        f"- scoring: `{res.scoring}`; backend: `{res.backend}`; model: `{res.model}`; judge: `{res.judge}`",
        f"- suite hash `{res.suite_hash[:16]}`, spec hash `{res.spec_hash[:16]}`, plan hash `{res.plan_hash[:16]}`",
        f"- 95% intervals: percentile bootstrap, {res.bootstrap} resamples, seed {res.seed}",
        "",
        "| task | form | n | metrics | fallbacks | missing | judge failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in res.tasks:
        ms = "; ".join(f"{k} {_metric_cell(m)}" for k, m in t.metrics.items())
        jf = sum(t.judge.failures.values()) if t.judge else 0
        lines.append(f"| {t.id} | {t.form} | {t.n} | {ms} | {t.fallbacks} | {t.missing} | {jf} |")
    for t in res.tasks:
        lines += ["", f"## {t.id}", ""]
        for note in t.notes:
            lines.append(f"> {note}")
        if t.per_class:
            lines += [
                "",
                "| class | support | predicted | AUC | F1 | precision | recall |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in t.per_class:
                lines.append(
                    f"| {r.label} | {r.support} | {r.predicted} | {_fmt(r.auc)} | {_fmt(r.f1)} | "
                    f"{_fmt(r.precision)} | {_fmt(r.recall)} |"
                )
        if t.judge:
            lines += [
                "",
                f"Judge `{t.judge.model}`: {t.judge.scored} scored; failures: "
                + (", ".join(f"{k} {n}" for k, n in t.judge.failures.items()) or "none"),
                "",
                "| criterion | mean ×10 |",
                "|---|---|",
            ]
            lines += [f"| {c} | {_fmt(v, 1)} |" for c, v in t.judge.criteria.items()]
        for p in t.plots:
            lines += ["", f"![{p}]({p})"]
    return "\n".join(lines) + "\n"


def html_page(res: Results, md: str) -> str:
    """A self-contained page: the markdown's tables rendered as HTML tables, other lines as paragraphs."""
    body: list[str] = []
    rows: list[list[str]] = []

    def flush() -> None:
        if rows:
            head, *rest = rows
            body.append(
                "<table><thead><tr>"
                + "".join(f"<th>{c}</th>" for c in head)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
                + "</tbody></table>"
            )
            rows.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                rows.append(cells)
            continue
        flush()
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1 : -1]
            body.append(f'<img src="{html.escape(src)}" alt="{html.escape(src)}">')
        elif line.startswith("> "):
            body.append(f"<p class=note>{html.escape(line[2:])}</p>")
        elif line.startswith("- "):
            body.append(f"<p>{html.escape(line[2:])}</p>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}.note{color:#a05a00}img{max-width:32em}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(res.suite)} results</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(res: Results, out_dir: Path) -> tuple[Path, Path]:
    md = markdown(res)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text_atomic(md_path, md)
    write_text_atomic(html_path, html_page(res, md))
    return md_path, html_path
