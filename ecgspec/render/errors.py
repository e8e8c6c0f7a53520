"""Errors of the render stage: each says what went wrong in words a dataset designer can act on.

They are raised, not collected: a page either renders or it does not. The command line turns
each into one line on stderr and exit status 1 (`ecgspec.render.cli`), never a traceback. A
record that cannot be read raises `ecgspec.records.RecordError`, which the command treats alike.
"""

from __future__ import annotations


class RenderError(Exception):
    """Base class: a record, a spec or a page that cannot become an image."""


class FitError(RenderError):
    """A layout that does not fit its page at the paper's speed and gain."""


class TemplateError(RenderError):
    """A header or footer template that fails when rendered with a record."""
