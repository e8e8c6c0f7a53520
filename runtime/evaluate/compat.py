"""`scoring = pulse_compat`: the rules of the released ECGBench scorer, so numbers compare with the paper.

Read from AIMedLab/PULSE, `evaluation/evaluate_ecgbench.py` (and `eval_report.py`, `eval_arena.py`
for the judged tasks); re-implemented here from its behaviour, not copied. These rules are wrong
on purpose — docs/evaluation.md sets them beside the correct mode:

* labels: a label counts when its code is a case-sensitive *substring* of the text ("NORM" in
  "ABNORMAL", "ST" in "STTC"); the reference labels are read from the reference answer the same way;
* CODE-15%: after the last "Answer:", "NORM" without "ABNORMAL" adds NORM, else "ABNORMAL" adds
  ABNORMAL, then the label substrings; a reference that is exactly "NORM" or "ABNORMAL" is that class;
* multi-label metrics: classes are those seen in the *references* (a MultiLabelBinarizer fitted on
  them; predicted labels outside are dropped); F1 per class then averaged; AUC per class on the
  hard 0/1 predictions, NaN for a class with one value, averaged with NaN propagating; Hamming loss;
* multiple choice: its fixed cascade over the letters A-H whatever the number of options (exact
  letter; the first of "A.".."H." contained anywhere; the character after "The correct option is ";
  after "Answer:", the first of A..H contained anywhere), then `random.choice` from one
  `random.Random(42)` stream (A-D for 4 options, A-H otherwise) shared by the tasks in plan order —
  the released script seeds once and scores MMMU-ECG, then CSN, then G12EC, so the shipped suite
  lists them in that order;
* ECG-QA: candidates are the comma-separated text after "Options:" in the question (less the
  "Only answer based on the given Options without any explanation." sentence), each kept if it is a
  substring of the *lower-cased* response; exact set match with the reference list;
* missing items: the release scores the lines of a predictions file, so an item without a line is
  simply not there — dropped from the multi-label, ECG-QA and judged scores (the multi-label
  classes are fitted on the references of the lines present) — but a multiple-choice file whose
  line count is not the task's full count is skipped: no score, its fallbacks already drawn.

Intervals are ours (the release reports point estimates): a percentile bootstrap over items from
the plan's seed, each resample scored by the released rules (`multilabel_resample`: classes
refitted on the resample's references), as in correct mode.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence

import numpy as np

_MCQ_LETTERS = ("A", "B", "C", "D", "E", "F", "G", "H")
_ECGQA_TAIL = "Only answer based on the given Options without any explanation."


def labels_in(text: str, label_space: Sequence[str]) -> list[str]:
    return [label for label in label_space if label in text]


def code15_prediction(text: str, label_space: Sequence[str]) -> list[str]:
    if "Answer:" in text:
        text = text.split("Answer:")[-1]
    if "NORM" in text and "ABNORMAL" not in text:
        return ["NORM", *labels_in(text, label_space)]
    if "ABNORMAL" in text:
        return ["ABNORMAL", *labels_in(text, label_space)]
    return labels_in(text, label_space)


def code15_reference(answer: str, label_space: Sequence[str]) -> list[str]:
    if answer in ("NORM", "ABNORMAL"):
        return [answer]
    return labels_in(answer, label_space)


def mcq_letter(text: str) -> str | None:
    """The released cascade; None when it extracts nothing."""
    if text in _MCQ_LETTERS:
        return text
    for letter in _MCQ_LETTERS:
        if f"{letter}." in text:
            return letter
    if "The correct option is " in text:
        ch = text.split("The correct option is ")[-1][:1]
        return ch if ch in _MCQ_LETTERS else None
    if "Answer:" in text:
        tail = text.split("Answer:")[-1].strip()
        return next((letter for letter in _MCQ_LETTERS if letter in tail), None)
    return None


class FallbackStream:
    """One seeded stream for every random fallback of a compat scoring run, drawn in plan order."""

    def __init__(self, seed: int = 42):
        self._rng = random.Random(seed)

    def letter(self, n_options: int) -> str:
        return self._rng.choice(list(_MCQ_LETTERS[:4] if n_options <= 4 else _MCQ_LETTERS))


def ecgqa_candidates(question: str, options: Sequence[str] | None) -> list[str]:
    if "Options:" not in question:
        return list(options or ())
    tail = question.split("Options:")[-1].replace(_ECGQA_TAIL, "")
    return [c.strip() for c in tail.split(",")]


def ecgqa_prediction(text: str, candidates: Sequence[str]) -> list[str]:
    low = text.lower()
    return [c for c in candidates if c in low]


def multilabel_scores(y_pred: list[list[str]], y_true: list[list[str]]) -> dict[str, object]:
    """F1 (mean of per-class), AUC (mean of per-class on hard labels, NaN propagates), Hamming loss,
    over the classes seen in the references — the released `compute_f1_auc`."""
    from sklearn.metrics import f1_score, hamming_loss, roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer

    mlb = MultiLabelBinarizer()
    t = mlb.fit_transform(y_true)
    if t.shape[1] == 0:  # no reference names a class: the release has nothing to average
        nan = float("nan")
        empty = np.zeros((len(y_true), 0), dtype=np.int64)
        return {
            "classes": [],
            "f1": nan,
            "auc": nan,
            "hamming": nan,
            "f1_per_class": [],
            "auc_per_class": [],
            "y_true": empty,
            "y_pred": empty,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown class(es) will be ignored", as in the release
        p = mlb.transform(y_pred)
        f1s = f1_score(t, p, average=None)
    aucs = []
    for i in range(t.shape[1]):
        try:
            aucs.append(float(roc_auc_score(t[:, i], p[:, i])))
        except ValueError:
            aucs.append(float("nan"))
    return {
        "classes": list(mlb.classes_),
        "f1": float(np.mean(f1s)),
        "auc": float(np.mean(aucs)),
        "hamming": float(hamming_loss(t, p)),
        "f1_per_class": [float(x) for x in f1s],
        "auc_per_class": aucs,
        "y_true": t,
        "y_pred": p,
    }


def multilabel_resample(t: np.ndarray, p: np.ndarray, ix: np.ndarray) -> tuple[float, float, float]:
    """(F1, AUC, Hamming) of `multilabel_scores` on the items `ix` of the binarized references t and
    predictions p (columns: the classes fitted on every reference): the release refits its classes on
    the references it is given, so a class absent from the resample's references is dropped, with the
    predictions of it. Numpy formulas equal to its scikit-learn calls (tests compare them)."""
    from .metrics import _auc_per_class

    tt, pp = t[ix], p[ix]
    keep = tt.sum(0) > 0
    tt, pp = tt[:, keep], pp[:, keep]
    if tt.shape[1] == 0:
        nan = float("nan")
        return nan, nan, nan
    f1 = 2 * (tt & pp).sum(0) / (tt.sum(0) + pp.sum(0))  # every kept class has a positive reference
    auc = _auc_per_class(tt, pp.astype(float))
    return float(f1.mean()), float(auc.mean()), float((tt != pp).mean())
