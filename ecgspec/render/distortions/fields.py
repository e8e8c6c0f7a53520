"""Fields: smooth random functions over the page, and the two ways they change it.

Smooth fields (lighting, shadow, yellowing, wrinkles) are computed on a coarse grid (1/8 of
the page, float32) and upsampled with OpenCV's bilinear resize, which costs about a millisecond
where computing them at full size would cost tens. Bilinear upsampling never leaves the range
of the coarse values, so a bound measured on the coarse field holds for the full one.

A field changes the page either as a *gain* (brightness multiplied per pixel: ink at 0 stays
at 0, which is why every paper effect is a gain) or as a *displacement* (a remap).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

COARSE = 8  # coarse-grid step in pixels


def coarse_shape(height: int, width: int, step: int = COARSE) -> tuple[int, int]:
    return max(2, -(-height // step)), max(2, -(-width // step))


def coarse_grid(height: int, width: int, step: int = COARSE) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) in full-page pixels of the centres of the coarse grid's cells, as float32
    (1, w) and (h, 1) arrays, matching cv2.resize's pixel-centre alignment."""
    h, w = coarse_shape(height, width, step)
    x = (np.arange(w, dtype=np.float32) + 0.5) * (width / w)
    y = (np.arange(h, dtype=np.float32) + 0.5) * (height / h)
    return x[None, :], y[:, None]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: float) -> np.ndarray:
    """A smooth random field of `shape`, float32, zero mean and unit standard deviation, with
    about `cells` undulations across its longer side. Gaussian-filtered white noise (isotropic:
    interpolating a coarse random grid instead leaves ridges along the grid's axes), sampled at
    about 8 points per undulation, or at `shape` itself if that is coarser, then upsampled."""
    h, w = shape
    long = max(h, w)
    scale = min(1.0, 8.0 * max(cells, 0.5) / long)  # noise samples per pixel of `shape`
    sigma = max(long * scale / max(cells, 0.5) / 4.5, 0.3)  # peaks ~4.5 sigma apart
    margin = math.ceil(3 * sigma)  # blurred away, so that the edges are not special
    gh, gw = max(2, math.ceil(h * scale)), max(2, math.ceil(w * scale))
    white = rng.standard_normal((gh + 2 * margin, gw + 2 * margin)).astype(np.float32)
    grid: np.ndarray = cv2.GaussianBlur(white, (0, 0), sigma)[margin : margin + gh, margin : margin + gw]
    field = grid if (gh, gw) == (h, w) else cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    field -= field.mean()
    std = float(field.std())
    return field / std if std > 1e-6 else field


def upsample(field: np.ndarray, height: int, width: int) -> np.ndarray:
    """A coarse field at full size (bilinear; keeps the coarse field's range)."""
    if field.shape[:2] == (height, width):
        return field
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)


def apply_gain(img: np.ndarray, gain: np.ndarray) -> None:
    """img *= gain, in place, rounded and saturated to uint8. `gain` is float32 (h, w) or
    (h, w, 3), at full size or coarse (then upsampled); a single channel applies to all three.
    cv2.multiply does the uint8 × float32 product in one pass without a float image."""
    height, width = img.shape[:2]
    if gain.ndim == 2:
        gain = cv2.merge([gain, gain, gain])  # cheap while coarse: merge before upsampling
    gain = upsample(gain, height, width)
    cv2.multiply(img, gain, dst=img, dtype=cv2.CV_8U)


def _fresh(field: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`field` as a float32 array that may be changed in place without changing `source`."""
    if field is source or field.dtype != np.float32:
        return np.array(field, dtype=np.float32)
    return field


def apply_displacement(img: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """The page resampled at (x + dx, y + dy) for every output pixel (x, y): dx, dy float32 at
    full size or coarse. Edges replicate (the paper continues past the border)."""
    height, width = img.shape[:2]
    map_x = _fresh(upsample(dx, height, width), dx)
    map_x += np.arange(width, dtype=np.float32)[None, :]
    map_y = _fresh(upsample(dy, height, width), dy)
    map_y += np.arange(height, dtype=np.float32)[:, None]
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def normal_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """float32 Gaussian noise of deviation `sigma`, reproducible from `rng`: OpenCV's generator
    (about 4x numpy's speed) seeded from `rng` right before use. That generator is per thread
    and fills sequentially, so the noise depends on the seed only, never on the thread count."""
    out = np.empty(shape, dtype=np.float32)
    channels = shape[2] if len(shape) == 3 else 1
    cv2.setRNGSeed(int(rng.integers(1, 2**31 - 1)))
    # Mean and deviation per channel: scalars would fill the first channel only.
    cv2.randn(out, np.zeros(channels), np.full(channels, float(sigma)))
    return out
