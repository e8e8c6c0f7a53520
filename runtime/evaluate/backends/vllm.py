"""In-process vllm (GPU only, optional extra).

Prompts are token ids from `runtime.chat.ChatEncoder` (as for the transformers backend and the trainer), in
the checkpoint's trained conversation format, with one image token per image that vllm expands to the
image's features itself; so a checkpoint trained in LLaVA's `llava_v1` format is prompted token for token
as it was trained. vllm pins its own torch, transformers and lark: `vllm serve MODEL` in its own
environment with `--backend openai` is the other way (that server tokenises the chat template's text).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import Backend, BackendError, Request


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int = 512,
        temperature: float = 0.0,
        conversation: str | None = None,
        **engine: Any,
    ):
        super().__init__(max_tokens=max_tokens, temperature=temperature)
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise BackendError(
                "the vllm backend needs vllm (pip install 'ecgspec[vllm]' on a GPU machine), "
                "or run `vllm serve MODEL` and use --backend openai"
            ) from None
        from transformers import AutoProcessor

        from runtime.chat import ChatEncoder, get_format
        from runtime.model.loading import trained_format

        self.model = str(model)
        path = Path(model)
        if not path.is_dir():
            raise BackendError(f"vllm backend: {model} is not a local checkpoint folder", "http_error")
        self.conversation = conversation or trained_format(path) or "model"
        self.chat = ChatEncoder(
            AutoProcessor.from_pretrained(path, local_files_only=True), get_format(self.conversation)
        )
        self._llm = LLM(model=self.model, **engine)
        self._params = SamplingParams(temperature=temperature, max_tokens=max_tokens)

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, "conversation": self.conversation}

    def prompt(self, req: Request) -> dict[str, Any]:
        from PIL import Image

        from runtime.chat import Dialogue

        dialogue = Dialogue.from_messages(req.messages, image=req.image is not None)
        prompt: dict[str, Any] = {"prompt_token_ids": self.chat.prompt_ids(dialogue)}
        if req.image is not None:
            with Image.open(req.image) as im:
                prompt["multi_modal_data"] = {"image": im.convert("RGB")}
        return prompt

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, str | BackendError]]:
        outputs = self._llm.generate([self.prompt(r) for r in requests], self._params, use_tqdm=False)
        for req, out in zip(requests, outputs, strict=True):
            yield req, out.outputs[0].text.strip()
