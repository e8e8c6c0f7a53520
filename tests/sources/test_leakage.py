"""`ecgspec check` reports a corpus and a suite that can share a record or a patient."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import check_text

HEAD = """import "std/layouts.ecg"
import "std/papers.ecg"
source ptbxl from ptbxl {
    root = "db"
    split by strat_fold { train = 1..8; val = 9; test = 10 }
}
source ptbxl_again from ptbxl {
    root = "elsewhere/ptbxl"
    split by strat_fold { dev = 1..9; holdout = 10 }
}
source hosp from cinc {
    root = "hospital"
    split hash patient { train = 70%; test = 30% }
}
source hosp_by_record from cinc {
    root = "hospital"
    patient = mrn
    split hash exam { train = 70%; test = 30% }
}
source mimic from mimic {
    root = "mimic"
}
source cinc_hr from cinc {
    root = "cinc"
    records = "HR*"
}
source cinc_h from cinc {
    root = "cinc"
    records = "H*"
}
source cinc_js from cinc {
    root = "cinc"
    records = "JS*"
}
source cinc_all from cinc {
    root = "cinc"
}
"""


def _spec(corpus_from: str, suite_from: str) -> str:
    return (
        HEAD + f"corpus c {{\n    {corpus_from}\n    distorted = 0%\n}}\n"
        f'suite s version "1" {{\n    task t {{\n        {suite_from}\n    }}\n}}\n'
    )


def _leaks(tmp_path: Path, corpus_from: str, suite_from: str) -> list[str]:
    p = check_text(tmp_path, _spec(corpus_from, suite_from))
    return [d.message for d in p.diagnostics if d.code == "leakage"]


def test_disjoint_parts_of_one_split_do_not_leak(tmp_path: Path):
    assert _leaks(tmp_path, "from ptbxl split train", "from ptbxl split test") == []
    assert _leaks(tmp_path, "from hosp split train", "from hosp split test") == []


def test_the_same_part_on_both_sides_is_an_error_at_the_corpus_from_line(tmp_path: Path):
    p = check_text(tmp_path, _spec("from ptbxl split test", "from ptbxl split test"))
    [d] = [d for d in p.diagnostics if d.code == "leakage"]
    assert d.severity == "error" and "both take fold 10" in d.message
    assert p.scope.decls[("corpus", "c")].name.pos.line + 1 == d.pos.line


def test_a_corpus_without_a_split_leaks_into_every_suite_task_on_that_database(tmp_path: Path):
    [m] = _leaks(tmp_path, "from ptbxl", "from ptbxl split test")
    assert "takes every record of source 'ptbxl' (no split)" in m


def test_two_sources_over_one_database_are_compared_by_their_folds(tmp_path: Path):
    # PTB-XL is one database whatever the root: dev = 1..9 against test = 10 is safe, val = 9 is not.
    assert _leaks(tmp_path, "from ptbxl_again split dev", "from ptbxl split test") == []
    [m] = _leaks(tmp_path, "from ptbxl_again split dev", "from ptbxl split val")
    assert "fold 9" in m


def test_hashing_a_column_that_is_not_the_patient_leaks_patients(tmp_path: Path):
    [m] = _leaks(tmp_path, "from hosp_by_record split train", "from hosp_by_record split test")
    assert "not the patient" in m


def test_different_splittings_of_the_same_records_can_overlap(tmp_path: Path):
    [m] = _leaks(tmp_path, "from hosp split train", "from hosp_by_record split test")
    assert "split differently" in m


def test_different_databases_never_leak(tmp_path: Path):
    assert _leaks(tmp_path, "from mimic", "from ptbxl split test") == []
    assert _leaks(tmp_path, "from hosp", "from mimic") == []


def test_ecgqa_questions_are_ptbxl_records_for_leakage(tmp_path: Path):
    extra = 'source qa from ecgqa {\n    root = "qa"\n    waveforms = ptbxl\n    split by strat_fold { tr = 1..9; te = 10 }\n}\n'
    text = _spec("from qa split tr", "from ptbxl split val").replace("corpus c", extra + "corpus c")
    p = check_text(tmp_path, text)
    assert [d.message for d in p.diagnostics if d.code == "leakage"]  # fold 9 on both sides
    ok = check_text(
        tmp_path, _spec("from qa split te", "from ptbxl split train").replace("corpus c", extra + "corpus c")
    )
    assert [d for d in ok.diagnostics if d.code == "leakage"] == []


def test_cinc_against_ptbxl_is_a_warning_that_can_be_silenced(tmp_path: Path):
    p = check_text(tmp_path, _spec("from hosp split train", "from ptbxl split test"))
    assert [d.code for d in p.diagnostics if d.code.startswith("leakage")] == ["leakage-possible"] and p.ok
    quiet = check_text(
        tmp_path, _spec("from hosp split train  # ecgspec: ignore[leakage-possible]", "from ptbxl split test")
    )
    assert [d for d in quiet.diagnostics if d.code == "leakage-possible"] == []


def test_a_split_that_gives_one_fold_to_two_parts_is_an_error(tmp_path: Path):
    p = check_text(
        tmp_path, 'source s from ptbxl {\n  root = "r"\n  split by strat_fold { train = 1..9; test = 9..10 }\n}\n'
    )
    assert any("fold 9 is in both 'train' and 'test'" in d.message for d in p.diagnostics)


def test_record_globs_that_cannot_match_one_name_do_not_leak(tmp_path: Path):
    assert _leaks(tmp_path, "from cinc_hr", "from cinc_js") == []


def test_record_globs_that_may_match_one_name_leak(tmp_path: Path):
    assert _leaks(tmp_path, "from cinc_h", "from cinc_hr") != []
    assert _leaks(tmp_path, "from cinc_all", "from cinc_js") != []


def test_cinc_records_that_are_not_ptbxl_ones_raise_no_ptbxl_warning(tmp_path: Path):
    p = check_text(tmp_path, _spec("from ptbxl split train", "from cinc_js"))
    assert not [d for d in p.diagnostics if d.code == "leakage-possible"]
    p = check_text(tmp_path, _spec("from ptbxl split train", "from cinc_hr"))
    assert [d for d in p.diagnostics if d.code == "leakage-possible"]
