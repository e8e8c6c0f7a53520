"""Scene steps: the steps of a distortion plan that change what is drawn, applied around `compose`.

A scene step changes the clean page itself (the Scene, in mm) before any pixel exists, so the
page's Geometry, and with it the sidecar, describes exactly what is drawn. None of them is part
of the sidecar's `transform` (which maps the clean page to the final image): a digitiser reads a
page whose chart was scaled or padded from the lead geometry alone, as it reads any clean page.

They act in three groups, each in pipeline order within the group:

1. what is printed, as edits of the paper before the layout engine runs:
   `grid remove|faint|jitter amount`, `trace width color`;
2. what is printed, as edits of the laid-out scene: `header off` (no header or footer text; the
   chart stays where it was, the header area is blank paper), `labels missing|misplaced amount`;
3. where it is printed: `chart scale shift_x shift_y` (every drawn thing but the paper and the
   header and footer text, scaled about the page centre then shifted; pen widths and type scale
   with it) and `padding amount` (blank paper added on every side; the page grows). These two
   commute (padding is symmetric about the centre), so their order never matters.

Every step takes its randomness (which labels, grid colours) from its own seed, like the raster
steps, and returns the parameters it applied, which become its record in the sidecar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..ir import Layout, Paper
from ..records import Record
from .distortions import Applied
from .distortions.registry import clamp, hex_rgb, rgb_hex
from .fonts import advance
from .geometry import Geometry
from .layout import _hits, compose
from .scene import Line, Polyline, Primitive, Rect, Scene, Segments, Text

PAPER_STEPS = ("grid", "trace")
CONTENT_STEPS = ("header", "labels")
PLACE_STEPS = ("chart", "padding")
# The brightest channel of a jittered grid colour stays at or above this (or its own value if
# lower): grid lines stay lighter than trace ink for a reader that thresholds at 128.
GRID_FLOOR = 170


def _rng(step: Applied) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(step.seed))


def _alpha_suffix(colour: str) -> str:
    d = colour.lstrip("#")
    return d[6:8] if len(d) == 8 else ""


# ---- 1. paper edits -----------------------------------------------------------------------------


def _grid(paper: Paper, params: Mapping[str, Any], rng: np.random.Generator) -> tuple[Paper, dict[str, Any]]:
    mode = params["mode"]
    if mode == "remove":
        return paper.model_copy(update={"grid": False}), {"mode": mode}
    amount = clamp(params["amount"], 0.0, 1.0)
    colours = {"minor_color": paper.minor_color, "major_color": paper.major_color}
    if mode == "faint":
        bg = np.asarray(hex_rgb(paper.background), dtype=np.float64)
        new = {
            k: rgb_hex(np.rint(c + amount * (bg - c)).astype(int)) + _alpha_suffix(v)
            for k, v in colours.items()
            for c in [np.asarray(hex_rgb(v), dtype=np.float64)]
        }
    elif mode == "jitter":
        # One shift of hue and lightness for the whole grid (another stock's ink), and a smaller
        # one per colour; both scale with `amount` (at 1: up to ±80 and ±20 levels per channel).
        shared = rng.uniform(-1.0, 1.0, 3) * 80.0 * amount
        new = {}
        for k, v in colours.items():
            c = np.asarray(hex_rgb(v), dtype=np.float64)
            out = np.clip(c + shared + rng.uniform(-1.0, 1.0, 3) * 20.0 * amount, 0, 255)
            floor = min(float(c.max()), GRID_FLOOR)
            if out.max() < floor:
                out = np.clip(out + (floor - out.max()), 0, 255)
            new[k] = rgb_hex(np.rint(out).astype(int)) + _alpha_suffix(v)
    else:
        raise ValueError(f"grid mode '{mode}' is not one of remove, faint, jitter")
    return paper.model_copy(update=new), {"mode": mode, "amount": amount, **new}


def _trace(paper: Paper, params: Mapping[str, Any], rng: np.random.Generator) -> tuple[Paper, dict[str, Any]]:
    """The pen: traces, calibration pulses and separator ticks, as a machine draws them all."""
    width = paper.trace_width if params.get("width") is None else clamp(params["width"], 0.02, 5.0)
    colour = params.get("color") or paper.trace_color
    return paper.model_copy(update={"trace_width": width, "trace_color": colour}), {"width": width, "color": colour}


# ---- 2. content edits ---------------------------------------------------------------------------


def _header(scene: Scene, geo: Geometry, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    show = params.get("show", "off")
    if show == "off":
        scene.items = [i for i in scene.items if not (isinstance(i, Text) and i.role in ("header", "footer"))]
        geo.header, geo.footer = [], []
    return {"show": show}


def _labels(scene: Scene, geo: Geometry, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A share `amount` of the lead labels (which ones: drawn from the step's seed) dropped, or
    moved to a random spot of their own panel's cell, at least a label's width or height from
    where the layout put them and, where one of 24 tries finds such a spot, off the traces."""
    mode = params["mode"]
    if mode not in ("missing", "misplaced"):
        raise ValueError(f"labels mode '{mode}' is not one of missing, misplaced")
    amount = clamp(params["amount"], 0.0, 1.0)
    where = [i for i, item in enumerate(scene.items) if isinstance(item, Text) and item.role.startswith("label:")]
    n = len(where)
    k = min(n, round(amount * n))
    chosen = sorted(int(i) for i in rng.choice(n, size=k, replace=False)) if k else []
    affected: list[dict[str, Any]] = []
    if mode == "missing":
        drop = {where[i] for i in chosen}
        affected = [
            {"lead": geo.labels[i].lead, "row": geo.labels[i].row, "column": geo.labels[i].column} for i in chosen
        ]
        scene.items = [item for j, item in enumerate(scene.items) if j not in drop]
        geo.labels = [slot for i, slot in enumerate(geo.labels) if i not in set(chosen)]
        return {"mode": mode, "amount": amount, "labels": affected}
    traces = [item.points for item in scene.items if isinstance(item, Polyline) and item.role.startswith("trace:")]
    for i in chosen:
        j = where[i]
        label: Text = scene.items[j]  # type: ignore[assignment]
        slot = geo.labels[i]
        size = label.size
        width = advance(label.text, label.font, size, label.bold) + 0.2
        pen = 0.3
        x_hi = max(slot.left, slot.right - width)
        y_lo, y_hi = slot.top + 0.9 * size, max(slot.top + 0.9 * size, slot.bottom - 0.3 * size)
        x, y = label.x, label.y
        for _ in range(24):
            x, y = float(rng.uniform(slot.left, x_hi)), float(rng.uniform(y_lo, y_hi))
            far = abs(x - label.x) >= width or abs(y - label.y) >= size
            clear = not _hits(traces, x - pen, y - 0.8 * size - pen, x + width + pen, y + 0.25 * size + pen)
            if far and clear:
                break
        scene.items[j] = replace(label, x=x, y=y)
        geo.labels[i] = replace(slot, x=x, y=y)
        affected.append({"lead": slot.lead, "row": slot.row, "column": slot.column})
    return {"mode": mode, "amount": amount, "labels": affected}


# ---- 3. placement -------------------------------------------------------------------------------


def _moved(item: Primitive, s: float, tx: float, ty: float) -> Primitive:
    """A primitive under x → s·x + tx, y → s·y + ty (widths and type sizes scale by s)."""
    if isinstance(item, Rect):
        return replace(item, x=item.x * s + tx, y=item.y * s + ty, w=item.w * s, h=item.h * s)
    if isinstance(item, Segments):
        return replace(item, xy=item.xy * s + np.array([tx, ty, tx, ty]), width=item.width * s)
    if isinstance(item, Line):
        return replace(
            item,
            x0=item.x0 * s + tx,
            y0=item.y0 * s + ty,
            x1=item.x1 * s + tx,
            y1=item.y1 * s + ty,
            width=item.width * s,
        )
    if isinstance(item, Polyline):
        return replace(item, points=item.points * s + np.array([tx, ty]), width=item.width * s)
    if isinstance(item, Text):
        return replace(item, x=item.x * s + tx, y=item.y * s + ty, size=item.size * s)
    raise TypeError(f"cannot move a {type(item).__name__}")  # pragma: no cover


def _move_geometry(geo: Geometry, s: float, tx: float, ty: float) -> None:
    def x(v: float) -> float:
        return v * s + tx

    def y(v: float) -> float:
        return v * s + ty

    geo.panels = [
        replace(
            p,
            x0=x(p.x0),
            x1=x(p.x1),
            y0=y(p.y0),
            y1=y(p.y1),
            baseline=y(p.baseline),
            mm_per_s=p.mm_per_s * s,
            mm_per_mV=p.mm_per_mV * s,
        )
        for p in geo.panels
    ]
    if geo.grid is not None:
        gx0, gy0, gx1, gy1 = geo.grid
        geo.grid = (x(gx0), y(gy0), x(gx1), y(gy1))
    geo.labels = [
        replace(q, x=x(q.x), y=y(q.y), left=x(q.left), right=x(q.right), top=y(q.top), bottom=y(q.bottom))
        for q in geo.labels
    ]


def _chart(scene: Scene, geo: Geometry, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Everything drawn but the paper and the header and footer text: scaled by `scale` about the
    page centre, then shifted by (shift_x, shift_y) mm. The chart may leave the page."""
    s = clamp(params["scale"], 0.2, 3.0)
    dx, dy = float(params["shift_x"]), float(params["shift_y"])
    cx, cy = scene.width / 2, scene.height / 2
    tx, ty = cx * (1 - s) + dx, cy * (1 - s) + dy

    def fixed(item: Primitive) -> bool:
        role = getattr(item, "role", "")
        return role == "background" or (isinstance(item, Text) and role in ("header", "footer"))

    scene.items = [item if fixed(item) else _moved(item, s, tx, ty) for item in scene.items]
    _move_geometry(geo, s, tx, ty)
    return {"scale": s, "shift_x": dx, "shift_y": dy, "centre": [round(cx, 6), round(cy, 6)]}


def _padding(scene: Scene, geo: Geometry, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Blank paper `amount` mm wide on every side, rounded to whole pixels (`px` in the record)
    so that the page's content is drawn as before, moved by whole pixels: the page grows by
    2 × px each way."""
    k = scene.px_per_mm
    amount = clamp(params["amount"], 0.0, 500.0)
    px = round(amount * k)
    a = px / k
    items: list[Primitive] = []
    for item in scene.items:
        if isinstance(item, Rect) and item.role == "background":
            items.append(replace(item, w=item.w + 2 * a, h=item.h + 2 * a))
        else:
            items.append(_moved(item, 1.0, a, a))
    scene.items = items
    scene.width += 2 * a
    scene.height += 2 * a
    geo.width, geo.height = scene.width, scene.height
    _move_geometry(geo, 1.0, a, a)
    return {"amount": amount, "px": px}


# ---- the whole -----------------------------------------------------------------------------------


def compose_with(
    record: Record,
    layout: Layout,
    paper: Paper,
    steps: Sequence[Applied],
    *,
    header_context: Mapping[str, Any] | None = None,
    dpi: float | None = None,
    start: float | None = None,
) -> tuple[Scene, Geometry, list[dict[str, Any]]]:
    """`compose` with a plan's scene steps applied (`start`: the page's window start, seconds of
    the record; default the record's `window_start`). Returns the scene, its geometry and one
    record per step ({op, params, seed}, in the order of `steps`)."""
    records: list[dict[str, Any] | None] = [None] * len(steps)
    unknown = [s.op for s in steps if s.op not in PAPER_STEPS + CONTENT_STEPS + PLACE_STEPS]
    if unknown:
        raise KeyError(f"no implementation of the scene step '{unknown[0]}'")
    for i, step in enumerate(steps):
        if step.op in PAPER_STEPS:
            paper, records[i] = (_grid if step.op == "grid" else _trace)(paper, step.params, _rng(step))
    scene, geo = compose(record, layout, paper, header_context=header_context, dpi=dpi, start=start)
    edits = {"header": _header, "labels": _labels, "chart": _chart, "padding": _padding}
    for group in (CONTENT_STEPS, PLACE_STEPS):
        for i, step in enumerate(steps):
            if step.op in group:
                records[i] = edits[step.op](scene, geo, step.params, _rng(step))
    return scene, geo, [{"op": s.op, "params": r, "seed": s.seed} for s, r in zip(steps, records, strict=True)]
