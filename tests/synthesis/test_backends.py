"""The inference backends as LLM synthesis uses them: JSON schemas, seeds and top_p reach the server or the
engine, replies come back as Completions with token counts, and the evaluator's behaviour (refusals, cache
keys) is what it was. The OpenAI backend talks to a scripted server; vllm (never installed here) is a fake
module that records what it is given; transformers runs a tiny random causal LM built in a few seconds."""

from __future__ import annotations

import json
import os
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("httpx")

from runtime.evaluate.backends.base import Backend, BackendError, Completion, Request
from runtime.evaluate.backends.openai import OpenAIBackend
from tests.synthesis.stub_server import StubServer, prompt_key

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LLAMA_TOKENIZER = Path(__file__).resolve().parents[1] / "runtime" / "fixtures" / "llama_tokenizer"
# A Llama-2-chat-shaped template that, like Llama-3's, trims `content` as a string: a prompt built from
# multimodal content parts (a list) would fail to render, so the tests see that text-only models get strings.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'system' %}<<SYS>> {{ m['content'] | trim }} <</SYS>> "
    "{% elif m['role'] == 'user' %}[INST] {{ m['content'] | trim }} [/INST]"
    "{% else %} {{ m['content'] | trim }} {{ eos_token }}{% endif %}{% endfor %}"
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"rhythm": {"type": "string"}, "rate": {"type": "integer"}},
    "required": ["rhythm", "rate"],
    "additionalProperties": False,
}
QUESTION = ({"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Describe this ECG."})


def ask(key: str = "k", *, schema: dict[str, Any] | None = None, seed: int | None = None) -> Request:
    return Request(key, QUESTION, schema=schema, seed=seed)


def one(backend: Backend, request: Request) -> Completion | BackendError:
    [(req, reply)] = list(backend.generate([request]))
    assert req is request
    return reply


# ---- OpenAI-compatible endpoints ----------------------------------------------------------------------------


def test_openai_sends_the_schema_as_json_schema_response_format_with_seed_and_top_p():
    with StubServer(lambda body: '{"rhythm": "sinus rhythm", "rate": 72}') as srv:
        backend = OpenAIBackend(url=srv.url, model="m", guided="json_schema", top_p=0.9, temperature=0.7)
        try:
            one(backend, ask(schema=SCHEMA, seed=3))
            one(backend, ask())  # no schema, no seed: nothing of either is sent
        finally:
            backend.close()
    guided, plain = srv.bodies
    assert guided["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True},
    }
    assert guided["seed"] == 3 and guided["top_p"] == 0.9 and guided["temperature"] == 0.7
    assert "response_format" not in plain and "seed" not in plain and plain["top_p"] == 0.9


def test_openai_json_object_guidance_for_schema_requests_and_json_mode_for_every_request():
    with StubServer(lambda body: "{}") as srv:
        guided = OpenAIBackend(url=srv.url, model="m", guided="json_object")
        judge = OpenAIBackend(url=srv.url, model="m", json_mode=True)
        try:
            one(guided, ask(schema=SCHEMA))
            one(guided, ask())
            one(judge, ask())
        finally:
            guided.close()
            judge.close()
    with_schema, without, judged = srv.bodies
    assert with_schema["response_format"] == {"type": "json_object"}
    assert "response_format" not in without
    assert judged["response_format"] == {"type": "json_object"}


def test_openai_default_requests_carry_no_seed_top_p_or_response_format():
    with StubServer(lambda body: "fine") as srv:
        backend = OpenAIBackend(url=srv.url, model="m")
        try:
            assert one(backend, ask(schema=SCHEMA)) == "fine"  # guided = "none": the schema stays with the caller
        finally:
            backend.close()
    [body] = srv.bodies
    assert set(body) == {"model", "messages", "max_tokens", "temperature"}


def test_openai_rejects_an_unknown_guided_mode():
    with pytest.raises(ValueError, match="guided"):
        OpenAIBackend(url="http://127.0.0.1:9/v1", model="m", guided="regex")


def test_usage_and_finish_reason_are_parsed_into_the_completion():
    with StubServer(lambda body: "x" * 40) as srv:
        backend = OpenAIBackend(url=srv.url, model="m")
        try:
            reply = one(backend, ask())
        finally:
            backend.close()
    assert isinstance(reply, Completion) and reply == "x" * 40
    characters = sum(len(m["content"]) for m in QUESTION)
    assert (reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (characters // 4, 10, "stop")


def test_a_reply_without_usage_has_no_token_counts():
    bare = {"choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "cut"}}]}
    with StubServer(lambda body: (200, json.dumps(bare))) as srv:
        backend = OpenAIBackend(url=srv.url, model="m")
        try:
            reply = one(backend, ask())
        finally:
            backend.close()
    assert isinstance(reply, Completion) and reply == "cut"
    assert (reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (None, None, "length")


def test_refusals_still_raise_backend_error_of_kind_refusal():
    with StubServer(lambda body: {"refusal": "I cannot help with that."}) as srv:
        backend = OpenAIBackend(url=srv.url, model="m", retries=2, backoff=0.01)
        try:
            reply = one(backend, ask())
            with pytest.raises(BackendError) as caught:
                backend.complete(ask())
        finally:
            backend.close()
    assert isinstance(reply, BackendError) and reply.kind == "refusal" and "cannot help" in str(reply)
    assert caught.value.kind == "refusal"
    assert len(srv.bodies) == 2  # a refusal is an answer: not retried


def test_default_settings_keep_the_eval_and_judge_cache_keys():
    url = "http://127.0.0.1:9/v1"
    base = {"backend": "openai", "max_tokens": 512, "temperature": 0.0}
    assert OpenAIBackend(url=url, model="m").settings == {**base, "json_mode": False}
    assert OpenAIBackend(url=url, model="m", max_tokens=1024, json_mode=True).settings == {
        **base,
        "max_tokens": 1024,
        "json_mode": True,
    }
    assert OpenAIBackend(url=url, model="m", top_p=1.0, guided="none").settings == {**base, "json_mode": False}
    changed = OpenAIBackend(url=url, model="m", top_p=0.9, guided="json_schema").settings
    assert changed == {**base, "json_mode": False, "top_p": 0.9, "guided": "json_schema"}


def test_completion_behaves_as_a_plain_string(tmp_path):
    from runtime.evaluate.cache import ResponseCache

    reply = Completion('{"a": 1}', prompt_tokens=12, completion_tokens=4, finish_reason="stop")
    assert reply == '{"a": 1}' and isinstance(reply, str) and hash(reply) == hash('{"a": 1}')
    assert json.dumps(reply) == json.dumps('{"a": 1}') and json.loads(reply) == {"a": 1}
    assert reply[1:4] == '"a"' and type(reply[1:4]) is str and reply.strip() == reply
    lookup: dict[str, int] = {reply: 1}
    assert lookup['{"a": 1}'] == 1
    again = pickle.loads(pickle.dumps(reply))
    assert again == reply and (again.prompt_tokens, again.completion_tokens, again.finish_reason) == (12, 4, "stop")
    assert Completion("t").prompt_tokens is None
    cache = ResponseCache(tmp_path / "cache.sqlite")  # the evaluator stores replies as they come
    try:
        cache.put("k", plan_hash="p", item="i", turn=0, model="m", settings={}, response=reply)
        assert cache.get("k") == '{"a": 1}'
    finally:
        cache.close()


# ---- the stub server ----------------------------------------------------------------------------------------


def test_stub_server_counts_prompts_by_messages_and_seed_under_concurrency():
    requests = [ask(str(k), seed=k % 5) for k in range(400)]
    with StubServer(lambda body: f"seed {body.get('seed')}") as srv:
        backend = OpenAIBackend(url=srv.url, model="m", concurrency=16)
        try:
            replies = {req.key: reply for req, reply in backend.generate(requests)}
        finally:
            backend.close()
    assert all(replies[str(k)] == f"seed {k % 5}" for k in range(400))
    assert len(srv.bodies) == 400 and sum(srv.calls.values()) == 400
    assert len(srv.calls) == 5 and set(srv.calls.values()) == {80}
    assert all(srv.calls[prompt_key(body)] == 80 for body in srv.bodies)


def test_stub_server_errors_are_retried_or_not_as_the_backend_decides():
    def reply(body: dict[str, Any]) -> Any:
        return (503, "overloaded") if body["messages"][-1]["content"] == "busy" else (400, '{"error": "bad"}')

    with StubServer(reply) as srv:
        backend = OpenAIBackend(url=srv.url, model="m", retries=2, backoff=0.001)
        try:
            busy = one(backend, Request("b", ({"role": "user", "content": "busy"},)))
            bad = one(backend, Request("x", ({"role": "user", "content": "wrong"},)))
        finally:
            backend.close()
    assert isinstance(busy, BackendError) and "gave up after 3 attempts: HTTP 503" in str(busy)
    assert isinstance(bad, BackendError) and "HTTP 400" in str(bad)
    assert len(srv.bodies) == 4  # three tries of the 503, one of the 400


def test_stub_server_answers_only_chat_completions_and_keeps_the_connection():
    import httpx

    with StubServer(lambda body: "ok") as srv, httpx.Client() as client:
        assert client.get(f"{srv.url}/models").status_code == 404
        assert client.post(f"{srv.url}/completions", json={"prompt": "x"}).status_code == 404
        r = client.post(
            f"{srv.url}/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "q"}]}
        )
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "ok"
        assert r.json()["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        assert len(srv.bodies) == 1


# ---- tiny local checkpoints ---------------------------------------------------------------------------------


def chat_tokenizer() -> Any:
    """The LLaMA tokenizer of tests/runtime/fixtures with a chat template, as an instruct model ships it."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(LLAMA_TOKENIZER, local_files_only=True)
    tok.chat_template = CHAT_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain chat LLM's folder without weights (tokenizer with chat template, Llama config): what the
    vllm backend reads itself before handing the folder to the engine."""
    pytest.importorskip("transformers")
    from runtime.model.tiny import tiny_text_config

    path = tmp_path_factory.mktemp("text") / "model"
    tok = chat_tokenizer()
    tiny_text_config(tok, len(tok), kv_heads=2).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def causal_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LlamaForCausalLM (2 layers, 64 wide) saved with the chat tokenizer: no image processor."""
    torch = pytest.importorskip("torch")
    from transformers import GenerationConfig, LlamaForCausalLM

    from runtime.model.tiny import tiny_text_config

    path = tmp_path_factory.mktemp("causal") / "model"
    tok = chat_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_text_config(tok, len(tok), kv_heads=2))
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from runtime.model.tiny import save_tiny_llava

    return save_tiny_llava(tmp_path_factory.mktemp("llava") / "model")


def template_ids(path: Path, messages: tuple[dict[str, str], ...]) -> list[int]:
    from transformers import AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
    ids = tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True, return_dict=False)
    assert tok.decode(ids).endswith("[INST] Describe this ECG. [/INST]")  # string contents, rendered
    return list(ids)


# ---- vllm, faked ---------------------------------------------------------------------------------------------


class Recorded:
    """A vllm parameter class that records its keywords and compares by them."""

    def __init__(self, **kw: Any) -> None:
        self.kw = kw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recorded) and type(self) is type(other) and self.kw == other.kw

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kw})"


class FakeLLM:
    """vllm.LLM: remembers its engine options and every generate() call; answers with fixed outputs."""

    made: list[FakeLLM] = []

    def __init__(self, **engine: Any) -> None:
        self.engine = engine
        self.calls: list[tuple[list[dict[str, Any]], Any]] = []
        FakeLLM.made.append(self)

    def generate(self, prompts: list[dict[str, Any]], params: Any, use_tqdm: bool = True) -> list[Any]:
        self.calls.append((prompts, params))
        out = types.SimpleNamespace(
            text=' {"rhythm": "sinus rhythm", "rate": 72}\n', token_ids=[5, 6, 7], finish_reason="stop"
        )
        return [types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[out]) for p in prompts]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Install a fake `vllm` (>= 0.10.2: StructuredOutputsParams); `fake_vllm(old=True)` for an older one."""

    def install(*, old: bool = False) -> types.SimpleNamespace:
        vllm = types.ModuleType("vllm")
        sampling = types.ModuleType("vllm.sampling_params")
        params = types.SimpleNamespace(
            SamplingParams=type("SamplingParams", (Recorded,), {}),
            StructuredOutputsParams=type("StructuredOutputsParams", (Recorded,), {}),
            GuidedDecodingParams=type("GuidedDecodingParams", (Recorded,), {}),
        )
        vllm.LLM = FakeLLM  # type: ignore[attr-defined]
        vllm.SamplingParams = params.SamplingParams  # type: ignore[attr-defined]
        vllm.sampling_params = sampling  # type: ignore[attr-defined]
        sampling.SamplingParams = params.SamplingParams  # type: ignore[attr-defined]
        sampling.GuidedDecodingParams = params.GuidedDecodingParams  # type: ignore[attr-defined]
        if not old:
            sampling.StructuredOutputsParams = params.StructuredOutputsParams  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "vllm", vllm)
        monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
        FakeLLM.made.clear()
        return params

    return install


def test_vllm_text_model_gets_chat_template_prompts_structured_outputs_and_seeds(fake_vllm, text_checkpoint):
    from runtime.evaluate.backends.vllm import VLLMBackend

    fake = fake_vllm()
    backend = VLLMBackend(model=str(text_checkpoint), temperature=0.7, top_p=0.9, max_tokens=64, tensor_parallel_size=2)
    [llm] = FakeLLM.made
    assert llm.engine == {"model": str(text_checkpoint), "tensor_parallel_size": 2}
    replies = {req.key: reply for req, reply in backend.generate([ask("a", schema=SCHEMA, seed=11), ask("b")])}
    [(prompts, params)] = llm.calls
    ids = template_ids(text_checkpoint, QUESTION)
    assert prompts == [{"prompt_token_ids": ids}, {"prompt_token_ids": ids}]
    common = {"temperature": 0.7, "top_p": 0.9, "max_tokens": 64}
    assert params == [
        fake.SamplingParams(**common, seed=11, structured_outputs=fake.StructuredOutputsParams(json=SCHEMA)),
        fake.SamplingParams(**common, seed=None),
    ]
    reply = replies["a"]
    assert isinstance(reply, Completion) and json.loads(reply) == {"rhythm": "sinus rhythm", "rate": 72}
    assert (reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == (len(ids), 3, "stop")
    assert backend.settings == {
        "backend": "vllm",
        "max_tokens": 64,
        "temperature": 0.7,
        "top_p": 0.9,
        "conversation": "model",
    }


def test_vllm_before_0_10_2_gets_guided_decoding(fake_vllm, text_checkpoint):
    from runtime.evaluate.backends.vllm import VLLMBackend

    fake = fake_vllm(old=True)
    backend = VLLMBackend(model=str(text_checkpoint))
    list(backend.generate([ask(schema=SCHEMA, seed=1)]))
    [(_, [params])] = FakeLLM.made[0].calls
    assert params.kw["guided_decoding"] == fake.GuidedDecodingParams(json=SCHEMA)
    assert "structured_outputs" not in params.kw and params.kw["seed"] == 1


@pytest.mark.parametrize("guided", ["json_object", "none"])
def test_vllm_guided_json_object_or_none(fake_vllm, text_checkpoint, guided):
    from runtime.evaluate.backends.vllm import VLLMBackend

    fake = fake_vllm()
    backend = VLLMBackend(model=str(text_checkpoint), guided=guided)
    list(backend.generate([ask(schema=SCHEMA)]))
    [(_, [params])] = FakeLLM.made[0].calls
    if guided == "json_object":
        assert params.kw["structured_outputs"] == fake.StructuredOutputsParams(json_object=True)
    else:
        assert "structured_outputs" not in params.kw
    assert backend.settings["guided"] == guided  # not the default: part of the cache key


def test_vllm_text_model_answers_an_image_request_with_an_error(fake_vllm, text_checkpoint, tmp_path):
    from runtime.evaluate.backends.vllm import VLLMBackend

    fake_vllm()
    backend = VLLMBackend(model=str(text_checkpoint))
    reply = one(backend, Request("k", QUESTION, image=tmp_path / "ecg.png"))
    assert isinstance(reply, BackendError) and "no image processor" in str(reply)
    assert FakeLLM.made[0].calls == []


def test_vllm_multimodal_checkpoint_still_prompts_through_the_chat_encoder(fake_vllm, tiny_llava):
    from runtime.evaluate.backends.transformers import TransformersBackend
    from runtime.evaluate.backends.vllm import VLLMBackend

    fake_vllm()
    backend = VLLMBackend(model=str(tiny_llava))
    request = Request("k", ({"role": "user", "content": "What is the heart rate?"},))
    list(backend.generate([request]))
    [([prompt], _)] = FakeLLM.made[0].calls
    expected = TransformersBackend(model=str(tiny_llava), load_weights=False).prompt(request)[0]
    assert prompt == {"prompt_token_ids": expected}


# ---- transformers -------------------------------------------------------------------------------------------


def test_transformers_causal_lm_answers_a_text_request_with_token_counts(causal_lm):
    from runtime.evaluate.backends.transformers import TransformersBackend

    backend = TransformersBackend(model=str(causal_lm), max_tokens=6)
    assert backend.text_only and backend.settings == {
        "backend": "transformers",
        "max_tokens": 6,
        "temperature": 0.0,
        "conversation": "model",
    }
    ids, extras = backend.prompt(ask())
    assert ids == template_ids(causal_lm, QUESTION) and extras == {}
    reply = one(backend, ask())
    assert isinstance(reply, Completion) and reply
    assert reply.prompt_tokens == len(ids) and 1 <= (reply.completion_tokens or 0) <= 6
    assert reply.finish_reason in ("stop", "length")
    assert one(backend, ask(seed=5)) == reply  # temperature 0 is greedy: the seed changes nothing


def test_transformers_seeded_sampling_is_reproducible(causal_lm):
    from runtime.evaluate.backends.transformers import TransformersBackend

    backend = TransformersBackend(model=str(causal_lm), max_tokens=8, temperature=1.0, top_p=0.95)
    replies = {
        req.key: reply for req, reply in backend.generate([ask("a", seed=7), ask("b", seed=8), ask("c", seed=7)])
    }
    assert replies["a"] == replies["c"]  # same seed, same reply
    assert replies["a"] != replies["b"]  # a retry with another seed samples another reply
    assert backend.settings["top_p"] == 0.95


def test_transformers_text_model_answers_an_image_request_with_an_error(causal_lm, tmp_path):
    from runtime.evaluate.backends.transformers import TransformersBackend

    backend = TransformersBackend(model=str(causal_lm), load_weights=False)
    reply = one(backend, Request("k", QUESTION, image=tmp_path / "ecg.png"))
    assert isinstance(reply, BackendError) and "no image processor" in str(reply)


def test_transformers_tiny_llava_answers_a_text_only_request(tiny_llava):
    from runtime.evaluate.backends.transformers import TransformersBackend

    backend = TransformersBackend(model=str(tiny_llava), max_tokens=4)
    request = Request("k", ({"role": "user", "content": "What is the heart rate?"},))
    reply = one(backend, request)
    assert not backend.text_only and isinstance(reply, Completion)
    assert reply.prompt_tokens == len(backend.prompt(request)[0]) and 1 <= (reply.completion_tokens or 0) <= 4
