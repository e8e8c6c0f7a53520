"""numpy RGB → PNG (or JPEG) bytes, and atomic file writes.

The PNG encoder: libpng through OpenCV (cv2.imencode), zlib level 1, with the zlib strategy and
row filter chosen per page from its pixels (`profile`):

- a *flat* page (`flatness`, the share of bytes equal to their left neighbour's, ≥ 0.5: clean
  renders ~0.7, faxes ~0.98) gets the default strategy and the Up filter;
- a *noisy* page (sensor noise, paper texture: most distorted renders, 0.04–0.4) gets the RLE
  strategy and the Paeth filter.

Why. On a noisy page zlib's match search finds almost nothing and spends its time looking:
Pillow's level 1 took ~200 ms and 5 MB a page, which alone would have been two thirds of the
time budget of a distorted page (render + `scanned` + encode ≤ 300 ms on one core). Measured
on one core over the 16 shipped records (4x3, 200 dpi, 2200 × 1700; `scanned` at seeds 0–15;
median ms and MB per page):

| encoder (zlib level 1)                 | `scanned` pages | clean pages   |
|----------------------------------------|-----------------|---------------|
| Pillow (the encoder before)            | 204 ms, 5.11 MB | 57 ms, 0.72 MB |
| Pillow, level 0 (stored)               | 106 ms, 11.2 MB | 36 ms, 11.2 MB |
| OpenCV, default strategy and filters   | 167 ms, 5.12 MB | 64 ms, 0.72 MB |
| OpenCV, RLE, adaptive filters          | 148 ms, 4.58 MB | 63 ms, 1.09 MB |
| OpenCV, RLE, Paeth (*noisy*)           | 108 ms, 4.58 MB | 39 ms, 1.11 MB |
| OpenCV, RLE, Up                        |  79 ms, 5.50 MB | 35 ms, 1.76 MB |
| OpenCV, default strategy, Up (*flat*)  | 105 ms, 5.19 MB | 26 ms, 0.66 MB |

RLE with Paeth is the smallest file on noisy pages, in half Pillow's time; on clean pages RLE
loses the long matches of flat paper, where the default strategy with Up is both the fastest
and the smallest. Choosing per page costs ~0.1 ms (every 32nd row is looked at) and gets both:
a `scanned` page is now render and distortion ~95 ms + PNG ~110 ms ≈ 210 ms (bench/render.py),
a clean page's PNG 26 ms instead of 57.

Both profiles are lossless and deterministic (the choice is a function of the pixels, libpng and
zlib are single-threaded), so the same page gives the same bytes in every process. OpenCV does
not write a resolution, so `with_dpi` inserts the pHYs chunk itself.

JPEG (`-o page.jpg`): libjpeg through OpenCV at `JPEG_QUALITY` (92) by default, ~9 ms and
~0.9 MB for a `scanned` page; lossy, never the default.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..atomic import write_atomic as _write_atomic

COMPRESS_LEVEL = 1  # zlib level
JPEG_QUALITY = 92  # default quality of `-o page.jpg`
FLAT = 0.5  # `flatness` at or above which a page counts as flat
# (strategy, row filter) per kind of page; see the module's docstring.
PROFILES = {
    "flat": (cv2.IMWRITE_PNG_STRATEGY_DEFAULT, cv2.IMWRITE_PNG_FILTER_UP),
    "noisy": (cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_FILTER_PAETH),
}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def with_dpi(png: bytes, dpi: float) -> bytes:
    """The PNG with a pHYs chunk (pixels per metre) saying `dpi`, right after its IHDR."""
    if not png.startswith(_SIGNATURE):
        raise ValueError("not a PNG")
    ihdr_end = len(_SIGNATURE) + 8 + struct.unpack(">I", png[8:12])[0] + 4
    ppm = round(dpi / 0.0254)
    return png[:ihdr_end] + _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)) + png[ihdr_end:]


def flatness(array: np.ndarray, every: int = 32) -> float:
    """Share of the bytes of every `every`-th row equal to the same byte one pixel to the left:
    ~0.9 on a clean page, ~1 on a thresholded one, below 0.5 on a page with noise or texture."""
    rows = np.ascontiguousarray(array[::every]).reshape(len(array[::every]), -1)
    step = array.shape[2] if array.ndim == 3 else 1
    if rows.shape[1] <= step:
        return 1.0
    return float(np.count_nonzero(rows[:, step:] == rows[:, :-step]) / rows[:, step:].size)


def profile(array: np.ndarray) -> str:
    """Which PNG settings suit the page: 'flat' or 'noisy' (a function of its pixels alone)."""
    return "flat" if flatness(array) >= FLAT else "noisy"


def encode_png(
    array: np.ndarray, *, compress_level: int = COMPRESS_LEVEL, dpi: float | None = None, kind: str | None = None
) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 RGB array: libpng through OpenCV, zlib level
    `compress_level`, with the strategy and row filter of `kind` ('flat' or 'noisy'; by
    default chosen from the pixels, see `profile`). `dpi` is written into a pHYs chunk."""
    bgr = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    strategy, row_filter = PROFILES[kind or profile(array)]
    params = [
        cv2.IMWRITE_PNG_COMPRESSION,
        compress_level,
        cv2.IMWRITE_PNG_STRATEGY,
        strategy,
        cv2.IMWRITE_PNG_FILTER,
        row_filter,
    ]
    ok, buf = cv2.imencode(".png", bgr, params)
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    return with_dpi(data, dpi) if dpi else data


def encode_labels(labels: np.ndarray, *, dpi: float | None = None) -> bytes:
    """PNG bytes of a label image ((H, W) uint8 or uint16: a ground-truth mask), greyscale at its
    own bit depth, lossless and deterministic. Masks are mostly 0, so the default strategy with
    the Up filter (the flat profile) suits them."""
    if labels.ndim != 2 or labels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected an (H, W) uint8 or uint16 label image, got {labels.dtype} {labels.shape}")
    strategy, row_filter = PROFILES["flat"]
    params = [cv2.IMWRITE_PNG_COMPRESSION, COMPRESS_LEVEL, cv2.IMWRITE_PNG_STRATEGY, strategy]
    params += [cv2.IMWRITE_PNG_FILTER, row_filter]
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(labels), params)
    if not ok:  # pragma: no cover
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    return with_dpi(data, dpi) if dpi else data


def encode_png_pillow(array: np.ndarray, *, compress_level: int = COMPRESS_LEVEL, dpi: float | None = None) -> bytes:
    """The same with Pillow (the encoder before; kept for the benchmark's comparison)."""
    buf = io.BytesIO()
    kwargs: dict[str, object] = {"compress_level": compress_level}
    if dpi:
        kwargs["dpi"] = (dpi, dpi)
    Image.fromarray(array, "RGB").save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def encode_jpeg(array: np.ndarray, *, quality: int = JPEG_QUALITY, dpi: float | None = None) -> bytes:
    """JPEG bytes (libjpeg through OpenCV, 4:2:0, baseline): lossy, for datasets that want it."""
    bgr = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    data = buf.tobytes()
    if dpi and data[2:4] == b"\xff\xe0" and data[6:11] == b"JFIF\x00":
        # JFIF APP0: units (1 = dots per inch) at byte 13, x and y density at 14 and 16.
        d = max(1, min(65535, round(dpi)))
        data = data[:13] + struct.pack(">BHH", 1, d, d) + data[18:]
    return data


def encode_image(array: np.ndarray, suffix: str, *, dpi: float | None = None, quality: int | None = None) -> bytes:
    """PNG, or JPEG when `suffix` is .jpg or .jpeg (at `quality`, default JPEG_QUALITY)."""
    if suffix.lower() in (".jpg", ".jpeg"):
        return encode_jpeg(array, quality=quality or JPEG_QUALITY, dpi=dpi)
    return encode_png(array, dpi=dpi)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write a file so that a reader (or a crash) sees the old file or the new one, never half:
    a temporary file in the same folder, then os.replace (atomic on one filesystem), with the
    mode a plain open() would give (ecgspec.atomic)."""
    _write_atomic(path, data)
