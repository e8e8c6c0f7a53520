"""The grounding of LLM-written answers: label mentions with negation and hedging, contradictions
of the record's rate, intervals and axis, quoting the report, and the topics of a turn."""

from __future__ import annotations

import pytest

from ecgspec.ir.task import FACTS
from ecgspec.synthesis.grounding import (
    FACT_TOPICS,
    TOPICS,
    Contradiction,
    LabelMatcher,
    RecordFacts,
    contradictions,
    fact_topics,
    question_topics,
    quotes,
)

# The `findings` vocabulary of specs/ecginstruct.ecg: its codes and descriptions.
FINDINGS = {
    "SR": "sinus rhythm",
    "AFIB": "atrial fibrillation",
    "AFLT": "atrial flutter",
    "STACH": "sinus tachycardia",
    "SBRAD": "sinus bradycardia",
    "SARRH": "sinus arrhythmia",
    "NORM": "normal ECG",
    "MI": "myocardial infarction",
    "CLBBB": "left bundle branch block",
    "CRBBB": "right bundle branch block",
    "IRBBB": "incomplete right bundle branch block",
    "LAFB": "left anterior fascicular block",
    "1AVB": "first degree AV block",
    "IVCD": "nonspecific intraventricular conduction delay",
    "LVH": "left ventricular hypertrophy",
    "RVH": "right ventricular hypertrophy",
    "ISC": "ischemic ST-T changes",
    "STD": "ST depression",
    "STE": "ST elevation",
    "TAB": "T wave abnormality",
    "INVT": "inverted T waves",
    "LVOLT": "low QRS voltage",
    "LQT": "prolonged QT interval",
    "LPR": "prolonged PR interval",
    "PAC": "premature atrial contractions",
    "PVC": "premature ventricular contractions",
}
MATCHER = LabelMatcher(list(FINDINGS), FINDINGS, {"AFIB": ("AF", "a-fib"), "CLBBB": ("LBBB",)})
TOL = {"rate_tolerance": 10.0, "interval_tolerance": 20.0}


def found(text: str) -> list[tuple[str, bool, bool]]:
    """(label, negated, hedged) of each mention, in order."""
    return [(m.label, m.negated, m.hedged) for m in MATCHER.mentions(text)]


def kinds(answer: str, facts: RecordFacts, matcher: LabelMatcher | None = MATCHER) -> list[str]:
    return [c.kind for c in contradictions(answer, facts, matcher, **TOL)]


SINUS = RecordFacts(
    labels=frozenset({"SR", "NORM"}),
    heart_rate=72,
    rate_class="normal rate",
    intervals={"pr": 160, "qrs": 90, "qt": 380, "qtc": 420},
    axis="normal axis",
)
TACHY = RecordFacts(labels=frozenset({"STACH"}), heart_rate=112, rate_class="tachycardia", axis="normal axis")
AF = RecordFacts(labels=frozenset({"AFIB", "1AVB"}), heart_rate=95, intervals={"pr": 240})


# ---- mentions ----------------------------------------------------------------------------------------


def test_a_description_is_found_case_insensitively_with_its_span() -> None:
    text = "The rhythm is Sinus Tachycardia at about 110 bpm."
    (m,) = MATCHER.mentions(text)
    assert (m.label, text[m.start : m.end], m.negated, m.hedged) == ("STACH", "Sinus Tachycardia", False, False)


def test_the_longest_description_wins_so_an_incomplete_block_is_not_also_a_complete_one() -> None:
    assert found("There is an incomplete right bundle branch block.") == [("IRBBB", False, False)]
    assert found("There is a right bundle branch block.") == [("CRBBB", False, False)]
    assert found("Incomplete right bundle branch block and left anterior fascicular block.") == [
        ("IRBBB", False, False),
        ("LAFB", False, False),
    ]


def test_synonyms_and_long_codes_are_found_but_short_codes_and_lowercase_codes_are_not() -> None:
    assert [m.label for m in MATCHER.mentions("Findings consistent with LBBB and AF.")] == ["CLBBB", "AFIB"]
    assert [m.label for m in MATCHER.mentions("Rhythm: AFIB; also STE in V2.")] == ["AFIB", "STE"]
    assert MATCHER.mentions("SR with MI pattern; afib-like baseline") == []  # SR, MI: 2 characters; afib: case


def test_hyphens_spelling_variants_and_plurals_still_match() -> None:
    assert [m.label for m in MATCHER.mentions("A first-degree AV block is seen.")] == ["1AVB"]
    assert [m.label for m in MATCHER.mentions("1st degree atrioventricular block.")] == ["1AVB"]
    assert [
        m.label for m in MATCHER.mentions("There are T-wave abnormalities and a premature atrial contraction.")
    ] == [
        "TAB",
        "PAC",
    ]


def test_negation_cues_before_a_label_negate_it() -> None:
    assert found("No signs of atrial fibrillation; PR interval 180 ms.") == [("AFIB", True, False)]
    for text in (
        "There is no evidence of acute ST elevation.",
        "Sinus rhythm without ST elevation.",
        "Absence of ST elevation in the inferior leads.",
        "The tracing is negative for ST elevation.",
        "The ECG is free of ST elevation.",
        "The tracing rules out ST elevation.",
        "This is not ST elevation.",
        "This doesn't show ST elevation.",
        "Non-ST elevation myocardial infarction.",
    ):
        assert ("STE", True, False) in found(text), text


def test_negation_cues_after_a_label_negate_it() -> None:
    assert found("Atrial fibrillation is absent.") == [("AFIB", True, False)]
    assert found("ST elevation in the anterior leads is not present.") == [("STE", True, False)]
    assert found("Atrial flutter was ruled out.") == [("AFLT", True, False)]


def test_one_cue_negates_a_whole_list_of_findings() -> None:
    assert found("No ST elevation, ST depression, or myocardial infarction.") == [
        ("STE", True, False),
        ("STD", True, False),
        ("MI", True, False),
    ]
    assert found("Atrial fibrillation and atrial flutter are absent.") == [("AFIB", True, False), ("AFLT", True, False)]


def test_negation_stops_at_the_end_of_its_clause() -> None:
    assert found("No atrial fibrillation, sinus rhythm at 72 bpm.") == [("AFIB", True, False), ("SR", False, False)]
    assert found("Sinus rhythm is present and atrial fibrillation is absent.") == [
        ("SR", False, False),
        ("AFIB", True, False),
    ]
    assert found("There is no atrial fibrillation but there is atrial flutter.") == [
        ("AFIB", True, False),
        ("AFLT", False, False),
    ]


def test_a_bare_no_answering_the_question_negates_nothing() -> None:
    assert found("No, it is sinus rhythm.") == [("SR", False, False)]
    assert found("No. The rhythm is sinus rhythm.") == [("SR", False, False)]


@pytest.mark.parametrize(
    "text",
    [
        "Differential includes atrial flutter versus atrial fibrillation.",
        "Atrial flutter vs. atrial fibrillation should be distinguished by the flutter waves.",
        "It is hard to distinguish atrial flutter from atrial fibrillation here.",
        "Is this atrial fibrillation or atrial flutter?",
        "If atrial fibrillation were present, the baseline would be irregular.",
        "Consider atrial flutter with variable block.",
        "Irregular rhythms such as atrial fibrillation or atrial flutter would show no P waves.",
        "Atrial flutter can mimic atrial fibrillation.",
        "This is ordered to rule out atrial fibrillation.",
        "Sinus rhythm, unlike atrial fibrillation, has a P wave before every QRS.",
        "The baseline shows artefact instead of atrial flutter waves.",
        "(A) atrial fibrillation (B) atrial flutter (C) sinus rhythm",
        "Possible atrial flutter.",
        "Atrial fibrillation is unlikely.",
        "Atrial flutter cannot be excluded.",
        "Atrial fibrillation is typically irregularly irregular.",
    ],
)
def test_hedges_are_not_assertions(text: str) -> None:
    mentions = MATCHER.mentions(text)
    assert mentions and all(m.hedged for m in mentions if m.label in ("AFIB", "AFLT")), found(text)
    assert kinds(text, SINUS) == []  # the record has neither: a hedge is no claim


def test_an_alternative_after_rather_than_is_hedged_but_the_statement_before_it_is_not() -> None:
    assert found("The rhythm is sinus tachycardia rather than atrial flutter.") == [
        ("STACH", False, False),
        ("AFLT", False, True),
    ]


def test_an_answer_after_an_option_list_is_a_statement() -> None:
    text = "(A) atrial fibrillation (B) atrial flutter (C) sinus rhythm. The answer is (C) sinus rhythm."
    assert found(text) == [("AFIB", False, True), ("AFLT", False, True), ("SR", False, True), ("SR", False, False)]


# ---- label contradictions --------------------------------------------------------------------------


def test_a_label_the_record_lacks_stated_as_present_is_a_contradiction() -> None:
    (c,) = contradictions("The rhythm is atrial fibrillation with a rapid response.", SINUS, MATCHER, **TOL)
    assert c == Contradiction("label_absent", "states atrial fibrillation, which the record does not have")


def test_a_negated_label_the_record_has_is_a_contradiction() -> None:
    (c,) = contradictions("No signs of atrial fibrillation; PR interval 240 ms.", AF, MATCHER, **TOL)
    assert c == Contradiction("label_negated", "denies atrial fibrillation, which the record has")


def test_a_consistent_answer_has_no_contradiction() -> None:
    assert kinds("Normal sinus rhythm at 72 bpm without ST elevation; this is a normal ECG.", SINUS) == []
    assert kinds("The rhythm is sinus tachycardia at about 110 bpm.", TACHY) == []
    assert kinds("Atrial fibrillation with first-degree AV block; PR 240 ms, ventricular rate about 95 bpm.", AF) == []


def test_a_label_counts_once_however_often_it_is_stated() -> None:
    assert kinds("Atrial fibrillation. Yes, atrial fibrillation: the RR intervals vary.", SINUS) == ["label_absent"]


def test_unknown_facts_are_never_contradicted() -> None:
    answer = "Atrial fibrillation at 150 bpm, tachycardic, PR 300 ms, left axis deviation; no sinus rhythm."
    assert kinds(answer, RecordFacts()) == []
    assert kinds(answer, RecordFacts(heart_rate=150), matcher=None) == []


def test_without_a_matcher_labels_are_not_checked() -> None:
    assert kinds("The rhythm is atrial fibrillation.", SINUS, matcher=None) == []


# ---- rate ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "The rhythm is sinus tachycardia at about 110 bpm.",
        "Heart rate 110 beats per minute.",
        "HR 110",
        "The ventricular rate is approximately 110.",
        "Rate: 110/min.",
        "The heart rate is 110 beats/min.",
    ],
)
def test_a_stated_rate_far_from_the_record_s_is_a_contradiction(answer: str) -> None:
    facts = RecordFacts(heart_rate=72)
    (c,) = contradictions(answer, facts, MATCHER, **TOL)
    assert c.kind == "rate" and "110" in c.detail and "72" in c.detail


def test_a_stated_rate_within_the_tolerance_is_consistent() -> None:
    assert kinds("The heart rate is about 80 bpm.", RecordFacts(heart_rate=72)) == []
    assert kinds("The heart rate is about 83 bpm.", RecordFacts(heart_rate=72)) == ["rate"]


def test_a_rate_range_holding_the_record_s_rate_is_consistent() -> None:
    facts = RecordFacts(heart_rate=72)
    assert kinds("The rate is 70-80 bpm.", facts) == []
    assert kinds("The rate is between 60 and 75 bpm.", facts) == []
    assert kinds("The rate is 100-120 bpm.", facts) == ["rate"]
    assert kinds("The rate is 95 to 110 bpm.", facts) == ["rate"]


def test_atrial_rates_bounds_and_reference_ranges_are_not_heart_rates() -> None:
    facts = RecordFacts(heart_rate=75)
    assert kinds("Atrial flutter with an atrial rate of 300 bpm and a ventricular rate of 75 bpm.", facts) == []
    assert kinds("Tachycardia is defined as a rate above 100 bpm.", facts) == []
    assert kinds("A normal heart rate is 60-100 bpm.", RecordFacts(heart_rate=130)) == []
    assert kinds("The rate is not 110 bpm; it is 75 bpm.", facts) == []


def test_numbers_in_a_multiple_choice_option_list_are_not_statements() -> None:
    facts = RecordFacts(heart_rate=72)
    options = "A. 50 bpm\nB. 72 bpm\nC. 110 bpm\nD. 150 bpm"
    assert kinds(options, facts) == []
    assert kinds("(A) 50 bpm (B) 72 bpm (C) 110 bpm (D) 150 bpm", facts) == []
    assert kinds(options + "\nAnswer: B. 72 bpm", facts) == []
    assert kinds(options + "\nAnswer: C. 110 bpm", facts) == ["rate"]


def test_a_multiple_choice_letter_answer_states_its_value() -> None:
    facts = RecordFacts(heart_rate=72)
    assert kinds("B. 72 bpm", facts) == []
    assert kinds("C. 110 bpm", facts) == ["rate"]
    assert kinds("(C) 110 bpm", facts) == ["rate"]


# ---- rate class ----------------------------------------------------------------------------------------


def test_a_rate_class_word_against_the_record_s_class_is_a_contradiction() -> None:
    (c,) = contradictions("The patient is tachycardic.", SINUS, MATCHER, **TOL)
    assert c == Contradiction("rate_class", "states tachycardic; the record's rate class is normal rate")
    assert kinds("There is bradycardia.", SINUS) == ["rate_class"]
    assert kinds("The heart rate is normal.", TACHY) == ["rate_class"]
    assert kinds("Normal heart rate.", SINUS) == []


def test_a_negated_or_hedged_rate_class_word_states_nothing() -> None:
    assert kinds("The patient is not tachycardic.", SINUS) == []
    assert kinds("There is no bradycardia.", SINUS) == []
    assert kinds("Tachycardia is defined as a rate above 100 bpm.", SINUS) == []
    assert kinds("If the patient were tachycardic, consider sepsis.", SINUS) == []


def test_a_rate_word_inside_a_label_the_record_has_is_consistent() -> None:
    # The record says sinus tachycardia though the measured class differs: the answer agrees with its labels.
    facts = RecordFacts(labels=frozenset({"STACH"}), rate_class="normal rate")
    assert kinds("Sinus tachycardia.", facts) == []


def test_a_rate_word_inside_a_label_the_record_lacks_counts_once_as_a_label_contradiction() -> None:
    assert kinds("The rhythm is sinus tachycardia.", SINUS) == ["label_absent"]


def test_a_rate_word_inside_a_label_counts_as_a_rate_class_when_the_labels_are_unknown() -> None:
    facts = RecordFacts(rate_class="normal rate")
    assert kinds("The rhythm is sinus tachycardia.", facts) == ["rate_class"]
    assert kinds("The rhythm is sinus tachycardia.", facts, matcher=None) == ["rate_class"]


# ---- intervals -----------------------------------------------------------------------------------------


def test_qt_and_qtc_are_not_confused() -> None:
    facts = RecordFacts(intervals={"qt": 380, "qtc": 440})
    assert kinds("QT 380 ms, QTc 440 ms.", facts) == []
    assert kinds("The QT interval is 380 ms and the QTc is 440 ms.", facts) == []
    assert kinds("QT/QTc 380/440 ms.", facts) == []
    swapped = contradictions("QT 440 ms, QTc 380 ms.", facts, MATCHER, **TOL)
    assert [c.detail for c in swapped] == [
        "states a QT interval of 440 ms; the record's is 380 ms",
        "states a QTc of 380 ms; the record's is 440 ms",
    ]
    assert kinds("The corrected QT is 380 ms.", facts) == ["interval"]


def test_seconds_and_milliseconds_are_the_same_interval() -> None:
    facts = RecordFacts(intervals={"pr": 160, "qrs": 90})
    for answer in (
        "PR interval 0.16 s.",
        "PR interval of 160 ms.",
        "The PR is 160 milliseconds.",
        "PR: 160ms",
        "PR 0.16",
    ):
        assert kinds(answer, facts) == [], answer
    assert kinds("The PR interval is 0.24 seconds.", facts) == ["interval"]
    assert kinds("QRS duration 0.09 s", facts) == []
    assert kinds("The QRS width is 140 ms.", facts) == ["interval"]
    assert kinds("A 240 ms PR interval.", facts) == ["interval"]


def test_an_interval_range_holding_the_record_s_value_is_consistent() -> None:
    facts = RecordFacts(intervals={"qrs": 90})
    assert kinds("QRS duration 80-100 ms.", facts) == []
    assert kinds("QRS duration 130-150 ms.", facts) == ["interval"]


def test_other_numbers_near_interval_names_are_not_intervals() -> None:
    facts = RecordFacts(intervals={"pr": 160, "qrs": 90})
    assert kinds("The QRS axis is 60 degrees.", facts) == []
    assert kinds("PR segment depression of 1 mm.", facts) == []
    assert kinds("A normal PR interval is 120-200 ms; here PR 160 ms.", facts) == []
    assert kinds("PR 160 ms (normal 120-200 ms); QRS less than 120 ms.", facts) == []


def test_an_interval_the_record_does_not_know_is_not_checked() -> None:
    assert kinds("QTc 520 ms.", RecordFacts(intervals={"qt": 380})) == []


# ---- axis ----------------------------------------------------------------------------------------------


def test_a_stated_axis_against_the_record_s_is_a_contradiction() -> None:
    (c,) = contradictions("There is left axis deviation.", SINUS, MATCHER, **TOL)
    assert c == Contradiction("axis", "states left axis deviation; the record has normal axis")
    assert kinds("Right axis deviation.", SINUS) == ["axis"]
    assert kinds("A northwest axis.", SINUS) == ["axis"]
    assert kinds("Extreme axis deviation.", RecordFacts(axis="extreme axis deviation")) == []
    assert kinds("The axis is normal.", SINUS) == []
    assert kinds("Normal QRS axis.", RecordFacts(axis="left axis deviation")) == ["axis"]


def test_a_negated_or_hedged_axis_states_nothing() -> None:
    assert kinds("No left axis deviation.", SINUS) == []
    assert kinds("Left axis deviation is present, suggesting a fascicular block.", SINUS) == ["axis"]
    assert kinds("Left axis deviation would suggest a fascicular block.", SINUS) == []
    assert kinds("This could be left axis deviation.", SINUS) == []
    assert kinds("Differential for right axis deviation includes RVH.", SINUS) == []


def test_a_realistic_answer_with_several_errors_reports_each_kind() -> None:
    answer = (
        "The ECG shows atrial fibrillation at 130 bpm, tachycardic, with a PR interval of 200 ms, "
        "left axis deviation, and no sinus rhythm."
    )
    assert kinds(answer, SINUS) == ["label_absent", "label_negated", "rate", "rate_class", "interval", "axis"]


# ---- quotes --------------------------------------------------------------------------------------------

REPORT = "Sinus rhythm. Left axis deviation. Incomplete right bundle branch block, otherwise normal ECG."


def test_an_answer_repeating_eight_words_of_the_report_quotes_it() -> None:
    answer = "The findings: left axis deviation; incomplete right-bundle branch block, otherwise... normal."
    assert quotes(answer, REPORT, 8)
    assert not quotes("Left axis deviation and an incomplete right bundle branch block.", REPORT, 8)
    assert quotes("Left axis deviation and an incomplete right bundle branch block.", REPORT, 5)


def test_quotes_is_off_for_zero_words_or_no_report() -> None:
    assert not quotes(REPORT, REPORT, 0)
    assert not quotes(REPORT, None, 8)
    assert not quotes(REPORT, "", 8)
    assert quotes("sinus", "Sinus.", 1)


# ---- topics --------------------------------------------------------------------------------------------


def test_fact_topics_cover_every_fact_but_the_labels() -> None:
    assert set(FACT_TOPICS) == set(FACTS) - {"record.labels"}
    assert set(FACT_TOPICS.values()) <= set(TOPICS)


def test_facts_asking_the_same_thing_share_a_topic() -> None:
    assert fact_topics("record.heart_rate") == fact_topics("record.rate") == {"rate"}
    assert fact_topics("record.pr") == fact_topics("record.av_block") == {"pr"}
    assert fact_topics("record.qt") == fact_topics("record.qtc") == fact_topics("record.long_qtc") == {"qt"}
    assert fact_topics("record.st_inferior") == {"st_inferior"}
    assert fact_topics("record.t_inversion_lateral") == {"t_lateral"}
    assert fact_topics("record.labels", "findings") == {"labels:findings"}


def test_fact_topics_reject_an_unknown_fact_and_labels_without_a_vocabulary() -> None:
    with pytest.raises(ValueError):
        fact_topics("record.nonsense")
    with pytest.raises(ValueError):
        fact_topics("record.labels")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the heart rate in beats per minute?", {"rate"}),
        ("Is the patient tachycardic?", {"rate"}),
        ("How long is the PR interval?", {"pr"}),
        ("Is the QRS complex wide?", {"qrs"}),
        ("Is the QTc prolonged?", {"qt"}),
        ("What is the QRS axis?", {"axis"}),
        ("Is the rhythm regular?", {"rhythm", "regularity"}),
        ("What rhythm is shown?", {"rhythm"}),
        ("Please write the report for this ECG.", {"report"}),
        ("Summarize the findings.", {"report"}),
        ("Is there ST elevation?", {"st", "st_anterior", "st_inferior", "st_lateral", "label:STE"}),
        ("Are the ST segments normal in the inferior leads?", {"st_inferior"}),
        ("Are there inverted T waves in V1-V3?", {"t_anterior", "label:INVT"}),
        ("Does this ECG show atrial fibrillation?", {"label:AFIB"}),
        ("Is there a first-degree AV block?", {"pr", "label:1AVB"}),
        ("What does this tracing look like to you?", set()),
    ],
)
def test_question_topics_come_from_its_words(question: str, expected: set[str]) -> None:
    assert question_topics(question, MATCHER) == expected


def test_a_question_repeating_a_templated_fact_shares_its_topic() -> None:
    assert question_topics("What's the ventricular rate?", None) & fact_topics("record.heart_rate")
    assert question_topics("Any ST depression in the lateral leads?", None) & fact_topics("record.st_lateral")
    assert question_topics("Any ST changes at all?", None) & fact_topics("record.st_anterior")
    assert not question_topics("Any ST depression in the lateral leads?", None) & fact_topics("record.st_inferior")
    assert question_topics("Is the RR interval irregular?", None) & fact_topics("record.regularity")
