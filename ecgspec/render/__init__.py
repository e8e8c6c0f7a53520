"""Rendering: records → calibrated ECG printouts (PNG, SVG) with a geometry sidecar, clean or
distorted.

Stages, one module each: a record (ecgspec.records: read in mV, heart rate measured) → layout (Scene in
mm + Geometry) with header (Jinja), and scene_steps (a distortion plan's scene steps) → svg /
raster (two rasterisers) → distortions (the plan's raster steps, on the array) → png (encode
once, atomic write) → sidecar (pixels, transform). `api.render_page` runs them;
docs/rendering.md explains the geometry, docs/distortions.md the distortions.
"""

from importlib import import_module
from typing import Any

from .errors import FitError, RenderError, TemplateError

# The drawing stack (numpy, cairo, OpenCV, wfdb) loads on first use, so that `ecgspec check`,
# which registers the render commands, starts without it.
_LAZY = {"RenderResult": "api", "render_page": "api", "write_outputs": "api"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FitError", "RenderError", "RenderResult", "TemplateError", "render_page", "write_outputs"]
