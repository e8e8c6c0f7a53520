"""Read the signal back from a rendered page, using only its pixels and its sidecar.

This is what the sidecar is for (a grader checking an answer, a digitiser model's training
target), and it is how the tests prove that the pages are physically exact: digitise, compare
with the source record.

Method, per lead entry of the sidecar:
1. ink mask: pixels whose brightest channel is below `threshold` (trace ink is dark; grid lines,
   even a black-and-white paper's major lines, are not);
2. within the lead's box, each pixel column's ink forms vertical runs; the trace is the chain of
   runs, one per column, that is most continuous (each run touching the next), keeps its
   direction where two traces cross, and stays nearest the lead's baseline: a Viterbi path over
   the runs, which may skip a column rather than take a stray run. Labels, separator ticks and a
   neighbour's tall waves form other runs and are passed over;
3. value = (baseline_y - centre of the run) / px_per_mV; time = t0 + (column centre - box x0) /
   px_per_s.
4. A column is `ambiguous` when the run chosen for this lead touches the run chosen for another
   lead (boxes overlap where tall waves cross): the two traces' ink has merged there, and no
   column-wise reader can tell them apart. So is a column at a boundary between two panels of a
   row, where the separator tick crosses the trace. Such columns are flagged for the caller to
   leave out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sidecar import LeadInfo, Sidecar


@dataclass
class Trace:
    lead: LeadInfo
    t: np.ndarray  # seconds of the source record
    v: np.ndarray  # mV, NaN where a column has no ink
    ambiguous: np.ndarray  # bool per column
    top: np.ndarray  # pixel row span of the chosen ink run per column (NaN: none)
    bottom: np.ndarray
    first_column: int  # image column of t[0]


def ink_mask(image: np.ndarray, threshold: int = 128) -> np.ndarray:
    """True where a pixel is dark enough to be trace ink."""
    if image.ndim == 2:
        return image < threshold
    # Channel-wise maxima: several times faster than image.max(axis=2) on a page.
    return np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2]) < threshold


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of True in each column of mask (rows × cols): (column, start, end) with
    end exclusive, ordered by column then start."""
    mt = np.zeros((mask.shape[1], mask.shape[0] + 2), dtype=np.int8)
    mt[:, 1:-1] = mask.T
    d = np.diff(mt, axis=1)
    col, start = np.nonzero(d == 1)
    _, end = np.nonzero(d == -1)
    return col, start, end


# Path costs, in pixels: a trace is continuous (its ink in one column touches its ink in the
# next), keeps its direction, and stays near its own baseline far more often than a neighbour's
# trace, which lives around another baseline. Each column of ink taken earns _INK, so the path
# takes every column it can; skipping a column costs _SKIP; starting over costs _RESTART.
_GAP = 1.0  # per pixel between this run and the last one
_STEP = 0.05  # per pixel away from where the last runs' direction leads
_AWAY = 0.001  # per pixel from the baseline
_INK = 2.0
_SKIP = 1.0
_SKIP_MAX = 3
_RESTART = 50.0
_NEAR = 2  # columns either side of merged ink that count as ambiguous too


def _best_path(col: list[int], start: list[int], end: list[int], baseline: float) -> dict[int, tuple[int, int]]:
    """The chain of runs, at most one per column, of least cost (Viterbi over the runs).

    Where two traces cross, the one that keeps its direction wins: each state carries the
    velocity of its best predecessor. A chain may skip a few columns (a thin trace at low dpi has
    gaps) rather than take a label or a neighbour's ink that is the only ink there; after a
    longer break it starts over."""
    by_col: dict[int, list[int]] = {}
    for i, c in enumerate(col):
        by_col.setdefault(c, []).append(i)
    mid = [(s + e) / 2 for s, e in zip(start, end, strict=False)]
    cost: dict[int, float] = {}
    vel: dict[int, float] = {}
    back: dict[int, int] = {}
    best_end, best_end_cost = -1, 0.0  # the best chain ending before the current column
    pending: list[int] = []  # states that join best_end once their column is left behind
    for c in sorted(by_col):
        for i in pending:
            if col[i] < c - _SKIP_MAX - 1 and cost[i] < best_end_cost:
                best_end, best_end_cost = i, cost[i]
        pending = [i for i in pending if col[i] >= c - _SKIP_MAX - 1]
        preds = [i for k in range(1, _SKIP_MAX + 2) for i in by_col.get(c - k, ())]
        for j in by_col[c]:
            sj, ej, mj = start[j], end[j], mid[j]
            best_i, best = best_end, best_end_cost + (_RESTART if best_end >= 0 else 0.0)
            for i in preds:
                skipped = c - col[i] - 1
                k = (
                    cost[i]
                    + _SKIP * skipped
                    + _GAP * max(0, sj - end[i], start[i] - ej)
                    + _STEP * abs(mj - mid[i] - vel[i] * (skipped + 1))
                )
                if k < best:
                    best_i, best = i, k
            cost[j] = best + _AWAY * abs(mj - baseline) - _INK
            if best_i >= 0:
                back[j] = best_i
            vel[j] = (mj - mid[best_i]) / (c - col[best_i]) if best_i in preds else 0.0
        pending.extend(by_col[c])
    i = min(cost, key=cost.__getitem__)
    out: dict[int, tuple[int, int]] = {}
    while True:
        out[col[i]] = (start[i], end[i])
        if i not in back:
            break
        i = back[i]
    return out


def digitise_lead(mask: np.ndarray, lead: LeadInfo) -> Trace:
    """Digitise one lead entry; `ambiguous` is left False (see `digitise`)."""
    h, w = mask.shape
    x0, y0, x1, y1 = lead.box
    c0, c1 = max(0, math.ceil(x0 - 0.5)), min(w - 1, math.floor(x1 - 0.5))
    r0, r1 = max(0, math.floor(y0)), min(h, math.ceil(y1))
    ncol = max(0, c1 - c0 + 1)
    t = lead.t0 + (np.arange(c0, c0 + ncol) + 0.5 - x0) / lead.px_per_s
    v = np.full(ncol, np.nan)
    lo = np.full(ncol, np.nan)
    hi = np.full(ncol, np.nan)
    if ncol == 0 or r1 <= r0:
        return Trace(lead, t, v, np.zeros(ncol, bool), lo, hi, c0)
    col, start, end = _runs(mask[r0:r1, c0 : c0 + ncol])
    if len(col) == 0:
        return Trace(lead, t, v, np.zeros(ncol, bool), lo, hi, c0)
    chosen = _best_path(col.tolist(), (start + r0).tolist(), (end + r0).tolist(), lead.baseline_y)
    for c, (s, e) in chosen.items():
        lo[c], hi[c] = s, e
    v = (lead.baseline_y - (lo + hi) / 2) / lead.px_per_mV
    return Trace(lead, t, v, np.zeros(ncol, bool), lo, hi, c0)


def _mark_shared(a: Trace, b: Trace) -> None:
    """Flag columns where the ink runs chosen for two leads touch: merged ink, not separable."""
    start = max(a.first_column, b.first_column)
    stop = min(a.first_column + len(a.t), b.first_column + len(b.t))
    if stop <= start:
        return
    sa = slice(start - a.first_column, stop - a.first_column)
    sb = slice(start - b.first_column, stop - b.first_column)
    with np.errstate(invalid="ignore"):
        touch = (a.top[sa] <= b.bottom[sb]) & (b.top[sb] <= a.bottom[sa])
    # Traces about to merge are already close: a reader may have taken the other one for a
    # column or two before and after. Widen each merged stretch by _NEAR columns.
    if touch.any():
        k = np.ones(2 * _NEAR + 1)
        touch = np.convolve(touch.astype(float), k, mode="same") > 0
    a.ambiguous[sa] |= touch
    b.ambiguous[sb] |= touch


def _mark_boundaries(traces: list[Trace]) -> None:
    """Flag the columns at a boundary between two panels of one row: the separator tick drawn
    there crosses the trace and merges with its ink. The pen width is read off the image (the
    typical height of the chosen runs, which is the pen's width where the trace is flat)."""
    heights = np.concatenate([tr.bottom - tr.top for tr in traces]) if traces else np.empty(0)
    heights = heights[np.isfinite(heights)]
    pen = float(np.median(heights)) if heights.size else 2.0
    for a in traces:
        for b in traces:
            if a is b or abs(a.lead.baseline_y - b.lead.baseline_y) > 0.5:
                continue
            for edge in (a.lead.box[0], a.lead.box[2]):
                if abs(edge - b.lead.box[0]) < 1.0 or abs(edge - b.lead.box[2]) < 1.0:
                    centres = a.first_column + np.arange(len(a.t)) + 0.5
                    a.ambiguous |= np.abs(centres - edge) <= pen / 2 + 1.0


def digitise(image: np.ndarray, sidecar: Sidecar, threshold: int = 128) -> list[Trace]:
    """One Trace per sidecar lead entry, in the sidecar's order. Tuned for pages of 200 dpi and
    more; at 100 dpi a 0.25 mm pen is one pixel wide and its ink often falls under `threshold`."""
    mask = ink_mask(image, threshold)
    traces = [digitise_lead(mask, lead) for lead in sidecar.leads]
    for i, a in enumerate(traces):
        for b in traces[i + 1 :]:
            ax0, ay0, ax1, ay1 = a.lead.box
            bx0, by0, bx1, by1 = b.lead.box
            if min(ay1, by1) > max(ay0, by0) and min(ax1, bx1) > max(ax0, bx0):
                _mark_shared(a, b)
    _mark_boundaries(traces)
    return traces
