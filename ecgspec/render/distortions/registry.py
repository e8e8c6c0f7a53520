"""The registry of raster steps: step keyword → the function that applies it to a `Canvas`.

An implementation is one function `op(canvas, params, rng) -> dict` decorated with
`@raster("keyword")`. It changes `canvas.img` (in place where it can), composes any geometric
change into `canvas.transform`, widens `canvas.max_warp_px` by any non-linear displacement it
adds, and returns the parameters it actually applied (drawn values after clamping to their
valid range, plus derived geometry), which become the step's record in the sidecar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Canvas:
    """The page being distorted: (H, W, 3) uint8 RGB, C-contiguous, and what is known about it."""

    img: np.ndarray
    px_per_mm: float  # of the current image: geometric steps that rescale update it
    background: tuple[int, int, int]  # paper colour now (tint and yellow move it); fills borders
    transform: np.ndarray  # 3x3 float64: clean-page px → current px (continuous coordinates)
    max_warp_px: float = 0.0  # bound on the non-linear displacement so far, in current px
    # Records of marks drawn so far (annotations) with their corners in current px, unrounded:
    # each later geometric step maps them on, so that a record ends in final-image pixels.
    marks: list[tuple[dict[str, Any], np.ndarray]] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.img.shape[0])

    @property
    def width(self) -> int:
        return int(self.img.shape[1])

    def compose(self, matrix: np.ndarray, lipschitz: float) -> None:
        """Follow a geometric step: `matrix` maps the previous image's px to the new image's px,
        and stretches no distance by more than `lipschitz` (which scales the warp bound)."""
        self.transform = matrix @ self.transform
        self.max_warp_px *= lipschitz
        for record, quad in self.marks:
            h = np.c_[quad, np.ones(len(quad))] @ matrix.T
            quad[...] = h[:, :2] / h[:, 2:3]
            _write_quad(record, quad)

    def follow(self, record: dict[str, Any], quad: np.ndarray) -> None:
        """Keep `record`'s `quad` (four corners, current px) and `box` (their bounds) in the
        pixels of the image as it goes on: every later geometric step maps them through its
        matrix. The record is the dict a step returns, so the sidecar holds final-image pixels.
        A wrinkle or crease moves a mark by up to `max_warp_px` beyond that, as it moves a trace."""
        corners = np.array(quad, dtype=np.float64).reshape(4, 2)
        self.marks.append((record, corners))
        _write_quad(record, corners)


def _write_quad(record: dict[str, Any], quad: np.ndarray) -> None:
    record["quad"] = [[round(float(x), 3), round(float(y), 3)] for x, y in quad]
    # Outward to the thousandth, so that rounding never leaves a pixel of the mark outside.
    lo = np.floor(quad.min(axis=0) * 1000) / 1000
    hi = np.ceil(quad.max(axis=0) * 1000) / 1000
    record["box"] = [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]


RasterOp = Callable[[Canvas, Mapping[str, Any], np.random.Generator], dict[str, Any]]

RASTER: dict[str, RasterOp] = {}


def raster(keyword: str) -> Callable[[RasterOp], RasterOp]:
    """Register the implementation of the raster step `keyword`."""

    def register(fn: RasterOp) -> RasterOp:
        if keyword in RASTER:
            raise ValueError(f"raster step '{keyword}' is registered twice")
        RASTER[keyword] = fn
        return fn

    return register


# ---- small helpers shared by the families --------------------------------------------------------


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb[aa]' → (r, g, b); alpha, if any, is ignored."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def as_rgb(values: Any) -> tuple[int, int, int]:
    """Three channel values (a tuple, an array; rounded) as a tuple of ints."""
    r, g, b = (round(float(v)) for v in values)
    return r, g, b


def rgb_hex(rgb: tuple[int, int, int] | np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def clamp(x: float, lo: float, hi: float) -> float:
    return float(min(max(float(x), lo), hi))
