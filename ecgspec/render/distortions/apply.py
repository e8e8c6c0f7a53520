"""Applying the raster steps of a plan to a clean page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import geometry, paper, sensor  # noqa: F401  (each module registers its steps)
from .draw import Applied
from .registry import RASTER, Canvas, as_rgb


@dataclass
class Result:
    img: np.ndarray  # (H', W', 3) uint8 RGB: the distorted page (its size may differ)
    transform: np.ndarray  # 3x3 float64: clean-page px → final px, over all geometric steps
    records: list[dict[str, Any]]  # per applied step: {"op", "params", "seed"}, JSON-able
    max_warp_px: float  # bound on the non-linear displacement (wrinkles, creases), final px


def apply_raster(
    img: np.ndarray, steps: Sequence[Applied], *, px_per_mm: float, background: tuple[int, int, int]
) -> Result:
    """Apply `steps` (a plan's raster steps, in order) to `img`, a clean (H, W, 3) uint8 RGB page
    with `px_per_mm` pixels per millimetre on paper of colour `background`.

    `img` is worked on in place where a step allows it: pass a copy to keep the clean page.
    Pixel coordinates are continuous (pixel (r, c) covers [c, c+1) × [r, r+1)), as in the
    sidecar; `transform` maps a clean-page point to the final image, and a point on the page
    may further be displaced by up to `max_warp_px` by wrinkles and creases.

    Deterministic: the same image and the same steps give the same bytes, whatever the number
    of processes or of OpenCV threads (each step's randomness comes from its own seed)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
    canvas = Canvas(
        img=np.ascontiguousarray(img), px_per_mm=float(px_per_mm), background=as_rgb(background), transform=np.eye(3)
    )
    records: list[dict[str, Any]] = []
    for step in steps:
        if step.stage != "raster":
            raise ValueError(f"'{step.op}' is a scene step: the renderer applies it, not apply_raster")
        op = RASTER.get(step.op)
        if op is None:
            raise KeyError(f"no implementation of the raster step '{step.op}'")
        rng = np.random.Generator(np.random.PCG64(step.seed))
        applied = op(canvas, step.params, rng)
        records.append({"op": step.op, "params": applied, "seed": step.seed})
    return Result(img=canvas.img, transform=canvas.transform, records=records, max_warp_px=canvas.max_warp_px)


def map_points(transform: np.ndarray, xy: ArrayLike) -> np.ndarray:
    """Points (N, 2) of the clean page through `transform` (homogeneous division included)."""
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    h = np.c_[pts, np.ones(len(pts))] @ transform.T
    return h[:, :2] / h[:, 2:3]
