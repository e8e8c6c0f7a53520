"""The hooks the language server loads specs through (`program.load(read=..., parse=...)`): a text
held for a file is read instead of the file, and loads as that text saved would load; every spec
file goes through the given parser. The reference is always a plain `load` of the files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

import ecgspec.resolve
from ecgspec.errors import Diagnostics
from ecgspec.parser import parse_module
from ecgspec.program import Program, load
from ecgspec.syntax import Module

LIB = "paper wide {\n    speed = 50 mm/s\n}\n"
LIB_EDITED = "paper wider {\n    speed = 50 mm/s\n}\n"
MAIN = 'import "lib.ecg"\n\npaper mine extends wider {\n}\n'


def shown(program: Program) -> list[tuple[str, str, str | None, str]]:
    return [(str(d.pos), d.message, d.hint, d.code) for d in program.diagnostics]


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib.ecg").write_text(LIB, encoding="utf-8")
    (tmp_path / "main.ecg").write_text(MAIN, encoding="utf-8")
    return tmp_path


def test_a_held_text_is_read_instead_of_its_file_and_loads_as_that_text_saved(specs: Path) -> None:
    lib = (specs / "lib.ecg").resolve()
    on_disk = load(Path("main.ecg"))
    assert [d.code for d in on_disk.diagnostics] == ["unknown-base"]  # the file on disk declares `wide`
    held = load(Path("main.ecg"), read={lib: LIB_EDITED}.get)
    lib.write_text(LIB_EDITED, encoding="utf-8")
    saved = load(Path("main.ecg"))
    assert held.ok and saved.ok
    assert sorted(held.decls) == sorted(saved.decls) == [("paper", "mine"), ("paper", "wider")]
    assert held.spec_hash() == saved.spec_hash()


def test_without_a_held_text_the_file_is_read_from_disk(specs: Path) -> None:
    asked: list[Path] = []

    def nothing_held(path: Path) -> str | None:
        asked.append(path)
        return None

    assert shown(load(Path("main.ecg"), read=nothing_held)) == shown(load(Path("main.ecg")))
    assert asked == [(specs / "main.ecg").resolve(), (specs / "lib.ecg").resolve()]


def test_a_held_text_over_the_size_limit_is_refused_as_the_saved_file_is(
    specs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A character that takes four bytes: the limit counts bytes, as on disk, not characters.
    big = LIB_EDITED + "# 🫀\n"
    lib = (specs / "lib.ecg").resolve()
    monkeypatch.setattr(ecgspec.resolve, "MAX_FILE_BYTES", len(big.encode()) - 1)
    assert len(big) <= ecgspec.resolve.MAX_FILE_BYTES < len(big.encode())
    held = load(Path("main.ecg"), read={lib: big}.get)
    lib.write_text(big, encoding="utf-8")
    assert "file-size" in [d.code for d in held.diagnostics]
    assert shown(held) == shown(load(Path("main.ecg")))


def test_a_failed_imports_hint_reads_the_held_text_of_the_file_it_likely_means(specs: Path) -> None:
    # `libb.ecg` is a near miss of lib.ecg, and `other.ecg` names nothing: the hint on `wider`
    # says which import likely declares it, from what lib.ecg declares.
    (specs / "main.ecg").write_text(
        'import "libb.ecg"\nimport "other.ecg"\n\npaper mine extends wider {\n}\n', encoding="utf-8"
    )
    lib = (specs / "lib.ecg").resolve()
    held = load(Path("main.ecg"), read={lib: LIB_EDITED}.get)
    lib.write_text(LIB_EDITED, encoding="utf-8")
    saved = load(Path("main.ecg"))
    assert shown(held) == shown(saved)
    assert any("likely means declares 'wider'" in (hint or "") for _, _, hint, _ in shown(held))


def test_every_spec_file_is_parsed_by_the_given_parser(specs: Path) -> None:
    (specs / "main.ecg").write_text('import "libb.ecg"\nimport "other.ecg"\n' + MAIN, encoding="utf-8")
    parsed: list[str] = []

    def counting(text: str, name: str, diags: Diagnostics) -> Module:
        parsed.append(name)
        return parse_module(text, name, diags)

    program = load(Path("main.ecg"), parse=counting)
    # The entry, its import, and the file a failed import likely means (read for its names).
    assert parsed == ["main.ecg", "lib.ecg", "lib.ecg"]
    assert shown(program) == shown(load(Path("main.ecg")))


def test_what_the_given_parser_returns_is_what_is_checked(specs: Path) -> None:
    def edited(text: str, name: str, diags: Diagnostics) -> Module:
        return parse_module(LIB_EDITED if name == "lib.ecg" else text, name, diags)

    program = load(Path("main.ecg"), parse=edited)
    assert program.ok and ("paper", "wider") in program.decls
