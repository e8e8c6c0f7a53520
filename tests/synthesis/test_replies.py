"""Replies are validated against the declared shapes in every case, guided or not."""

from __future__ import annotations

import json

import jsonschema
import pytest

from ecgspec.synthesis import replies


def _pair(**kw: object) -> str:
    base = {"question": "What is the rhythm?", "answer": "Sinus rhythm.", "family": "rhythm", "form": "open",
            "options": None}  # fmt: skip
    return json.dumps({**base, **kw})


def test_a_valid_open_pair_is_kept_with_its_answer_as_target() -> None:
    p = replies.pair(_pair(), "rhythm", "open")
    assert isinstance(p, replies.Pair) and p.target == "Sinus rhythm." and p.options is None


def test_json_in_a_code_fence_is_read() -> None:
    assert isinstance(replies.pair("```json\n" + _pair() + "\n```", "rhythm", "open"), replies.Pair)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"question": "x", "answer": ', "malformed_json"),
        ("Here is a question about the ECG.", "malformed_json"),
        ("I'm sorry, but I can't help with that.", "refused"),
        (json.dumps({"question": "x", "answer": "y"}), "schema"),
        (_pair(extra=1), "schema"),
        (_pair(family="basic"), "form"),
        (_pair(question="<image>\nWhat is the rhythm?"), "form"),
    ],
)
def test_replies_that_cannot_be_used_say_why(text: str, kind: str) -> None:
    got = replies.pair(text, "rhythm", "open")
    assert isinstance(got, replies.Invalid) and got.kind == kind


def test_the_form_rules_hold_for_synthesised_pairs() -> None:
    blank = replies.pair(_pair(form="fill_in", question="The rhythm is _____."), "rhythm", "fill_in")
    assert isinstance(blank, replies.Pair) and blank.question == "The rhythm is ___."
    assert isinstance(replies.pair(_pair(form="fill_in"), "rhythm", "fill_in"), replies.Invalid)
    closed = replies.pair(
        _pair(form="closed", question="Is it AF?", answer="No, it is sinus rhythm."), "rhythm", "closed"
    )
    assert isinstance(closed, replies.Pair) and closed.target == "no"
    assert isinstance(replies.pair(_pair(form="closed", answer="Sinus rhythm."), "rhythm", "closed"), replies.Invalid)


def test_a_multiple_choice_pair_shows_its_options_and_answers_with_a_letter() -> None:
    text = _pair(form="multiple_choice", question="Which rhythm?", answer="B. atrial fibrillation",
                 options=["sinus rhythm", "atrial fibrillation", "atrial flutter"])  # fmt: skip
    p = replies.pair(text, "rhythm", "multiple_choice")
    assert isinstance(p, replies.Pair) and p.target == "B"
    assert "A. sinus rhythm" in p.question and "C. atrial flutter" in p.question
    by_text = replies.pair(
        _pair(form="multiple_choice", answer="Atrial flutter", options=["sinus rhythm", "atrial flutter"]),
        "rhythm",
        "multiple_choice",
    )
    assert isinstance(by_text, replies.Pair) and by_text.target == "B" and by_text.answer.startswith("B. ")
    none = replies.pair(_pair(form="multiple_choice", answer="Z", options=["a", "b"]), "rhythm", "multiple_choice")
    assert isinstance(none, replies.Invalid)


def test_a_dialogue_has_exactly_the_turns_asked_for() -> None:
    two = json.dumps({"turns": [{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}]})
    assert replies.dialogue(two, 2) == [("q1", "a1"), ("q2", "a2")]
    assert isinstance(replies.dialogue(two, 3), replies.Invalid)


@pytest.mark.parametrize(
    ("text", "failure"),
    [
        ('{"score": 7, "reason": "great"}', "out_of_range"),
        ('{"score": -1, "reason": "bad"}', "out_of_range"),
        ("Score: 4", "malformed_json"),
        ("I cannot evaluate this.", "refusal"),
        ('{"score": "high", "reason": ""}', "malformed_json"),
    ],
)
def test_a_verdict_that_is_not_a_score_in_0_to_5_is_a_failure_never_a_number(text: str, failure: str) -> None:
    v = replies.verdict(text)
    assert v.score is None and v.failure == failure


def test_the_schemas_accept_valid_replies_and_pin_what_was_asked() -> None:
    # jsonschema is an independent validator of the schema sent for guided decoding.
    s = replies.schema("single", family="rhythm", form="open")
    jsonschema.validate(json.loads(_pair()), s)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(_pair(family="basic")), s)
    d = replies.schema("dialogue", turns=2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"turns": [{"question": "q", "answer": "a"}]}, d)
    jsonschema.validate({"score": 4, "reason": "ok"}, replies.schema("judge"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"score": 6, "reason": "ok"}, replies.schema("judge"))
    for mode in ("single", "dialogue", "report", "judge"):  # strict mode: closed objects, all required
        sch = replies.schema(mode)
        assert sch["additionalProperties"] is False and set(sch["required"]) == set(sch["properties"])
