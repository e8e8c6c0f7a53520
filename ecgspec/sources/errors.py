"""Errors of the sources stage.

Two kinds, for two audiences. A `SourceError` is a problem with the spec's pointer at the data (a
root or index that is missing, a path that leaves the spec root): it carries a located
diagnostic, printed like any spec error. A broken *record* is an `ecgspec.records.RecordError`
naming the file, raised by `read()`, or a `Skipped` entry met while listing refs: one record
is lost and counted, the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Diagnostic, Pos
from ..records import RecordError


class SourceError(Exception):
    """A source that cannot be opened at all; `diagnostic` points at the setting to fix."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        super().__init__(f"{diagnostic.pos}: {diagnostic.message}")

    @classmethod
    def at(cls, pos: Pos, message: str, hint: str | None = None, code: str = "source") -> SourceError:
        return cls(Diagnostic("error", pos, message, hint, code))


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record left out while listing a source: its key (or row), the file, and why."""

    key: str
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.key}: {self.reason}"


__all__ = ["RecordError", "Skipped", "SourceError"]
