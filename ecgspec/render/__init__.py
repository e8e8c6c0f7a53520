"""Rendering: records → calibrated ECG printouts (PNG, SVG) with a geometry sidecar, clean or
distorted.

Stages, one module each: record (read WFDB, in mV) → measure (heart rate) → layout (Scene in
mm + Geometry) with header (Jinja), and scene_steps (a distortion plan's scene steps) → svg /
raster (two rasterisers) → distortions (the plan's raster steps, on the array) → png (encode
once, atomic write) → sidecar (pixels, transform). `api.render_page` runs them;
docs/rendering.md explains the geometry, docs/distortions.md the distortions.
"""

from importlib import import_module
from typing import Any

from .errors import FitError, RecordError, RenderError, TemplateError

# The drawing stack (numpy, cairo, OpenCV, wfdb) loads on first use, so that `ecgspec check`,
# which registers the render commands, starts without it.
_LAZY = {"RenderResult": "api", "render_page": "api", "write_outputs": "api", "Record": "record",
         "read_wfdb": "record"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FitError", "Record", "RecordError", "RenderError", "RenderResult", "TemplateError",
           "read_wfdb", "render_page", "write_outputs"]
