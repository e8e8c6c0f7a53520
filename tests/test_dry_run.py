"""`check` asks every task of a made-up record (ecgspec.dry_run): template mistakes show at check time."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgspec.cli import main

from .helpers import REPO


def test_the_shipped_specs_pass_their_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(REPO / "specs")]) == 0
    assert "dry run" not in capsys.readouterr().err


def test_a_template_that_tests_what_it_reads_is_not_blamed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.ecg").write_text(
        """
task rate_open {
    family   = basic
    form     = open
    question = "{% if record.weight is defined %}Weight {{ record.weight }} kg. {% endif %}What is the heart rate?"
    answer   = record.heart_rate
}
"""
    )
    assert main(["check", str(tmp_path / "t.ecg")]) == 0


def test_every_failing_task_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "\n".join(
        f"""
task fill_{i} {{
    family   = basic
    form     = fill_in
    question = "What is the heart rate ({i})?"
    answer   = record.heart_rate
}}"""
        for i in range(3)
    )
    (tmp_path / "t.ecg").write_text(body)
    assert main(["check", str(tmp_path / "t.ecg")]) == 1
    err = capsys.readouterr().err
    assert err.count("needs a blank") == 3 and "3 errors" in err
