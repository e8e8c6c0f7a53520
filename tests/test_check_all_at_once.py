"""`ecgspec check` reports everything a build would trip on, in one run (issue 17): leakage across the
specs given together, suite prompts asked before a build, independent mistakes all at once, the shipped
template library (std/) and several --templates folders, and `render --spec` keeping the shipped library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgspec.cli import main

from .helpers import REPO

CINC = REPO / "data" / "samples" / "cinc2021"


def _source(name: str) -> str:
    """The shipped layouts and papers (std/, from anywhere) and a source over the sample JS records."""
    return (
        'import "std/layouts.ecg"\nimport "std/papers.ecg"\n'
        f'source {name} from cinc {{\n    root    = "{CINC}"\n    records = "JS*"\n}}\n'
    )


def test_a_corpus_and_a_suite_in_two_files_that_share_records_are_reported_once_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "corpus.ecg").write_text(
        _source("train_csn") + "corpus demo {\n    from train_csn\n    distorted = 0%\n}\n"
    )
    (tmp_path / "suite.ecg").write_text(
        _source("test_csn")
        + 'suite bench version "1" {\n'
        + "    task a {\n        from test_csn\n        form = report\n    }\n"
        + "    task b {\n        from test_csn\n        form = report\n    }\n}\n"
    )
    code = main(["check", "--root", "/", str(tmp_path / "corpus.ecg"), str(tmp_path / "suite.ecg")])
    err = capsys.readouterr().err
    assert code == 1
    leaks = [line for line in err.splitlines() if "can share records or patients" in line]
    assert len(leaks) == 1, err  # one report for the corpus-suite pair, not one per suite task
    assert "corpus.ecg:8:5: error" in leaks[0]  # at the corpus's `from` line
    assert "task 'a'" in leaks[0] and "task 'b'" in leaks[0]
    # The shared records are named from the sample index itself (the JS records shipped in data/samples).
    shipped = sorted(p.stem for p in CINC.glob("JS*.hea"))
    assert f"{len(shipped)} record" in leaks[0] and shipped[0] in leaks[0]


def test_the_two_files_checked_apart_share_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "corpus.ecg").write_text(
        _source("train_csn") + "corpus demo {\n    from train_csn\n    distorted = 0%\n}\n"
    )
    assert main(["check", "--root", "/", str(tmp_path / "corpus.ecg")]) == 0


def test_a_suite_prompt_is_asked_before_a_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "suite.ecg").write_text(
        _source("test_csn")
        + 'suite bench version "1" {\n'
        + '    task a {\n        from test_csn\n        form = report\n        question = "Age {{ record.age }}?"\n    }\n'
        + '    task b {\n        from test_csn\n        form = report\n        prompt = "std/bench/report.j2"\n    }\n}\n'
    )
    assert main(["check", "--root", "/", str(tmp_path / "suite.ecg")]) == 1
    err = capsys.readouterr().err
    assert "suite.ecg:11:20: error: suite 'bench' task 'a': template error: 'dict object' has no attribute 'age'" in err
    assert "task 'b'" not in err  # the shipped prompt, named std/…, is found from a spec outside the repository
    assert "1 error" in err


def test_a_missing_prompt_says_where_it_was_looked_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "suite.ecg").write_text(
        _source("test_csn")
        + 'suite bench version "1" {\n    task a {\n        from test_csn\n        form = report\n'
        + '        prompt = "bench/reprot.j2"\n    }\n}\n'
    )
    assert main(["check", "--root", "/", "--templates", str(mine), str(tmp_path / "suite.ecg")]) == 1
    err = capsys.readouterr().err
    assert "no template 'bench/reprot.j2' (looked in " in err and "the shipped library" in err
    assert "did you mean 'std/bench/report.j2'?" in err and "--templates DIR" in err and "std/NAME" in err


def test_templates_are_found_in_any_of_several_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (second / "q").mkdir(parents=True)
    (second / "q" / "rate.j2").write_text("{% block question %}What is the rate, {{ record.nonesuch }}?{% endblock %}")
    (tmp_path / "t.ecg").write_text(
        'task rate {\n    family = basic\n    form = open\n    template = "q/rate.j2"\n    answer = record.heart_rate\n}\n'
    )
    args = ["check", "--root", "/", "--templates", str(first), "--templates", str(second), str(tmp_path / "t.ecg")]
    assert main(args) == 1
    err = capsys.readouterr().err
    # Found in the second folder, and its mistake located there, not in the first.
    assert f"{second / 'q' / 'rate.j2'}:1:1: error" in err and "nonesuch" in err


def test_a_mistake_in_one_file_or_declaration_hides_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.ecg").write_text("paper p {\n    speed = = 25 mm/s\n}\n")
    (tmp_path / "b.ecg").write_text(
        "paper q {\n    speed = 25 mm\n}\n"
        'task fill {\n    family = basic\n    form = fill_in\n    question = "What is the rate?"\n'
        "    answer = record.heart_rate\n}\n"
    )
    assert main(["check", str(tmp_path / "a.ecg"), str(tmp_path / "b.ecg")]) == 1
    err = capsys.readouterr().err
    assert "a.ecg:2:" in err  # the syntax error
    assert "b.ecg:2:" in err  # a checker error in another file
    assert "needs a blank" in err  # the dry run of a sound task beside a broken paper
    assert "3 errors" in err


def test_render_with_a_spec_keeps_the_shipped_library(tmp_path: Path) -> None:
    spec = tmp_path / "mine.ecg"
    spec.write_text('paper mine {\n    header = "{{ record.id }} on my paper"\n}\n')
    record = next(iter(sorted(CINC.glob("JS*.hea")))).with_suffix("")
    out = tmp_path / "x.png"
    # `aged` and layout 12x1 are the shipped library's; mine.ecg declares neither.
    args = ["render", str(record), "--spec", str(spec), "--paper", "aged", "--layout", "12x1", "--root", str(tmp_path)]
    assert main([*args, "-o", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["render"]["paper"] == "aged"
