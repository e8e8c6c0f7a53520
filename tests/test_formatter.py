"""`ecgspec fmt`: golden layouts, idempotence, comments kept, meaning (hash) unchanged."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ecgspec.cli import main
from ecgspec.errors import Diagnostics
from ecgspec.formatter import format_module
from ecgspec.parser import parse_module
from ecgspec.program import load

from .helpers import REPO

FMT = Path(__file__).parent / "fmt"
CASES = sorted((FMT / "in").glob("*.ecg"))  # each with its formatted golden in fmt/out/
SHIPPED = sorted((REPO / "specs").rglob("*.ecg"))


def fmt(text: str) -> str:
    diags = Diagnostics()
    module = parse_module(text, "x.ecg", diags)
    assert not diags.errors, diags.items
    return format_module(module)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_formatting_matches_the_golden_layout(case: Path, request: pytest.FixtureRequest) -> None:
    out = fmt(case.read_text())
    golden = FMT / "out" / case.name
    if request.config.getoption("--update-goldens", default=False):
        golden.write_text(out)
    assert out == golden.read_text()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_formatting_keeps_every_comment(case: Path) -> None:
    text = case.read_text()
    comments = sorted(re.findall(r"#\s[^\n]*", text))
    assert sorted(re.findall(r"#\s[^\n]*", fmt(text))) == comments


@pytest.mark.parametrize("spec", [*CASES, *SHIPPED], ids=lambda p: p.stem)
def test_formatting_is_idempotent_and_keeps_the_content_hash(spec: Path, tmp_path: Path) -> None:
    shutil.copytree(spec.parent, tmp_path / "in")
    src = tmp_path / "in" / spec.name
    once = fmt(src.read_text())
    assert fmt(once) == once
    before = load(src, root=tmp_path, templates=REPO / "templates")
    src.write_text(once)
    after = load(src, root=tmp_path, templates=REPO / "templates")
    assert before.ok and after.ok, (before.diagnostics, after.diagnostics)
    assert before.spec_hash() == after.spec_hash()


def test_fmt_rewrites_files_in_place_and_check_mode_reports_without_writing(tmp_path: Path) -> None:
    f = tmp_path / "a.ecg"
    f.write_text("paper p{speed=25mm/s}\n")
    assert main(["fmt", "--check", str(f)]) == 1
    assert f.read_text() == "paper p{speed=25mm/s}\n"
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == "paper p {\n    speed = 25 mm/s\n}\n"
    assert main(["fmt", "--check", str(f)]) == 0


def test_fmt_diff_alone_shows_the_change_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.ecg"
    f.write_text("paper p{speed=25mm/s}\n")
    assert main(["fmt", "--diff", str(f)]) == 1
    assert f.read_text() == "paper p{speed=25mm/s}\n"
    assert "+    speed = 25 mm/s" in capsys.readouterr().out


def test_fmt_refuses_a_file_with_syntax_errors_and_leaves_it_alone(tmp_path: Path) -> None:
    f = tmp_path / "a.ecg"
    f.write_text("paper p { speed = }\n")
    assert main(["fmt", str(f)]) == 1
    assert f.read_text() == "paper p { speed = }\n"


def test_a_setting_whose_value_holds_a_comment_is_aligned_as_it_will_be_after_the_comment_moves() -> None:
    """Found by fuzzing: the comment inside `meta`'s list is hoisted above `meta`, which then starts its own
    alignment run; aligning it with the settings above on the first pass made formatting not idempotent."""
    from ecgspec.errors import Diagnostics
    from ecgspec.formatter import format_module
    from ecgspec.parser import parse_module

    text = (
        'format f from xml {\n    files = "*.xml"\n    derive = true\n    meta = [\n'
        '        a: "A",\n        b: "B",# a note\n    ]\n}\n'
    )
    diags = Diagnostics()
    once = format_module(parse_module(text, "x.ecg", diags))
    assert once == format_module(parse_module(once, "x.ecg", diags)) and not diags.errors
    assert "    # a note\n    meta = [" in once
