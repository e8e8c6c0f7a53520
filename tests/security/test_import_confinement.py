"""Imports stay under the spec root, however the path is spelled and whatever links lie on the way
(issue 16): confinement compares real paths, and the shipped library std/ stays reachable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ecgspec.program import load
from ecgspec.resolve import STD

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")

SECRET = "paper secret {\n    speed = 25 mm/s\n}\n"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "s.ecg").write_text(SECRET)
    return root, outside


def _check(root: Path, text: str) -> list[tuple[int, int, str, str]]:
    (root / "main.ecg").write_text(text)
    program = load(root / "main.ecg", root=root)
    assert ("paper", "secret") not in program.decls
    return [(d.pos.line, d.pos.col, d.code, d.message) for d in program.diagnostics if d.severity == "error"]


def test_a_file_link_out_of_the_root_is_refused_at_the_import(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "x.ecg").symlink_to(outside / "s.ecg")
    [(line, col, code, message)] = _check(root, '# a library\nimport "x.ecg"\n')
    assert (line, col, code) == (2, 8, "import-escape")
    assert "link" in message and "outside the spec root" in message


def test_a_folder_link_on_the_way_is_refused(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "lib").mkdir()
    (root / "lib" / "sub").symlink_to(outside, target_is_directory=True)
    [(line, _, code, _)] = _check(root, 'import "lib/sub/s.ecg"\n')
    assert (line, code) == (1, "import-escape")


def test_a_link_from_an_imported_file_is_refused_there(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "x.ecg").symlink_to(outside / "s.ecg")
    (root / "lib.ecg").write_text('\n\nimport "x.ecg"\n')
    (root / "main.ecg").write_text('import "lib.ecg"\n')
    program = load(root / "main.ecg", root=root)
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert [(Path(d.pos.file).name, d.pos.line, d.code) for d in errors] == [("lib.ecg", 3, "import-escape")]


def test_a_dangling_link_out_of_the_root_is_refused(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "x.ecg").symlink_to(outside / "missing.ecg")
    [(_, _, code, _)] = _check(root, 'import "x.ecg"\n')
    assert code == "import-escape"


def test_a_link_loop_is_an_error_not_a_crash(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "a.ecg").symlink_to(root / "b.ecg")
    (root / "b.ecg").symlink_to(root / "a.ecg")
    [(line, col, code, _)] = _check(root, 'import "a.ecg"\n')
    assert (line, col, code) == (1, 8, "import-missing")


def test_dot_dot_out_of_the_root_is_still_refused(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    [(_, _, code, message)] = _check(root, 'import "../outside/s.ecg"\n')
    assert code == "import-escape" and "link" not in message


def test_a_link_that_stays_inside_the_root_is_followed(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    (root / "real").mkdir()
    (root / "real" / "p.ecg").write_text("paper inside {\n    speed = 50 mm/s\n}\n")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "main.ecg").write_text('import "alias/p.ecg"\n')
    program = load(root / "main.ecg", root=root)
    assert program.ok, program.diagnostics
    assert ("paper", "inside") in program.decls


def test_a_root_given_through_a_link_confines_to_its_target(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    link = root.parent / "root-link"
    link.symlink_to(root, target_is_directory=True)
    (root / "x.ecg").symlink_to(outside / "s.ecg")
    (root / "main.ecg").write_text('import "x.ecg"\n')
    program = load(link / "main.ecg", root=link)
    assert [d.code for d in program.diagnostics if d.severity == "error"] == ["import-escape"]


@pytest.mark.skipif(not STD.is_dir(), reason="the shipped library is not in this installation")
def test_the_shipped_library_stays_reachable(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    assert _check(root, 'import "std/papers.ecg"\n') == []
    [(_, _, code, _)] = _check(root, 'import "std/../pyproject.ecg"\n')
    assert code == "import-escape"
