"""Default-mode extraction, case by case: the readings issue 18 names, each pinned on its own."""

from __future__ import annotations

from runtime.evaluate.extract import extract, find_labels, find_options

from .helpers import Extract, Task

SUPER = ("NORM", "MI", "STTC", "CD", "HYP")
PTB_SYN = {"NORM": ("normal ECG",), "MI": ("myocardial infarction",), "STTC": ("ST depression",)}
CPSC = ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
CPSC_SYN = {"NORM": ("sinus rhythm",), "AF": ("AF", "atrial fibrillation", "A-fib"), "STD": ("ST depression",)}
CODE15 = ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF")


def ptb(text: str, **kw: object) -> list[str]:
    return find_labels(text, SUPER, PTB_SYN, **kw)  # type: ignore[arg-type]


def cpsc(text: str) -> list[str]:
    return find_labels(text, CPSC, CPSC_SYN)


def test_codes_of_three_or_more_letters_match_in_any_case() -> None:
    assert ptb("sttc") == ["STTC"] and ptb("norm") == ["NORM"] and cpsc("lbbb") == ["LBBB"]


def test_normal_in_capitals_matches_its_synonym() -> None:
    assert cpsc("NORMAL sinus rhythm") == ["NORM"]


def test_a_two_letter_code_declared_among_its_synonyms_matches_in_any_case() -> None:
    assert cpsc("af") == ["AF"] and cpsc("AFib") == ["AF"]
    assert find_labels("af", CODE15, {}) == ["AF"]  # a bare list of codes has no English to collide with


def test_code_plurals_and_synonym_plurals_match() -> None:
    assert cpsc("frequent PVCs") == ["PVC"] and cpsc("ST depression") == ["STD"]


def test_short_codes_keep_their_case_in_prose() -> None:
    # "st" of "1st degree" is not sinus tachycardia; "mi" and "cd" in prose are English
    assert find_labels("1st degree AV block, st. elevation", CODE15, {}) == []
    assert ptb("Please see the CD-ROM; mi amigo") == []


def test_norm_is_not_inside_abnormal_and_af_not_inside_afl() -> None:
    assert ptb("ABNORMAL ECG") == [] and cpsc("AFL with 2:1 block") == []


def test_st_is_not_read_in_st_segment_terms() -> None:
    assert find_labels("Sinus rhythm with ST depression and ST-T changes", CODE15, {}) == []


def test_negation_cue_scope_ends_at_the_sentence() -> None:
    assert ptb("No evidence of MI. Findings: CD") == ["CD"]


def test_a_cue_before_a_list_negates_the_list_and_termination_cues_end_it() -> None:
    assert ptb("There is no MI, STTC or HYP; CD is present.") == ["CD"]
    assert ptb("No MI but there is CD") == ["CD"]
    assert ptb("Negative for MI, however CD") == ["CD"]


def test_post_negation_and_checklists() -> None:
    assert ptb("MI and CD are absent. HYP.") == ["HYP"]
    assert ptb("- NORM: no\n- MI: yes\n- STTC: no") == ["MI"]


def test_declared_negation_cues_negate() -> None:
    text = "Findings not consistent with MI; CD."
    assert ptb(text) == ["CD"]  # "not" is built in
    assert ptb("Pattern argues against MI. CD.") == ["MI", "CD"]
    assert ptb("Pattern argues against MI. CD.", negation=("argues against",)) == ["CD"]


def test_hedges_that_do_not_commit_are_not_assertions_but_qualified_ones_are() -> None:
    assert ptb("Cannot exclude MI. HYP.") == ["HYP"]
    assert ptb("Possible inferior MI.") == ["MI"]


def test_only_the_text_after_the_answer_line_counts() -> None:
    assert ptb("MI is suggested by Q waves, but on balance...\nAnswer: STTC") == ["STTC"]


def test_whole_answer_classes_yield_to_labels() -> None:
    classes = (*CODE15, "NORM", "ABNORMAL")
    assert find_labels("Abnormal ECG: RBBB", classes, {}, answers=("NORM", "ABNORMAL")) == ["RBBB"]
    assert find_labels("ABNORMAL", classes, {}, answers=("NORM", "ABNORMAL")) == ["ABNORMAL"]


def test_ecgqa_lead_options_are_read_without_their_prefix_and_ranges_are_expanded() -> None:
    leads = ("lead I", "lead V1", "lead V2", "lead V3", "none")
    assert find_options("V1 and V2", leads) == ["lead V1", "lead V2"]
    assert find_options("ST elevation in V1-V3", leads) == ["lead V1", "lead V2", "lead V3"]
    assert find_options("I think it is V2", leads) == ["lead V2"]  # the pronoun is no lead


def test_ecgqa_options_match_singular_plural_and_hyphenation() -> None:
    opts = ("premature atrial complex", "first degree av block", "none")
    assert find_options("premature atrial complexes", opts) == ["premature atrial complex"]
    assert find_options("1st-degree AV block", opts) == ["first degree av block"]


def test_ecgqa_yes_no_options_are_answers_only_where_they_stand_as_one() -> None:
    yn = ("yes", "no", "not sure")
    assert find_options("Yes, there is no evidence of infarction.", yn) == ["yes"]
    assert find_options("No, not sure", yn) == ["no", "not sure"]


def test_multiple_choice_option_text_reads_negation_and_synonyms() -> None:
    task = Task(id="mc", form="multiple_choice", labels=("AFIB",), synonyms={"AFIB": ("atrial fibrillation", "AFib")})
    opts = ("atrial flutter", "atrial fibrillation", "sinus rhythm")
    assert extract(task, "i", opts, "Not atrial flutter; this is atrial fibrillation.", 0).value == "B"
    assert extract(task, "i", opts, "AFib", 0).value == "B"
    assert extract(task, "i", opts, "The answer is B, not option A.", 0).value == "B"


def test_extract_passes_the_declared_cues_through() -> None:
    task = Task(id="t", form="multi_label", labels=SUPER, extract=Extract(negation=("argues against",)))
    got = extract(task, "i", None, "Pattern argues against MI. CD.", 0)
    assert got.value == ("CD",) and not got.fallback
