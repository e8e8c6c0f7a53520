"""Scene → pixels: an RGB uint8 array (H, W, 3), by two rasterisers that must agree.

- `rasterise_reference`: SVG (ecgspec.render.svg) → cairosvg → PNG → numpy. Slow (an SVG
  parse, a PNG encode and decode in the middle) but it is the vector file's own rendering: what
  a person opening the SVG sees.
- `rasterise_fast`: the same Scene drawn straight into a cairo ImageSurface, no SVG, no PNG.
  Where the time goes, and what is done about it:
  * paper: background and grid are drawn once per paper, size and dpi, kept (a few at a time)
    and copied onto each new page: a corpus renders thousands of records on a handful of papers;
  * grids: each colour is one path of filled rectangles (a line of width w is the rectangle
    w wide around it, as a butt-capped stroke is), handed to cairo as one path array built by
    numpy: no Python loop per line, and cairo fills rectangles much faster than it strokes;
  * traces: one stroke per polyline. Points are converted to pixels in numpy and passed to
    cairo as a raw `cairo_path_t` (no Python call per point). Where the record has more samples
    than the page has pixel columns (1000 Hz at 25 mm/s and 200 dpi is 5 samples a column),
    each pixel column keeps its first, lowest, highest and last point, in time order: the ink
    in every column is the same, the stroker has fewer joins to make (-25% time at 1000 Hz);
  * antialiasing: cairo's default everywhere. ANTIALIAS_FAST strokes about twice as fast but
    samples edge coverage on a 4 × 4 grid instead of 256 × 15; traces are the data, so the
    exact coverage is kept, and the time goes elsewhere (paper cache, decimation);
  * output: cairo's native BGRX buffer turned into RGB by one OpenCV call.
Both use cairo's toy text API with the scene's font family (fontconfig falls back to a default
font if the family is missing), so text matches closely too.
"""

from __future__ import annotations

import hashlib
import io
import sys
import threading
from collections import OrderedDict

import cairocffi as cairo
import numpy as np
from cairocffi import cairo as _lib
from cairocffi import ffi

from .scene import Line, Polyline, Rect, Scene, Segments, Text, parse_colour
from .svg import to_svg

_MOVE_TO, _LINE_TO, _CLOSE_PATH = 0, 1, 3


def rasterise_reference(scene: Scene, svg: str | None = None) -> np.ndarray:
    """RGB array of the scene's SVG rendered by cairosvg at the scene's dpi."""
    import cairosvg
    from PIL import Image

    w, h = scene.pixel_size
    png = cairosvg.svg2png(bytestring=(svg or to_svg(scene)).encode(), output_width=w, output_height=h)
    with Image.open(io.BytesIO(png)) as im:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
    # Paper is opaque, but composite on white in case a scene leaves a pixel uncovered.
    a = rgba[..., 3:4] / 255.0
    return np.round(rgba[..., :3] * a + 255.0 * (1 - a)).astype(np.uint8)


# ---- raw cairo paths ---------------------------------------------------------------------------


def _append(ctx: cairo.Context, data: np.ndarray) -> None:
    """Append a ready-made cairo_path_data_t array ((n, 2) float64, headers written in place)."""
    path = ffi.new("cairo_path_t *")
    path.status = 0
    path.num_data = len(data)
    path.data = ffi.cast("cairo_path_data_t *", ffi.from_buffer(data))
    _lib.cairo_append_path(ctx._pointer, path)


def append_polyline(ctx: cairo.Context, xy: np.ndarray) -> None:
    """One move-to and N-1 line-tos through xy ((N, 2) pixels), without a Python loop."""
    n = len(xy)
    data = np.empty((2 * n, 2), dtype=np.float64)
    data[1::2] = xy
    head = data[0::2].view(np.int32).reshape(n, 4)
    head[:, 0] = _LINE_TO
    head[0, 0] = _MOVE_TO
    head[:, 1] = 2  # header + one point
    _append(ctx, data)


def append_rectangles(ctx: cairo.Context, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> None:
    """Closed rectangles, all wound the same way (so their union fills, overlaps not doubled)."""
    n = len(x0)
    data = np.empty((n, 9, 2), dtype=np.float64)
    data[:, 1] = np.stack([x0, y0], 1)
    data[:, 3] = np.stack([x1, y0], 1)
    data[:, 5] = np.stack([x1, y1], 1)
    data[:, 7] = np.stack([x0, y1], 1)
    head = data.view(np.int32).reshape(n, 9, 4)
    for i, kind in ((0, _MOVE_TO), (2, _LINE_TO), (4, _LINE_TO), (6, _LINE_TO)):
        head[:, i, 0] = kind
        head[:, i, 1] = 2
    head[:, 8, 0] = _CLOSE_PATH
    head[:, 8, 1] = 1
    _append(ctx, data.reshape(-1, 2))


def decimate(xy: np.ndarray) -> np.ndarray:
    """Keep, per pixel column, the first, lowest, highest and last points in time order, when
    there are clearly more points than columns. The ink in every column stays the same."""
    n = len(xy)
    span = xy[-1, 0] - xy[0, 0] if n else 0.0
    if n < 64 or n < 1.5 * (span + 1):
        return xy
    col = np.floor(xy[:, 0]).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    ends = np.r_[starts[1:], n] - 1
    order = np.lexsort((xy[:, 1], col))  # by column, then by y; columns are contiguous runs
    keep = np.concatenate([starts, ends, order[starts], order[ends]])
    keep.sort()
    keep = keep[np.r_[True, keep[1:] != keep[:-1]]]
    return xy[keep]


# ---- the fast rasteriser -------------------------------------------------------------------


def _source(ctx: cairo.Context, colour: str) -> None:
    ctx.set_source_rgba(*parse_colour(colour))


def _segments(ctx: cairo.Context, xy: np.ndarray, width: float) -> None:
    """Axis-parallel lines become filled rectangles; any other line is stroked."""
    x0, y0, x1, y1 = xy.T
    vertical = np.abs(x1 - x0) < 1e-9
    horizontal = (np.abs(y1 - y0) < 1e-9) & ~vertical
    other = ~(vertical | horizontal)
    hw = width / 2
    if vertical.any():
        v = xy[vertical]
        append_rectangles(ctx, v[:, 0] - hw, np.minimum(v[:, 1], v[:, 3]), v[:, 0] + hw, np.maximum(v[:, 1], v[:, 3]))
    if horizontal.any():
        h = xy[horizontal]
        append_rectangles(ctx, np.minimum(h[:, 0], h[:, 2]), h[:, 1] - hw, np.maximum(h[:, 0], h[:, 2]), h[:, 1] + hw)
    ctx.set_fill_rule(cairo.FILL_RULE_WINDING)
    ctx.fill()
    if other.any():
        for a, b, c, d in xy[other]:
            ctx.move_to(a, b)
            ctx.line_to(c, d)
        ctx.set_line_width(width)
        ctx.set_line_cap(cairo.LINE_CAP_BUTT)
        ctx.stroke()


def _scaled(item: object, k: float) -> object:
    """A paper primitive in pixels instead of mm (the paper cache is keyed in pixels)."""
    if isinstance(item, Rect):
        return Rect(item.x * k, item.y * k, item.w * k, item.h * k, item.fill, item.role)
    if isinstance(item, Segments):
        return Segments(item.xy * k, item.colour, item.width * k, item.role)
    return item


def draw(ctx: cairo.Context, scene: Scene, k: float | None = 0.0) -> None:
    """Paint every primitive of the scene on a cairo context whose unit is the pixel. `k` is
    pixels per mm; the scene's own by default, None for primitives already in pixels."""
    k = 1.0 if k is None else (k or scene.px_per_mm)
    ctx.set_antialias(cairo.ANTIALIAS_DEFAULT)
    for item in scene.items:
        if isinstance(item, Rect):
            _source(ctx, item.fill)
            ctx.rectangle(item.x * k, item.y * k, item.w * k, item.h * k)
            ctx.fill()
        elif isinstance(item, Segments):
            _source(ctx, item.colour)
            _segments(ctx, item.xy * k, item.width * k)
        elif isinstance(item, Line):
            _source(ctx, item.colour)
            _segments(ctx, np.array([[item.x0, item.y0, item.x1, item.y1]]) * k, item.width * k)
        elif isinstance(item, Polyline):
            if len(item.points) < 2:
                continue
            _source(ctx, item.colour)
            append_polyline(ctx, decimate(item.points * k))
            ctx.set_line_width(item.width * k)
            ctx.set_line_join(cairo.LINE_JOIN_ROUND)
            ctx.set_line_cap(cairo.LINE_CAP_ROUND)
            ctx.stroke()
        elif isinstance(item, Text):
            _source(ctx, item.colour)
            ctx.select_font_face(
                item.font, cairo.FONT_SLANT_NORMAL, cairo.FONT_WEIGHT_BOLD if item.bold else cairo.FONT_WEIGHT_NORMAL
            )
            ctx.set_font_size(item.size * k)
            x = item.x * k
            if item.anchor != "start":
                advance = ctx.text_extents(item.text)[4]
                x -= advance / 2 if item.anchor == "middle" else advance
            ctx.move_to(x, item.y * k)
            ctx.show_text(item.text)
        else:  # pragma: no cover
            raise TypeError(f"no cairo drawer for {type(item).__name__}")


def _is_paper(item: object) -> bool:
    role = getattr(item, "role", "")
    return role == "background" or role.startswith("grid:")


def _paper_key(w: int, h: int, items: list) -> tuple:
    parts: list[object] = [w, h]
    for item in items:
        if isinstance(item, Segments):
            parts.append((item.role, item.colour, item.width, hashlib.sha1(item.xy.tobytes()).hexdigest()))
        else:
            parts.append(item)  # a frozen dataclass: hashable as it is
    return tuple(parts)


_PAPERS: OrderedDict[tuple, cairo.ImageSurface] = OrderedDict()
_PAPERS_KEPT = 4  # a few papers (about 15 MB each at 200 dpi letter) in use at once
_PAPERS_LOCK = threading.Lock()


def _paper(w: int, h: int, items: list) -> cairo.ImageSurface:
    """The blank paper (background and grid) of a page, drawn once per paper and size and then
    reused: a corpus renders thousands of records on a handful of papers, and the grid is a
    third of the drawing time."""
    key = _paper_key(w, h, items)
    with _PAPERS_LOCK:
        surface = _PAPERS.get(key)
        if surface is not None:
            _PAPERS.move_to_end(key)
            return surface
    surface = cairo.ImageSurface(cairo.FORMAT_RGB24, w, h)
    ctx = cairo.Context(surface)
    ctx.set_source_rgb(1, 1, 1)
    ctx.paint()
    draw(ctx, Scene(0.0, 0.0, 0.0, items), k=None)
    surface.flush()
    with _PAPERS_LOCK:
        _PAPERS[key] = surface
        while len(_PAPERS) > _PAPERS_KEPT:
            _PAPERS.popitem(last=False)
    return surface


def rasterise_fast(scene: Scene) -> np.ndarray:
    """RGB array of the scene drawn directly with cairo (no SVG, no PNG round trip)."""
    import cv2

    w, h = scene.pixel_size
    n_paper = 0
    while n_paper < len(scene.items) and _is_paper(scene.items[n_paper]):
        n_paper += 1
    surface = cairo.ImageSurface(cairo.FORMAT_RGB24, w, h)
    ctx = cairo.Context(surface)
    if n_paper:
        paper = _paper(w, h, [_scaled(item, scene.px_per_mm) for item in scene.items[:n_paper]])
        ctx.set_operator(cairo.OPERATOR_SOURCE)
        ctx.set_source_surface(paper, 0, 0)
        ctx.paint()
        ctx.set_operator(cairo.OPERATOR_OVER)
    else:
        ctx.set_source_rgb(1, 1, 1)
        ctx.paint()
    draw(ctx, Scene(scene.width, scene.height, scene.dpi, scene.items[n_paper:]))
    surface.flush()
    stride = surface.get_stride()
    # RGB24 pixels are native-endian 0xXXRRGGBB words: B, G, R, X bytes on little-endian machines.
    words = np.ndarray((h, stride // 4, 4), dtype=np.uint8, buffer=surface.get_data())[:, :w]
    if sys.byteorder == "little":
        out = cv2.cvtColor(words, cv2.COLOR_BGRA2RGB)
    else:  # pragma: no cover — X, R, G, B in memory
        out = np.ascontiguousarray(words[..., 1:4])
    del words
    surface.finish()
    return out
