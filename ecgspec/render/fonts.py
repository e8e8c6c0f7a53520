"""Text metrics for the layout engine: how wide a string is, in mm, in the font the rasterisers use.

Both rasterisers draw text with cairo's toy font API (cairosvg does too), so cairo is also the
right ruler. Widths are measured at a large size and scaled, to stay clear of hinting.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cairocffi as cairo

_REF = 100.0
_LOCAL = threading.local()  # a cairo context is not to be shared between threads


def _ctx() -> cairo.Context:
    ctx = getattr(_LOCAL, "ctx", None)
    if ctx is None:
        ctx = _LOCAL.ctx = cairo.Context(cairo.ImageSurface(cairo.FORMAT_A8, 1, 1))
    return ctx


@lru_cache(maxsize=4096)
def _advance(text: str, font: str, bold: bool) -> float:
    ctx = _ctx()
    ctx.select_font_face(font, cairo.FONT_SLANT_NORMAL, cairo.FONT_WEIGHT_BOLD if bold else cairo.FONT_WEIGHT_NORMAL)
    ctx.set_font_size(_REF)
    return float(ctx.text_extents(text)[4])


def advance(text: str, font: str, size: float, bold: bool = False) -> float:
    """Horizontal advance of `text` at font size `size` (any unit; the result is in the same)."""
    return _advance(text, font, bold) * size / _REF
