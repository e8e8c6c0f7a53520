"""The language server: pygls wiring of the analysis, hover, definition, completion and formatting.

Every open document is checked as `ecgspec check FILE` checks it, from the working directory
(the workspace folder: the server moves there when the client names one), with the unsaved
text of every open document. A change is checked after a short pause in typing; the documents
that import the changed one are checked again too. Diagnostics are published per file: an error
in an imported file goes to that file, merged with what other open documents report there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .. import __version__
from ..checking import unique
from ..errors import Diagnostic
from ..resolve import display_path, real_path
from .analysis import Analysis, Analyzer
from .completion import complete
from .context import context_at
from .definition import definitions
from .diagnostics import by_file, to_lsp
from .formatting import format_edits
from .hover import hover_text
from .ranges import compiler_position, lsp_range

log = logging.getLogger(__name__)
DELAY = 0.15  # seconds of quiet after a keystroke before checking: one check per pause, not per key


class EcgspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("ecgspec", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.analyzer = Analyzer()
        self.uris: dict[Path, str] = {}  # open documents: real path → the client's URI for it
        self.analyses: dict[Path, Analysis] = {}
        self.reported: dict[Path, dict[Path, list[Diagnostic]]] = {}  # entry → file → its diagnostics there
        self.pending: dict[Path, asyncio.TimerHandle] = {}

    # ---- documents -----------------------------------------------------------------------

    def path_of(self, uri: str) -> Path:
        fs = to_fs_path(uri)
        return real_path(Path(fs if fs is not None else uri))

    def text_of(self, path: Path) -> str:
        return self.workspace.get_text_document(self.uris[path]).source

    def lines_of(self, path: Path) -> Sequence[str]:
        """The lines of a file diagnostics point into: its buffer, the text checked, or the file."""
        if path in self.uris:
            return self.workspace.get_text_document(self.uris[path]).lines
        for analysis in self.analyses.values():
            module = analysis.program.scope.modules.get(path)
            if module is not None:
                return module.text.splitlines(True)
        try:
            return path.read_text(encoding="utf-8", errors="replace").splitlines(True)
        except OSError:
            return []

    def uri_of(self, path: Path) -> str:
        return self.uris.get(path) or from_fs_path(str(path)) or path.as_uri()

    # ---- checking ------------------------------------------------------------------------

    def schedule(self, path: Path, delay: float) -> None:
        handle = self.pending.pop(path, None)
        if handle is not None:
            handle.cancel()
        if delay <= 0:
            self.check_around(path)
            return
        self.pending[path] = asyncio.get_running_loop().call_later(delay, self.check_around, path)

    def flush(self, path: Path) -> Analysis | None:
        """The document's analysis of its current text (checked now if a check is pending)."""
        handle = self.pending.pop(path, None)
        if handle is not None:
            handle.cancel()
            self.check_around(path)
        elif path not in self.analyses and path in self.uris:
            self.check_entry(path)
        return self.analyses.get(path)

    def check_around(self, path: Path) -> None:
        """Check a document, and the open documents that import it."""
        self.pending.pop(path, None)
        if path in self.uris:
            self.check_entry(path)
        for entry, analysis in list(self.analyses.items()):
            if entry != path and entry in self.uris and path in analysis.files.values():
                self.check_entry(entry)

    def check_entry(self, entry: Path) -> None:
        try:
            analysis = self.analyzer.check(entry)
        except Exception as exc:  # a bug in the compiler: say so, keep serving
            log.error("checking %s failed:\n%s", entry, traceback.format_exc())
            self.window_log_message(
                lsp.LogMessageParams(lsp.MessageType.Error, f"ecgspec: checking {entry} failed ({exc!r})")
            )
            return
        self.analyses[entry] = analysis
        before = self.reported.get(entry, {})
        self.reported[entry] = by_file(analysis.diagnostics, analysis.file_of)
        # The document itself always: an editor clears what it showed only when told.
        for file in {entry} | before.keys() | self.reported[entry].keys():
            self.publish(file)

    def publish(self, file: Path) -> None:
        diags = unique(d for per_file in self.reported.values() for d in per_file.get(file, ()))
        lines = self.lines_of(file) if diags else []
        codec = self.workspace.position_codec
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=self.uri_of(file), diagnostics=[to_lsp(d, lines, codec) for d in diags])
        )

    def forget(self, path: Path) -> None:
        """A closed document: its own report goes; the documents importing it read the file again."""
        handle = self.pending.pop(path, None)
        if handle is not None:
            handle.cancel()
        self.uris.pop(path, None)
        self.analyzer.close(path)
        self.analyses.pop(path, None)
        before = self.reported.pop(path, {})
        for file in before:
            self.publish(file)
        self.check_around(path)


server = EcgspecServer()


@server.feature(lsp.INITIALIZE)
def initialize(ls: EcgspecServer, params: lsp.InitializeParams) -> None:
    # Diagnostics name files relative to the working directory, as `ecgspec check` run from the
    # workspace folder would; imports may not leave it (the spec root), as on the command line.
    folders = params.workspace_folders or []
    uri = folders[0].uri if folders else params.root_uri
    root = to_fs_path(uri) if uri else params.root_path
    if root and os.path.isdir(root):
        os.chdir(root)


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: EcgspecServer, params: lsp.DidOpenTextDocumentParams) -> None:
    path = ls.path_of(params.text_document.uri)
    ls.uris[path] = params.text_document.uri
    ls.analyzer.open(path, params.text_document.text)
    ls.schedule(path, 0)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: EcgspecServer, params: lsp.DidChangeTextDocumentParams) -> None:
    path = ls.path_of(params.text_document.uri)
    if path not in ls.uris:
        return
    ls.analyzer.open(path, ls.text_of(path))
    ls.schedule(path, DELAY)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: EcgspecServer, params: lsp.DidSaveTextDocumentParams) -> None:
    # A save is when files beside the spec (templates, label tables) are likeliest to have
    # changed too: the dry run starts afresh.
    ls.analyzer.forget_dry_runs()
    ls.schedule(ls.path_of(params.text_document.uri), 0)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: EcgspecServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.forget(ls.path_of(params.text_document.uri))


def _at(ls: EcgspecServer, uri: str, position: lsp.Position) -> tuple[Path, Analysis, int, int] | None:
    path = ls.path_of(uri)
    analysis = ls.flush(path)
    if analysis is None:
        return None
    line, col = compiler_position(position, ls.workspace.get_text_document(uri).lines, ls.workspace.position_codec)
    return path, analysis, line, col


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: EcgspecServer, params: lsp.HoverParams) -> lsp.Hover | None:
    at = _at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    path, analysis, line, col = at
    module = analysis.program.scope.modules.get(path)
    text = hover_text(analysis, module, line, col) if module is not None else None
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: EcgspecServer, params: lsp.DefinitionParams) -> list[lsp.Location] | None:
    at = _at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    path, analysis, line, col = at
    module = analysis.program.scope.modules.get(path)
    if module is None:
        return None
    codec = ls.workspace.position_codec
    return [
        lsp.Location(uri=ls.uri_of(file), range=lsp_range(pos, ls.lines_of(file), codec))
        for file, pos in definitions(analysis, module, path, line, col)
    ] or None


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION)
def completion(ls: EcgspecServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    p = ls.workspace.position_codec.position_from_client_units(doc.lines, params.position)
    ctx = context_at(doc.source, p.line, p.character)
    analysis = ls.analyses.get(ls.path_of(uri))  # the last check's names: completion does not wait for one
    items = complete(ctx, analysis.program.scope if analysis else None) if ctx is not None else []
    return lsp.CompletionList(is_incomplete=False, items=items)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: EcgspecServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    name = display_path(ls.path_of(params.text_document.uri))
    return format_edits(doc.source, name, doc.lines, ls.workspace.position_codec)


def serve() -> None:
    """Serve over stdin and stdout until the client says exit."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by mistake goes to the log, not into the protocol stream
    server.start_io(sys.stdin.buffer, out)


__all__ = ["EcgspecServer", "serve", "server"]
