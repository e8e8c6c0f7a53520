"""Constrained answers: the schema each closed form is asked with, strict reading of the structured reply
(checked against jsonschema, an independent validator), and requests that carry the schema over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ecgspec.artifacts.plan_schema import Extract, ExtractorModel, Item, Plan, Task, Turn
from runtime.evaluate.backends.openai import OpenAIBackend
from runtime.evaluate.cache import ResponseCache
from runtime.evaluate.constrained import choices, instruction, mode_of, parse, read, schema_for
from runtime.evaluate.extract import Extracted, extract
from runtime.evaluate.run import backend_options, run_plan
from tests.synthesis.stub_server import StubServer

from .helpers import item, plan_of

CONSTRAINED = Extract(mode="constrained")
OPTIONS = ("sinus rhythm", "atrial fibrillation", "atrial flutter")


def mcq_task(mode: str = "constrained", fallback: str = "random") -> Task:
    return Task(
        id=f"mcq_{mode}",
        form="multiple_choice",
        extract=Extract(mode=mode, fallback=fallback),  # type: ignore[arg-type]
        items=(
            item(f"q1_{mode}", "B", question=f"Which rhythm ({mode})?", options=OPTIONS),
            item(f"q2_{mode}", "A", question=f"Which rhythm now ({mode})?", options=OPTIONS[:2]),
        ),
    )


LABELS = Task(
    id="labels",
    form="multi_label",
    labels=("NORM", "MI", "STTC"),
    extract=Extract(mode="constrained", answers=("ABNORMAL",)),
    items=(item("l1", ("MI",), question="Which labels?"),),
)
SELECT = Task(
    id="select",
    form="select_all",
    extract=CONSTRAINED,
    items=(
        item("s1", ("left axis deviation",), question="Which apply?", options=("sinus rhythm", "left axis deviation")),
    ),
)
# A two-turn item: only its last turn, the scored one, is constrained.
TWO_TURNS = Task(
    id="two_turns",
    form="multiple_choice",
    extract=CONSTRAINED,
    items=(
        Item(
            id="t1",
            turns=(Turn(question="Describe the rhythm."), Turn(question="So which option?")),
            target="A",
            options=OPTIONS,
        ),
    ),
)


def test_each_form_is_asked_for_its_items_letters_the_tasks_classes_or_the_items_options() -> None:
    q1, q2 = mcq_task().items
    assert schema_for(mcq_task(), q1) == {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["A", "B", "C"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    assert schema_for(mcq_task(), q2)["properties"]["answer"]["enum"] == ["A", "B"]
    assert schema_for(LABELS, LABELS.items[0])["properties"] == {
        "labels": {
            "type": "array",
            "items": {"type": "string", "enum": ["NORM", "MI", "STTC", "ABNORMAL"]},
            "uniqueItems": True,
        }
    }
    assert schema_for(SELECT, SELECT.items[0])["properties"]["options"]["items"]["enum"] == [
        "sinus rhythm",
        "left axis deviation",
    ]
    for task in (mcq_task(), LABELS, SELECT):
        for it in task.items:
            for allow_none in (False, True):
                jsonschema.Draft202012Validator.check_schema(schema_for(task, it, allow_none=allow_none))
    assert "A, B, C" in instruction(mcq_task(), q1) and '"answer"' in instruction(mcq_task(), q1)
    assert "NORM, MI, STTC, ABNORMAL" in instruction(LABELS, LABELS.items[0])
    assert '"left axis deviation"' in instruction(SELECT, SELECT.items[0])


REPLIES: dict[str, list[str]] = {
    "mcq": [
        '{"answer": "B"}',
        ' {"answer":"C"}\n',
        '{"answer": "D"}',  # a letter the item does not have
        '{"answer": "b"}',
        '{"answer": null}',
        '{"answer": ["B"]}',
        '{"answer": "B", "why": "irregular"}',
        "{}",
        '["B"]',
    ],
    "labels": [
        '{"labels": ["STTC", "MI"]}',
        '{"labels": []}',
        '{"labels": ["MI", "MI"]}',
        '{"labels": ["MI", "HYP"]}',
        '{"labels": "MI"}',
        '{"labels": ["ABNORMAL"]}',
        '{"labels": [1]}',
    ],
    "select": [
        '{"options": ["left axis deviation"]}',
        '{"options": ["Sinus rhythm"]}',
        '{"options": ["sinus rhythm", "left axis deviation"]}',
        '{"options": ["sinus rhythm", "sinus rhythm"]}',
        '{"choices": ["sinus rhythm"]}',
    ],
}
TASKS = {"mcq": mcq_task(), "labels": LABELS, "select": SELECT}


@pytest.mark.parametrize("form", sorted(REPLIES))
def test_read_accepts_exactly_the_replies_jsonschema_accepts(form: str) -> None:
    task = TASKS[form]
    it = task.items[0]
    validator = jsonschema.Draft202012Validator(schema_for(task, it))
    for reply in REPLIES[form]:
        valid = validator.is_valid(json.loads(reply))
        got = read(task, it, reply)
        assert got.fallback is (not valid), reply
        if valid:
            [said] = json.loads(reply).values()
            # A list is read in the order of the allowed values (the task's labels, the item's options).
            assert got.value == (said if isinstance(said, str) else tuple(v for v in choices(task, it) if v in said))
        else:
            assert got.value == (None if form == "mcq" else ()), reply


@pytest.mark.parametrize(
    "reply",
    [
        "B",
        '```json\n{"answer": "B"}\n```',
        'The answer is {"answer": "B"}',
        '{"answer": "B"} because of the irregular rhythm',
        '{"answer": "A", "answer": "B"}',
        '{"answer": "B"',
        "",
    ],
)
def test_a_reply_that_is_not_exactly_the_json_object_is_a_failure_never_repaired(reply: str) -> None:
    task = mcq_task(fallback="random")
    it = task.items[0]
    reading = parse(task, it, reply)
    assert reading.extracted == Extracted(None, fallback=True)  # no random letter, no fence stripped
    assert reading.problem
    # The free-text extractor would have read a letter from most of these: constrained mode does not.
    assert extract(task, it.id, it.options, "B", seed=0).value == "B"


def test_an_empty_list_is_an_answer_and_a_null_letter_only_where_allowed() -> None:
    assert read(LABELS, LABELS.items[0], '{"labels": []}') == Extracted(())
    q1 = mcq_task().items[0]
    assert parse(mcq_task(), q1, '{"answer": null}').problem
    assert parse(mcq_task(), q1, '{"answer": null}', allow_none=True).extracted == Extracted(None, fallback=True)
    assert parse(mcq_task(), q1, '{"answer": null}', allow_none=True).problem is None


def _structured_reply(body: dict[str, Any]) -> str:
    """A reply that keeps to the request's schema where there is one (the first allowed value), else free text;
    a question that names 'broken' gets a reply that does not."""
    text = body["messages"][-1]["content"]
    text = text if isinstance(text, str) else " ".join(p.get("text", "") for p in text if p.get("type") == "text")
    fmt = body.get("response_format")
    if fmt is None:
        return "B" if "?" in text else "a regular rhythm"
    if "broken" in text:
        return '```json\n{"answer": "B"}\n```'
    [(key, prop)] = fmt["json_schema"]["schema"]["properties"].items()
    return json.dumps({key: prop["enum"][1] if "enum" in prop else [prop["items"]["enum"][-1]]})


def _plan() -> Plan:
    broken = Task(
        id="broken",
        form="multiple_choice",
        extract=CONSTRAINED,
        items=(item("b1", "A", question="A broken reply, please?", options=OPTIONS),),
    )
    return plan_of(mcq_task(), mcq_task("free"), LABELS, SELECT, TWO_TURNS, broken)


def test_constrained_turns_carry_the_schema_as_response_format_and_free_turns_do_not(tmp_path: Path) -> None:
    plan = _plan()
    with StubServer(_structured_reply) as srv:
        backend = OpenAIBackend(url=srv.url, model="m", concurrency=4, **backend_options(plan, "openai"))
        try:
            outcome = run_plan(plan, tmp_path, backend, ResponseCache(tmp_path / "cache.sqlite"))
        finally:
            backend.close()
    assert not outcome.failures and outcome.unguided == []
    by_question = {b["messages"][-1]["content"].split("\n\n")[0]: b for b in srv.bodies}
    assert len(by_question) == len(srv.bodies) == 9
    for task in plan.tasks:
        for it in task.items:
            for turn, t in enumerate(it.turns):
                body = by_question[t.question]
                if task.extract.mode == "constrained" and turn == len(it.turns) - 1:
                    assert body["response_format"] == {
                        "type": "json_schema",
                        "json_schema": {"name": "reply", "schema": schema_for(task, it), "strict": True},
                    }
                    assert body["messages"][-1]["content"] == f"{t.question}\n\n{instruction(task, it)}"
                else:
                    assert "response_format" not in body and body["messages"][-1]["content"] == t.question
    # The second turn of the two-turn item carries the model's free first answer before it.
    two = by_question["So which option?"]["messages"]
    assert [m["role"] for m in two] == ["user", "assistant", "user"] and two[1]["content"] == "a regular rhythm"

    readings = {
        it.id: read(task, it, outcome.responses[(it.id, len(it.turns) - 1)])
        for task in plan.tasks
        if task.extract.mode == "constrained"
        for it in task.items
    }
    assert readings == {
        "q1_constrained": Extracted("B"),
        "q2_constrained": Extracted("B"),
        "l1": Extracted(("ABNORMAL",)),
        "s1": Extracted(("left axis deviation",)),
        "t1": Extracted("B"),
        "b1": Extracted(None, fallback=True),  # counted, scored wrong
    }
    assert sum(r.fallback for r in readings.values()) == 1


def test_a_rerun_answers_constrained_turns_from_the_cache(tmp_path: Path) -> None:
    plan = _plan()
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with StubServer(_structured_reply) as srv:
        backend = OpenAIBackend(url=srv.url, model="m", **backend_options(plan, "openai"))
        try:
            first = run_plan(plan, tmp_path, backend, cache)
            sent = len(srv.bodies)
            again = run_plan(plan, tmp_path, backend, cache)
        finally:
            backend.close()
    assert len(srv.bodies) == sent == first.sent == 9
    assert again.sent == 0 and again.cached == 9 and again.responses == first.responses


def test_a_backend_that_does_not_enforce_the_schema_still_asks_in_words_and_is_noted(tmp_path: Path) -> None:
    plan = _plan()
    with StubServer(lambda body: '{"answer": "A"}') as srv:
        backend = OpenAIBackend(url=srv.url, model="m")  # guided = "none": the schema is not sent
        try:
            outcome = run_plan(
                plan, tmp_path, backend, ResponseCache(tmp_path / "cache.sqlite"), tasks={"mcq_constrained"}
            )
        finally:
            backend.close()
    assert outcome.unguided == ["mcq_constrained"]
    assert all("response_format" not in b for b in srv.bodies)
    assert all(
        b["messages"][-1]["content"].endswith("(A, B, C).") or b["messages"][-1]["content"].endswith("(A, B).")
        for b in srv.bodies
    )


def test_only_an_openai_backend_for_a_plan_with_constrained_tasks_needs_options() -> None:
    assert backend_options(_plan(), "openai") == {"guided": "json_schema"}
    assert backend_options(_plan(), "vllm") == {} and backend_options(_plan(), "transformers") == {}
    assert backend_options(plan_of(mcq_task("free")), "openai") == {}  # free-text plans keep their cache keys
    url = "http://127.0.0.1:9/v1"
    assert OpenAIBackend(url=url, model="m", guided="json_schema").guides_schema
    assert not OpenAIBackend(url=url, model="m", guided="json_object").guides_schema
    assert not OpenAIBackend(url=url, model="m").guides_schema


def test_mode_of_names_how_each_tasks_numbers_were_read() -> None:
    extractor = ExtractorModel(name="gpt_reader", backend="openai", model="gpt-4o", url="http://127.0.0.1:9/v1")
    free = mcq_task("free")
    assert mode_of(free) == "free text"
    assert mode_of(mcq_task()) == "constrained (json schema)"
    assert mode_of(free.model_copy(update={"extract": Extract(llm=extractor)})) == "LLM extractor: gpt_reader"
    report = Task(id="r", form="report", metrics=("judge",), rubric="x", criteria=("rhythm",), extract=CONSTRAINED)
    assert mode_of(report) == "free text"  # a judged task has no fixed answer shape
