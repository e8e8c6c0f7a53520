"""Rendering: records → calibrated ECG printouts (PNG, SVG) with a geometry sidecar, clean or
distorted.

Stages, one module each: record (read WFDB, in mV) → measure (heart rate) → layout (Scene in
mm + Geometry) with header (Jinja), and scene_steps (a distortion plan's scene steps) → svg /
raster (two rasterisers) → distortions (the plan's raster steps, on the array) → png (encode
once, atomic write) → sidecar (pixels, transform). `api.render_page` runs them;
docs/rendering.md explains the geometry, docs/distortions.md the distortions.
"""

from .api import RenderResult, render_page, write_outputs
from .errors import FitError, RecordError, RenderError, TemplateError
from .record import Record, read_wfdb

__all__ = ["FitError", "Record", "RecordError", "RenderError", "RenderResult", "TemplateError",
           "read_wfdb", "render_page", "write_outputs"]
