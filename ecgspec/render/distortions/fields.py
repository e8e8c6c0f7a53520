"""Fields: smooth random functions over the page, and the two ways they change it.

Smooth fields (lighting, shadow, yellowing, wrinkles) are computed on a coarse grid (1/8 of
the page, float32) and upsampled with OpenCV's bilinear resize, which costs about a millisecond
where computing them at full size would cost tens. Bilinear upsampling never leaves the range
of the coarse values, so a bound measured on the coarse field holds for the full one.

A field changes the page either as a *gain* (brightness multiplied per pixel: ink at 0 stays
at 0, which is why every paper effect is a gain) or as a *displacement* (a remap).

Following a displacement (ground truth: where a clean-page point ends up). A step that moves the
paper non-linearly (wrinkle, crease) is replayed, with its own seed, on a *probe*: a float32
image whose channels are (x, y, 1), the continuous coordinates of each pixel's centre
(`probe_image`). Bilinear resampling of a linear ramp is exact (up to OpenCV's 1/32 px grid of
interpolation weights: 1/64 px), and a grey gain multiplies the three channels alike, so after
the step each output pixel's first two channels divided by the third are the point of the input
it shows (`decode_probe`). This works for any step that only
resamples (cv2.remap / warp with bilinear or better interpolation, replicated borders) and
applies grey gains through `apply_gain` or a plain product, whatever its formulas.
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
    cv2.multiply does the uint8 × float32 product in one pass without a float image. A float32
    image (a probe, see the module's docstring) is multiplied in float32, unrounded."""
    height, width = img.shape[:2]
    if gain.ndim == 2:
        gain = cv2.merge([gain, gain, gain])  # cheap while coarse: merge before upsampling
    gain = upsample(gain, height, width)
    cv2.multiply(img, gain, dst=img, dtype=cv2.CV_8U if img.dtype == np.uint8 else cv2.CV_32F)


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


# ---- following displacements (ground truth) --------------------------------------------------------


def probe_image(height: int, width: int) -> np.ndarray:
    """(height, width, 3) float32: each pixel's centre (x, y) in continuous coordinates, and 1."""
    probe = np.empty((height, width, 3), dtype=np.float32)
    probe[..., 0] = np.arange(width, dtype=np.float32)[None, :] + 0.5
    probe[..., 1] = np.arange(height, dtype=np.float32)[:, None] + 0.5
    probe[..., 2] = 1.0
    return probe


def decode_probe(probe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A probe after a step → (dx, dy) float32 at the output's size: the output pixel whose centre
    is at p shows the input's point p + (dx, dy) (continuous coordinates). The third channel
    undoes any grey gain the step applied; where it is ~0 (nothing of the page reached the
    pixel) the displacement is 0."""
    weight = probe[..., 2]
    ok = np.abs(weight) > 1e-6
    safe = np.where(ok, weight, np.float32(1.0))
    h, w = probe.shape[:2]
    dx = np.where(ok, probe[..., 0] / safe - (np.arange(w, dtype=np.float32)[None, :] + 0.5), 0.0)
    dy = np.where(ok, probe[..., 1] / safe - (np.arange(h, dtype=np.float32)[:, None] + 0.5), 0.0)
    return dx.astype(np.float32), dy.astype(np.float32)


def sample_field(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A full-size field (h, w[, c]) float32 read at continuous points (x, y) (arrays of one
    shape), bilinearly; beyond the edges the edge value continues. OpenCV's remap puts pixel
    centres at integers, hence the half-pixel shift; its weights are quantised to 1/32 px, which
    changes a smooth displacement field's value by far less than its own precision."""
    shape = np.shape(x)
    if len(shape) == 2 and max(shape) < 32767:  # a whole grid: one remap
        mx, my = np.asarray(x, np.float32) - 0.5, np.asarray(y, np.float32) - 0.5
        return np.asarray(cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    # Scattered points: rows of at most 4096 (remap's maps are limited to 32767 a side).
    n = int(np.prod(shape))
    cols = min(max(n, 1), 4096)
    rows = -(-max(n, 1) // cols)
    mx = np.zeros(rows * cols, dtype=np.float32)
    my = np.zeros(rows * cols, dtype=np.float32)
    mx[:n] = np.asarray(x, np.float32).ravel() - 0.5
    my[:n] = np.asarray(y, np.float32).ravel() - 0.5
    out = cv2.remap(
        field, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(out).reshape(rows * cols, *field.shape[2:])[:n].reshape(*shape, *field.shape[2:])
