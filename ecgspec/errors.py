"""Located diagnostics: every user mistake is built here and printed in one style.

    path:line:col: error: message
       12 |     speed = 10 mm
          |             ^^^^^
      hint: paper speed is written in mm/s, for example `25 mm/s`

Stages never raise on the first problem: they add to a `Diagnostics` collector, and the
command reports everything at the end (miniwdl's multi_context, in spirit).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Pos:
    """A span in a source file: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        # line 0 marks a place outside any file, such as a `-D name=value` on the command line
        return self.file if self.line == 0 else f"{self.file}:{self.line}:{self.col}"

    @classmethod
    def point(cls, file: str, line: int = 1, col: int = 1) -> Pos:
        return cls(file, line, col, line, col + 1)

    def to(self, other: Pos) -> Pos:
        """The span from the start of self to the end of other."""
        return Pos(self.file, self.line, self.col, other.end_line, other.end_col)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    pos: Pos
    message: str
    hint: str | None = None
    code: str = "E"  # a stable short name, used by golden tests and `# ecgspec: ignore[code]`


class SpecError(Exception):
    """Raised at the end of a stage that collected at least one error."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(f"{d.pos}: {d.message}" for d in diagnostics))


@dataclass
class Diagnostics:
    """Collects every error and warning of a run, in the order they were found."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, pos: Pos, message: str, hint: str | None = None, code: str = "E") -> None:
        self.items.append(Diagnostic("error", pos, message, hint, code))

    def warning(self, pos: Pos, message: str, hint: str | None = None, code: str = "W") -> None:
        self.items.append(Diagnostic("warning", pos, message, hint, code))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(self.errors)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, if one is close enough to be a likely typo."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean '{lowered[word.lower()]}'?"
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class SourceCache:
    """Source texts by file name, so that diagnostics can quote the offending line."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        self._texts[name] = text

    def line(self, name: str, line: int) -> str | None:
        text = self._texts.get(name)
        if text is None:
            try:
                text = Path(name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            self._texts[name] = text
        lines = text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None


def format_diagnostic(d: Diagnostic, sources: SourceCache, color: bool = False) -> str:
    """Render one diagnostic with its source line and a caret underline."""
    red, yellow, bold, cyan, reset = ("\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[36m", "\x1b[0m") if color else ("",) * 5
    sev_colour = red if d.severity == "error" else yellow
    # Warnings show their code: it is what `# ecgspec: ignore[code]` takes.
    label = f"{d.severity}[{d.code}]" if d.severity == "warning" else d.severity
    out = [f"{bold}{d.pos}: {sev_colour}{label}{reset}{bold}: {d.message}{reset}"]
    text = sources.line(d.pos.file, d.pos.line) if d.pos.line else None
    if text is not None:
        text = text.replace("\t", " ")
        number = str(d.pos.line)
        gutter = " " * len(number)
        start = max(d.pos.col - 1, 0)
        if d.pos.end_line == d.pos.line and d.pos.end_col > d.pos.col:
            width = d.pos.end_col - d.pos.col
        elif d.pos.end_line > d.pos.line:
            width = max(len(text.rstrip()) - start, 1)
        else:
            width = 1
        width = max(1, min(width, max(len(text) - start, 1)))
        out.append(f" {number} | {text}")
        out.append(f" {gutter} | {' ' * start}{sev_colour}{'^' * width}{reset}")
    if d.hint:
        out.append(f"  {cyan}hint{reset}: {d.hint}")
    return "\n".join(out)


def format_all(diags: Iterable[Diagnostic], sources: SourceCache, color: bool = False) -> str:
    return "\n".join(format_diagnostic(d, sources, color) for d in diags)
