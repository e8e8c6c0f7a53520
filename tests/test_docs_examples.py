"""Every example in docs/language.md is a spec that the compiler accepts (or, fenced as
```ecg-error, one that it rejects).

Each fenced block is a whole spec file. It is written to `tmp_path/example.ecg` beside a copy
of the repository's `specs/` folder, so that an example may `import "specs/layouts.ecg"`, and
checked with `ecgspec.program.load(path, root=tmp_path)`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ecgspec.errors import format_all
from ecgspec.program import Program, load

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "language.md"

# An opening fence at the start of a line, its info string, the body, and the closing fence.
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str, int]]:
    """(info string, body, line of the opening fence) of every fenced block, in order."""
    text = DOC.read_text(encoding="utf-8")
    return [(m.group("info").strip(), m.group("body"), text.count("\n", 0, m.start()) + 1)
            for m in _FENCE.finditer(text)]


def _examples(info: str) -> list[pytest.ParameterSet]:
    params = []
    for index, (kind, body, line) in enumerate(b for b in _blocks() if b[0] == info):
        first = next((ln.strip() for ln in body.splitlines() if ln.strip()), "(empty)")
        params.append(pytest.param(body, line, id=f"{index:02d}-line{line}-{first[:60]}"))
    return params


def _check(tmp_path: Path, body: str) -> Program:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    path = tmp_path / "example.ecg"
    path.write_text(body, encoding="utf-8")
    return load(path, root=tmp_path)


def _report(program: Program) -> str:
    return format_all(program.diagnostics, program.sources)


@pytest.mark.parametrize(("body", "line"), _examples("ecg"))
def test_a_documented_example_checks_without_errors(tmp_path: Path, body: str, line: int) -> None:
    program = _check(tmp_path, body)
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert not errors, f"the ```ecg block at docs/language.md:{line} does not check:\n{_report(program)}"


@pytest.mark.parametrize(("body", "line"), _examples("ecg-error"))
def test_a_documented_mistake_is_reported_as_an_error(tmp_path: Path, body: str, line: int) -> None:
    program = _check(tmp_path, body)
    assert not program.ok, f"the ```ecg-error block at docs/language.md:{line} checks without an error"


def test_the_reference_has_enough_examples() -> None:
    assert len(_examples("ecg")) >= 15


def test_every_fence_is_closed() -> None:
    """An odd number of fence lines would silently swallow the rest of the document."""
    fences = [ln for ln in DOC.read_text(encoding="utf-8").splitlines() if ln.startswith("```")]
    assert len(fences) % 2 == 0, "docs/language.md has an unclosed ``` fence"
