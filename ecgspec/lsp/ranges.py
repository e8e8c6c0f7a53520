"""Compiler positions (1-based lines and columns in characters) ↔ LSP positions (0-based, in the
code units the client and server agreed on: UTF-16 unless the client offers others)."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types as lsp
from pygls.workspace.position_codec import PositionCodec

from ..errors import Pos


def lsp_range(pos: Pos, lines: Sequence[str], codec: PositionCodec) -> lsp.Range:
    """The span of `pos` in a file of these lines. A place outside any file (line 0) is its start."""
    if pos.line == 0:
        return lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    start = lsp.Position(pos.line - 1, max(pos.col - 1, 0))
    end = lsp.Position(max(pos.end_line - 1, start.line), max(pos.end_col - 1, 0))
    return codec.range_to_client_units(lines, lsp.Range(start, end))


def compiler_position(position: lsp.Position, lines: Sequence[str], codec: PositionCodec) -> tuple[int, int]:
    """An LSP position as the compiler counts: (line, column), both from 1."""
    p = codec.position_from_client_units(lines, lsp.Position(position.line, position.character))
    return p.line + 1, p.character + 1


__all__ = ["compiler_position", "lsp_range"]
