"""Read the signal back from a rendered page, using only its pixels and its sidecar.

This is what the sidecar is for (a grader checking an answer, a digitiser model's training
target), and it is how the tests prove that the pages are physically exact: digitise, compare
with the source record.

Method, per lead entry of the sidecar:
1. ink mask: pixels whose brightest channel is below `threshold` (trace ink is dark; grid lines,
   even a black-and-white paper's major lines, are not);
2. within the lead's box, each pixel column's ink forms vertical runs; the trace is the chain of
   runs, one per column, that is most continuous (each run touching the next) and stays nearest
   the lead's baseline: a Viterbi path over the runs. Labels, separator ticks and a neighbour's
   tall waves form other runs and are passed over;
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
    return image.max(axis=2) < threshold if image.ndim == 3 else image < threshold


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of True in each column of mask (rows × cols): (column, start, end) with
    end exclusive, ordered by column then start."""
    mt = np.zeros((mask.shape[1], mask.shape[0] + 2), dtype=np.int8)
    mt[:, 1:-1] = mask.T
    d = np.diff(mt, axis=1)
    col, start = np.nonzero(d == 1)
    _, end = np.nonzero(d == -1)
    return col, start, end


# Path costs, in pixels per column: a trace is continuous (its ink in one column touches its ink
# in the next), moves little between columns, and stays near its own baseline far more often
# than a neighbour's trace does, which lives around another baseline.
_GAP = 1.0
_STEP = 0.05
_AWAY = 0.02


def _row_centres(mask: np.ndarray) -> np.ndarray:
    """For each ink pixel, the x centre of the horizontal run of ink it belongs to (NaN off ink)."""
    h, w = mask.shape
    m = np.zeros((h, w + 2), dtype=np.int8)
    m[:, 1:-1] = mask
    d = np.diff(m, axis=1)
    row, start = np.nonzero(d == 1)
    _, end = np.nonzero(d == -1)
    out = np.full(h * w, np.nan)
    lengths = end - start
    if lengths.size:
        centre = np.repeat((start + end) / 2, lengths)
        first = np.repeat(row * w + start - np.cumsum(np.r_[0, lengths[:-1]]), lengths)
        out[first + np.arange(lengths.sum())] = centre
    return out.reshape(h, w)


def _crossings(mask: np.ndarray, cols: np.ndarray, top: np.ndarray, bottom: np.ndarray,
               fallback: np.ndarray) -> np.ndarray:
    """Where a steep stroke crosses the centre of its pixel column. In a column the stroke's ink
    is one long run, and its midpoint is the stroke's value at the column centre only if the
    stroke is straight there; the horizontal cross-sections of the stroke say where its
    centreline actually is: the rows whose cross-section is centred on the column centre."""
    centres = _row_centres(mask)
    out = fallback.copy()
    for k, c in enumerate(cols.tolist()):
        s, e = int(top[k]), int(bottom[k])
        d = centres[s:e, c] - (c + 0.5)
        near = np.flatnonzero(np.abs(d) <= 0.75)
        if near.size:
            out[k] = s + near.mean() + 0.5
            continue
        sign = np.sign(d)
        flip = np.flatnonzero(sign[:-1] * sign[1:] < 0)
        if flip.size:
            i = int(flip[np.argmin(np.abs(flip - (e - s) / 2))])
            out[k] = s + i + 0.5 + d[i] / (d[i] - d[i + 1])
    return out


def _best_path(col: list[int], start: list[int], end: list[int], ncol: int, baseline: float
               ) -> dict[int, tuple[int, int]]:
    """The chain of runs, one per inked column, of least cost (Viterbi over the runs). Where two
    traces cross, the one that keeps its direction wins: each state carries the velocity of its
    best predecessor, and a step is charged for leaving the predicted position."""
    by_col: dict[int, list[int]] = {}
    for i, c in enumerate(col):
        by_col.setdefault(c, []).append(i)
    cols = sorted(by_col)
    mid = [(s + e) / 2 for s, e in zip(start, end)]
    prev = by_col[cols[0]]
    cost = {i: _AWAY * abs(mid[i] - baseline) for i in prev}
    vel = {i: 0.0 for i in prev}
    back: dict[int, int] = {}
    for c in cols[1:]:
        here = by_col[c]
        new_cost: dict[int, float] = {}
        for j in here:
            sj, ej, mj = start[j], end[j], mid[j]
            best_i, best = -1, math.inf
            for i in prev:
                k = (cost[i] + _GAP * max(0, sj - end[i], start[i] - ej)
                     + _STEP * abs(mj - mid[i] - vel[i]))
                if k < best:
                    best_i, best = i, k
            new_cost[j] = best + _AWAY * abs(mj - baseline)
            back[j] = best_i
            vel[j] = mj - mid[best_i]
        prev, cost = here, new_cost
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
    col, start, end = _runs(mask[r0:r1, c0:c0 + ncol])
    if len(col) == 0:
        return Trace(lead, t, v, np.zeros(ncol, bool), lo, hi, c0)
    chosen = _best_path(col.tolist(), (start + r0).tolist(), (end + r0).tolist(), ncol, lead.baseline_y)
    for c, (s, e) in chosen.items():
        lo[c], hi[c] = s, e
    heights = hi - lo
    pen = float(np.nanmedian(heights)) if np.isfinite(heights).any() else 2.0
    y = (lo + hi) / 2
    steep = np.flatnonzero(heights > pen + 3)
    if steep.size:
        y[steep] = _crossings(mask[r0:r1, c0:c0 + ncol], steep, lo[steep] - r0, hi[steep] - r0, y[steep] - r0) + r0
    v = (lead.baseline_y - y) / lead.px_per_mV
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
    """One Trace per sidecar lead entry, in the sidecar's order."""
    mask = ink_mask(image, threshold)
    traces = [digitise_lead(mask, lead) for lead in sidecar.leads]
    for i, a in enumerate(traces):
        for b in traces[i + 1:]:
            ax0, ay0, ax1, ay1 = a.lead.box
            bx0, by0, bx1, by1 = b.lead.box
            if min(ay1, by1) > max(ay0, by0) and min(ax1, bx1) > max(ax0, bx0):
                _mark_shared(a, b)
    _mark_boundaries(traces)
    return traces
