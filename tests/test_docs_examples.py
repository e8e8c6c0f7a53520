"""Every example in docs/language.md is a spec that the compiler accepts (or, fenced as
```ecg-error, one that it rejects).

Each fenced block is a whole spec file. It is written to `tmp_path/example.ecg` beside a copy
of the repository's `specs/` folder, so that an example may `import "specs/layouts.ecg"`, and
checked with `ecgspec.program.load(path, root=tmp_path)`.

The first word of a fence's info string is its language (`ecg`, `ecg-error`, `text`); further
words are attributes. `ecg same-hash` marks examples that the text says mean the same thing:
each declaration they share must have the same content hash in all of them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from ecgspec.errors import format_all
from ecgspec.program import Program, load

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "language.md"

# An opening fence at the start of a line, its info string, the body, and the closing fence.
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class Block(NamedTuple):
    lang: str
    attrs: tuple[str, ...]
    body: str
    line: int  # of the opening fence, 1-based

    @property
    def label(self) -> str:
        first = next((ln.strip() for ln in self.body.splitlines() if ln.strip()), "(empty)")
        return f"line{self.line}-{first[:60]}"


def _blocks() -> list[Block]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        words = m.group("info").split()
        out.append(
            Block(words[0] if words else "", tuple(words[1:]), m.group("body"), text.count("\n", 0, m.start()) + 1)
        )
    return out


def _of(lang: str) -> list[Block]:
    return [b for b in _blocks() if b.lang == lang]


def _params(lang: str) -> list[pytest.ParameterSet]:
    return [pytest.param(b, id=f"{i:02d}-{b.label}") for i, b in enumerate(_of(lang))]


def _check(folder: Path, block: Block) -> Program:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "specs", folder / "specs")
    shutil.copytree(REPO / "templates", folder / "templates")  # examples may name the shipped templates
    path = folder / "example.ecg"
    path.write_text(block.body, encoding="utf-8")
    return load(path, root=folder)


def _report(program: Program) -> str:
    return format_all(program.diagnostics, program.sources)


@pytest.mark.parametrize("block", _params("ecg"))
def test_a_documented_example_checks_without_errors(tmp_path: Path, block: Block) -> None:
    program = _check(tmp_path, block)
    errors = [d for d in program.diagnostics if d.severity == "error"]
    where = f"docs/language.md:{block.line}"
    assert not errors, f"the ```ecg block at {where} does not check:\n{_report(program)}"


@pytest.mark.parametrize("block", _params("ecg-error"))
def test_a_documented_mistake_is_reported_as_an_error(tmp_path: Path, block: Block) -> None:
    program = _check(tmp_path, block)
    assert not program.ok, f"the ```ecg-error block at docs/language.md:{block.line} checks without an error"


def test_the_reference_has_enough_examples() -> None:
    assert len(_of("ecg")) >= 15


def test_examples_said_to_mean_the_same_have_the_same_hashes(tmp_path: Path) -> None:
    same = [b for b in _of("ecg") if "same-hash" in b.attrs]
    assert len(same) >= 2, "the content-hash section shows two spellings of one layout"
    programs = [_check(tmp_path / str(i), b) for i, b in enumerate(same)]
    assert all(p.ok for p in programs)
    shared = set.intersection(*(set(p.decls) for p in programs))
    assert shared
    for key in sorted(shared):
        hashes = {p.hash_of(*key) for p in programs}
        assert len(hashes) == 1, f"{key[0]} {key[1]} has different hashes in the same-hash examples"


def test_every_fence_is_closed() -> None:
    """An odd number of fence lines would silently swallow the rest of the document."""
    fences = [ln for ln in DOC.read_text(encoding="utf-8").splitlines() if ln.startswith("```")]
    assert len(fences) % 2 == 0, "docs/language.md has an unclosed ``` fence"
