"""The error of a record that cannot be read, shared by every reader (sources/, records/)."""

from __future__ import annotations

from pathlib import Path


class RecordError(Exception):
    """A record that cannot be read: a missing file, a broken header, a truncated signal."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")
