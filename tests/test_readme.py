"""The README's example spec checks, and its example error is what the checker prints."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ecgspec.cli import main

from .helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SPEC = re.search(r"```ecg\n(.*?)```", README, re.S).group(1)  # type: ignore[union-attr]
ERROR = re.search(r"```\n(specs/mine\.ecg:.*?)```", README, re.S).group(1)  # type: ignore[union-attr]


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "specs"


def test_the_readme_spec_checks_clean(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (specs / "mine.ecg").write_text(SPEC)
    assert main(["check", "specs/mine.ecg"]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().err


def test_the_readme_error_is_what_check_prints(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (specs / "mine.ecg").write_text(SPEC.replace("size = a4", "size = a3"))
    assert main(["check", "specs/mine.ecg"]) == 1
    assert capsys.readouterr().err.startswith(ERROR)


def test_the_readme_spec_builds_a_corpus(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = specs.parent
    shutil.copytree(REPO / "data" / "samples", root / "data" / "samples")
    (specs / "mine.ecg").write_text(SPEC)
    assert main(["build", "specs/mine.ecg", "-o", "out", "-j", "1", "--no-progress", "--limit", "4"]) == 0
    manifest = json.loads((root / "out" / "manifests" / "demo.json").read_text())
    built = json.loads((root / "out" / "build.json").read_text())["corpora"]["demo"]
    # Four records are drawn (which ones follows the spec's hash); those without a statement in the rhythm
    # vocabulary (PTB's, PTB-XL's SCP codes) are not asked, and counted. Each image has one question.
    assert manifest and all(len(e["conversations"]) == 2 for e in manifest)
    assert len(manifest) + sum(built["skipped"].values()) == 4
