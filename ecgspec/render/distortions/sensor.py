"""Sensor and file raster steps: noise (gaussian, speckle, salt and pepper), blur, defocus, jpeg,
and the tone steps of photocopiers and faxes: contrast and threshold.

Full-page Gaussian noise comes from OpenCV's generator (fields.normal_field), seeded from the
step's own stream: it depends on the seed only, not on the number of threads (tests check it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from .fields import normal_field
from .registry import Canvas, clamp, raster


@raster("noise")
def noise(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """gaussian: independent N(0, sigma) added to each channel (0–255 levels); speckle: each
    pixel multiplied by 1 + N(0, sigma / 255), so white varies by sigma levels and ink hardly;
    salt_pepper: a share `amount` of the pixels (distinct ones) set to black or white."""
    kind = params["kind"]
    img = canvas.img
    if kind == "gaussian":
        sigma = clamp(params["sigma"], 0.0, 128.0)
        cv2.add(img, normal_field(rng, img.shape, sigma), dst=img, dtype=cv2.CV_8U)
        return {"kind": kind, "sigma": sigma}
    if kind == "speckle":
        sigma = clamp(params["sigma"], 0.0, 128.0)
        gain = normal_field(rng, img.shape, sigma / 255.0)
        gain += 1.0
        cv2.multiply(img, gain, dst=img, dtype=cv2.CV_8U)
        return {"kind": kind, "sigma": sigma}
    if kind == "salt_pepper":
        amount = clamp(params["amount"], 0.0, 0.5)
        n = round(amount * canvas.height * canvas.width)
        flat = img.reshape(-1, 3)
        where = rng.choice(flat.shape[0], size=n, replace=False)
        flat[where] = np.where(rng.random(n) < 0.5, 0, 255).astype(np.uint8)[:, None]
        return {"kind": kind, "amount": amount, "pixels": n}
    raise ValueError(f"noise kind '{kind}' is not one of gaussian, speckle, salt_pepper")


@raster("blur")
def blur(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Gaussian blur of standard deviation `sigma` px (kernel ±3 sigma)."""
    sigma = clamp(params["sigma"], 0.0, 30.0)
    if sigma > 0:
        cv2.GaussianBlur(canvas.img, (0, 0), sigma, dst=canvas.img, borderType=cv2.BORDER_REFLECT)
    return {"sigma": sigma}


def disc_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """A normalised disc of `radius` px with anti-aliased edges (each tap's coverage of the disc,
    by supersampling), float32, (2·ceil(r)+1)²."""
    half = max(0, math.ceil(radius - 1e-9))
    n = 2 * half + 1
    sub = (np.arange(n * supersample) + 0.5) / supersample - n / 2
    inside = (sub[None, :] ** 2 + sub[:, None] ** 2 <= radius * radius).astype(np.float32)
    kernel = inside.reshape(n, supersample, n, supersample).mean(axis=(1, 3))
    total = float(kernel.sum())
    if total <= 0:  # a radius below a pixel's half-diagonal: nothing to blur
        kernel = np.zeros((1, 1), np.float32)
        kernel[0, 0] = 1.0
        return kernel
    return (kernel / total).astype(np.float32)


@raster("defocus")
def defocus(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """An out-of-focus lens: convolution with a disc of `radius` px."""
    radius = clamp(params["radius"], 0.0, 15.0)
    kernel = disc_kernel(radius)
    if kernel.shape != (1, 1):
        cv2.filter2D(canvas.img, -1, kernel, dst=canvas.img, borderType=cv2.BORDER_REFLECT)
    return {"radius": radius, "kernel": int(kernel.shape[0])}


@raster("jpeg")
def jpeg(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Encode as JPEG at `quality` and decode again (the only step that encodes)."""
    quality = int(clamp(round(float(params["quality"])), 1, 100))
    bgr = cv2.cvtColor(canvas.img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    canvas.img = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return {"quality": quality, "bytes": int(buf.size)}


# ---- tone: contrast and threshold ----------------------------------------------------------------
# A photocopy has more contrast than its original; a fax is black and white.


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


@raster("contrast")
def contrast(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Stretch levels about mid-grey by `amount` (1 = unchanged); one lookup table."""
    amount = clamp(params["amount"], 0.0, 20.0)
    lut = np.clip(np.rint((np.arange(256) - 127.5) * amount + 127.5), 0, 255).astype(np.uint8)
    cv2.LUT(canvas.img, lut, dst=canvas.img)
    return {"amount": amount}


@raster("threshold")
def threshold(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """Black and white: pixels whose luminance is below `level` (of white) become black, the
    others white."""
    level = clamp(params["level"], 0.0, 1.0)
    _, bw = cv2.threshold(_luma(canvas.img), level * 255.0, 255, cv2.THRESH_BINARY)
    canvas.img = cv2.cvtColor(bw, cv2.COLOR_GRAY2RGB)
    canvas.background = (255, 255, 255)
    return {"level": level}
