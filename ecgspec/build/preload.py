"""Imported once by the build's fork server, so that each worker starts with the heavy modules
(OpenCV, cairo, wfdb, numpy, jinja2, NeuroKit2 and what it brings, the renderer) already loaded:
forked workers share those pages instead of each importing NeuroKit2 (~2 s, ~120 MiB) again.

Importing it also ties the importing process to its parent (ecgspec.build.executor.
die_with_parent): the fork server dies with the build, and its workers with it. Only the fork
server imports it."""

import cv2  # noqa: F401
import neurokit2  # noqa: F401
import wfdb  # noqa: F401

from ..render import api, raster  # noqa: F401
from ..sources import base  # noqa: F401
from . import item, run  # noqa: F401
from .executor import die_with_parent

die_with_parent(watch=False)
