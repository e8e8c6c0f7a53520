"""transformers on CPU or GPU: a local checkpoint folder, greedy decoding.

Prompts are built by `runtime.chat.ChatEncoder`, the encoder the trainer trains with, in the conversation
format the checkpoint was trained in (recorded by `ecgspec train` in `ecgspec_chat.json`; else the
checkpoint's own chat template; `--conversation` overrides): for every turn the ids given to `generate()`
equal the training ids up to that turn's answer, earlier answers and their end-of-turn tokens included.
Nothing is downloaded (`local_files_only`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import Backend, BackendError, Request


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        *,
        model: str,
        device: str = "cpu",
        max_tokens: int = 64,
        temperature: float = 0.0,
        conversation: str | None = None,
        load_weights: bool = True,
        **_: Any,
    ):
        super().__init__(max_tokens=max_tokens, temperature=temperature)
        from transformers import AutoProcessor

        from runtime.chat import ChatEncoder, FormatError, get_format
        from runtime.model.compat import allow_image_only_processors
        from runtime.model.loading import trained_format

        allow_image_only_processors()

        self.model = str(model)
        self.device = device
        path = Path(model)
        if not path.is_dir():
            raise BackendError(f"transformers backend: {model} is not a local checkpoint folder", "http_error")
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.conversation = conversation or trained_format(path) or "model"
        try:
            self.chat = ChatEncoder(self.processor, get_format(self.conversation))
        except (FormatError, ValueError) as exc:
            raise BackendError(f"transformers backend: {exc}", "http_error") from None
        self.net: Any = None
        if load_weights:
            import torch
            from transformers import AutoModelForImageTextToText

            self._torch = torch
            net: Any = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
            self.net = net.to(device).eval()

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, "conversation": self.conversation}

    def prompt(self, req: Request) -> tuple[list[int], dict[str, Any]]:
        """The ids `generate()` gets for a request (image tokens expanded) and the image tensors."""
        from runtime.chat import Dialogue

        dialogue = Dialogue.from_messages(req.messages, image=req.image is not None)
        encoded = self.chat.encode(dialogue, generation_prompt=True)
        extras: dict[str, Any] = {}
        if req.image is not None:
            from PIL import Image

            with Image.open(req.image) as im:
                n, extras = self.chat.image_inputs(im.convert("RGB"))
            encoded = self.chat.expand(encoded, n)
        return encoded.input_ids, extras

    def _one(self, req: Request) -> str:
        torch = self._torch
        ids, extras = self.prompt(req)
        input_ids = torch.tensor([ids], device=self.device)
        inputs = {k: v.to(self.device) for k, v in extras.items()}
        if "image_grid_thw" in inputs:  # Qwen2-VL: which positions are image tokens, for its 3-D rotary positions
            inputs["mm_token_type_ids"] = (input_ids == self.chat.image_token_id).long()
        with torch.inference_mode():
            out = self.net.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                **inputs,
                do_sample=False,
                max_new_tokens=self.max_tokens,
            )
        new = out[0, input_ids.shape[1] :]
        return str(self.processor.decode(new, skip_special_tokens=True)).strip()

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, str | BackendError]]:
        for req in requests:
            yield req, self._one(req)
