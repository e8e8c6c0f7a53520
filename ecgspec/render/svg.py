"""Scene → SVG: the inspectable vector artifact, and the input of the reference rasteriser.

The SVG's user unit is the millimetre (viewBox in mm), so a reader of the file sees the page as
the layout engine built it. The viewBox covers the whole-pixel canvas of the scene's dpi
(`Scene.pixel_size`), so that rasterising it at that size gives exactly dpi / 25.4 px per mm.

Each grid colour is one <path> of straight lines, never an SVG <pattern>: cairosvg draws
patterns blurry and slowly. A trace is one <path> of line-tos, written with numpy-built strings.
"""

from __future__ import annotations

import numpy as np
import svgwrite

from .scene import Line, Polyline, Rect, Scene, Segments, Text, parse_colour


def _paint(colour: str) -> tuple[str, float]:
    """'#rrggbbaa' → ('#rrggbb', alpha): SVG 1.1 readers do not all know 8-digit hex."""
    r, g, b, a = parse_colour(colour)
    red, green, blue = (round(c * 255) for c in (r, g, b))
    return f"#{red:02x}{green:02x}{blue:02x}", a


def _fmt(values: np.ndarray) -> list[str]:
    """Numbers with 3 decimals (1 µm), trailing zeros kept short."""
    return [f"{v:.3f}".rstrip("0").rstrip(".") for v in values.tolist()]


def _segments_d(xy: np.ndarray) -> str:
    parts = _fmt(xy.reshape(-1))
    return "".join(f"M{parts[i]} {parts[i + 1]}L{parts[i + 2]} {parts[i + 3]}" for i in range(0, len(parts), 4))


def _polyline_d(points: np.ndarray) -> str:
    flat = np.round(points, 3).reshape(-1).tolist()
    coords = " ".join(f"{flat[i]:g},{flat[i + 1]:g}" for i in range(0, len(flat), 2))
    head, _, rest = coords.partition(" ")
    return f"M{head}L{rest}" if rest else f"M{head}"


def to_svg(scene: Scene) -> str:
    """The scene as an SVG document (a string)."""
    w_px, h_px = scene.pixel_size
    vw, vh = w_px / scene.px_per_mm, h_px / scene.px_per_mm
    dwg = svgwrite.Drawing(size=(f"{vw:.4f}mm", f"{vh:.4f}mm"), profile="full", debug=False)
    dwg.viewbox(0, 0, vw, vh)
    dwg.attribs["shape-rendering"] = "geometricPrecision"
    for item in scene.items:
        if isinstance(item, Rect):
            fill, alpha = _paint(item.fill)
            el = dwg.rect(insert=(item.x, item.y), size=(item.w, item.h), fill=fill)
            if alpha < 1:
                el["fill-opacity"] = f"{alpha:.3f}"
        elif isinstance(item, (Segments, Line)):
            xy = item.xy if isinstance(item, Segments) else np.array([[item.x0, item.y0, item.x1, item.y1]])
            stroke, alpha = _paint(item.colour)
            el = dwg.path(d=_segments_d(xy), fill="none", stroke=stroke, stroke_width=item.width)
            el["stroke-linecap"] = "butt"
            if alpha < 1:
                el["stroke-opacity"] = f"{alpha:.3f}"
        elif isinstance(item, Polyline):
            stroke, alpha = _paint(item.colour)
            el = dwg.path(d=_polyline_d(item.points), fill="none", stroke=stroke, stroke_width=item.width)
            el["stroke-linejoin"] = "round"
            el["stroke-linecap"] = "round"
            if alpha < 1:
                el["stroke-opacity"] = f"{alpha:.3f}"
        elif isinstance(item, Text):
            fill, alpha = _paint(item.colour)
            el = dwg.text(item.text, insert=(item.x, item.y), fill=fill, font_family=item.font, font_size=item.size)
            el["text-anchor"] = item.anchor
            el["xml:space"] = "preserve"
            if item.bold:
                el["font-weight"] = "bold"
            if alpha < 1:
                el["fill-opacity"] = f"{alpha:.3f}"
        else:  # pragma: no cover — a new primitive without a writer
            raise TypeError(f"no SVG writer for {type(item).__name__}")
        if getattr(item, "role", ""):
            el["class"] = item.role.replace(":", "-")
        dwg.add(el)
    return dwg.tostring()
