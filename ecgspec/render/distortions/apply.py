"""Applying the raster steps of a plan to a clean page, and following where its points go.

With `track=True`, `apply_raster` also returns the page's composed geometric mapping (a
`GeometricMap`): the matrices of the linear steps (rotate, perspective, crop, shift, resolution,
aspect: whatever a step composes into `canvas.transform`) and the displacement fields of the
non-linear ones, in pipeline order, so that any clean-page point can be followed to the final
image (`forward`) and every final pixel back to the clean page (`backward_grid`). Photometric
steps (gains, noise, blur, JPEG) move nothing and are not in it.

How a non-linear step is known, and how its field is found, without knowing its formulas: by the
registry's rule, a step that moves the paper non-linearly widens `canvas.max_warp_px` by its
displacement bound (wrinkle, crease). Such a step is replayed with its own seed on a probe image
whose pixels hold their own coordinates (ecgspec.render.distortions.fields: `probe_image`,
`decode_probe`), which gives, for every output pixel, the point of the input it shows. The
replay must draw the same as the step did (its record is compared); a step whose draws depend on
the pixels cannot be followed, and says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from . import geometry, paper, sensor  # noqa: F401  (each module registers its steps)
from .draw import Applied
from .fields import decode_probe, probe_image, sample_field
from .registry import RASTER, Canvas, RasterOp, as_rgb


@dataclass
class Warp:
    """A non-linear step's displacement: the output pixel whose centre is at p shows the input's
    point p + d(p). `d` is (h, w, 2) float32 (dx, dy) over the step's output image."""

    d: np.ndarray


Stage = np.ndarray | Warp  # a 3x3 matrix (previous image px → next image px), or a warp


@dataclass
class GeometricMap:
    """Clean-page pixels → final-image pixels through every geometric step, in order (continuous
    coordinates: pixel (r, c) covers [c, c+1) × [r, r+1)). Consecutive matrices are merged."""

    clean_size: tuple[int, int]  # (width, height)
    final_size: tuple[int, int]
    stages: list[Stage] = field(default_factory=list)

    @property
    def warped(self) -> bool:
        return any(isinstance(s, Warp) for s in self.stages)

    def forward(self, xy: ArrayLike) -> np.ndarray:
        """Points (N, 2) of the clean page in the final image. Through a warp, the point q with
        q + d(q) = p is found by fixed-point iteration (q ← p − d(q)): displacements are small and
        smooth (their slope is far below 1), so it converges to float precision in a few rounds."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        for stage in self.stages:
            if isinstance(stage, Warp):
                q = pts.copy()
                for _ in range(30):
                    d = sample_field(stage.d, q[:, 0], q[:, 1]).astype(np.float64)
                    new = pts - d
                    done = float(np.abs(new - q).max(initial=0.0)) < 1e-4
                    q = new
                    if done:
                        break
                pts = q
            else:
                pts = map_points(stage, pts)
        return pts

    def backward_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """For every pixel of the final image, the clean-page point its centre shows: (x, y),
        each (height, width) float32 (about 1/4000 px at a page's coordinates: ample for a
        nearest-neighbour lookup, and half the time of float64)."""
        w, h = self.final_size
        gx = np.broadcast_to(np.arange(w, dtype=np.float32)[None, :] + np.float32(0.5), (h, w))
        gy = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None] + np.float32(0.5), (h, w))
        for stage in reversed(self.stages):
            if isinstance(stage, Warp):
                d = sample_field(stage.d, np.ascontiguousarray(gx), np.ascontiguousarray(gy))
                gx, gy = gx + d[..., 0], gy + d[..., 1]
            else:
                inv = np.linalg.inv(stage).astype(np.float32)
                den = inv[2, 0] * gx + inv[2, 1] * gy + inv[2, 2]
                gx, gy = (
                    (inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]) / den,
                    (inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]) / den,
                )
        return np.ascontiguousarray(gx), np.ascontiguousarray(gy)


@dataclass
class Result:
    img: np.ndarray  # (H', W', 3) uint8 RGB: the distorted page (its size may differ)
    transform: np.ndarray  # 3x3 float64: clean-page px → final px, over all geometric steps
    records: list[dict[str, Any]]  # per applied step: {"op", "params", "seed"}, JSON-able
    max_warp_px: float  # bound on the non-linear displacement (wrinkles, creases), final px
    geometry: GeometricMap | None = None  # with track=True: the exact mapping, warps included


@dataclass
class _Tracking(Canvas):
    """A Canvas that also keeps what each step composes into it: its matrices, and their stretch
    (by which an existing warp bound is scaled, so that a step that widens it is told apart)."""

    composed: list[np.ndarray] = field(default_factory=list)
    stretch: float = 1.0

    def compose(self, matrix: np.ndarray, lipschitz: float) -> None:
        super().compose(matrix, lipschitz)
        self.composed.append(np.asarray(matrix, dtype=np.float64))
        self.stretch *= lipschitz


def apply_raster(
    img: np.ndarray,
    steps: Sequence[Applied],
    *,
    px_per_mm: float,
    background: tuple[int, int, int],
    track: bool = False,
) -> Result:
    """Apply `steps` (a plan's raster steps, in order) to `img`, a clean (H, W, 3) uint8 RGB page
    with `px_per_mm` pixels per millimetre on paper of colour `background`.

    `img` is worked on in place where a step allows it: pass a copy to keep the clean page.
    Pixel coordinates are continuous (pixel (r, c) covers [c, c+1) × [r, r+1)), as in the
    sidecar; `transform` maps a clean-page point to the final image, and a point on the page
    may further be displaced by up to `max_warp_px` by wrinkles and creases. With `track`, the
    result's `geometry` holds the exact mapping, displacements included (see the module's
    docstring); the image is the same either way.

    Deterministic: the same image and the same steps give the same bytes, whatever the number
    of processes or of OpenCV threads (each step's randomness comes from its own seed)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {img.dtype} {img.shape}")
    kind = _Tracking if track else Canvas
    canvas = kind(
        img=np.ascontiguousarray(img), px_per_mm=float(px_per_mm), background=as_rgb(background), transform=np.eye(3)
    )
    clean_size = (canvas.width, canvas.height)
    stages: list[Stage] = []
    records: list[dict[str, Any]] = []
    for step in steps:
        if step.stage != "raster":
            raise ValueError(f"'{step.op}' is a scene step: the renderer applies it, not apply_raster")
        op = RASTER.get(step.op)
        if op is None:
            raise KeyError(f"no implementation of the raster step '{step.op}'")
        before = Canvas(canvas.img, canvas.px_per_mm, canvas.background, canvas.transform, canvas.max_warp_px)
        if isinstance(canvas, _Tracking):
            canvas.composed, canvas.stretch = [], 1.0
        rng = np.random.Generator(np.random.PCG64(step.seed))
        applied = op(canvas, step.params, rng)
        if isinstance(canvas, _Tracking):
            _follow(canvas, before, step, op, applied, stages)
        records.append({"op": step.op, "params": applied, "seed": step.seed})
    geo = GeometricMap(clean_size, (canvas.width, canvas.height), stages) if track else None
    return Result(
        img=canvas.img, transform=canvas.transform, records=records, max_warp_px=canvas.max_warp_px, geometry=geo
    )


def _follow(
    canvas: _Tracking, before: Canvas, step: Applied, op: RasterOp, applied: dict[str, Any], stages: list[Stage]
) -> None:
    """Add what `step` did to the page's geometry to `stages`: its warp (replayed on a probe) when
    it widened the warp bound beyond what its own matrices stretch, else its matrices, if any."""
    widened = canvas.max_warp_px - before.max_warp_px * canvas.stretch
    if widened > 1e-9:
        probe = _Tracking(
            img=probe_image(before.height, before.width),
            px_per_mm=before.px_per_mm,
            background=before.background,
            transform=np.eye(3),
        )

        def refuse(why: str) -> RuntimeError:
            return RuntimeError(
                f"cannot follow the raster step '{step.op}' for ground truth: replayed with its own seed on a "
                f"probe image (float32 pixels holding their own coordinates), {why}. A step that moves the paper "
                "must resample (remap or warp, bilinear, replicated borders), apply grey gains only, and draw "
                "nothing from the pixels"
            )

        try:
            again = op(probe, step.params, np.random.Generator(np.random.PCG64(step.seed)))
        except Exception as exc:  # any failure on float pixels: say which step, and why it matters
            raise refuse(f"it failed ({type(exc).__name__}: {exc})") from exc
        if json.dumps(again, sort_keys=True, default=str) != json.dumps(applied, sort_keys=True, default=str):
            raise refuse("it drew differently")
        if probe.img.dtype != np.float32 or probe.img.shape[:2] != canvas.img.shape[:2]:
            raise refuse(f"it returned {probe.img.dtype} {probe.img.shape[:2]}, not float32 {canvas.img.shape[:2]}")
        dx, dy = decode_probe(probe.img)
        if not canvas.composed:
            # A pure displacement stays within the bound the step declared (beyond it: a gain that
            # was not grey, or pixels that were clipped, garbled the probe).
            reach = float(np.sqrt(dx * dx + dy * dy).max(initial=0.0))
            if reach > widened * 1.01 + 0.05:
                raise refuse(f"it moved a point by {reach:.2f} px, beyond the {widened:.2f} px it declared")
        stages.append(Warp(np.dstack([dx, dy])))
        return
    for matrix in canvas.composed:
        if stages and not isinstance(stages[-1], Warp):
            stages[-1] = matrix @ stages[-1]
        else:
            stages.append(matrix)


def map_points(transform: np.ndarray, xy: ArrayLike) -> np.ndarray:
    """Points (N, 2) of the clean page through `transform` (homogeneous division included)."""
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    h = np.c_[pts, np.ones(len(pts))] @ transform.T
    return h[:, :2] / h[:, 2:3]
