"""Small helpers shared by the tests: checking spec text, building the shipped specs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ecgspec.ir import Layout, Paper
from ecgspec.program import Program, load
from ecgspec.records import Record, read_wfdb

REPO = Path(__file__).resolve().parents[1]


def check_text(
    tmp_path: Path,
    text: str,
    name: str = "spec.ecg",
    defines: list[str] | None = None,
    files: dict[str, str] | None = None,
) -> Program:
    """Write `text` (and any extra `files`) under tmp_path and check it with tmp_path as root."""
    for rel, body in (files or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body, encoding="utf-8")
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load(path, root=tmp_path, defines=defines)


def messages(program: Program, severity: str = "error") -> list[str]:
    return [d.message for d in program.diagnostics if d.severity == severity]


def ecgspec_build(spec: str | Path, out: Path, *extra: str) -> Path:
    """`ecgspec build SPEC -o OUT` in-process, on one worker and without a progress bar, with the repository
    as the spec root (whatever the working directory); returns OUT. Fails the test on a non-zero exit."""
    from ecgspec.cli import main

    argv = ["build", str(REPO / spec), "--root", str(REPO), "-o", str(out), "-j", "1", "--no-progress", *extra]
    code = main(argv)
    assert code == 0, f"ecgspec {' '.join(argv)} exited with {code}"
    return out


@cache
def shipped_printouts() -> Program:
    """The shipped layouts, papers and printout styles, loaded once per test process."""
    program = load([REPO / "specs" / n for n in ("layouts.ecg", "papers.ecg", "printouts.ecg")])
    assert program.ok, program.diagnostics
    return program


def shipped_layout(name: str) -> Layout:
    return shipped_printouts().get("layout", name)


def shipped_paper(name: str, **changes: object) -> Paper:
    """A shipped paper, with some settings changed (unchecked: for tests of one setting at a time)."""
    p = shipped_printouts().get("paper", name)
    return p.model_copy(update=changes) if changes else p


@cache
def sample_record(path: Path) -> Record:
    return read_wfdb(path)
