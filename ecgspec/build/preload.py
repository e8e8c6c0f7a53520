"""Imported once by the build's fork server, so that each worker starts with the heavy modules
(OpenCV, cairo, wfdb, numpy, jinja2, the renderer) already loaded."""

import cv2  # noqa: F401
import wfdb  # noqa: F401

from ..render import api, raster  # noqa: F401
from ..sources import base  # noqa: F401
from . import item, run  # noqa: F401
