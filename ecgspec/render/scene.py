"""The Scene: what is on the page, in millimetres, before any pixel exists.

Pure data. The layout engine builds it; the SVG writer and both rasterisers only read it, so the
vector file and the two PNG paths cannot disagree about where a thing is. Coordinates are mm
from the page's top-left corner, y down (as on screen and in the pixel sidecar).

Five primitives, each the cheapest shape its job needs:
- Rect: the paper, blocks of colour.
- Segments: many straight lines of one colour and width (a grid, separator ticks). One
  primitive per colour so that every backend draws it as one path: one stroke, not hundreds.
- Line: a single straight line.
- Polyline: a trace, as an (N, 2) float array. Arrays, not lists of tuples, so that backends
  transform thousands of points without a Python loop.
- Text: one line of text at an anchor point on its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str  # '#rrggbb' or '#rrggbbaa'
    role: str = ""  # what it is ("background"), for readers of the SVG and for tests


@dataclass(frozen=True, slots=True)
class Line:
    x0: float
    y0: float
    x1: float
    y1: float
    colour: str
    width: float
    role: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Segments:
    """Many lines: `xy` is (N, 4) of x0, y0, x1, y1. Drawn with butt caps (a grid's lines end
    exactly where the grid ends)."""

    xy: np.ndarray
    colour: str
    width: float
    role: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Polyline:
    """A connected trace through `points` ((N, 2) x, y in mm), round joins and caps as a pen draws."""

    points: np.ndarray
    colour: str
    width: float
    role: str = ""  # e.g. "trace:II" or "calibration"


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float  # the text's baseline
    text: str
    size: float  # font size (em height) in mm
    colour: str
    anchor: Anchor = "start"
    font: str = "DejaVu Sans"
    bold: bool = False
    role: str = ""


Primitive = Rect | Line | Segments | Polyline | Text


@dataclass(slots=True)
class Scene:
    """A page: its size in mm, the resolution it is meant for, and primitives in paint order."""

    width: float
    height: float
    dpi: float
    items: list[Primitive] = field(default_factory=list)

    def add(self, item: Primitive) -> None:
        self.items.append(item)

    @property
    def px_per_mm(self) -> float:
        return self.dpi / 25.4

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(width, height) of the raster in pixels: the page rounded to whole pixels. The scale is
        never stretched to fit; x_px = x_mm · dpi / 25.4 exactly, everywhere."""
        k = self.px_per_mm
        return max(1, int(round(self.width * k))), max(1, int(round(self.height * k)))


def parse_colour(colour: str) -> tuple[float, float, float, float]:
    """'#rrggbb' or '#rrggbbaa' → (r, g, b, a) in 0..1."""
    d = colour.lstrip("#")
    if len(d) == 3:
        d = "".join(c * 2 for c in d)
    r, g, b = (int(d[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    a = int(d[6:8], 16) / 255.0 if len(d) == 8 else 1.0
    return r, g, b, a
