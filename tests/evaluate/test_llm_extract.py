"""The LLM extractor over a real OpenAI backend and a local HTTP server: readings, failures counted and never
filled in, the response cache, bounded concurrency, the key from the environment."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ecgspec.artifacts.plan_schema import Extract, ExtractorModel, Plan, Task
from runtime.evaluate.cache import ResponseCache
from runtime.evaluate.constrained import schema_for
from runtime.evaluate.extract import Extracted
from runtime.evaluate.llm_extract import (
    LlmExtractError,
    extract_all,
    extract_declared,
    extractor_backend,
    render_prompt,
)
from tests.synthesis.stub_server import StubServer

from .helpers import completion, item, plan_of

OPTIONS = ("sinus rhythm", "atrial fibrillation", "atrial flutter", "sinus bradycardia")


def reader(url: str = "http://127.0.0.1:9/v1", **kw: Any) -> ExtractorModel:
    return ExtractorModel(name="reader", backend="openai", model="reader-model", url=url, **kw)


def make_plan(model: ExtractorModel | None) -> Plan:
    declared = Extract(llm=model)
    mcq = Task(
        id="mcq",
        form="multiple_choice",
        extract=declared,
        items=tuple(item(f"m{k}", "A", question=f"Which rhythm is ECG {k}?", options=OPTIONS) for k in range(8)),
    )
    labels = Task(
        id="labels",
        form="multi_label",
        labels=("NORM", "MI", "STTC"),
        synonyms={"MI": ("myocardial infarction",)},
        extract=declared,
        items=(item("l0", ("MI",), question="Which labels?"), item("l1", ("NORM",), question="Which labels now?")),
    )
    select = Task(
        id="select",
        form="select_all",
        extract=declared,
        items=(item("s0", ("sinus rhythm",), question="Which apply?", options=OPTIONS[:2]),),
    )
    plain = Task(  # no extractor declared: never sent to it
        id="plain",
        form="multiple_choice",
        items=(item("p0", "A", question="Plain?", options=OPTIONS),),
    )
    return plan_of(mcq, labels, select, plain)


RESPONSES = {
    ("m0", 0): "The rhythm is irregularly irregular, so B.",
    ("m1", 0): "slow",
    ("m2", 0): "refuse",
    ("m3", 0): "garbage",
    ("m4", 0): "out of range",
    ("m5", 0): "bad request",
    ("m6", 0): "I cannot tell which.",
    # m7 has no response: missing, not asked
    ("l0", 0): "An old myocardial infarction with STTC changes.",
    ("l1", 0): "{{ 7 * 7 }} nothing to see",
    ("s0", 0): "Atrial fibrillation.",
    ("p0", 0): "A",
}


def read_response(prompt: str) -> str:
    """The response the extraction prompt quotes."""
    return re.search(r"Answer to read:\n<<<\n(.*?)\n>>>", prompt, re.S).group(1)  # type: ignore[union-attr]


def extractor_reply(body: dict[str, Any]) -> Any:
    said = read_response(body["messages"][0]["content"])
    if said == "slow":
        time.sleep(1.5)
        return '{"answer": "A"}'
    if said == "refuse":
        return {"refusal": "I will not read medical text."}
    if said == "garbage":
        return "B"
    if said == "out of range":
        return '{"answer": "E"}'
    if said == "bad request":
        return 400, '{"error": {"message": "schema not supported"}}'
    if said == "I cannot tell which.":
        return '{"answer": null}'
    if "myocardial infarction" in said:
        return '{"labels": ["MI", "STTC"]}'
    if "7 * 7" in said:
        return '{"labels": []}'
    if said == "Atrial fibrillation.":
        return '{"options": ["atrial fibrillation"]}'
    return '{"answer": "B"}'


def test_readings_failures_by_kind_and_nothing_filled_in(tmp_path: Path) -> None:
    with StubServer(extractor_reply) as srv:
        plan = make_plan(reader(srv.url, timeout=0.5, retries=0, concurrency=4))
        backend = extractor_backend(plan.tasks[0].extract.llm)  # type: ignore[arg-type]
        try:
            out = extract_all(plan, RESPONSES, backend, ResponseCache(tmp_path / "cache.sqlite"))
        finally:
            backend.close()
    assert out.extracted == {
        ("m0", 0): Extracted("B"),
        ("m6", 0): Extracted(None, fallback=True),  # read: the response chooses no option
        ("l0", 0): Extracted(("MI", "STTC")),
        ("l1", 0): Extracted(()),
        ("s0", 0): Extracted(("atrial fibrillation",)),
    }
    assert out.counts() == {"timeout": 1, "refusal": 1, "invalid_reply": 2, "http_error": 1}
    assert {k for k, f in out.failures.items() if f.kind == "invalid_reply"} == {("m3", 0), ("m4", 0)}
    assert not set(out.failures) & set(out.extracted)  # a failure has no reading: no default, no random letter
    assert ("m7", 0) not in out.failures and ("p0", 0) not in out.extracted  # missing; not declared

    plan_items = {it.id: (t, it) for t in plan.tasks for it in t.items}
    asked = {read_response(b["messages"][0]["content"]): b for b in srv.bodies}
    assert "A" not in asked  # the task without an extractor
    assert len(srv.bodies) == 10
    for (item_id, _), text in RESPONSES.items():
        if item_id == "p0":
            continue
        task, it = plan_items[item_id]
        body = asked[text]
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": schema_for(task, it, allow_none=True), "strict": True},
        }
        assert body["model"] == "reader-model" and body["temperature"] == 0.0 and body["max_tokens"] == 256
        assert body["messages"][0]["content"] == render_prompt(task, it, text)


def test_the_response_is_quoted_as_data_never_run_as_template_code() -> None:
    plan = make_plan(None)
    labels = plan.task("labels")
    prompt = render_prompt(labels, labels.items[1], "{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %}")
    assert "{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %}" in prompt and "49" not in prompt
    assert "MI (myocardial infarction)" in prompt and "Which labels now?" in prompt
    mcq = plan.task("mcq")
    assert "B. atrial fibrillation" in render_prompt(mcq, mcq.items[0], "B")


def test_a_second_run_sends_nothing_for_readings_and_asks_failures_again(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with StubServer(extractor_reply) as srv:
        plan = make_plan(reader(srv.url, timeout=0.5, retries=0))
        backend = extractor_backend(plan.tasks[0].extract.llm)  # type: ignore[arg-type]
        try:
            first = extract_all(plan, RESPONSES, backend, cache)
            n = len(srv.bodies)
            second = extract_all(plan, RESPONSES, backend, cache)
            asked_again = [read_response(b["messages"][0]["content"]) for b in srv.bodies[n:]]
            good = {k: v for k, v in RESPONSES.items() if k in first.extracted}
            third = extract_all(plan, good, backend, cache)
        finally:
            backend.close()
    assert first.sent == 7 and first.cached == 0  # ten asked; a timeout, a refusal and an HTTP 400 are no reply
    assert sorted(asked_again) == sorted(RESPONSES[k] for k in first.failures)
    assert second.cached == len(first.extracted) and second.extracted == first.extracted
    assert second.counts() == first.counts()
    assert third.sent == 0 and third.cached == 5 and len(srv.bodies) == n + len(first.failures)


def test_requests_in_flight_are_bounded_by_the_declared_concurrency() -> None:
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def reply(body: dict[str, Any]) -> str:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return '{"answer": "C"}'

    with StubServer(reply) as srv:
        plan = make_plan(reader(srv.url, concurrency=3))
        backend = extractor_backend(plan.tasks[0].extract.llm)  # type: ignore[arg-type]
        try:
            responses = {(f"m{k}", 0): f"answer {k}" for k in range(8)}
            out = extract_all(plan, responses, backend, tasks={"mcq"})
        finally:
            backend.close()
    assert len(out.extracted) == 8 and all(v == Extracted("C") for v in out.extracted.values())
    assert 2 <= state["most"] <= 3


class _KeyServer:
    """Records the Authorization header of each request and answers one fixed reading."""

    def __init__(self) -> None:
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.auth.append(self.headers.get("Authorization"))
                data = json.dumps(completion('{"answer": "A"}')).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> _KeyServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_the_api_key_comes_from_the_named_environment_variable() -> None:
    with _KeyServer() as srv:
        model = reader(srv.url, api_key_env="ECG_READER_KEY")
        backend = extractor_backend(model, environ={"ECG_READER_KEY": "sk-local-test"})
        try:
            out = extract_all(make_plan(model), {("m0", 0): "A"}, backend)
        finally:
            backend.close()
    assert out.extracted == {("m0", 0): Extracted("A")}
    assert srv.auth == ["Bearer sk-local-test"]
    with pytest.raises(LlmExtractError, match="ECG_READER_KEY"):
        extractor_backend(model, environ={})
    with pytest.raises(LlmExtractError, match="backend = none"):
        extractor_backend(ExtractorModel(name="reader", model="m"))


def test_extract_declared_asks_each_tasks_own_extractor_and_only_declared_tasks(tmp_path: Path) -> None:
    with StubServer(extractor_reply) as srv:
        plan = make_plan(reader(srv.url, timeout=0.5, retries=0))
        only = {k: v for k, v in RESPONSES.items() if k[0] in ("m0", "s0", "p0")}
        out = extract_declared(plan, only, ResponseCache(tmp_path / "cache.sqlite"), environ={})
    assert out.extracted == {("m0", 0): Extracted("B"), ("s0", 0): Extracted(("atrial fibrillation",))}
    assert len(srv.bodies) == 2 and not out.failures
