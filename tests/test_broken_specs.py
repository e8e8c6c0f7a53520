"""The broken-spec corpus: one realistic designer mistake per file, its diagnostics pinned.

Every `tests/broken/NN_name.ecg` is a small spec with exactly one mistake, described on its
first line (`# mistake: ...`). `tests/broken/NN_name.out` holds what `ecgspec check` prints to
stderr for it (run from the repository root, without colour), followed by `exit: N`.
Files under `tests/broken/_support/` are helpers that cases import; they are not cases.

After a deliberate change to a message, rewrite the goldens and review the diff:

    pytest tests/test_broken_specs.py --update-goldens
    python docs/mistakes.py      # docs/mistakes.md is made from these cases
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecgspec.cli import main

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "tests" / "broken"
CASES = sorted(BROKEN.glob("*.ecg"))
MIN_CASES = 40

HEADER = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning)(\[[\w-]+\])?: ")
LOCATED = re.compile(r"^tests/broken/[^:]+:\d+:\d+: (error|warning\[[\w-]+\]): ")
SUMMARY = re.compile(r"^checked \d+ files?, \d+ declarations?: (\d+) errors?, (\d+) warnings?$")


def _run_check(case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[str, int]:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("ECGSPEC_DEBUG", raising=False)
    monkeypatch.delenv("ECGSPEC_TIMING", raising=False)
    capsys.readouterr()  # drop anything printed before
    # A fixed templates folder, so that the goldens do not follow the shipped templates/.
    code = main(["check", "--templates", "tests/broken/_support/templates", case.relative_to(ROOT).as_posix()])
    return capsys.readouterr().err, code


def _golden_text(err: str, code: int) -> str:
    return err + f"exit: {code}\n"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_spec(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], update_goldens: bool
) -> None:
    first = case.read_bytes().split(b"\n", 1)[0]
    assert first.startswith(b"# mistake: "), f"{case.name} must start with a `# mistake: ...` line"

    err, code = _run_check(case, monkeypatch, capsys)
    actual = _golden_text(err, code)

    # Properties every case must have, whatever its golden says.
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    headers = [m for line in lines if (m := HEADER.match(line))]
    for line in lines:
        if HEADER.match(line):
            assert LOCATED.match(line), f"diagnostic not located in tests/broken/: {line}"
    summary = SUMMARY.match(lines[-1]) if lines else None
    assert summary is not None, f"no summary line at the end of:\n{err}"
    errors = sum(m["sev"] == "error" for m in headers)
    warnings = sum(m["sev"] == "warning" for m in headers)
    assert (int(summary[1]), int(summary[2])) == (errors, warnings), err
    assert code == (1 if errors else 0), f"exit {code} with {errors} errors"
    for m in headers:
        path = ROOT / m["file"]
        assert path.is_file(), f"diagnostic names a file that does not exist: {m['file']}"
        src = path.read_bytes().decode("utf-8", errors="replace").split("\n")
        line, col = int(m["line"]), int(m["col"])
        assert 1 <= line <= len(src), f"{m['file']}: line {line} is outside the file ({len(src)} lines)"
        assert 1 <= col <= len(src[line - 1]) + 1, (
            f"{m['file']}:{line}: column {col} is outside the line ({len(src[line - 1])} characters)"
        )

    golden = case.with_suffix(".out")
    if update_goldens:
        golden.write_text(actual, encoding="utf-8")
        return
    assert golden.is_file(), f"no golden {golden.name}: run pytest with --update-goldens"
    assert actual == golden.read_text(encoding="utf-8")


def test_every_golden_has_a_case() -> None:
    stems = {c.stem for c in CASES}
    orphans = sorted(g.name for g in BROKEN.glob("*.out") if g.stem not in stems)
    assert not orphans, f"goldens without a case: {orphans}"


def test_corpus_size() -> None:
    assert len(CASES) >= MIN_CASES, f"only {len(CASES)} broken specs; the corpus pins at least {MIN_CASES}"
