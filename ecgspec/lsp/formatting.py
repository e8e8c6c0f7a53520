"""`ecgspec fmt` of an editor buffer: one edit that replaces the text, or none."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types as lsp
from pygls.workspace.position_codec import PositionCodec

from ..errors import Diagnostics
from ..formatter import format_module
from ..parser import parse_module


def format_edits(text: str, name: str, lines: Sequence[str], codec: PositionCodec) -> list[lsp.TextEdit] | None:
    """The edits that make `text` what `fmt` writes; None when it has syntax errors (`fmt`
    leaves such a file alone, and the diagnostics already say where)."""
    diags = Diagnostics()
    module = parse_module(text, name, diags)
    if diags.errors:
        return None
    out = format_module(module)
    if out == text:
        return []
    if not lines:
        end = lsp.Position(0, 0)
    elif text.endswith("\n"):
        end = lsp.Position(len(lines), 0)  # the empty line after the last newline
    else:
        end = codec.position_to_client_units(lines, lsp.Position(len(lines) - 1, len(lines[-1])))
    return [lsp.TextEdit(range=lsp.Range(lsp.Position(0, 0), end), new_text=out)]


__all__ = ["format_edits"]
