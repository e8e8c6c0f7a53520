"""Metrics, correct mode: point estimates from scikit-learn, 95% intervals from a percentile bootstrap.

Point estimates are the direct scikit-learn calls (tests compare them with the same calls on the
same arrays). The bootstrap resamples items with replacement `B` times from the plan's seed and
re-computes each metric with numpy equivalents of those calls (identical formulas, vectorised:
a thousand scikit-learn calls per metric per task would take longer than the run it scores).
A resample on which a metric is undefined (an AUC whose class has one value) is left out of that
metric's interval rather than counted as NaN.

AUC is computed from per-label scores when the predictions carry them (`scores` in a predictions
line); from hard 0/1 labels otherwise, which the results say (`auc_from = hard_labels`): on hard
labels AUC is balanced accuracy, not a ranking measure. A class whose targets are all 0 or all 1
has no AUC; it is listed in `undefined_auc` and left out of the macro mean instead of turning it
into NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ecgspec.artifacts.results import ClassRow, Metric


@dataclass
class LabelScores:
    metrics: dict[str, Metric]
    per_class: list[ClassRow]
    undefined_auc: list[str] = field(default_factory=list)


def binarize(rows: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(rows), len(classes)), dtype=np.int64)
    for r, labels in enumerate(rows):
        for label in labels:
            if label in index:
                out[r, index[label]] = 1
    return out


# ---- numpy versions for the bootstrap (each equals its scikit-learn call on the same arrays) ----


def _f1_per_class(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """f1_score(average=None, zero_division=nan) along axis -2 (items); t, p: (..., n, C)."""
    tp = (t & p).sum(-2)
    denom = t.sum(-2) + p.sum(-2)
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)


def _auc_per_class(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """roc_auc_score per class via the Mann-Whitney U statistic with mid-ranks for ties; NaN where a
    class has one value. t, s: (n, C)."""
    n, c = t.shape
    out = np.full(c, np.nan)
    for j in range(c):
        pos = t[:, j] == 1
        n_pos = int(pos.sum())
        if n_pos == 0 or n_pos == n:
            continue
        order = np.argsort(s[:, j], kind="mergesort")
        sorted_s = s[order, j]
        ranks = np.empty(n)
        # mid-ranks: every run of tied scores gets the mean of its positions
        _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
        mid = first + (counts + 1) / 2.0
        ranks[order] = np.repeat(mid, counts)
        out[j] = (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
    return out


def bootstrap(n: int, b: int, seed: int, fn: Callable[[np.ndarray], float]) -> tuple[float | None, float | None]:
    """Percentile 95% interval of fn(indices) over b resamples; undefined resamples (NaN) are dropped."""
    return bootstrap_many(n, b, seed, lambda ix: (fn(ix),), 1)[0]


def bootstrap_many(
    n: int, b: int, seed: int, fn: Callable[[np.ndarray], Sequence[float]], k: int
) -> list[tuple[float | None, float | None]]:
    """`bootstrap` of k statistics computed together on each resample (the same resamples as
    `bootstrap` draws from the same seed); one interval per statistic."""
    if b <= 0 or n == 0:
        return [(None, None)] * k
    rng = np.random.default_rng(seed)
    vals: list[list[float]] = [[] for _ in range(k)]
    for _ in range(b):
        for acc, v in zip(vals, fn(rng.integers(0, n, n)), strict=True):
            if v is not None and not np.isnan(v):
                acc.append(v)
    out: list[tuple[float | None, float | None]] = []
    for acc in vals:
        if not acc:
            out.append((None, None))
            continue
        lo, hi = np.percentile(acc, [2.5, 97.5])
        out.append((float(lo), float(hi)))
    return out


def _metric(value: float | None, ci: tuple[float | None, float | None]) -> Metric:
    if value is not None and np.isnan(value):
        value = None
    return Metric(value=value, lo=ci[0], hi=ci[1])


def label_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Sequence[str],
    wanted: Sequence[str],
    *,
    scores: np.ndarray | None = None,
    b: int = 0,
    seed: int = 0,
) -> LabelScores:
    """Multi-label (or select-all over options) metrics: macro/per-class F1 and AUC, Hamming loss,
    exact-set match (subset accuracy)."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        hamming_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    s = (scores if scores is not None else y_pred).astype(float)
    n = len(y_true)
    defined = [j for j in range(len(classes)) if 0 < y_true[:, j].sum() < n]
    undefined = [classes[j] for j in range(len(classes)) if j not in defined]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A class that neither the targets nor the answers contain has no F1 (0/0): it is left out
        # of the macro mean (zero_division=nan), not counted as 0 — a model is not penalised for a
        # class the test set does not have, while a false positive of such a class still scores 0.
        f1_each = f1_score(y_true, y_pred, average=None, zero_division=np.nan)
        prec = precision_score(y_true, y_pred, average=None, zero_division=0)
        rec = recall_score(y_true, y_pred, average=None, zero_division=0)
    per_class = []
    for j, c in enumerate(classes):
        auc = float(roc_auc_score(y_true[:, j], s[:, j])) if j in defined else None
        per_class.append(
            ClassRow(
                label=c,
                support=int(y_true[:, j].sum()),
                predicted=int(y_pred[:, j].sum()),
                auc=auc,
                f1=None if np.isnan(f1_each[j]) else float(f1_each[j]),
                precision=float(prec[j]),
                recall=float(rec[j]),
            )
        )

    out: dict[str, Metric] = {}
    if "f1" in wanted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            macro = float(f1_score(y_true, y_pred, average="macro", zero_division=np.nan))

        def boot_f1(ix: np.ndarray) -> float:
            per = _f1_per_class(y_true[ix], y_pred[ix])
            return float(np.nanmean(per)) if not np.all(np.isnan(per)) else float("nan")

        out["f1"] = _metric(None if np.isnan(macro) else macro, bootstrap(n, b, seed, boot_f1))
    if "auc" in wanted:
        value = float(roc_auc_score(y_true[:, defined], s[:, defined], average="macro")) if defined else None

        def boot_auc(ix: np.ndarray) -> float:
            per = _auc_per_class(y_true[ix][:, defined], s[ix][:, defined])
            return float(np.nanmean(per)) if not np.all(np.isnan(per)) else float("nan")

        out["auc"] = _metric(value, bootstrap(n, b, seed, boot_auc) if defined else (None, None))
    if "hamming" in wanted:
        out["hamming"] = _metric(
            float(hamming_loss(y_true, y_pred)),
            bootstrap(n, b, seed, lambda ix: float((y_true[ix] != y_pred[ix]).mean())),
        )
    if "exact_match" in wanted or "accuracy" in wanted:
        value = float(accuracy_score(y_true, y_pred))
        ci = bootstrap(n, b, seed, lambda ix: float((y_true[ix] == y_pred[ix]).all(1).mean()))
        for name in ("exact_match", "accuracy"):
            if name in wanted:
                out[name] = _metric(value, ci)
    return LabelScores(out, per_class, undefined)


def choice_metrics(
    y_true: Sequence[str], y_pred: Sequence[str | None], letters: Sequence[str], *, b: int = 0, seed: int = 0
) -> tuple[dict[str, Metric], dict[str, object]]:
    """Multiple choice: accuracy (an unanswered item is wrong) and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix

    pred = [p if p is not None else "-" for p in y_pred]
    value = float(accuracy_score(list(y_true), pred))
    hit = np.array([t == p for t, p in zip(y_true, pred, strict=True)], dtype=float)
    ci = bootstrap(len(hit), b, seed, lambda ix: float(hit[ix].mean()))
    labels = list(letters) + (["-"] if "-" in pred else [])
    cm = confusion_matrix(list(y_true), pred, labels=labels)
    return {"accuracy": _metric(value, ci)}, {"labels": labels, "matrix": cm.tolist()}


def mean_metric(values: Sequence[float], *, b: int = 0, seed: int = 0) -> Metric:
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return Metric(value=None)
    return _metric(float(arr.mean()), bootstrap(len(arr), b, seed, lambda ix: float(arr[ix].mean())))
