"""`ecgspec lsp` driven over stdio by pygls's own client, as an editor drives it.

Each answer is compared with what the command line says of the same files: `ecgspec check`
for diagnostics, `ecgspec explain` for hovers, `ecgspec fmt` for formatting.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("pygls")

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient
from pygls.uris import to_fs_path

T = TypeVar("T")

LIB = """\
# A library of papers.
paper wide {
    speed = 50 mm/s
    gain  = 10 mm/mV
}
"""
BAD = """\
paper broken {
    dpi = 200 mm
}
"""
MAIN_BROKEN = """\
import "lib.ecg"
import "bad.ecg"

let unused = 3

paper mine extends wide {
    gain   = 20 mm/mV
    speed  = 10 mm
    colour = #000000
}

layout = 4
"""
MAIN_FIXED = """\
import "lib.ecg"

paper mine extends wide {
    gain  = 20 mm/mV
    speed = 25 mm/s
}
"""
MESSY = """\
paper   p {
  speed=25 mm/s   # the usual
      gain = 10 mm/mV
}
distort d { rotate uniform(-1 deg, 1 deg) p = 0.5
}
"""

_HEAD = re.compile(r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning)(?:\[[\w-]+\])?: (?P<msg>.*)$")
_CARET = re.compile(r"^ +\| (?P<lead> *)(?P<carets>\^+)$")
_HINT = re.compile(r"^  hint: (?P<hint>.*)$")


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ecgspec", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )


def check_report(cwd: Path, file: str) -> dict[Path, list[tuple[int, int, int, str, str, str | None]]]:
    """`ecgspec check FILE`'s diagnostics, read from its output: by file, (line, col, width,
    severity, message, hint)."""
    out: dict[Path, list[list[Any]]] = {}
    current: list[Any] | None = None
    for line in cli(cwd, "check", file).stderr.splitlines():
        if m := _HEAD.match(line):
            current = [int(m["line"]), int(m["col"]), 0, m["sev"], m["msg"], None]
            out.setdefault((cwd / m["file"]).resolve(), []).append(current)
        elif current is not None and (m := _CARET.match(line)):
            current[2] = len(m["carets"])
        elif current is not None and (m := _HINT.match(line)):
            current[5] = m["hint"]
    return {f: [tuple(d) for d in ds] for f, ds in out.items()}  # type: ignore[misc]


def as_reported(diags: list[lsp.Diagnostic]) -> list[tuple[int, int, int, str, str, str | None]]:
    out = []
    for d in diags:
        message, _, hint = d.message.partition("\nhint: ")
        width = d.range.end.character - d.range.start.character
        sev = "error" if d.severity == lsp.DiagnosticSeverity.Error else "warning"
        out.append((d.range.start.line + 1, d.range.start.character + 1, width, sev, message, hint or None))
    return out


class Session:
    """One server process and a pygls client talking to it, driven step by step."""

    def __init__(self, root: Path):
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("ecgspec-tests", "0")
        self.published: dict[Path, list[lsp.Diagnostic]] = {}
        self.count: Counter[Path] = Counter()
        self.versions: dict[str, int] = {}
        self.texts: dict[str, str] = {}  # what each open buffer holds

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            path = Path(to_fs_path(params.uri) or params.uri).resolve()
            self.published[path] = params.diagnostics
            self.count[path] += 1

        self.run(self.client.start_io(sys.executable, "-m", "ecgspec", "lsp", cwd=str(root)))
        self.run(
            self.client.initialize_async(
                lsp.InitializeParams(
                    capabilities=lsp.ClientCapabilities(),
                    root_uri=root.as_uri(),
                    workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name="w")],
                )
            )
        )
        self.client.initialized(lsp.InitializedParams())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def wait(self, done: Callable[[], bool], timeout: float = 30) -> None:
        async def poll() -> None:
            while not done():
                await asyncio.sleep(0.01)

        self.run(poll(), timeout)

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str, text: str) -> None:
        self.versions[name] = 1
        self.texts[name] = text
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(self.uri(name), "ecg", 1, text))
        )

    def change(self, name: str, text: str) -> None:
        self.versions[name] += 1
        self.texts[name] = text
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(self.versions[name], self.uri(name)),
                [lsp.TextDocumentContentChangeWholeDocument(text)],
            )
        )

    def published_after(self, action: Callable[[], None], *names: str) -> dict[Path, list[lsp.Diagnostic]]:
        """Do `action`, then wait for diagnostics of every named file."""
        paths = [(self.root / n).resolve() for n in names]
        before = {p: self.count[p] for p in paths}
        action()
        self.wait(lambda: all(self.count[p] > before[p] for p in paths))
        return {p: self.published[p] for p in paths}

    def holding(self, name: str, text: str) -> None:
        """Make the buffer of `name` hold `text` (opened or changed, its diagnostics awaited), whichever tests
        ran before on this session: xdist may give a worker any subset of this module's tests."""
        if name not in self.texts:
            self.published_after(lambda: self.open(name, text), name)
        elif self.texts[name] != text:
            self.published_after(lambda: self.change(name, text), name)

    def at(self, name: str, line: int, character: int) -> tuple[lsp.TextDocumentIdentifier, lsp.Position]:
        return lsp.TextDocumentIdentifier(self.uri(name)), lsp.Position(line, character)

    def close(self) -> None:
        try:
            self.run(self.client.shutdown_async(None), timeout=10)
            self.client.exit(None)
            self.run(self.client.stop(), timeout=10)
        finally:
            self.loop.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lsp")
    (root / "lib.ecg").write_text(LIB, encoding="utf-8")
    (root / "bad.ecg").write_text(BAD, encoding="utf-8")
    (root / "main.ecg").write_text(MAIN_BROKEN, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def session(workspace: Path) -> Iterator[Session]:
    s = Session(workspace)
    try:
        yield s
    finally:
        s.close()


def position_of(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """0-based (line, character) of the first `needle` in `text`, plus `offset` characters."""
    before = text[: text.index(needle) + offset]
    return before.count("\n"), len(before.rpartition("\n")[2])


def test_opening_a_broken_spec_publishes_what_check_reports_in_each_file(session: Session, workspace: Path) -> None:
    main, bad = (workspace / "main.ecg").resolve(), (workspace / "bad.ecg").resolve()
    got = session.published_after(lambda: session.open("main.ecg", MAIN_BROKEN), "main.ecg", "bad.ecg")
    expected = check_report(workspace, "main.ecg")
    assert set(expected) == {main, bad}
    assert as_reported(got[main]) == expected[main]
    assert as_reported(got[bad]) == expected[bad]  # an imported file's error goes to that file
    severities = {d.severity for d in got[main]}
    assert severities == {lsp.DiagnosticSeverity.Error, lsp.DiagnosticSeverity.Warning}
    assert all(d.source == "ecgspec" and d.code for d in got[main])


def test_fixing_the_buffer_clears_its_diagnostics_and_those_of_the_dropped_import(session: Session) -> None:
    session.holding("main.ecg", MAIN_BROKEN)
    got = session.published_after(lambda: session.change("main.ecg", MAIN_FIXED), "main.ecg", "bad.ecg")
    assert got and all(len(diags) == 0 for diags in got.values()), got


def test_hover_on_a_name_shows_what_explain_prints(session: Session, workspace: Path) -> None:
    session.holding("main.ecg", MAIN_FIXED)
    (workspace / "main.ecg").write_text(MAIN_FIXED, encoding="utf-8")  # explain reads the file: save it
    for name, needle in (("wide", "extends wide"), ("mine", "paper mine")):
        line, char = position_of(MAIN_FIXED, needle, len(needle) - 2)
        doc, pos = session.at("main.ecg", line, char)
        hover = session.run(session.client.text_document_hover_async(lsp.HoverParams(doc, pos)))
        assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
        reference = cli(workspace, "explain", "main.ecg", name)
        assert reference.returncode == 0, reference.stderr
        assert hover.contents.value == f"```ecg\n{reference.stdout.rstrip()}\n```"


def test_definition_of_a_name_and_of_an_import_lead_into_the_imported_file(session: Session, workspace: Path) -> None:
    lib = (workspace / "lib.ecg").resolve()
    session.holding("main.ecg", MAIN_FIXED)
    line, char = position_of(MAIN_FIXED, "extends wide", len("extends w"))
    doc, pos = session.at("main.ecg", line, char)
    (found,) = session.run(session.client.text_document_definition_async(lsp.DefinitionParams(doc, pos)))
    assert Path(to_fs_path(found.uri) or "").resolve() == lib
    wide_line, wide_char = position_of(LIB, "paper wide", len("paper "))
    assert (found.range.start.line, found.range.start.character) == (wide_line, wide_char)
    assert found.range.end.character - found.range.start.character == len("wide")

    line, char = position_of(MAIN_FIXED, '"lib.ecg"', 2)
    doc, pos = session.at("main.ecg", line, char)
    (found,) = session.run(session.client.text_document_definition_async(lsp.DefinitionParams(doc, pos)))
    assert Path(to_fs_path(found.uri) or "").resolve() == lib
    assert (found.range.start.line, found.range.start.character) == (0, 0)


def test_an_importer_is_checked_against_the_unsaved_buffer_of_its_import(session: Session, workspace: Path) -> None:
    renamed = LIB.replace("paper wide", "paper wider")
    session.holding("main.ecg", MAIN_FIXED)
    session.holding("lib.ecg", LIB)
    got = session.published_after(lambda: session.change("lib.ecg", renamed), "main.ecg")
    # The command line, on files holding what the buffers hold.
    copy = workspace / "unsaved"
    copy.mkdir()
    (copy / "lib.ecg").write_text(renamed, encoding="utf-8")
    (copy / "main.ecg").write_text(MAIN_FIXED, encoding="utf-8")
    expected = check_report(copy, "main.ecg")
    assert expected[(copy / "main.ecg").resolve()]  # the rename breaks `extends wide`
    assert as_reported(got[(workspace / "main.ecg").resolve()]) == expected[(copy / "main.ecg").resolve()]
    # Put it back: the importer is clean again.
    got = session.published_after(lambda: session.change("lib.ecg", LIB), "main.ecg")
    assert len(got[(workspace / "main.ecg").resolve()]) == 0


def labels(session: Session, name: str, text: str, needle: str, offset: int) -> list[str]:
    line, char = position_of(text, needle, offset)
    doc, pos = session.at(name, line, char)
    result = session.run(session.client.text_document_completion_async(lsp.CompletionParams(doc, pos)))
    items = result.items if isinstance(result, lsp.CompletionList) else (result or [])
    return [i.label for i in items]


def test_completion_offers_settings_steps_units_and_declared_names(session: Session) -> None:
    text = """\
import "lib.ecg"

paper p extends wide {
    dpi = 200 dpi
    
}

paper q {
    speed = 25 m
}

distort d {
    
    blur sigma 1 p
}

corpus c {
    paper = w
}
"""
    session.published_after(lambda: session.open("edit.ecg", text), "edit.ecg")
    in_paper = labels(session, "edit.ecg", text, "    \n}\n\npaper q", 4)
    assert {"speed", "gain", "dpi", "background"} <= set(in_paper)
    assert "name" not in in_paper and "rotate" not in in_paper
    in_distort = labels(session, "edit.ecg", text, "    \n    blur", 4)
    assert {"rotate", "blur", "noise", "one of"} <= set(in_distort)
    units = labels(session, "edit.ecg", text, "speed = 25 m", len("speed = 25 m"))
    assert units[0] == "mm/s" and "mV" not in units
    step_units = labels(session, "edit.ecg", text, "blur sigma 1 p", len("blur sigma 1 p"))
    assert step_units == ["px"]
    names = labels(session, "edit.ecg", text, "paper = w", len("paper = w"))
    assert {"wide", "p"} <= set(names)  # an imported paper, and one of this file
    kinds = labels(session, "edit.ecg", text, "\n\npaper p", 1)  # the blank line under the import
    assert {"paper", "distort", "corpus", "task", "import", "let"} <= set(kinds)


def test_formatting_returns_what_fmt_writes(session: Session, workspace: Path) -> None:
    session.published_after(lambda: session.open("messy.ecg", MESSY), "messy.ecg")
    edits = session.run(
        session.client.text_document_formatting_async(
            lsp.DocumentFormattingParams(
                lsp.TextDocumentIdentifier(session.uri("messy.ecg")), lsp.FormattingOptions(4, True)
            )
        )
    )
    assert edits is not None and len(edits) == 1
    (edit,) = edits
    assert (edit.range.start.line, edit.range.start.character) == (0, 0)
    assert (edit.range.end.line, edit.range.end.character) == (MESSY.count("\n"), 0)
    copy = workspace / "fmt"
    copy.mkdir()
    shutil.copy(workspace / "lib.ecg", copy)
    (copy / "messy.ecg").write_text(MESSY, encoding="utf-8")
    assert cli(copy, "fmt", "messy.ecg").returncode == 0
    assert edit.new_text == (copy / "messy.ecg").read_text(encoding="utf-8") != MESSY


def test_the_command_says_in_one_line_when_pygls_is_missing(tmp_path: Path) -> None:
    # A site directory whose `pygls` cannot be imported stands for an installation without the extra.
    (tmp_path / "pygls").mkdir()
    (tmp_path / "pygls" / "__init__.py").write_text("raise ModuleNotFoundError(name='pygls')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "ecgspec", "lsp"], capture_output=True, text=True, env=env, timeout=60, input=""
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "pip install 'ecgspec[lsp]'" in done.stderr and "Traceback" not in done.stderr
