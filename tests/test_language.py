"""What the language means: units, names, inheritance, constants, imports and hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecgspec.cli import main
from ecgspec.ir import Choice, Distort, Layout, Paper, Span, Uniform
from ecgspec.ir.distort import BlurStep, JpegStep, OneOfStep, RotateStep

from .helpers import REPO, check_text, messages

LAYOUT_4X3 = 'layout "4x3" { leads = [I, aVR, V1, V4 | II, aVL, V2, V5 | III, aVF, V3, V6]; rhythm = [II] }\n'


def test_units_convert_to_canonical_units(tmp_path: Path) -> None:
    p = check_text(
        tmp_path,
        "paper p { speed = 2.5 mm/s; minor = 0.1 cm; major = 0.25 in; dpi = 300 dpi }\n"
        "layout l { leads = [I]; column = 2500 ms; calibration = 1000 uV }\n",
    )
    assert p.ok, p.diagnostics
    paper = p.get("paper", "p")
    assert isinstance(paper, Paper)
    assert (paper.speed, paper.minor, paper.major, paper.dpi) == (2.5, 1.0, 6.35, 300.0)
    layout = p.get("layout", "l")
    assert isinstance(layout, Layout)
    assert layout.column == pytest.approx(2.5) and layout.calibration == pytest.approx(1.0)


def test_a_quantity_of_the_wrong_dimension_is_an_error_naming_both(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper p {\n    speed = 10 mm\n}\n")
    [d] = p.diagnostics
    assert (d.pos.line, d.pos.col) == (2, 13)
    assert "expected a paper speed (mm/s), got a length (mm)" in d.message


def test_a_bare_number_where_a_unit_is_due_gets_a_hint_with_the_unit(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper p { gain = 10 }\n")
    [d] = p.diagnostics
    assert "got a plain number" in d.message and d.hint == "write the unit: `10 mm/mV`"


def test_same_meaning_in_other_units_has_the_same_hash(tmp_path: Path) -> None:
    a = check_text(tmp_path / "a", "layout l { leads = [I, II]; column = 2.5 s }\n")
    b = check_text(tmp_path / "b", "# a comment\nlayout   l {\n  column = 2500 ms\n  leads = [ I ,\n II ]\n}\n")
    assert a.hash_of("layout", "l") == b.hash_of("layout", "l")
    c = check_text(tmp_path / "c", "layout l { leads = [I, II]; column = 2.6 s }\n")
    assert a.hash_of("layout", "l") != c.hash_of("layout", "l")


def test_a_declaration_hash_covers_what_it_references(tmp_path: Path) -> None:
    base = (
        LAYOUT_4X3
        + 'source s from wfdb { root = "x" }\ncorpus c { from s; paper = p; layout = "4x3"; distorted = 0% }\n'
    )
    a = check_text(tmp_path / "a", base + "paper p { speed = 25 mm/s }\n")
    b = check_text(tmp_path / "b", base + "paper p { speed = 50 mm/s }\n")
    assert a.ok and b.ok, (a.diagnostics, b.diagnostics)
    assert a.get("corpus", "c") == b.get("corpus", "c")  # the corpus itself reads the same …
    assert a.hash_of("corpus", "c") != b.hash_of("corpus", "c")  # … but means something else


def test_extends_inherits_and_the_child_overrides(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper a { speed = 50 mm/s; gain = 20 mm/mV }\npaper b extends a { gain = 5 mm/mV }\n")
    b = p.get("paper", "b")
    assert isinstance(b, Paper) and (b.speed, b.gain) == (50.0, 5.0)
    origins = p.origins[("paper", "b")]
    assert origins["speed"].how == "inherited" and origins["gain"].how == "set"


def test_extends_of_a_distortion_appends_steps_after_the_base(tmp_path: Path) -> None:
    p = check_text(tmp_path, "distort a { rotate 2 deg }\ndistort b extends a { jpeg quality 40..95 p = 0.3 }\n")
    b = p.get("distort", "b")
    assert isinstance(b, Distort)
    assert [type(s) for s in b.steps] == [RotateStep, JpegStep]
    assert b.steps[1].p == pytest.approx(0.3)


def test_an_inheritance_cycle_is_reported_once_with_the_cycle(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper a extends b {}\npaper b extends a {}\n")
    [d] = p.diagnostics
    assert d.message == "inheritance cycle: a → b → a" and (d.pos.line, d.pos.col) == (1, 17)


def test_distributions_ranges_and_choices_are_written_out(tmp_path: Path) -> None:
    p = check_text(
        tmp_path,
        LAYOUT_4X3 + 'layout "12x1" { leads = [I | II]; column = 10 s }\n'
        "distort d {\n  rotate uniform(-3 deg, 3 deg) p = 0.5\n  one of { blur sigma 1..2 px; jpeg 40..95 } p = 30%\n}\n"
        'source s from wfdb { root = "r" }\n'
        'paper standard {}\ncorpus c { from s; layout = choice["4x3": 3, "12x1": 1]; distort = d; distorted = 50% }\n',
    )
    assert p.ok, p.diagnostics
    d = p.get("distort", "d")
    assert isinstance(d, Distort)
    rot, group = d.steps
    assert isinstance(rot, RotateStep) and rot.angle == Uniform(lo=-3, hi=3) and rot.p == 0.5
    assert isinstance(group, OneOfStep) and group.p == pytest.approx(0.3)
    blur, jpeg = group.steps
    assert isinstance(blur, BlurStep) and blur.sigma == Span(lo=1, hi=2, integer=False)
    assert isinstance(jpeg, JpegStep) and jpeg.quality == Span(lo=40, hi=95, integer=True)
    c = p.get("corpus", "c")
    assert c.layout == Choice(options=("4x3", "12x1"), weights=(0.75, 0.25))  # type: ignore[attr-defined]


def test_a_range_takes_the_unit_of_its_upper_bound(tmp_path: Path) -> None:
    p = check_text(tmp_path, "distort d { rotate -3..3 deg }\n")
    rot = p.get("distort", "d").steps[0]  # type: ignore[attr-defined]
    assert rot.angle == Span(lo=-3, hi=3, integer=False)


def test_lead_names_in_any_usual_spelling_become_canonical(tmp_path: Path) -> None:
    p = check_text(tmp_path, "layout l { leads = [i, AVR, avl, v1 | II, aVF, V2, lead_III] }\n")
    assert p.ok, p.diagnostics
    assert p.get("layout", "l").leads == (("I", "aVR", "aVL", "V1"), ("II", "aVF", "V2", "III"))  # type: ignore


def test_an_unknown_setting_suggests_the_near_name(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper p { sped = 25 mm/s }\n")
    [d] = p.diagnostics
    assert d.message == "paper 'p' has no setting `sped`" and d.hint == "did you mean 'speed'?"


def test_every_error_of_a_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper p {\n  sped = 25 mm/s\n  gain = 10 mm\n  dpi = 10 dpi\n}\nlayout l {}\n")
    assert [d.pos.line for d in p.diagnostics] == [2, 3, 4, 6]


def test_syntax_errors_in_two_declarations_are_both_reported(tmp_path: Path) -> None:
    p = check_text(
        tmp_path, "paper a {\n  speed = \n}\npaper b { gain = 10 mm/mV }\npaper c {\n  dpi 200 dpi dpi = \n}\n"
    )
    assert [d.pos.line for d in p.diagnostics if d.severity == "error"] == [2, 6]
    assert ("paper", "b") in p.decls


def test_let_constants_are_substituted_and_d_overrides_them(tmp_path: Path) -> None:
    text = "let fast = 50 mm/s\npaper p { speed = fast }\n"
    assert p_speed(check_text(tmp_path / "a", text)) == 50.0
    assert p_speed(check_text(tmp_path / "b", text, defines=["fast=12.5 mm/s"])) == 12.5


def p_speed(program: object) -> float:
    return program.get("paper", "p").speed  # type: ignore[attr-defined, no-any-return]


def test_d_for_an_undeclared_constant_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    p = check_text(tmp_path, 'let seed = 1\nsource s from wfdb { root = "r" }\n', defines=["sed=2"])
    [d] = [d for d in p.diagnostics if d.severity == "error"]
    assert "-D names 'sed'" in d.message and d.hint == "did you mean 'seed'?"


def test_constants_in_a_cycle_are_an_error(tmp_path: Path) -> None:
    p = check_text(tmp_path, "let a = b\nlet b = a\npaper p { speed = a }\n")
    assert any("cycle" in m for m in messages(p))


def test_imports_are_relative_to_the_importing_file(tmp_path: Path) -> None:
    p = check_text(
        tmp_path,
        'import "lib/papers.ecg"\nlayout l { leads = [I] }\n',
        name="main.ecg",
        files={"lib/papers.ecg": 'import "more.ecg"\npaper a {}\n', "lib/more.ecg": "paper b {}\n"},
    )
    assert p.ok and {("paper", "a"), ("paper", "b")} <= set(p.decls)


def test_an_import_cycle_is_an_error_that_lists_the_cycle(tmp_path: Path) -> None:
    p = check_text(tmp_path, 'import "b.ecg"\n', name="a.ecg", files={"b.ecg": 'import "a.ecg"\n'})
    [d] = p.diagnostics
    assert d.message == "import cycle: a.ecg → b.ecg → a.ecg" or d.message.endswith("a.ecg → b.ecg → a.ecg")


def test_an_import_may_not_leave_the_spec_root(tmp_path: Path) -> None:
    (tmp_path / "secret.ecg").write_text("paper x {}\n")
    root = tmp_path / "root"
    p = check_text(root, 'import "../secret.ecg"\n')
    [d] = p.diagnostics
    assert "outside the spec root" in d.message and ("paper", "x") not in p.decls


def test_a_shared_base_imported_twice_is_loaded_once(tmp_path: Path) -> None:
    p = check_text(
        tmp_path,
        'import "a.ecg"\nimport "b.ecg"\n',
        name="main.ecg",
        files={"a.ecg": 'import "base.ecg"\n', "b.ecg": 'import "base.ecg"\n', "base.ecg": "paper p {}\n"},
    )
    assert p.ok, p.diagnostics


def test_unused_constants_warn_and_the_warning_can_be_silenced_in_place(tmp_path: Path) -> None:
    p = check_text(tmp_path / "a", "let x = 1\n")
    assert messages(p, "warning") == ["constant 'x' is never used"] and p.ok
    q = check_text(tmp_path / "b", "let x = 1  # ecgspec: ignore[unused-let]\n")
    assert q.diagnostics == []


def test_colour_names_and_short_hex_become_full_hex(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper p { background = ivory; major_color = #E66 }\n")
    paper = p.get("paper", "p")
    assert (paper.background, paper.major_color) == ("#fffff0", "#ee6666")  # type: ignore[attr-defined]


def test_check_exits_1_on_errors_0_when_clean_and_2_on_misuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.ecg"
    good.write_text("paper p {}\n")
    bad = tmp_path / "bad.ecg"
    bad.write_text("paper p { speed = 1 }\n")
    assert main(["check", str(good), "--root", str(tmp_path)]) == 0
    assert main(["check", str(bad), "--root", str(tmp_path)]) == 1
    with pytest.raises(SystemExit) as exc:
        main(["check", str(tmp_path / "missing.ecg")])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_shipped_specs_check_clean() -> None:
    assert main(["check", str(REPO / "specs"), "--root", str(REPO)]) == 0


def test_shipped_specs_are_formatted() -> None:
    assert main(["fmt", "--check", str(REPO / "specs")]) == 0


def test_a_default_reference_must_exist_and_counts_in_the_hash(tmp_path: Path) -> None:
    corpus = 'source s from wfdb { root = "r" }\ncorpus c { from s; distorted = 0% }\n'
    missing = check_text(tmp_path / "a", corpus)
    assert sorted(d.code for d in missing.diagnostics) == ["unknown-default", "unknown-default"]
    a = check_text(tmp_path / "b", corpus + LAYOUT_4X3 + "paper standard { speed = 25 mm/s }\n")
    b = check_text(tmp_path / "c", corpus + LAYOUT_4X3 + "paper standard { speed = 50 mm/s }\n")
    assert a.ok and b.ok
    assert ("paper", "standard") in a.deps[("corpus", "c")]
    assert a.hash_of("corpus", "c") != b.hash_of("corpus", "c")


def test_a_corpus_may_only_name_splits_its_source_declares(tmp_path: Path) -> None:
    p = check_text(
        tmp_path,
        LAYOUT_4X3 + "paper standard {}\n"
        'source s from ptbxl {\n  root = "r"\n  split by strat_fold { train = 1..8; test = 9..10 }\n}\n'
        "corpus c {\n  from s split tset\n  distorted = 0%\n}\n",
    )
    [d] = p.diagnostics
    assert d.message == "source 's' has no split 'tset'" and d.hint == "did you mean 'test'?"
    assert (d.pos.line, d.pos.col) == (8, 16)


def test_a_mistake_in_a_base_is_reported_once_not_per_child(tmp_path: Path) -> None:
    p = check_text(tmp_path, "paper a { speed = 25 mm }\npaper b extends a {}\npaper c extends a {}\n")
    [d] = p.diagnostics
    assert d.message.startswith("`speed` of paper 'a'") and (d.pos.line, d.pos.col) == (1, 19)


def test_a_constant_used_where_it_does_not_fit_is_reported_where_it_is_used(tmp_path: Path) -> None:
    p = check_text(tmp_path, "let fast = 50 mm\npaper p {\n  speed = fast\n}\n")
    [d] = p.diagnostics
    assert (d.pos.line, d.pos.col) == (3, 11) and "through let fast (line 1)" in (d.hint or "")


def test_a_bad_define_is_command_line_misuse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "a.ecg"
    spec.write_text("let seed = 1\nsynth s { seed = seed }\n")
    assert main(["check", str(spec), "--root", str(tmp_path), "-D", "sed=2"]) == 2
    assert "-D sed=2: error: -D names 'sed'" in capsys.readouterr().err
    assert main(["check", str(spec), "--root", str(tmp_path), "-D", "seed=2"]) == 0


def test_the_shipped_library_imports_from_anywhere_as_std(tmp_path: Path) -> None:
    p = check_text(
        tmp_path,
        'import "std/layouts.ecg"\nimport "std/printouts.ecg"\npaper mine extends muse {\n  speed = 12.5 mm/s\n}\n',
    )
    assert p.ok, p.diagnostics
    assert {("layout", "4x3"), ("paper", "muse"), ("paper", "standard")} <= set(p.decls)


def test_a_std_import_may_not_leave_the_library(tmp_path: Path) -> None:
    p = check_text(tmp_path, 'import "std/../pyproject.ecg"\n')
    [d] = p.diagnostics
    assert d.code == "import-escape" and "std/" in d.message
