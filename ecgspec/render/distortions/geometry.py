"""Geometric raster steps: rotate, perspective, crop, shift, resolution, aspect.

Each one is exact: it composes the matrix that maps the previous image's pixels to the new
image's into `canvas.transform`, so a point of the clean page (a sample of a trace) can be
followed to the final image. Coordinates are the sidecar's continuous ones: the pixel in row r,
column c covers [c, c+1) × [r, r+1), its centre at (c + 0.5, r + 0.5). OpenCV puts pixel
centres at integers, so matrices are conjugated by a half-pixel shift before they are handed to
it (`_to_cv`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from .registry import Canvas, as_rgb, clamp, hex_rgb, raster, rgb_hex


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scaling(sx: float, sy: float) -> np.ndarray:
    return np.diag([sx, sy, 1.0])


_HALF = translation(0.5, 0.5)
_MINUS_HALF = translation(-0.5, -0.5)


def _to_cv(matrix: np.ndarray) -> np.ndarray:
    """A continuous-coordinate matrix as OpenCV's pixel-index one."""
    return _MINUS_HALF @ matrix @ _HALF


def _fill(canvas: Canvas, params: Mapping[str, Any]) -> tuple[int, int, int]:
    """The border colour of a step that uncovers part of the image: its `fill` (a desk, a
    scanner lid) when it has one, else the paper colour."""
    fill = params.get("fill")
    return hex_rgb(fill) if fill else as_rgb(canvas.background)


def rotation(angle_deg: float, cx: float, cy: float) -> np.ndarray:
    """Counter-clockwise as seen (y grows downward) by `angle_deg` about (cx, cy)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy], [0.0, 0.0, 1.0]])


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homography taking the 4 points `src` to `dst`, solved in float64 (OpenCV's
    getPerspectiveTransform works in float32 inputs)."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        b[2 * i], b[2 * i + 1] = u, v
    h = np.linalg.solve(a, b)
    return np.append(h, 1.0).reshape(3, 3)


def lipschitz(matrix: np.ndarray, width: int, height: int) -> float:
    """The largest local stretch of `matrix` over the image: the spectral norm of its Jacobian,
    exact for an affine map, sampled on a 9 × 9 grid for a homography."""
    if np.allclose(matrix[2], [0.0, 0.0, 1.0]):
        return float(np.linalg.norm(matrix[:2, :2], 2))
    worst = 0.0
    for x in np.linspace(0, width, 9):
        for y in np.linspace(0, height, 9):
            w = matrix[2, 0] * x + matrix[2, 1] * y + matrix[2, 2]
            u = (matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]) / w
            v = (matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]) / w
            jac = (matrix[:2, :2] - np.outer([u, v], matrix[2, :2])) / w
            worst = max(worst, float(np.linalg.norm(jac, 2)))
    return worst


@raster("rotate")
def rotate(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Rotate about the page centre, same size; the uncovered corners take `fill` (default: the
    paper colour)."""
    angle = float(params["angle"])
    cx, cy = canvas.width / 2, canvas.height / 2
    matrix = rotation(angle, cx, cy)
    fill = _fill(canvas, params)
    canvas.img = cv2.warpAffine(
        canvas.img,
        _to_cv(matrix)[:2],
        (canvas.width, canvas.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
    canvas.compose(matrix, 1.0)
    return {"angle": angle, "centre": [cx, cy], "fill": rgb_hex(fill)}


@raster("perspective")
def perspective(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Each corner moves inward by a random share, up to `strength`, of the page's width (x) and
    height (y), independently: a page photographed at an angle. Same size; what the page no
    longer covers takes `fill` (default: the paper colour)."""
    strength = clamp(params["strength"], 0.0, 0.45)
    w, h = canvas.width, canvas.height
    offsets = rng.uniform(0.0, strength, size=(4, 2)) * np.array([w, h])
    src = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])  # TL, TR, BR, BL
    inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    dst = src + inward * offsets
    matrix = homography(src, dst)
    fill = _fill(canvas, params)
    canvas.img = cv2.warpPerspective(
        canvas.img, _to_cv(matrix), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
    )
    canvas.compose(matrix, lipschitz(matrix, w, h))
    return {
        "strength": strength,
        "offsets": offsets.round(3).tolist(),
        "corners": dst.round(3).tolist(),
        "fill": rgb_hex(fill),
    }


@raster("crop")
def crop(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Cut a random share, up to `amount`, of the size from each side (whole pixels)."""
    amount = clamp(params["amount"], 0.0, 0.45)
    w, h = canvas.width, canvas.height
    left, top, right, bottom = (round(u * amount * n) for u, n in zip(rng.random(4), (w, h, w, h), strict=True))
    box = [left, top, w - right, h - bottom]
    canvas.img = np.ascontiguousarray(canvas.img[top : h - bottom, left : w - right])
    canvas.compose(translation(-left, -top), 1.0)
    return {"amount": amount, "box": box, "size": [canvas.width, canvas.height]}


@raster("shift")
def shift(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Translate by (x, y) px, same size; the uncovered border takes `fill` (default: the paper
    colour). Whole-pixel shifts are copies; fractional ones are resampled (bilinear)."""
    x, y = float(params["x"]), float(params["y"])
    w, h = canvas.width, canvas.height
    fill = _fill(canvas, params)
    if x.is_integer() and y.is_integer() and abs(x) < w and abs(y) < h:
        # A whole-pixel shift is a crop and a border: exact, and a fifth of a warp's time.
        ix, iy = int(x), int(y)
        src = canvas.img[max(0, -iy) : h - max(0, iy), max(0, -ix) : w - max(0, ix)]
        canvas.img = cv2.copyMakeBorder(
            src, max(0, iy), max(0, -iy), max(0, ix), max(0, -ix), cv2.BORDER_CONSTANT, value=fill
        )
    else:
        canvas.img = cv2.warpAffine(
            canvas.img,
            translation(x, y)[:2],
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=fill,
        )
    canvas.compose(translation(x, y), 1.0)
    return {"x": x, "y": y, "fill": rgb_hex(fill)}


def _resize(canvas: Canvas, sx: float, sy: float) -> tuple[float, float]:
    """Resize by (sx, sy) rounded to whole pixels; returns the exact factors applied."""
    w, h = canvas.width, canvas.height
    nw, nh = max(1, round(w * sx)), max(1, round(h * sy))
    # Area averaging when shrinking (no aliasing of the 1 px grid lines), bilinear otherwise.
    shrink = nw <= w and nh <= h
    canvas.img = cv2.resize(canvas.img, (nw, nh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    fx, fy = nw / w, nh / h
    # cv2.resize maps pixel centres exactly: continuous x' = x · nw / w.
    canvas.compose(scaling(fx, fy), max(fx, fy))
    canvas.px_per_mm *= math.sqrt(fx * fy)
    return fx, fy


@raster("resolution")
def resolution(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Rescale by `scale` (a low-resolution scan); the image changes size."""
    scale = clamp(params["scale"], 0.05, 4.0)
    fx, fy = _resize(canvas, scale, scale)
    return {"scale": scale, "factors": [fx, fy], "size": [canvas.width, canvas.height]}


@raster("aspect")
def aspect(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Stretch the width by `ratio`; the height is kept."""
    ratio = clamp(params["ratio"], 0.2, 5.0)
    fx, _ = _resize(canvas, ratio, 1.0)
    return {"ratio": ratio, "factor": fx, "size": [canvas.width, canvas.height]}
