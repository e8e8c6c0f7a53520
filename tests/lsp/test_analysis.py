"""The language server's checking (ecgspec.lsp.analysis), in-process: it reports exactly what
`ecgspec check` prints, and after an edit it parses and dry-runs only what the edit touched."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

import ecgspec.dry_run
import ecgspec.resolve
from ecgspec.cli import main
from ecgspec.errors import Diagnostics, format_all
from ecgspec.lsp import analysis
from ecgspec.lsp.analysis import Analyzer
from ecgspec.parser import parse_module
from ecgspec.program import Program
from ecgspec.resolve import Resolver
from ecgspec.syntax import Module

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "specs").rglob("*.ecg"))
# Broken specs that exercise what the analysis does differently from `check`: parsing in parts
# (syntax errors, strings, encodings), imports, warnings and their silencing, and the dry run.
BROKEN = [
    REPO / "tests" / "broken" / f"{name}.ecg"
    for name in (
        "02_unclosed_brace",
        "04_stray_brace",
        "07_unterminated_string",
        "12_nesting_too_deep",
        "13_not_utf8",
        "22_duplicate_declaration",
        "24_extends_cycle",
        "66_import_missing_near",
        "67_import_cycle",
        "73_unused_let",
        "74_unused_let_ignored",
        "90_task_templates_fail_their_dry_run",
        "93_two_failed_imports",
        "95_task_answer_not_of_its_form",
    )
]


def check_prints(path: Path) -> str:
    """What `ecgspec check PATH` prints above its summary line."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        main(["check", str(path)])
    return "\n".join(err.getvalue().splitlines()[:-1])


def printed(result: analysis.Analysis) -> str:
    return format_all(result.diagnostics, result.program.sources)


@pytest.mark.parametrize("path", SHIPPED + BROKEN, ids=lambda p: p.relative_to(REPO).as_posix())
def test_analysis_reports_what_check_prints(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    rel = path.relative_to(REPO)
    assert printed(Analyzer().check(rel)) == check_prints(rel)


@pytest.mark.parametrize("path", SHIPPED + BROKEN, ids=lambda p: p.relative_to(REPO).as_posix())
def test_parsing_in_parts_builds_the_tree_the_parser_builds(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    whole = Diagnostics()
    parts = Diagnostics()
    assert Analyzer().parse(text, "spec.ecg", parts) == parse_module(text, "spec.ecg", whole)
    assert parts.items == whole.items


@pytest.fixture
def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_edit_to_one_task_parses_and_dry_runs_that_task_alone(
    shipped_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = Path("specs/ecginstruct.ecg")
    text = entry.read_text(encoding="utf-8")
    analyzer = Analyzer()
    analyzer.open(entry, text)
    assert analyzer.check(entry).diagnostics == []

    parsed: list[str] = []
    dry_runs: list[list[str]] = []
    real_parse, real_dry_run = analysis.parse_module, ecgspec.dry_run.dry_run_tasks

    def counting_parse(text: str, path: str, diags: Diagnostics) -> object:
        parsed.append(path)
        return real_parse(text, path, diags)

    def counting_dry_run(program: Program) -> object:
        dry_runs.append([n for k, n in program.decls if k == "task"])
        return real_dry_run(program)

    monkeypatch.setattr(analysis, "parse_module", counting_parse)
    monkeypatch.setattr(ecgspec.dry_run, "dry_run_tasks", counting_dry_run)
    # A fill-in task given an open question's template: only the dry run finds it has no blank.
    old = 'form     = fill_in\n    template = "instruct/basic/rate_fill.j2"'
    assert old in text
    edited = text.replace(old, 'form     = fill_in\n    template = "instruct/basic/rate_open.j2"')
    analyzer.open(entry, edited)
    result = analyzer.check(entry)
    assert parsed == ["specs/ecginstruct.ecg"]  # one part, of the edited file; its imports not again
    assert dry_runs == [["rate_fill"]]
    assert [d.code for d in result.diagnostics] == ["template-dry-run"]

    monkeypatch.setattr(analysis, "parse_module", real_parse)
    monkeypatch.setattr(ecgspec.dry_run, "dry_run_tasks", real_dry_run)
    entry.write_text(edited, encoding="utf-8")
    assert printed(result) == check_prints(entry)


def test_an_unsaved_buffer_is_read_instead_of_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lib.ecg").write_text("paper wide {\n    speed = 50 mm/s\n}\n", encoding="utf-8")
    Path("main.ecg").write_text('import "lib.ecg"\n\npaper mine extends wide {\n}\n', encoding="utf-8")
    analyzer = Analyzer()
    assert analyzer.check(Path("main.ecg")).diagnostics == []
    analyzer.open(Path("lib.ecg"), "paper wider {\n    speed = 50 mm/s\n}\n")
    result = analyzer.check(Path("main.ecg"))
    Path("lib.ecg").write_text("paper wider {\n    speed = 50 mm/s\n}\n", encoding="utf-8")
    assert printed(result) == check_prints(Path("main.ecg")) != ""
    analyzer.close(Path("lib.ecg"))
    Path("lib.ecg").write_text("paper wide {\n    speed = 50 mm/s\n}\n", encoding="utf-8")
    assert analyzer.check(Path("main.ecg")).diagnostics == []


def test_the_analyzer_loads_through_the_compilers_hooks_leaving_its_modules_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lib.ecg").write_text("paper wide {\n    speed = 50 mm/s\n}\n", encoding="utf-8")
    Path("main.ecg").write_text('import "lib.ecg"\n\npaper mine extends wider {\n}\n', encoding="utf-8")
    analyzer = Analyzer()
    analyzer.open(Path("lib.ecg"), "paper wider {\n    speed = 50 mm/s\n}\n")
    cached = analyzer.parse
    seen: list[tuple[str, bool]] = []

    def watching(text: str, name: str, diags: Diagnostics) -> Module:
        # While the compiler loads, its resolver module holds its own class and parser.
        untouched = ecgspec.resolve.Resolver is Resolver and ecgspec.resolve.parse_module is parse_module
        seen.append((name, untouched))
        return cached(text, name, diags)

    monkeypatch.setattr(analyzer, "parse", watching)
    assert analyzer.check(Path("main.ecg")).diagnostics == []  # lib.ecg's buffer was read
    assert seen == [("main.ecg", True), ("lib.ecg", True)]


LEAKY = """\
import "std/layouts.ecg"
import "std/papers.ecg"
source ptbxl from ptbxl {
    root = "db"
    split by strat_fold { train = 1..8; val = 9; test = 10 }
}
source hosp from cinc {
    root = "hospital"
    split hash patient { train = 70%; test = 30% }
}
corpus c {
    from ptbxl split test
    from hosp split train  # ecgspec: ignore[leakage-possible]
    distorted = 0%
}
suite s version "1" {
    task t {
        from ptbxl split test
    }
    task u {
        from hosp split test
    }
}
"""


def test_leakage_between_a_corpus_and_a_suite_is_reported_as_check_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("leaky.ecg").write_text(LEAKY, encoding="utf-8")
    result = Analyzer().check(Path("leaky.ecg"))
    assert any("leak" in d.code for d in result.diagnostics)
    assert printed(result) == check_prints(Path("leaky.ecg"))
