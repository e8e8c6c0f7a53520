"""`check`'s located diagnostics as LSP diagnostics, grouped by the file they point into."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lsprotocol import types as lsp
from pygls.workspace.position_codec import PositionCodec

from ..errors import Diagnostic
from .ranges import lsp_range

_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning}


def to_lsp(d: Diagnostic, lines: Sequence[str], codec: PositionCodec) -> lsp.Diagnostic:
    """One diagnostic: its span, severity, message and hint (on a line of its own, as `check` prints it)."""
    return lsp.Diagnostic(
        range=lsp_range(d.pos, lines, codec),
        message=d.message + (f"\nhint: {d.hint}" if d.hint else ""),
        severity=_SEVERITY[d.severity],
        code=d.code,
        source="ecgspec",
    )


def by_file(diags: Iterable[Diagnostic], file_of: Callable[[str], Path]) -> dict[Path, list[Diagnostic]]:
    """Diagnostics by the real path of the file each points into (an imported spec, a template)."""
    out: dict[Path, list[Diagnostic]] = {}
    for d in diags:
        out.setdefault(file_of(d.pos.file), []).append(d)
    return out


__all__ = ["by_file", "to_lsp"]
