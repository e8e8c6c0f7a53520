"""The layout engine: a record, a layout and a paper become a Scene (what to draw, in mm) and a
Geometry (where each lead is, for the sidecar).

Physical calibration is the invariant everything here keeps: 1 s of signal is `paper.speed` mm
across and 1 mV is `paper.gain` mm up (`chest_gain` for V1–V6), on every page size and at every
dpi. Nothing is ever scaled to fit; a layout that does not fit its page is a FitError that says
what does not fit and by how much.

The page, top to bottom: margin, header lines, the chart (grid, one row per lead-matrix row and
one per rhythm strip), footer lines, margin. Each row starts with a calibration pulse (1 mV for
200 ms, the standard box), then its panels; column k of a `staggered` layout shows
[k·column, (k+1)·column) of the record, as 12-lead machines print, a `simultaneous` one shows the
same first seconds in every column. Those seconds count from the page's window start (`start`,
by default the record's `window_start`, 0 unless a corpus's `window` moved it), so a panel's `t0`
and `t1` are always times of the source record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..ir import Layout, Paper
from ..leads import CHEST
from ..records import Record
from .errors import FitError
from .filters import drawn_signals
from .fonts import advance
from .geometry import Geometry, LabelSlot, Panel
from .header import build_context, render_lines
from .scene import Polyline, Rect, Scene, Segments, Text

# Portrait sizes of the named pages, mm.
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "letter": (215.9, 279.4),
    "a4": (210.0, 297.0),
    "a5": (148.0, 210.0),
    "legal": (215.9, 355.6),
}
PULSE_SECONDS = 0.2  # the calibration pulse is 200 ms wide
LINE_SPACING = 1.3  # text line pitch, in font sizes
BASELINE_AT = 0.6  # the baseline sits this far down its row: most of an ECG's ink is above it
_EPS = 1e-6
LABEL_TOP = 0.8  # a label's box reaches this far above its text baseline, in font sizes (capitals: 0.73)


def page_size(paper: Paper) -> tuple[float, float]:
    """(width, height) in mm. Named pages turn with `orientation`; a custom `[w, h]` is taken
    as written (width across, height down)."""
    if isinstance(paper.size, str):
        w, h = PAGE_SIZES[paper.size]
        return (max(w, h), min(w, h)) if paper.orientation == "landscape" else (min(w, h), max(w, h))
    return float(paper.size[0]), float(paper.size[1])


def lead_gain(paper: Paper, lead: str) -> float:
    """mm per mV for a lead: the chest gain for V1–V6 when the paper sets one."""
    if lead in CHEST and paper.chest_gain is not None:
        return float(paper.chest_gain)
    return float(paper.gain)


def _grid_lines(x0: float, y0: float, w: float, h: float, minor: float, major: float) -> tuple[np.ndarray, np.ndarray]:
    """(minor, major) segment arrays ((N, 4) mm) of a grid whose major lines start at (x0, y0).
    A minor line never lies under a major one: each line is drawn once, in its own colour."""

    def positions(length: float, step: float) -> np.ndarray:
        return np.arange(int(math.floor(length / step + _EPS)) + 1) * step

    def is_major(p: np.ndarray) -> np.ndarray:
        q = p / major
        return np.abs(q - np.round(q)) < 1e-6

    def segments(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        v = np.stack([x0 + xs, np.full_like(xs, y0), x0 + xs, np.full_like(xs, y0 + h)], axis=1)
        hz = np.stack([np.full_like(ys, x0), y0 + ys, np.full_like(ys, x0 + w), y0 + ys], axis=1)
        return np.concatenate([v, hz])

    xs, ys = positions(w, minor), positions(h, minor)
    mx, my = is_major(xs), is_major(ys)
    minor_seg = segments(xs[~mx], ys[~my])
    # Major lines: every multiple of `major`, even if `major` is not a multiple of `minor`.
    major_seg = segments(positions(w, major), positions(h, major))
    return minor_seg, major_seg


def _at(x: np.ndarray, f: float) -> float:
    """x at fractional sample index f, by linear interpolation (as the trace is drawn)."""
    i = min(max(int(math.floor(f)), 0), len(x) - 2)
    a = f - i
    return float(x[i] * (1 - a) + x[i + 1] * a)


def _window(x: np.ndarray, fs: float, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample times and values of x in [t0, t1], with exact end points interpolated so that a
    panel's ink starts at t0 and ends at t1 (or where the record ends)."""
    t1 = min(t1, (len(x) - 1) / fs)
    if t1 <= t0:
        return np.empty(0), np.empty(0)
    i0 = int(math.ceil(t0 * fs - 1e-9))
    i1 = int(math.floor(t1 * fs + 1e-9))
    t = np.arange(i0, i1 + 1) / fs
    v = x[i0 : i1 + 1]
    if t.size == 0 or t[0] > t0 + 1e-9:
        t = np.concatenate([[t0], t])
        v = np.concatenate([[_at(x, t0 * fs)], v])
    if t[-1] < t1 - 1e-9:
        t = np.concatenate([t, [t1]])
        v = np.concatenate([v, [_at(x, t1 * fs)]])
    return t, v


def compose(
    record: Record,
    layout: Layout,
    paper: Paper,
    *,
    header_context: Mapping[str, Any] | None = None,
    dpi: float | None = None,
    start: float | None = None,
) -> tuple[Scene, Geometry]:
    """Lay out one page, its window starting `start` seconds into the record (default: the
    record's `window_start`). Raises FitError when the layout does not fit the paper,
    TemplateError when the header or footer template fails."""
    start = float(record.window_start if start is None else start)
    dpi = float(dpi if dpi is not None else paper.dpi)
    width, height = page_size(paper)
    scene = Scene(width, height, dpi)
    geo = Geometry(
        width,
        height,
        dpi,
        paper.speed,
        paper.gain,
        float(paper.chest_gain if paper.chest_gain is not None else paper.gain),
    )
    scene.add(Rect(0.0, 0.0, width, height, paper.background, role="background"))

    # ---- header and footer text ---------------------------------------------------------
    ctx = build_context(record, paper, layout, header_context)
    # The paper's filter acts on what is drawn only: the header above and every measurement read
    # the record as it is.
    signals = drawn_signals(record, paper)
    header = render_lines(paper.header, ctx, what=f"paper '{paper.name}' header")
    footer = render_lines(paper.footer, ctx, what=f"paper '{paper.name}' footer")
    geo.header = ["   ".join(_plain(c) for c in ln if c) for ln in header]
    geo.footer = ["   ".join(_plain(c) for c in ln if c) for ln in footer]
    fsize = paper.font_size
    pitch_text = fsize * LINE_SPACING
    m = paper.margin
    header_h = len(header) * pitch_text + (0.6 * fsize if header else 0.0)
    footer_h = len(footer) * pitch_text + (0.4 * fsize if footer else 0.0)

    # ---- the chart: rows, columns, calibration ---------------------------------------------
    n_cols = len(layout.leads[0]) if layout.leads else 0
    row_seconds = n_cols * layout.column
    rhythm_seconds = layout.rhythm_duration or row_seconds
    rows: list[tuple[str, tuple[str, ...]]] = [("leads", row) for row in layout.leads]
    rows += [("rhythm", (lead,)) for lead in layout.rhythm]
    n_rows = len(rows)
    speed = float(paper.speed)
    pulse_w = PULSE_SECONDS * speed
    cal_mv = layout.calibration
    minor = float(paper.minor)
    major = float(paper.major)
    # The pulse block: 1 mm of baseline, the pulse, then baseline to a whole minor square.
    cal_w = math.ceil((pulse_w + 2.0) / minor - _EPS) * minor if cal_mv else 0.0

    avail_w = width - 2 * m
    need_w = cal_w + max(row_seconds if layout.leads else 0.0, rhythm_seconds if layout.rhythm else 0.0) * speed
    page_desc = f"{paper.size} {paper.orientation}" if isinstance(paper.size, str) else f"{width:g} mm x {height:g} mm"
    if need_w > avail_w + _EPS:
        what = (
            f"{n_cols} column{'s' * (n_cols != 1)} x {layout.column:g} s"
            if row_seconds * speed + cal_w >= need_w - _EPS
            else f"a {rhythm_seconds:g} s rhythm strip"
        )
        raise FitError(
            f"layout '{layout.name}' does not fit paper '{paper.name}' across: {what} at {speed:g} mm/s"
            f"{f' plus the {cal_w:g} mm calibration pulse' if cal_w else ''} need {need_w:.1f} mm, the "
            f"{page_desc} page has {avail_w:.1f} mm between its {m:g} mm margins; use a slower speed, shorter "
            "columns, or a wider page"
        )

    chart_top = m + header_h
    avail_h = height - m - footer_h - chart_top
    grid_h = math.floor(avail_h / major + _EPS) * major if avail_h >= major else max(avail_h, 0.0)
    grid_w = math.floor(avail_w / major + _EPS) * major
    if grid_w < need_w - _EPS:
        grid_w = min(avail_w, math.ceil(need_w / minor - _EPS) * minor)
    row_gains = [max(lead_gain(paper, lead) for lead in leads) for _, leads in rows]
    min_pitch = max(row_gains, default=paper.gain) * (cal_mv or 1.0) + fsize
    pitch = grid_h / n_rows if n_rows else grid_h
    if n_rows and pitch < min_pitch - _EPS:
        raise FitError(
            f"layout '{layout.name}' does not fit paper '{paper.name}' down: {n_rows} rows need at least "
            f"{min_pitch:.1f} mm each (a {cal_mv or 1.0:g} mV calibration at {max(row_gains):g} mm/mV plus "
            f"a label), the {page_desc} page leaves {pitch:.1f} mm per row ({grid_h:g} mm of chart after "
            f"{len(header)} header and {len(footer)} footer line{'s' * (len(footer) != 1)}); use a lower gain, "
            "fewer rows, or a taller page"
        )

    gx0, gy0 = m, chart_top
    geo.grid = (gx0, gy0, gx0 + grid_w, gy0 + grid_h)
    if paper.grid and grid_w > 0 and grid_h > 0:
        minor_seg, major_seg = _grid_lines(gx0, gy0, grid_w, grid_h, minor, major)
        if len(minor_seg):
            scene.add(Segments(minor_seg, paper.minor_color, paper.minor_width, role="grid:minor"))
        scene.add(Segments(major_seg, paper.major_color, paper.major_width, role="grid:major"))

    trace_left = gx0 + cal_w
    ink = paper.trace_color
    tw = paper.trace_width
    ticks: list[tuple[float, float, float, float]] = []
    labels: list[tuple[str, float, float, float, float, int, int, float]] = []  # lead, x, baseline, cell, …
    traces: list[np.ndarray] = []
    for r, (kind, leads) in enumerate(rows):
        # Baselines sit on minor lines so that a reader can count squares from them.
        baseline = gy0 + round((r + BASELINE_AT) * pitch / minor) * minor
        cell_top = gy0 + r * pitch  # the rows' cells tile the chart; boxes grow from them
        cell_bottom = gy0 + (r + 1) * pitch
        if cal_mv:
            scene.add(
                _pulse(gx0, trace_left, baseline, cal_mv, pulse_w, [lead_gain(paper, lead) for lead in leads], ink, tw)
            )
        seconds = rhythm_seconds if kind == "rhythm" else layout.column
        tick = min(max(0.1 * pitch, 1.0), 3.0)
        for c, lead in enumerate(leads):
            # 0.0 + x is x exactly: a page from 0 s draws the same bytes as before windows existed.
            t0 = start + (0.0 if kind == "rhythm" or layout.windows == "simultaneous" else c * layout.column)
            t1 = t0 + seconds
            x0 = trace_left + c * seconds * speed
            if c > 0 and layout.separators:
                ticks.append((x0, baseline - tick, x0, baseline + tick))
            if layout.labels:
                labels.append((lead, x0 + 0.8, baseline, cell_top, cell_bottom, r, c, x0 + seconds * speed))
            g = lead_gain(paper, lead)
            x = signals.get(lead)
            if x is None:
                if lead not in geo.missing_leads:
                    geo.missing_leads.append(lead)
                continue
            t, v = _window(x, record.fs, t0, t1)
            if t.size < 2:
                continue
            pts = np.empty((t.size, 2))
            pts[:, 0] = x0 + (t - t0) * speed
            pts[:, 1] = baseline - v * g
            scene.add(Polyline(pts, ink, tw, role=f"trace:{lead}"))
            traces.append(pts)
            y_lo, y_hi = float(pts[:, 1].min()) - tw / 2, float(pts[:, 1].max()) + tw / 2
            geo.panels.append(
                Panel(
                    lead=lead,
                    rhythm=kind == "rhythm",
                    x0=x0,
                    x1=x0 + (float(t[-1]) - t0) * speed,
                    y0=max(0.0, min(cell_top, y_lo)),
                    y1=min(height, max(cell_bottom, y_hi)),
                    baseline=baseline,
                    t0=t0,
                    t1=float(t[-1]),
                    mm_per_s=speed,
                    mm_per_mV=g,
                    row=r,
                    column=c,
                )
            )
    if ticks:
        scene.add(Segments(np.asarray(ticks, dtype=np.float64), ink, tw, role="separators"))
    for lead, at, base, top, bottom, r, c, right in labels:
        lx, ly = _label_spot(paper, lead, at, base, top, bottom, traces)
        scene.add(Text(lx, ly, lead, fsize, paper.text_color, font=paper.font, role=f"label:{lead}"))
        geo.labels.append(LabelSlot(lead, r, c, lx, ly, at - 0.8, right, top, bottom))

    # ---- header and footer text ---------------------------------------------------------
    _text_block(scene, header, m, m + 0.85 * fsize, width - 2 * m, pitch_text, paper, role="header")
    top_of_footer = height - m - len(footer) * pitch_text + 0.85 * fsize
    _text_block(scene, footer, m, top_of_footer, width - 2 * m, pitch_text, paper, role="footer")
    return scene, geo


def _pulse(
    x_start: float,
    x_end: float,
    baseline: float,
    mv: float,
    width: float,
    gains: list[float],
    colour: str,
    line_width: float,
) -> Polyline:
    """The calibration pulse at a row's start: `mv` at the row's first lead's gain for 200 ms.
    A row that mixes gains (half-gain chest leads) gets a stepped pulse, each step 100 ms at
    one gain, first the first lead's, as machines print it."""
    x1 = x_start + 1.0
    h0 = mv * gains[0]
    other = next((g for g in gains if abs(g - gains[0]) > _EPS), None)
    pts = [(x_start, baseline), (x1, baseline), (x1, baseline - h0)]
    if other is None:
        pts += [(x1 + width, baseline - h0)]
    else:
        h1 = mv * other
        pts += [(x1 + width / 2, baseline - h0), (x1 + width / 2, baseline - h1), (x1 + width, baseline - h1)]
    # The pulse's baseline stops 1 mm short of the first panel: a pen-width gap, as machines
    # leave, so that the pulse's ink never merges with the trace's first column.
    pts += [(x1 + width, baseline), (max(x1 + width, x_end - 1.0), baseline)]
    return Polyline(np.asarray(pts, dtype=np.float64), colour, line_width, role="calibration")


def _hits(traces: list[np.ndarray], x0: float, y0: float, x1: float, y1: float) -> bool:
    """Whether any trace's ink crosses the rectangle (segments included, not only vertices)."""
    for pts in traces:
        if pts[0, 0] > x1 or pts[-1, 0] < x0:
            continue
        i0 = max(int(np.searchsorted(pts[:, 0], x0)) - 1, 0)
        i1 = min(int(np.searchsorted(pts[:, 0], x1)) + 1, len(pts))
        seg = pts[i0:i1]
        if len(seg) == 0:
            continue
        # The trace's y at the rectangle's sides, plus its vertices inside: its extent across it.
        ys = np.concatenate([np.interp([x0, x1], seg[:, 0], seg[:, 1]), seg[(seg[:, 0] >= x0) & (seg[:, 0] <= x1), 1]])
        if ys.min() <= y1 and ys.max() >= y0:
            return True
    return False


def _label_spot(
    paper: Paper,
    lead: str,
    x: float,
    baseline: float,
    top: float,
    bottom: float,
    traces: list[np.ndarray],
) -> tuple[float, float]:
    """Where a lead label goes, as the paper's `label_position` says: `dodge` looks for a spot
    off the trace (`_place_label`); the others are places fixed per panel, whatever the trace
    does, as a cart prints them (a label may then sit on a tall wave, as on a cart's page).
    (x, y) is the start of the label's text baseline."""
    size = paper.font_size
    if paper.label_position == "dodge":
        return _place_label(lead, x, baseline, top, bottom, size, traces, paper.trace_width, paper.font)
    usual, low, high = _label_rows(baseline, top, bottom, size)
    gap = paper.label_offset
    if paper.label_position == "above":  # `gap` from the baseline up to the label's foot
        return x, usual if gap is None else baseline - gap
    if paper.label_position == "below":  # `gap` from the baseline down to the top of the capitals
        return x, low if gap is None else baseline + gap + LABEL_TOP * size
    return x, high if gap is None else top + gap + LABEL_TOP * size  # fixed: from the row's top


def _label_rows(baseline: float, top: float, bottom: float, size: float) -> tuple[float, float, float]:
    """The three text baselines a label may take in its row: above the trace's baseline (the usual
    one), below it, and at the top of the row's cell."""
    high = top + 1.15 * size
    usual = max(high, baseline - min(0.45 * (baseline - top), 7.0))
    low = min(bottom - 0.35 * size, baseline + min(0.45 * (bottom - baseline), 7.0) + 0.8 * size)
    return usual, low, high


def _place_label(
    lead: str,
    x: float,
    baseline: float,
    top: float,
    bottom: float,
    size: float,
    traces: list[np.ndarray],
    pen: float,
    font: str,
) -> tuple[float, float]:
    """Where a lead label goes: above the start of its trace, as machines print it, unless the
    trace passes there; then a little further right, then below the baseline, then at the top
    of the cell. A label on the ink makes both harder to read, for people and for digitisers."""
    width = advance(lead, font, size) + 0.2
    pad = pen + 0.3
    usual, low, high = _label_rows(baseline, top, bottom, size)
    candidates = [(x + k * 2.0, usual) for k in range(8)] + [(x, low), (x, high)]
    candidates += [(x + k * 2.0, y) for k in range(1, 8) for y in (low, high)]
    for cx, cy in candidates:
        if not _hits(traces, cx - pad, cy - 0.8 * size - pad, cx + width + pad, cy + 0.25 * size + pad):
            return cx, cy
    return candidates[0]


def _spans(cell: str) -> list[tuple[str, bool]]:
    """'**ID 7**   Male' → [('ID 7', True), ('   Male', False)]: `**` toggles bold."""
    parts = cell.split("**")
    if len(parts) % 2 == 0:  # an unpaired `**` is printed as written
        return [(cell, False)]
    return [(p, i % 2 == 1) for i, p in enumerate(parts) if p]


def _plain(cell: str) -> str:
    return "".join(text for text, _ in _spans(cell))


def _text_block(
    scene: Scene,
    lines: list[list[str]],
    left: float,
    first_baseline: float,
    width: float,
    pitch: float,
    paper: Paper,
    *,
    role: str,
) -> None:
    if not lines:
        return
    n_cells = max(len(ln) for ln in lines)
    col_w = width / n_cells
    for i, cells in enumerate(lines):
        y = first_baseline + i * pitch
        for k, cell in enumerate(cells):
            if not cell:
                continue
            x = left + k * col_w
            for text, bold in _spans(cell):
                scene.add(Text(x, y, text, paper.font_size, paper.text_color, font=paper.font, bold=bold, role=role))
                x += advance(text, paper.font, paper.font_size, bold)
