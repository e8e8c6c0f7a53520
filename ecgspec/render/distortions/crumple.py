"""The crumple raster step: a page that was crumpled into a ball and flattened again.

A height field is built from what crumpling leaves in a sheet: `creases` straight crease lines of
random direction, length and place, each a ridge or a valley, sharp at its line and flattening
out over 5–25 mm; where they overlap the sheet is a patchwork of tilted facets, over a faint
relief of smooth noise. The field is lit from one side at a raking angle
(Lambertian: brightness ∝ the cosine between the surface normal and the light), and the
brightness relative to flat paper becomes a *gain*, as every paper effect here is: ink at 0 stays
0, so the traces stay as dark as they were and only the paper and the grid around them shade.
Each crease also leaves a thin darker line where the fibres broke.

With `displace` > 0 the paper also moves in its plane along the smoothed slopes (a crumpled sheet
is shorter across its folds), by at most `displace` mm: a smooth remap whose bound is added to
`canvas.max_warp_px`, as a wrinkle's is, and which ground truth follows as it follows a wrinkle
(the step draws nothing from the pixels and applies grey gains only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from .fields import apply_displacement, apply_gain, coarse_grid, coarse_shape, smooth_noise
from .registry import Canvas, clamp, raster

CELL = 3  # px per cell of the height field: 0.38 mm at 200 dpi, fine enough for a crease's edge
# At strength 1: the darkest shade keeps 1 - DARKEST of the paper's light, the brightest gains
# BRIGHTEST, and a crease line takes a further LINE_DARK: white paper stays at 123 or above. The
# shipped presets stay at or below strength 0.6 (white paper at 172 or above), far from trace ink
# (below 128 for a digitiser that thresholds ink).
DARKEST = 0.45
BRIGHTEST = 0.08
LINE_DARK = 0.12  # a crease line's darkening at strength 1
LINE_MM = 0.15  # a crease line's half width
EPS_MM = 0.15  # how round a fold is at its line


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _block(
    centre: tuple[float, float], axes: tuple[float, float], extent: tuple[float, float], grid: tuple[float, float]
) -> tuple[slice, slice]:
    """Rows and columns of the grid (cells `grid` mm, from 0) that a rectangle can touch: centred at
    `centre`, its first axis along `axes` (a unit vector) `extent[0]` mm either way, its second
    `extent[1]` mm either way."""
    (cx, cy), (ux, uy), (a, b) = centre, axes, extent
    rx, ry = abs(ux) * a + abs(uy) * b, abs(uy) * a + abs(ux) * b
    cell_x, cell_y = grid
    return (
        slice(max(0, math.floor((cy - ry) / cell_y)), max(0, math.ceil((cy + ry) / cell_y) + 1)),
        slice(max(0, math.floor((cx - rx) / cell_x)), max(0, math.ceil((cx + rx) / cell_x) + 1)),
    )


def crease_slopes(
    rng: np.random.Generator, shape: tuple[int, int], x_mm: np.ndarray, y_mm: np.ndarray, creases: int
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """The slopes (∂h/∂x, ∂h/∂y, mm per mm) of the sheet's height field h on the grid `x_mm`
    (1, w) × `y_mm` (h, 1): `creases` crease lines over a faint relief; and the creases'
    geometry (centre, angle, half length, in mm).

    A crease is a V across its line, h = ±slope·ρ(d) with ρ(d) = √(d² + ε²) − ε (a fold
    rounded over ε = 0.15 mm), flattening out over `reach` mm (h saturates as
    reach·(1 − e^(−ρ/reach))) and fading toward its ends. Where creases overlap the sheet is a
    patchwork of tilted facets, the look of a crumpled sheet. The slopes are computed, not
    differenced; the fade's own slope along the line is left out (far from the line a crease's
    height is large, slope × reach, and its fade would shade a broad band across each end).
    Each crease is computed only where it is more than 0.1% of its slope."""
    width_mm, height_mm = float(x_mm.max()), float(y_mm.max())
    diagonal = math.hypot(width_mm, height_mm)
    grid = float(x_mm[0, 1] - x_mm[0, 0]), float(y_mm[1, 0] - y_mm[0, 0])
    origin = float(x_mm[0, 0]) - grid[0] / 2, float(y_mm[0, 0]) - grid[1] / 2
    gx = np.zeros(shape, np.float32)
    gy = np.zeros(shape, np.float32)
    lines: list[dict[str, Any]] = []
    for _ in range(creases):
        cx, cy = rng.uniform(-0.1, 1.1) * width_mm, rng.uniform(-0.1, 1.1) * height_mm
        theta = float(rng.uniform(0.0, math.pi))
        half = float(rng.uniform(0.05, 0.3)) * diagonal
        sign = 1.0 if rng.random() < 0.45 else -1.0  # a ridge or a valley seen from above
        slope = float(rng.uniform(0.04, 0.2))  # 2–11° either side of the fold
        reach = float(rng.uniform(5.0, 25.0))
        lines.append(
            {
                "centre": [round(cx, 2), round(cy, 2)],
                "angle": round(math.degrees(theta), 3),
                "half_length": round(half, 2),
                "fold": "ridge" if sign > 0 else "valley",
            }
        )
        ux, uy = math.cos(theta), math.sin(theta)
        rows, cols = _block((cx - origin[0], cy - origin[1]), (ux, uy), (half, 7.0 * reach), grid)
        xs, ys = x_mm[:, cols] - np.float32(cx), y_mm[rows, :] - np.float32(cy)
        if xs.size == 0 or ys.size == 0:
            continue
        along = xs * np.float32(ux) + ys * np.float32(uy)
        across = ys * np.float32(ux) - xs * np.float32(uy)  # grows along (−uy, ux)
        rounded = np.sqrt(across * across + np.float32(EPS_MM**2))
        taper = _smoothstep((np.float32(half) - np.abs(along)) / np.float32(0.35 * half))
        taper *= np.exp((np.float32(EPS_MM) - rounded) / np.float32(reach))
        taper *= across / rounded
        taper *= np.float32(sign * slope)  # now the slope across the line
        gx[rows, cols] -= taper * np.float32(uy)
        gy[rows, cols] += taper * np.float32(ux)
    # A faint relief between the creases: the paper never lies quite flat.
    relief = smooth_noise(rng, shape, max(width_mm, height_mm) / 12.0) * np.float32(0.05)
    gx += cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3) / np.float32(8.0 * grid[0])
    gy += cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3) / np.float32(8.0 * grid[1])
    return gx, gy, lines


@raster("crumple")
def crumple(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Crumpled paper: `creases` crease lines over a faint relief, lit from a random direction
    30–50° above the page, as a gain whose darkest shade keeps 1 − 0.45 × strength of the light
    (the brightest gains 8% × strength), with a thin line along each crease a further
    12% × strength darker; and, with `displace` > 0, a smooth in-plane displacement of at most
    `displace` mm."""
    strength = clamp(params["strength"], 0.0, 1.0)
    creases = int(clamp(params["creases"], 0, 80))
    displace = clamp(params.get("displace", 0.0), 0.0, 3.0)
    h, w = canvas.height, canvas.width
    mm = canvas.px_per_mm
    shape = coarse_shape(h, w, CELL)
    x, y = coarse_grid(h, w, CELL)
    gx, gy, lines = crease_slopes(rng, shape, x / mm, y / mm, creases)

    # Lambertian shading relative to flat paper.
    azimuth = float(rng.uniform(0.0, 2 * math.pi))
    elevation = float(rng.uniform(30.0, 50.0))
    e = math.radians(elevation)
    lx, ly, lz = math.cos(azimuth) * math.cos(e), math.sin(azimuth) * math.cos(e), math.sin(e)
    lambert = (lz - gx * lx - gy * ly) / np.sqrt(1.0 + gx * gx + gy * gy)
    deviation = lambert / lz - 1.0
    # Strength sets the depth of the shading whatever the page's size or number of creases: the
    # 98th percentile of the darkening is scaled to DARKEST × strength (darker facets are held there).
    scale = float(np.percentile(np.maximum(-deviation, 0.0), 98.0))
    k = DARKEST * strength / scale if scale > 1e-6 else 0.0
    gain = np.clip(1.0 + k * deviation, 1.0 - DARKEST * strength, 1.0 + BRIGHTEST * strength).astype(np.float32)

    amplitude = displace * mm
    if amplitude > 0:
        # The paper moves along the slopes, smoothed over 2 mm (the shortening is gradual across
        # a fold), by at most `displace` mm: the remap comes first, so that the shading lies
        # where the paper now is.
        sigma = 2.0 * mm / CELL
        dx = cv2.GaussianBlur(gx, (0, 0), sigma)
        dy = cv2.GaussianBlur(gy, (0, 0), sigma)
        peak = float(np.sqrt(dx * dx + dy * dy).max())
        s = amplitude / peak if peak > 0 else 0.0
        canvas.img = apply_displacement(canvas.img, dx * s, dy * s)
        canvas.max_warp_px += amplitude
    apply_gain(canvas.img, gain)
    _crease_lines(canvas, lines, LINE_DARK * strength)
    return {
        "strength": strength,
        "creases": creases,
        "displace": displace,
        "light_azimuth": round(math.degrees(azimuth), 3),
        "light_elevation": round(elevation, 3),
        "max_displacement_px": round(amplitude, 4),
        "lines": lines,
    }


def _crease_lines(canvas: Canvas, lines: list[dict[str, Any]], dark: float) -> None:
    """A thin darker line along each crease (fading toward its ends), as a gain on the pixels it
    touches only."""
    if dark <= 0 or not lines:
        return
    mm = canvas.px_per_mm
    mask = np.zeros((canvas.height, canvas.width), np.uint8)
    thick = max(1, round(2 * LINE_MM * mm))
    for line in lines:
        cx, cy = (v * mm for v in line["centre"])
        half = line["half_length"] * mm
        theta = math.radians(line["angle"])
        ux, uy = math.cos(theta), math.sin(theta)
        # Eight pieces, darker in the middle: the fold is sharpest where it was pressed flat.
        for i in range(8):
            t0, t1 = -half + i * half / 4, -half + (i + 1) * half / 4
            level = round(255 * math.sin(math.pi * (i + 0.5) / 8) ** 2)
            p0 = (round(cx + t0 * ux), round(cy + t0 * uy))
            p1 = (round(cx + t1 * ux), round(cy + t1 * uy))
            cv2.line(mask, p0, p1, level, thick, cv2.LINE_AA)
    rows, cols = np.nonzero(mask)
    if rows.size:
        factor = 1.0 - np.float32(dark) * (mask[rows, cols].astype(np.float32) / np.float32(255.0))
        pixels = canvas.img[rows, cols].astype(np.float32) * factor[:, None]
        if canvas.img.dtype == np.uint8:
            canvas.img[rows, cols] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
        else:  # a float image (a probe following the displacement): the same grey gain, unrounded
            canvas.img[rows, cols] = pixels
