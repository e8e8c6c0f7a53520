"""Errors of the render stage: each says what went wrong in words a dataset designer can act on.

They are raised, not collected: a page either renders or it does not. The command line turns
each into one line on stderr and exit status 1 (`ecgspec.render.cli`), never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RenderError(Exception):
    """Base class: a record, a spec or a page that cannot become an image."""


class RecordError(RenderError):
    """A record that cannot be read: a missing file, a broken header, a truncated signal."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class FitError(RenderError):
    """A layout that does not fit its page at the paper's speed and gain."""


class TemplateError(RenderError):
    """A header or footer template that fails when rendered with a record."""
