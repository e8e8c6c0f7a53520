"""Export a plan as an lmms-eval task folder: one YAML per task, a group YAML, the items as JSON
lines and a self-contained utils.py whose answer extraction is the source of
runtime.evaluate.extract (copied in at export time, so the harness reads answers exactly as
`ecgspec score` does, without ecgspec installed).

Judged tasks (report, open) are not exported: lmms-eval's judge helpers score failures as
numbers, which this project refuses to do; score their logged samples with `ecgspec score`.
Data and image paths in the folder are absolute (lmms-eval resolves `data_files` against the
working directory); re-export after moving the plan.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from ecgspec.artifacts.plan_schema import Plan
from ecgspec.artifacts.results import write_text_atomic

from . import extract as ex

_HEAD = '''"""lmms-eval hooks for {suite} {version} (plan hash {plan_hash}); written by `ecgspec export-lmms`.
Answer extraction is copied from runtime.evaluate.extract (correct mode)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
import re
from functools import lru_cache

from PIL import Image

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_EDGE_L = {edge_l!r}
_EDGE_R = {edge_r!r}
SEED = {seed}
'''

_HOOKS = '''

def doc_to_visual(doc):
    return [Image.open(doc["image"]).convert("RGB")] if doc.get("image") else []


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def process_results(doc, results):
    text = results[0] if results else ""
    form = doc["form"]
    if form == "multiple_choice":
        letter = extract_letter(text, doc["options"], doc["rules"])
        fallback = letter is None
        if fallback and doc["fallback"] == "random":
            letter = fallback_letter(SEED, doc["id"], len(doc["options"]))
        return {"accuracy": float(letter == doc["target"]), "fallbacks": float(fallback)}
    if form == "select_all":
        got = find_options(text, doc["options"])
        return {"exact_match": float(set(got) == set(doc["target"])), "fallbacks": float(not got)}
    got = find_labels(text, doc["classes"], doc["synonyms"])
    row = {"target": doc["target"], "pred": got, "classes": doc["classes"]}
    return {"f1": row, "hamming": row, "exact_match": row, "auc": row}


def _arrays(rows):
    import numpy as np
    classes = rows[0]["classes"]
    t = np.array([[c in r["target"] for c in classes] for r in rows], dtype=int)
    p = np.array([[c in r["pred"] for c in classes] for r in rows], dtype=int)
    return t, p


def agg_f1(rows):
    from sklearn.metrics import f1_score
    t, p = _arrays(rows)
    return float(f1_score(t, p, average="macro", zero_division=0))


def agg_hamming(rows):
    from sklearn.metrics import hamming_loss
    t, p = _arrays(rows)
    return float(hamming_loss(t, p))


def agg_exact(rows):
    from sklearn.metrics import accuracy_score
    t, p = _arrays(rows)
    return float(accuracy_score(t, p))


def agg_auc(rows):
    """Macro AUC over the classes with both values in the targets (hard labels: no scores here)."""
    from sklearn.metrics import roc_auc_score
    t, p = _arrays(rows)
    keep = [j for j in range(t.shape[1]) if 0 < t[:, j].sum() < len(t)]
    return float(roc_auc_score(t[:, keep], p[:, keep], average="macro")) if keep else float("nan")
'''

_FUNCS = (
    ex.word_pattern,
    ex.final_answer,
    ex.find_labels,
    ex.find_options,
    ex._one,
    ex.mcq_rule,
    ex.extract_letter,
    ex.fallback_letter,
)


def utils_source(plan: Plan) -> str:
    head = _HEAD.format(
        suite=plan.suite,
        version=plan.version,
        plan_hash=plan.content_hash()[:16],
        edge_l=ex._EDGE_L,
        edge_r=ex._EDGE_R,
        seed=plan.seed,
    )
    body = "\n\n".join(inspect.getsource(f) for f in _FUNCS)
    body = body.replace("from ecgspec.artifacts.plan_schema import LETTERS", "")
    return head + "\n\n" + body + _HOOKS


def export(plan: Plan, plan_dir: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    names: list[str] = []
    for task in plan.tasks:
        if task.form in ("report", "open") or any(len(it.turns) > 1 for it in task.items):
            continue
        name = f"{plan.suite}_{task.id}"
        names.append(name)
        data = out / f"{task.id}.jsonl"
        lines = []
        for it in task.items:
            lines.append(
                json.dumps(
                    {
                        "id": it.id,
                        "question": it.turns[0].question,
                        "form": task.form,
                        "image": str((plan_dir / it.image).resolve()) if it.image else None,
                        "target": list(it.target) if isinstance(it.target, tuple) else it.target,
                        "options": list(it.options or ()),
                        "rules": list(task.extract.rules),
                        "fallback": task.extract.fallback,
                        "classes": [*task.labels, *task.extract.answers],
                        "synonyms": {k: list(v) for k, v in task.synonyms.items()},
                    },
                    ensure_ascii=False,
                )
            )
        write_text_atomic(data, "\n".join(lines) + "\n")
        if task.form == "multiple_choice":
            metrics = [("accuracy", "mean", True), ("fallbacks", "sum", False)]
        elif task.form == "select_all":
            metrics = [("exact_match", "mean", True), ("fallbacks", "sum", False)]
        else:
            agg = {"f1": "agg_f1", "hamming": "agg_hamming", "exact_match": "agg_exact", "auc": "agg_auc"}
            metrics = [(m, f"!function utils.{agg[m]}", m != "hamming") for m in task.metrics if m in agg]
        metric_yaml = "".join(
            f"  - metric: {m}\n    aggregation: {a}\n    higher_is_better: {str(h).lower()}\n" for m, a, h in metrics
        )
        yaml = (
            f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data.resolve()}\n"
            "test_split: test\noutput_type: generate_until\ndoc_to_visual: !function utils.doc_to_visual\n"
            "doc_to_text: !function utils.doc_to_text\ndoc_to_target: target\n"
            "generation_kwargs:\n  max_new_tokens: 512\n  temperature: 0\n  do_sample: false\n"
            f"process_results: !function utils.process_results\nmetric_list:\n{metric_yaml}"
            f"metadata:\n  suite_hash: {plan.suite_hash}\n  plan_hash: {plan.content_hash()}\n"
        )
        write_text_atomic(out / f"{name}.yaml", yaml)
        written += [data, out / f"{name}.yaml"]
    group = f"group: {plan.suite}\ntask:\n" + "".join(f"  - {n}\n" for n in names)
    write_text_atomic(out / f"{plan.suite}.yaml", group)
    write_text_atomic(out / "utils.py", utils_source(plan))
    return [*written, out / f"{plan.suite}.yaml", out / "utils.py"]
