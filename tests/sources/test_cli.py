"""`ecgspec sources`: counts per split and label, skipped records with reasons, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgspec.cli import main

from .fixtures import REPO


def test_sources_lists_counts_per_split_and_label(capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["sources", "specs/sources.ecg", "ptbxl_text", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["sources"][0]
    assert out["records"] == 521 and out["splits"] == {"test": 70, "train": 372, "val": 79}
    assert out["labels"] == {"NORM": 301, "MI": 90, "STTC": 109, "CD": 93, "HYP": 50}
    assert main(["sources", "specs/sources.ecg", "ptbxl_text", "--split", "test"]) == 0
    assert "70 records" in capsys.readouterr().out


def test_sources_reports_a_missing_database_with_its_setting_and_exits_1(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["sources", "specs/sources.ecg", "mimic"]) == 1
    err = capsys.readouterr().err
    assert "specs/sources.ecg:" in err and "data/mimic-iv-ecg does not exist" in err and "-D mimic_root=" in err


def test_sources_shows_skipped_records_and_strict_fails_on_them(tmp_path: Path, capsys, monkeypatch):
    db = tmp_path / "db"
    db.mkdir()
    (db / "x.hea").write_text("not a header\n")
    (tmp_path / "s.ecg").write_text('source s from wfdb {\n  root = "db"\n}\n')
    monkeypatch.chdir(tmp_path)
    assert main(["sources", "s.ecg"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1" in out and "x.hea: x: unreadable header" in out
    assert main(["sources", "s.ecg", "--strict"]) == 1


def test_sources_misuse_exits_2(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["sources", "specs/sources.ecg", "ptbx"]) == 2
    assert "did you mean 'ptbxl'?" in capsys.readouterr().err
