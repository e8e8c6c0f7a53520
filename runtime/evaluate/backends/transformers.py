"""transformers on CPU or GPU: a local LLaVA-style checkpoint folder, greedy decoding.

Loads `AutoProcessor` and `AutoModelForImageTextToText` (LlavaForConditionalGeneration for a
LLaVA checkpoint) from a local path only (`local_files_only`): nothing is downloaded. The
conversation goes through the processor's chat template, with the image as the first content
part of the first user message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import Backend, BackendError, Request


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, *, model: str, device: str = "cpu", max_tokens: int = 64, temperature: float = 0.0,
                 **_: Any):
        super().__init__(max_tokens=max_tokens, temperature=temperature)
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model = str(model)
        self.device = device
        path = Path(model)
        if not path.is_dir():
            raise BackendError(f"transformers backend: {model} is not a local checkpoint folder", "http_error")
        self._torch = torch
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.net = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True).to(device).eval()

    def _one(self, req: Request) -> str:
        from PIL import Image

        messages: list[dict[str, Any]] = []
        images = []
        attached = req.image is None
        for m in req.messages:
            if m["role"] == "user" and not attached:
                assert req.image is not None
                images.append(Image.open(req.image).convert("RGB"))
                messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": m["content"]}]})
                attached = True
            else:
                messages.append({"role": m["role"], "content": [{"type": "text", "text": m["content"]}]})
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = self.processor(images=images or None, text=prompt, return_tensors="pt").to(self.device)
        with self._torch.inference_mode():
            out = self.net.generate(**inputs, do_sample=False, max_new_tokens=self.max_tokens)
        new = out[0, inputs["input_ids"].shape[1]:]
        return str(self.processor.decode(new, skip_special_tokens=True)).strip()

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, str | BackendError]]:
        for req in requests:
            yield req, self._one(req)
