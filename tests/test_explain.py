"""`ecgspec explain`: resolved values with their origins, as text (golden) and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgspec.cli import main

from .helpers import REPO

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "explain_paper_aged": ["explain", "specs/papers.ecg", "aged"],
    "explain_layout_3x4": ["explain", "specs/layouts.ecg", "3x4"],
    "explain_steps_scanned": ["explain", "tests/fmt/out/steps.ecg", "scanned"],
    "explain_steps_source": ["explain", "tests/fmt/out/steps.ecg", "source:ptbxl"],
}


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("name", sorted(CASES))
def test_explain_shows_values_and_their_origins(
    name: str, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    assert main(CASES[name]) == 0
    out = capsys.readouterr().out
    golden = GOLDEN / f"{name}.txt"
    if request.config.getoption("--update-goldens", default=False):
        golden.write_text(out)
    assert out == golden.read_text()


def test_explain_json_carries_the_hash_value_and_origins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "specs/papers.ecg", "aged", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "paper" and len(data["hash"]) == 64
    assert data["value"]["background"] == "#f3e7c6" and data["value"]["speed"] == 25.0
    assert data["origins"]["speed"].startswith("inherited from paper standard")


def test_explain_an_unknown_name_suggests_the_near_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "specs/papers.ecg", "agde"]) == 1
    assert "did you mean 'aged'?" in capsys.readouterr().err


def test_explain_an_ambiguous_name_asks_for_the_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "a.ecg"
    spec.write_text("paper aged {}\ndistort aged { yellow 30% }\n")
    assert main(["explain", str(spec), "aged", "--root", str(tmp_path)]) == 2
    assert "paper:aged" in capsys.readouterr().err
    assert main(["explain", str(spec), "distort:aged", "--root", str(tmp_path)]) == 0


@pytest.mark.parametrize("spec", sorted((REPO / "specs").rglob("*.ecg")), ids=lambda p: p.name)
def test_explain_runs_on_every_declaration_of_every_shipped_spec(spec: Path) -> None:
    # A corpus whose `tasks` is a choice once recursed without end here.
    from ecgspec.explain import explain_text
    from ecgspec.program import load

    program = load([spec])
    assert program.ok
    for key in program.decls:
        text = explain_text(program, key)
        assert text.startswith(f"{key[0]} ") and "# hash " in text
