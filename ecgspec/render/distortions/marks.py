"""What the annotation steps share: the item's facts, placing a mark, and inking it onto the page.

A *mark* (a note, a stamp, a QR code, a marker stroke) is drawn in its own upright frame as an
opacity map (`alpha`, float32 in [0, 1], at the page's pixel scale), then rotated onto the page
about a centre chosen by `place`. Ink is laid as a multiply, `pixel × (1 − alpha·(1 − ink))`,
like the paper effects' gains: a mark darkens what is under it and never lightens it, so a
trace under a note or a highlighter stays at least as dark as it was. Only a label (a sticker
under a QR code) covers what is under it, as a real one does.

Each mark's record holds `quad` (the four corners of its frame: top-left, top-right,
bottom-right, bottom-left) and `box` (their bounds, x0 y0 x1 y1), in the continuous pixel
coordinates of the sidecar. Every pixel the mark changes lies inside both. `Canvas.follow`
keeps them in final-image pixels: each later geometric step maps them on.

Record-derived text (`source report`, `source record`) comes from the facts of the item being
rendered, which the caller sets around `apply_raster` with `item_facts(...)`. A step records the
text it drew, so that a replay from the sidecar draws the same without them.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .fields import smooth_noise
from .registry import Canvas

# Supersampling of a mark's own raster: strokes are drawn at SS × the page's scale and averaged
# down, which antialiases them whatever cv2's drawing functions do at small sizes.
SS = 4
# Placement: how many candidate centres a step draws (always all of them, so that the draws of
# what follows do not depend on the page), and what counts as ink when looking for blank paper.
CANDIDATES = 48
INK_LEVEL = 150  # brightest channel below this: trace ink or printed text (grid lines stay above 170)


@dataclass(frozen=True)
class ItemFacts:
    """What a step may write about the item: the record's id and its report, where known."""

    record: str | None = None
    report: str | None = None


_NO_FACTS = ItemFacts()
_FACTS: ContextVar[ItemFacts | None] = ContextVar("ecgspec_item_facts", default=None)


@contextmanager
def item_facts(record: str | None = None, report: str | None = None) -> Iterator[ItemFacts]:
    """Make the item's facts visible to the annotation steps applied within the block:

    with item_facts(record=record.id, report=record.meta.get("report")):
        apply_raster(...)
    """
    facts = ItemFacts(record=record, report=report)
    token = _FACTS.set(facts)
    try:
        yield facts
    finally:
        _FACTS.reset(token)


def current_facts() -> ItemFacts:
    """The facts set by the innermost `item_facts` block, else none."""
    return _FACTS.get() or _NO_FACTS


def ascii_text(text: str) -> str:
    """`text` as the Hershey fonts can draw it (ASCII 32–126): accents dropped (ä → a), other
    characters left out, runs of spaces and line breaks made one space."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join("".join(c if 32 <= ord(c) < 127 else " " for c in plain).split())


def report_words(report: str, count: int, u: float) -> str:
    """`count` consecutive words of a report, starting at a place chosen by `u` in [0, 1)."""
    words = ascii_text(report).split()
    if not words:
        return ""
    count = max(1, min(count, len(words)))
    start = min(int(u * (len(words) - count + 1)), len(words) - count)
    return " ".join(words[start : start + count])


# ---- drawing in a mark's own frame -------------------------------------------------------------


def downsample(mask: np.ndarray) -> np.ndarray:
    """A supersampled uint8 mask (0–255) as float32 opacity at the page's scale (area average)."""
    h, w = mask.shape
    out = cv2.resize(mask, (max(1, -(-w // SS)), max(1, -(-h // SS))), interpolation=cv2.INTER_AREA)
    return out.astype(np.float32) / 255.0


def crop_to_ink(alpha: np.ndarray, pad: int = 1) -> np.ndarray:
    """`alpha` cut to the bounds of its nonzero pixels plus `pad` (a frame as tight as the ink)."""
    rows, cols = np.nonzero(alpha > 0)
    if rows.size == 0:
        return alpha[:1, :1] * 0
    r0, r1 = max(0, rows.min() - pad), min(alpha.shape[0], rows.max() + 1 + pad)
    c0, c1 = max(0, cols.min() - pad), min(alpha.shape[1], cols.max() + 1 + pad)
    return alpha[r0:r1, c0:c1]


def ink_texture(rng: np.random.Generator, shape: tuple[int, int], cells: float, fine_cells: float) -> np.ndarray:
    """A smooth field plus a finer one, both of unit deviation, summed with weights 1 and 0.6:
    how unevenly a pen, a stamp or a marker lays its ink."""
    coarse = smooth_noise(rng, shape, cells)
    fine = smooth_noise(rng, shape, fine_cells)
    return coarse + 0.6 * fine


# ---- placing and inking -------------------------------------------------------------------------


def frame_matrix(width: int, height: int, angle_deg: float, cx: float, cy: float) -> np.ndarray:
    """2 × 3 affine map from a mark's frame (continuous px, origin at its top-left) to the page:
    rotated counter-clockwise as seen by `angle_deg` about its centre, which lands at (cx, cy)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    # y grows downward, so a counter-clockwise turn as seen is (x, y) → (c·x + s·y, −s·x + c·y).
    rot = np.array([[c, s], [-s, c]])
    centre = np.array([width / 2, height / 2])
    offset = np.array([cx, cy]) - rot @ centre
    return np.c_[rot, offset]


def frame_quad(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    return np.asarray(corners @ matrix[:, :2].T + matrix[:, 2], dtype=np.float64)


def half_extent(width: int, height: int, angle_deg: float) -> tuple[float, float]:
    """Half the width and height of the axis-aligned bounds of a rotated frame."""
    a = math.radians(angle_deg)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    return (c * width + s * height) / 2, (s * width + c * height) / 2


def ink_integral(canvas: Canvas) -> np.ndarray:
    """Summed-area table of the page's ink (traces, printed text, earlier dark marks)."""
    img = canvas.img
    ink = (np.maximum(np.maximum(img[..., 0], img[..., 1]), img[..., 2]) < INK_LEVEL).astype(np.uint8)
    return np.asarray(cv2.integral(ink, sdepth=cv2.CV_32S))


def _ink_in(table: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> int:
    h, w = table.shape[0] - 1, table.shape[1] - 1
    c0, c1 = int(np.clip(math.floor(x0), 0, w)), int(np.clip(math.ceil(x1), 0, w))
    r0, r1 = int(np.clip(math.floor(y0), 0, h)), int(np.clip(math.ceil(y1), 0, h))
    return int(table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0])


def choose_centre(
    canvas: Canvas,
    rng: np.random.Generator,
    half: tuple[float, float],
    place: str,
    table: np.ndarray | None = None,
) -> tuple[float, float]:
    """A centre for a mark whose bounds are 2·half wide and high, inside the page where it fits.

    `clear`: the first of CANDIDATES random centres whose bounds (grown by a millimetre) hold no
    ink, else the one with the least. `over`: the first whose middle quarter holds ink (a mark
    across a trace, a loop around a spot), else the first. Draws 2 × CANDIDATES values always."""
    hx, hy = half
    w, h = canvas.width, canvas.height
    u = rng.random((CANDIDATES, 2))
    xs = hx + u[:, 0] * max(0.0, w - 2 * hx) if w > 2 * hx else np.full(CANDIDATES, w / 2)
    ys = hy + u[:, 1] * max(0.0, h - 2 * hy) if h > 2 * hy else np.full(CANDIDATES, h / 2)
    table = ink_integral(canvas) if table is None else table
    margin = canvas.px_per_mm
    if place == "clear":
        inks = [
            _ink_in(table, x - hx - margin, y - hy - margin, x + hx + margin, y + hy + margin)
            for x, y in zip(xs, ys, strict=True)
        ]
        best = next((i for i, n in enumerate(inks) if n == 0), int(np.argmin(inks)))
    else:
        best = next(
            (
                i
                for i, (x, y) in enumerate(zip(xs, ys, strict=True))
                if _ink_in(table, x - hx / 4, y - hy / 4, x + hx / 4, y + hy / 4)
            ),
            0,
        )
    return float(xs[best]), float(ys[best])


def ink(
    canvas: Canvas,
    alpha: np.ndarray,
    colour: tuple[int, int, int],
    angle_deg: float,
    centre: tuple[float, float],
    *,
    label: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Lay `alpha` (float32, the mark's frame) on the page, rotated by `angle_deg` about
    `centre`, as ink of `colour` (a multiply). With `label`, the frame is first covered with a
    label of that colour (opaque). Returns the frame's quad on the page."""
    fh, fw = alpha.shape
    matrix = frame_matrix(fw, fh, angle_deg, *centre)
    quad = frame_quad(matrix, fw, fh)
    # The patch of the page that the rotated frame can touch (bilinear reads spill by 1 px).
    x0, y0 = max(0, math.floor(quad[:, 0].min()) - 1), max(0, math.floor(quad[:, 1].min()) - 1)
    x1 = min(canvas.width, math.ceil(quad[:, 0].max()) + 1)
    y1 = min(canvas.height, math.ceil(quad[:, 1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return quad
    # OpenCV maps pixel-index coordinates (centres at integers): conjugate by the half-pixel
    # shift, then move the origin to the patch's corner.
    m = np.vstack([matrix, [0.0, 0.0, 1.0]])
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    to_patch = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    cv_m = (to_patch @ np.linalg.inv(half) @ m @ half)[:2]
    size = (x1 - x0, y1 - y0)
    patch = canvas.img[y0:y1, x0:x1]
    if label is not None:
        # Opaque inside the frame but for its outer ring of pixels, so that bilinear reads do not
        # spill the label past the frame's quad.
        card = np.zeros_like(alpha)
        card[1:-1, 1:-1] = 1.0
        cover = cv2.warpAffine(card, cv_m, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
        tone = np.asarray(label, dtype=np.float32)[None, None, :]
        mixed = patch.astype(np.float32) * (1.0 - cover[..., None]) + tone * cover[..., None]
        patch[...] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    a = cv2.warpAffine(alpha, cv_m, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    dim = 1.0 - np.asarray(colour, dtype=np.float32) / 255.0
    gain = 1.0 - np.clip(a, 0.0, 1.0)[..., None] * dim[None, None, :]
    patch[...] = cv2.multiply(patch, gain.astype(np.float32), dtype=cv2.CV_8U)
    return quad


def mark_record(canvas: Canvas, quad: np.ndarray, **values: Any) -> dict[str, Any]:
    """A mark's record: `values`, and its `quad` and `box`, which follow later geometric steps."""
    record: dict[str, Any] = dict(values)
    canvas.follow(record, quad)
    return record
