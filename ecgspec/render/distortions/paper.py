"""Paper raster steps: wrinkle, crease, tint, yellow, texture, stain, shadow, lighting.

Every one of them changes brightness as a *gain* (a per-pixel, per-channel factor), never by
adding or painting over: ink at 0 stays at 0 and dark traces stay dark whatever the paper does,
which keeps a distorted page digitisable. Wrinkles and creases also move the paper a little (a
remap); how far is bounded and added to `canvas.max_warp_px`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from .fields import (
    apply_displacement,
    apply_gain,
    coarse_grid,
    coarse_shape,
    normal_field,
    smooth_noise,
    upsample,
)
from .registry import Canvas, as_rgb, clamp, hex_rgb, raster, rgb_hex

# Largest wrinkle displacement at strength 1: enough to make grid lines visibly wavy, small
# enough that a trace moves by at most 0.15 mV at 10 mm/mV. It grows as strength² (see wrinkle).
WRINKLE_MAX_MM = 1.5
# Largest displacement across one crease at depth 1.
CREASE_MAX_MM = 0.25
# Aged thermal paper (the colour toward which `yellow` moves the page).
AGED_YELLOW = (232, 207, 138)


def _paper_gain(canvas: Canvas, target: tuple[float, float, float]) -> np.ndarray:
    """Per-channel factor that takes the paper colour to `target`: (3,) float32. Channels of the
    paper at 0 are treated as 1 so that the factor stays finite."""
    bg = np.maximum(np.asarray(canvas.background, dtype=np.float64), 1.0)
    return (np.asarray(target, dtype=np.float64) / bg).astype(np.float32)


# ---- wrinkle and crease: displacement and shading -------------------------------------------------


@raster("wrinkle")
def wrinkle(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Crumpled paper: shading lit from one side of a ridged height field (-|noise|: sharp folds
    along the noise's zero lines, about `count` of them across the page), as a mild gain of up
    to ±20% × strength; and a smooth displacement field (two noise fields, about 0.6 × `count`
    undulations across the page) scaled so that the largest displacement is exactly
    strength² × 1.5 mm. Squared because a wrinkled sheet's in-plane shortening grows as the
    square of its slopes, which the shading shows: a visibly crumpled page (strength 0.3) moves
    its traces by 0.14 mm at most, and stays digitisable."""
    strength = clamp(params["strength"], 0.0, 1.0)
    count = int(clamp(params["count"], 1, 40))
    h, w = canvas.height, canvas.width
    amplitude = WRINKLE_MAX_MM * strength**2 * canvas.px_per_mm

    shape = coarse_shape(h, w)
    dx = smooth_noise(rng, shape, count * 0.6)
    dy = smooth_noise(rng, shape, count * 0.6)
    peak = float(np.sqrt(dx * dx + dy * dy).max())
    k = amplitude / peak if peak > 0 else 0.0
    dx *= k
    dy *= k

    # Height: ridges where a noise field crosses zero, plus a finer octave for small wrinkles.
    fine = coarse_shape(h, w, 4)
    height = -np.abs(smooth_noise(rng, fine, count)) - 0.35 * np.abs(smooth_noise(rng, fine, count * 2.5))
    light = rng.uniform(0, 2 * math.pi)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3)
    shade = gx * math.cos(light) + gy * math.sin(light)
    shade /= max(float(np.abs(shade).max()), 1e-6)
    # At strength 1 the darkest fold side is about 0.8 of the paper's brightness, the lit one 1.06.
    gain = np.clip(1.0 + 0.2 * strength * shade, 1.0 - 0.2 * strength, 1.0 + 0.06 * strength)

    canvas.img = apply_displacement(canvas.img, dx, dy)
    apply_gain(canvas.img, gain.astype(np.float32))
    canvas.max_warp_px += amplitude
    return {
        "strength": strength,
        "count": count,
        "max_displacement_px": round(amplitude, 4),
        "light_angle": round(math.degrees(light), 3),
    }


def _profile_field(
    profile: np.ndarray,
    step: float,
    half: float,
    normal: tuple[float, float],
    offset: float,
    height: int,
    width: int,
    far: float,
) -> np.ndarray:
    """A field constant along a line: value(x, y) = profile at signed distance d = nx·x + ny·y -
    offset, where profile[i] is the value at d = -half + i·step. One warpAffine of a 2-row
    table (a bilinear lookup), far cheaper than evaluating the profile per pixel."""
    table = np.repeat(profile[None, :].astype(np.float32), 2, axis=0)
    nx, ny = normal
    # Output pixel index (c, r) has its centre at (c + 0.5, r + 0.5); its table column is
    # (d + half) / step.
    m = np.array([[nx / step, ny / step, ((nx + ny) * 0.5 - offset + half) / step], [0.0, 0.0, 0.5]], dtype=np.float64)
    return cv2.warpAffine(
        table,
        m,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=far,
    )


def _band_box(
    normal: tuple[float, float], offset: float, half: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) that holds every pixel of the page within `half` of the line
    nx·x + ny·y = offset: a strip across the page for a fold near an axis, more for a slanted one."""
    nx, ny = normal
    if abs(ny) >= abs(nx):  # mostly horizontal: y spans what the band's edges reach at x = 0 and W
        ys = [(offset + s * half - nx * x) / ny for s in (-1, 1) for x in (0, width)]
        return 0, max(0, math.floor(min(ys)) - 1), width, min(height, math.ceil(max(ys)) + 1)
    xs = [(offset + s * half - ny * y) / nx for s in (-1, 1) for y in (0, height)]
    return max(0, math.floor(min(xs)) - 1), 0, min(width, math.ceil(max(xs)) + 1), height


@raster("crease")
def crease(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """`count` straight folds across the page. Most folds of a printout are along its halves
    and thirds, so 70% of them lie within a few degrees of horizontal or vertical, the others
    at any angle; each passes through the middle 60% of the page. Across a fold: a thin dark
    valley, a faint highlight on one side and a soft shade on the other (`depth` scales them),
    and a displacement perpendicular to the fold of at most depth × 0.25 mm. Folds apply one
    after the other, each only within 12 mm of its line (beyond, its profiles are flat)."""
    count = int(clamp(params["count"], 0, 20))
    depth = clamp(params["depth"], 0.0, 1.0)
    h, w = canvas.height, canvas.width
    mm = canvas.px_per_mm
    half = 12.0 * mm
    step = 0.25
    d = np.arange(-half, half + step, step) / mm  # mm
    valley = np.exp(-((d / 0.3) ** 2))
    highlight = np.exp(-(((d - 0.7) / 0.35) ** 2))
    side = np.sign(d) * np.exp(-np.abs(d) / 3.0) * (1 - np.exp(-((d / 0.5) ** 2)))
    shading = 1.0 - depth * (0.3 * valley - 0.06 * highlight + 0.07 * side)
    push_mm = CREASE_MAX_MM * depth
    push = push_mm * mm * (d / 1.5) * np.exp((1 - (d / 1.5) ** 2) / 2)  # peaks at ±push at d = ±1.5 mm

    folds = []
    for _ in range(count):
        if rng.random() < 0.7:
            angle = (0.0 if rng.random() < 0.5 else 90.0) + float(rng.normal(0.0, 3.0))
        else:
            angle = float(rng.uniform(0.0, 180.0))
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        # The fold's direction is `angle` (0 = horizontal); its normal is perpendicular.
        nx, ny = -math.sin(math.radians(angle)), math.cos(math.radians(angle))
        offset = nx * cx + ny * cy
        folds.append({"angle": round(angle, 4), "through": [round(cx, 2), round(cy, 2)]})
        x0, y0, x1, y1 = _band_box((nx, ny), offset, half, w, h)
        if x1 <= x0 or y1 <= y0:
            continue
        local = offset - nx * x0 - ny * y0  # the line in the box's own pixel coordinates
        gain = _profile_field(shading, step, half, (nx, ny), local, y1 - y0, x1 - x0, 1.0)
        p = _profile_field(push, step, half, (nx, ny), local, y1 - y0, x1 - x0, 0.0)
        map_x = p * nx
        map_x += np.arange(x0, x1, dtype=np.float32)[None, :]
        map_y = p * ny
        map_y += np.arange(y0, y1, dtype=np.float32)[:, None]
        # Resample the box from the whole page (its edge pixels may read from outside the box).
        moved = cv2.remap(canvas.img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        apply_gain(moved, gain)
        canvas.img[y0:y1, x0:x1] = moved

    bound = push_mm * mm * count  # the folds' pushes add up at worst
    canvas.max_warp_px += bound
    return {"count": count, "depth": depth, "folds": folds, "max_displacement_px": round(bound, 4)}


# ---- colour ---------------------------------------------------------------------------------------


@raster("tint")
def tint(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Move the paper colour toward `color` by `amount`: every pixel is scaled per channel by the
    factor that does that to the paper, so ink (0) stays 0 and the grid follows the paper. One
    uint8 lookup table per channel."""
    amount = clamp(params["amount"], 0.0, 1.0)
    colour = np.asarray(hex_rgb(params["color"]), dtype=np.float64)
    bg = np.asarray(canvas.background, dtype=np.float64)
    target = bg + amount * (colour - bg)
    factor = _paper_gain(canvas, tuple(target))
    lut = np.clip(np.rint(np.arange(256, dtype=np.float64)[:, None] * factor[None, :]), 0, 255)
    cv2.LUT(canvas.img, lut.astype(np.uint8).reshape(256, 1, 3), dst=canvas.img)
    canvas.background = as_rgb(target)
    return {"color": params["color"], "amount": amount, "background": rgb_hex(canvas.background)}


@raster("yellow")
def yellow(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Age the paper toward a thermal-paper yellow (#e8cf8a): by `amount` × 0.6 in the middle of
    the page, up to `amount` at the edges (paper ages from where air and hands reach it), with a
    mild blotchiness. A gain, so ink stays dark."""
    amount = clamp(params["amount"], 0.0, 1.0)
    h, w = canvas.height, canvas.width
    shape = coarse_shape(h, w)
    x, y = coarse_grid(h, w)
    edge_dist = np.minimum(np.minimum(x, w - x), np.minimum(y, h - y))  # px, broadcast (h, w)
    edge = np.exp(-edge_dist / (0.08 * min(w, h)))
    blotch = smooth_noise(rng, shape, 5)
    share = np.clip(0.6 + 0.4 * edge + 0.08 * blotch, 0.0, 1.0) * amount  # (h, w) float32
    bg = np.asarray(canvas.background, dtype=np.float32)
    ratio = _paper_gain(canvas, AGED_YELLOW) - 1.0  # per channel, at share 1
    gain = 1.0 + share[..., None].astype(np.float32) * ratio[None, None, :]
    apply_gain(canvas.img, gain.astype(np.float32))
    canvas.background = as_rgb(np.clip(bg * (1.0 + 0.6 * amount * ratio), 0, 255))
    return {"amount": amount, "color": rgb_hex(AGED_YELLOW), "background": rgb_hex(canvas.background)}


# ---- texture, stains, light -----------------------------------------------------------------------


@raster("texture")
def texture(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Paper fibres and formation: fine noise stretched along the paper's machine direction
    (horizontal) and a cloudy component of ~2 mm flocs, as a gain of standard deviation
    strength × 6% (a few grey levels at the default 0.2). Fibres are ~2 px wide, so they are
    made at half size; flocs on the coarse grid."""
    strength = clamp(params["strength"], 0.0, 1.0)
    h, w = canvas.height, canvas.width
    hh, hw = max(2, -(-h // 2)), max(2, -(-w // 2))
    fibres: np.ndarray = cv2.GaussianBlur(normal_field(rng, (hh, hw), 1.0), (0, 0), sigmaX=1.6, sigmaY=0.5)
    fibres /= max(float(fibres.std()), 1e-6)
    flocs = smooth_noise(rng, coarse_shape(h, w), max(w, h) / (2.0 * canvas.px_per_mm))
    fibres += 0.6 * upsample(flocs, hh, hw)
    fibres *= 0.06 * strength / max(float(fibres.std()), 1e-6)
    fibres += 1.0
    apply_gain(canvas.img, fibres)
    return {"strength": strength}


def _outline(rng: np.random.Generator, theta: np.ndarray, rough: float) -> np.ndarray:
    """The radius of an irregular outline at angles `theta`, relative to its mean: a blot's broad
    lobes (harmonics 1–4) and its ragged edge (5–24, falling as k^-1.3), scaled so that the
    radius varies by `rough` × 10–20% (its standard deviation over its mean): never a circle."""
    coeffs = rng.normal(0.0, 1.0, (24, 2)) * np.array([[1 / k**0.5 if k <= 4 else 1.8 / k**1.3] for k in range(1, 25)])
    spread = math.sqrt(float((coeffs**2).sum()) / 2)  # the deviation of the sum over the angle
    coeffs *= rough * float(rng.uniform(0.1, 0.2)) / max(spread, 1e-9)
    outline = np.ones_like(theta)
    for k, (a, b) in enumerate(coeffs, start=1):
        outline += a * np.cos(k * theta) + b * np.sin(k * theta)
    return np.asarray(np.clip(outline, 0.45, 1.4))


def _stain_alpha(
    rng: np.random.Generator, radius: float, px_per_mm: float, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, str]:
    """Opacity of one stain (coffee or water) around (0, 0) at offsets xs (1, n) and ys (m, 1),
    and its kind. Three in four are *blots*, a spill that dried: an irregular outline (broad lobes
    and a ragged edge, the radius further wandering with the position: `_outline` and a smooth
    warp), a translucent, mottled inside, a darker tide line at the edge whose strength varies
    along it (the coffee-ring effect), sometimes a fainter tide line inside (where it had dried
    before), and a few droplets around it. One in four is a *ring*, the wet base of a cup: a thin,
    nearly round band of uneven strength with a gap where the cup was lifted. Everything stays
    within 1.5 × `radius` of the centre."""
    rho = np.sqrt(xs * xs + ys * ys)
    theta = np.arctan2(ys, xs)
    ring = rng.random() < 0.25
    outline = _outline(rng, theta, 0.2 if ring else 1.0)
    # The edge wanders with the position too, not only with the angle (±6% of the radius).
    warp = cv2.resize(
        rng.standard_normal((7, 7)).astype(np.float32), (xs.shape[1], ys.shape[0]), interpolation=cv2.INTER_CUBIC
    )
    r = rho / (radius * outline) + 0.06 * np.clip(warp, -2.0, 2.0) * (0.3 if ring else 1.0)  # 1 on the edge
    rim_width = max(1.0, 0.7 * px_per_mm) / radius
    # The tide line's strength along the edge: a few broad swells.
    phase = rng.uniform(0.0, 2 * math.pi, 3)
    swell = 0.65 + 0.35 * (np.cos(theta + phase[0]) + 0.6 * np.cos(2 * theta + phase[1])) / 1.6
    edge = np.clip((1.0 - r) * radius / 1.5 + 0.5, 0.0, 1.0)  # a 1.5 px soft edge
    mottle = cv2.resize(
        rng.standard_normal((6, 6)).astype(np.float32), (xs.shape[1], ys.shape[0]), interpolation=cv2.INTER_CUBIC
    )
    if ring:
        band = float(rng.uniform(0.04, 0.09))
        gap = np.clip(1.0 - 1.4 * np.cos(theta - phase[2]) ** 8, 0.0, 1.0) if rng.random() < 0.7 else 1.0
        alpha = float(rng.uniform(0.35, 0.6)) * np.exp(-(((1.0 - r) / band - 1.0) ** 2)) * swell * gap
        alpha = alpha * edge + 0.04 * edge
    else:
        inside = float(rng.uniform(0.12, 0.3))
        rim = float(rng.uniform(0.3, 0.6))
        alpha = inside * (0.7 + 0.3 * r) + rim * swell * np.exp(-(((1.0 - r) / rim_width) ** 2))
        if rng.random() < 0.5:  # an earlier, smaller tide line
            at = float(rng.uniform(0.55, 0.85))
            alpha = alpha + 0.4 * rim * np.exp(-(((at - r) / (1.5 * rim_width)) ** 2)) * (r < 1.0)
        alpha = alpha * (1.0 + 0.25 * mottle) * edge
        # Droplets that splashed off: small discs with their own rims.
        for _ in range(int(rng.integers(0, 5))):
            angle = float(rng.uniform(0.0, 2 * math.pi))
            small = radius * float(rng.uniform(0.03, 0.1))
            dist = radius * float(rng.uniform(1.1, 1.5)) - small
            d = np.sqrt((xs - dist * math.cos(angle)) ** 2 + (ys - dist * math.sin(angle)) ** 2) / small
            alpha = alpha + np.clip((1.0 - d) * small / 1.2 + 0.5, 0.0, 1.0) * (inside + 0.6 * rim * d**4)
    return (np.clip(alpha, 0.0, 0.9) * float(rng.uniform(0.6, 1.0))).astype(np.float32), "ring" if ring else "blot"


@raster("stain")
def stain(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """`count` translucent stains of about `size` mm across (±25%), in `color`, anywhere on the
    page (some partly off it): blots with irregular outlines and darker tide lines, and cup
    rings (`_stain_alpha`). Each is a multiply-blend in its own bounding box only; the record
    holds each one's centre, radius, kind and box (continuous px)."""
    count = int(clamp(params["count"], 0, 50))
    size = clamp(params["size"], 0.5, 500.0)
    colour = np.asarray(hex_rgb(params["color"]), dtype=np.float32) / 255.0
    h, w = canvas.height, canvas.width
    placed = []
    for _ in range(count):
        radius = size / 2 * canvas.px_per_mm * float(rng.uniform(0.75, 1.25))
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        reach = 1.6 * radius
        x0, x1 = max(0, int(cx - reach)), min(w, math.ceil(cx + reach))
        y0, y1 = max(0, int(cy - reach)), min(h, math.ceil(cy + reach))
        # Draw the stain's randomness even when it falls off the page, so that the others do
        # not depend on the page size.
        xs = (np.arange(x0, max(x1, x0 + 1), dtype=np.float32) + 0.5 - cx)[None, :]
        ys = (np.arange(y0, max(y1, y0 + 1), dtype=np.float32) + 0.5 - cy)[:, None]
        alpha, kind = _stain_alpha(rng, radius, canvas.px_per_mm, xs, ys)
        placed.append(
            {
                "centre": [round(cx, 2), round(cy, 2)],
                "radius_px": round(radius, 3),
                "kind": kind,
                "box": [x0, y0, max(x1, x0), max(y1, y0)],
            }
        )
        if x1 <= x0 or y1 <= y0:
            continue
        gain = 1.0 - alpha[..., None] * (1.0 - colour[None, None, :])
        patch = canvas.img[y0:y1, x0:x1]
        patch[...] = cv2.multiply(patch, gain.astype(np.float32), dtype=cv2.CV_8U)
    return {"count": count, "size": size, "color": params["color"], "stains": placed}


@raster("shadow")
def shadow(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A soft shadow (a hand, a phone) entering from a random direction and covering 15–55% of
    the page, with a gently curved, blurred edge; slightly bluish, as shadows in daylight are.
    The darkest part keeps 1 - strength of the light."""
    strength = clamp(params["strength"], 0.0, 0.95)
    h, w = canvas.height, canvas.width
    shape = coarse_shape(h, w)
    x, y = coarse_grid(h, w)
    angle = float(rng.uniform(0, 2 * math.pi))
    ux, uy = math.cos(angle), math.sin(angle)
    # Distance along the direction, normalised so that the page spans [0, 1].
    proj = (x - w / 2) * ux + (y - h / 2) * uy
    span = abs(w / 2 * ux) + abs(h / 2 * uy)
    t = proj / (2 * span) + 0.5
    coverage = float(rng.uniform(0.15, 0.55))
    softness = float(rng.uniform(0.03, 0.12))
    bend = smooth_noise(rng, shape, 2) * 0.05
    mask = 1.0 / (1.0 + np.exp(-((t + bend) - (1.0 - coverage)) / softness))
    tone = np.array([1.0, 0.98, 0.92], dtype=np.float32)  # blue is dimmed least
    gain = 1.0 - strength * mask[..., None].astype(np.float32) * tone[None, None, :]
    apply_gain(canvas.img, gain.astype(np.float32))
    return {
        "strength": strength,
        "angle": round(math.degrees(angle), 3),
        "coverage": round(coverage, 4),
        "softness": round(softness, 4),
    }


@raster("lighting")
def lighting(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Uneven light on a photographed page: a linear falloff in a random direction (70%) and a
    radial one around a random bright spot (30%). The brightest point gets 1 + strength × 0.1
    (paper burns out a little), the darkest about 1 - strength × 0.9."""
    strength = clamp(params["strength"], 0.0, 1.0)
    h, w = canvas.height, canvas.width
    x, y = coarse_grid(h, w)
    angle = float(rng.uniform(0, 2 * math.pi))
    ux, uy = math.cos(angle), math.sin(angle)
    span = abs(w / 2 * ux) + abs(h / 2 * uy)
    ramp = ((x - w / 2) * ux + (y - h / 2) * uy) / (2 * span) + 0.5
    sx, sy = float(rng.uniform(0.2, 0.8)) * w, float(rng.uniform(0.2, 0.8)) * h
    radial = ((x - sx) ** 2 + (y - sy) ** 2) / float(w * w + h * h)
    falloff = 0.7 * ramp + 0.3 * np.clip(radial * 2.0, 0.0, 1.0)
    gain = (1.0 + 0.1 * strength) - strength * falloff
    apply_gain(canvas.img, gain.astype(np.float32))
    return {"strength": strength, "angle": round(math.degrees(angle), 3), "spot": [round(sx, 2), round(sy, 2)]}
