"""Rendering: records → calibrated ECG printouts (PNG, SVG) with a geometry sidecar.

Stages, one module each: record (read WFDB, in mV) → measure (heart rate) → layout (Scene in
mm + Geometry) with header (Jinja) → svg / raster (two rasterisers) → png (encode, atomic
write) → sidecar (pixels). `api.render_page` runs them; docs/rendering.md explains the geometry.
"""

from .api import RenderResult, render_page, write_outputs
from .errors import FitError, RecordError, RenderError, TemplateError
from .record import Record, read_wfdb

__all__ = ["FitError", "Record", "RecordError", "RenderError", "RenderResult", "TemplateError",
           "read_wfdb", "render_page", "write_outputs"]
