"""Read the signal back from a rendered page, using only its pixels and its sidecar.

This is what the sidecar is for (a grader checking an answer, a digitiser model's training
target), and it is how the tests prove that the pages are physically exact: digitise, compare
with the source record.

Method, per lead entry of the sidecar:
1. ink mask: pixels whose brightest channel is below `threshold` (trace ink is dark; grid lines,
   even a black-and-white paper's major lines, are not);
2. within the lead's box, each pixel column's ink forms vertical runs; the trace is the run that
   continues the previous column's run (interval distance, then centre distance). Labels,
   separator ticks and a neighbour's tall wave form other runs and are passed over;
3. value = (baseline_y - centre of the run) / px_per_mV; time = t0 + (column centre - box x0) /
   px_per_s.
4. A column is `ambiguous` when its run reaches into another lead's box: there a neighbour's ink
   may merge with this lead's, and no column-wise reader can tell them apart. Such columns are
   returned, flagged, for the caller to leave out.
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


def digitise_lead(mask: np.ndarray, lead: LeadInfo, others: list[LeadInfo] | None = None) -> Trace:
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
        return Trace(lead, t, v, np.zeros(ncol, bool))
    col, start, end = _runs(mask[r0:r1, c0:c0 + ncol])
    bounds = np.searchsorted(col, np.arange(ncol + 1)).tolist()
    start_l, end_l = (start + r0).tolist(), (end + r0).tolist()
    prev_s = prev_e = lead.baseline_y  # start from the baseline
    for c in range(ncol):
        a, b = bounds[c], bounds[c + 1]
        if a == b:
            continue
        best, best_key = a, None
        for i in range(a, b):
            s, e = start_l[i], end_l[i]
            key = (max(0.0, s - prev_e, prev_s - e), abs((s + e) / 2 - (prev_s + prev_e) / 2))
            if best_key is None or key < best_key:
                best, best_key = i, key
        prev_s, prev_e = start_l[best], end_l[best]
        lo[c], hi[c] = prev_s, prev_e
        v[c] = (lead.baseline_y - (prev_s + prev_e) / 2) / lead.px_per_mV
    ambiguous = np.zeros(ncol, bool)
    centres = np.arange(c0, c0 + ncol) + 0.5
    for o in others or []:
        if o is lead:
            continue
        ox0, oy0, ox1, oy1 = o.box
        top, bottom = max(oy0, y0), min(oy1, y1)
        if bottom <= top or ox1 <= x0 or ox0 >= x1:
            continue
        inside = (centres >= ox0) & (centres <= ox1)
        ambiguous |= inside & (hi > top) & (lo < bottom)
    return Trace(lead, t, v, ambiguous)


def digitise(image: np.ndarray, sidecar: Sidecar, threshold: int = 128) -> list[Trace]:
    """One Trace per sidecar lead entry, in the sidecar's order."""
    mask = ink_mask(image, threshold)
    return [digitise_lead(mask, lead, sidecar.leads) for lead in sidecar.leads]
