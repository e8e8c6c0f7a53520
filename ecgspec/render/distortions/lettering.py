"""Lettering for the annotation steps: the Hershey vector fonts, as strokes.

The fonts come with the `Hershey-Fonts` package (MIT; the glyphs are A. V. Hershey's, free to
use): plain data, no font file, no system font lookup, so a note or a stamp is drawn the same on
every machine and with every OpenCV version (OpenCV 5 no longer draws its own Hershey faces).
They are strokes, not outlines, which is what handwriting needs: a hand's irregularity (letters
of uneven size on a wandering baseline, a wobbling pen, pressure) is put into the strokes
themselves before they are drawn.

Coordinates are font units: y grows downward, the baseline is y = 0 and a capital is CAP units
high (its top at y = −CAP); x starts at the left side of the first letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from HersheyFonts import HersheyFonts

CAP = 21.0  # cap line −12 to base line 9 in the fonts' own units
_BASE = 9.0
HANDS = ("scripts", "cursive")  # single-stroke script faces
SANS = "futural"  # single-stroke sans (dates, small print)
BOLD_SANS = "futuram"  # double-stroke sans (a stamp's word)


@dataclass(frozen=True)
class Glyph:
    strokes: tuple[np.ndarray, ...]  # each (n, 2) float64, x from the glyph's left side, baseline at y = 0
    advance: float


@lru_cache(maxsize=8)
def font(name: str) -> dict[str, Glyph]:
    """The glyphs of a Hershey font by character (printable ASCII)."""
    face = HersheyFonts()
    face.load_default_font(name)
    glyphs: dict[str, Glyph] = {}
    for ch, g in face.all_glyphs.items():
        if not isinstance(ch, str) or len(ch) != 1:
            continue
        shift = np.array([g.left_offset, _BASE], dtype=np.float64)
        strokes = tuple(np.asarray(s, dtype=np.float64) - shift for s in g.strokes if len(s) > 0)
        glyphs[ch] = Glyph(strokes=strokes, advance=float(g.char_width))
    return glyphs


def width(text: str, name: str) -> float:
    """Advance of `text` in font units (characters the font lacks take a space's width)."""
    glyphs = font(name)
    space = glyphs[" "].advance if " " in glyphs else CAP / 2
    return float(sum(glyphs[ch].advance if ch in glyphs else space for ch in text))


def layout(
    text: str,
    name: str,
    *,
    sizes: Sequence[float] | None = None,
    rises: Sequence[float] | None = None,
    gaps: Sequence[float] | None = None,
    space: float = 1.0,
) -> list[np.ndarray]:
    """The strokes of `text` set on a line, in font units. Per character, optionally: a scale
    (`sizes`, 1 = the font's), a shift of its baseline (`rises`, units, + is down) and extra space
    after it (`gaps`, units): how a hand varies its letters. `space` scales the word space (the
    script faces' is a typesetter's, wider than a hand leaves)."""
    glyphs = font(name)
    blank = (glyphs[" "].advance if " " in glyphs else CAP / 2) * space
    x = 0.0
    out: list[np.ndarray] = []
    for i, ch in enumerate(text):
        s = sizes[i] if sizes is not None else 1.0
        rise = rises[i] if rises is not None else 0.0
        glyph = glyphs.get(ch)
        if glyph is None or ch == " ":
            x += blank * s
            continue
        out.extend(stroke * s + np.array([x, rise]) for stroke in glyph.strokes)
        x += glyph.advance * s + (gaps[i] if gaps is not None else 0.0)
    return out


def smooth(stroke: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Chaikin's corner cutting, `rounds` times: the fonts' polygons as the curves a pen draws.
    The end points stay where they are."""
    for _ in range(rounds):
        if len(stroke) < 3:
            return stroke
        a, b = stroke[:-1], stroke[1:]
        cut = np.empty((2 * len(a), 2))
        cut[0::2] = 0.75 * a + 0.25 * b
        cut[1::2] = 0.25 * a + 0.75 * b
        stroke = np.vstack([stroke[:1], cut[1:-1], stroke[-1:]])
    return stroke


def draw(mask: np.ndarray, strokes: Sequence[np.ndarray], widths: Sequence[np.ndarray] | float) -> None:
    """Strokes (px) onto a uint8 mask at 255, antialiased. `widths` is one width (px) for all, or
    per stroke one per segment (a pen's pressure), rounded to whole pixels of the mask."""
    for k, stroke in enumerate(strokes):
        points = np.rint(stroke).astype(np.int32)
        if isinstance(widths, float | int):
            cv2.polylines(mask, [points], False, 255, max(1, round(widths)), cv2.LINE_AA)
            continue
        w = widths[k]
        if len(points) == 1:
            cv2.circle(
                mask, (int(points[0, 0]), int(points[0, 1])), max(1, round(float(w[0]) / 2)), 255, -1, cv2.LINE_AA
            )
        for i in range(len(points) - 1):
            p0 = (int(points[i, 0]), int(points[i, 1]))
            p1 = (int(points[i + 1, 0]), int(points[i + 1, 1]))
            cv2.line(mask, p0, p1, 255, max(1, round(float(w[i]))), cv2.LINE_AA)
