"""In-process vllm (GPU only, optional extra). vllm pins its own torch, transformers and lark, so
the usual way to use it is `vllm serve MODEL` in its own environment and `--backend openai`;
this backend is for a machine where vllm is installed beside ecgspec."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .base import Backend, BackendError, Request, data_url


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, *, model: str, max_tokens: int = 512, temperature: float = 0.0, **engine: Any):
        super().__init__(max_tokens=max_tokens, temperature=temperature)
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise BackendError("the vllm backend needs vllm (pip install 'ecgspec[vllm]' on a GPU machine), "
                               "or run `vllm serve MODEL` and use --backend openai") from None
        self.model = str(model)
        self._llm = LLM(model=self.model, **engine)
        self._params = SamplingParams(temperature=temperature, max_tokens=max_tokens)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, str | BackendError]]:
        convs = []
        for req in requests:
            msgs: list[dict[str, Any]] = []
            attached = req.image is None
            for m in req.messages:
                if m["role"] == "user" and not attached:
                    assert req.image is not None
                    msgs.append({"role": "user", "content": [
                        {"type": "image_url", "image_url": {"url": data_url(req.image)}},
                        {"type": "text", "text": m["content"]}]})
                    attached = True
                else:
                    msgs.append(dict(m))
            convs.append(msgs)
        outputs = self._llm.chat(convs, self._params, use_tqdm=False)
        for req, out in zip(requests, outputs, strict=True):
            yield req, out.outputs[0].text
