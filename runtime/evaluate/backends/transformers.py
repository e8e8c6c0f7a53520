"""transformers on CPU or GPU: a local checkpoint folder, greedy decoding at temperature 0, sampling above it.

Prompts are built by `runtime.chat.ChatEncoder`, the encoder the trainer trains with, in the conversation
format the checkpoint was trained in (recorded by `ecgspec train` in `ecgspec_chat.json`; else the
checkpoint's own chat template; `--conversation` overrides): for every turn the ids given to `generate()`
equal the training ids up to that turn's answer, earlier answers and their end-of-turn tokens included.

A checkpoint without an image processor is a plain chat LLM (the generator of synthesis, e.g. a Llama-3
Instruct): it is loaded with AutoModelForCausalLM and prompted through its tokenizer's own chat template with
plain-string contents, the way its authors render conversations (such templates expect strings, not the
multimodal content parts ChatEncoder renders). A `separators` conversation format still goes through
ChatEncoder. At temperature > 0 each reply is sampled (`top_p`, no top-k cut, like vllm and OpenAI), seeded
with the request's seed when it has one, so that a rerun gives the same replies. Nothing is downloaded
(`local_files_only`). A request's JSON schema is not enforced (transformers decodes without a grammar): the
reply is asked for in the prompt only, and validated by the caller like every other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Backend, BackendError, Completion, Request


def has_image_processor(processor: Any) -> bool:
    """Whether AutoProcessor found a multimodal processor; for a text-only checkpoint it returns the tokenizer."""
    return getattr(processor, "image_processor", None) is not None


def chat_template_ids(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """The prompt ids of a text-only chat model: its tokenizer's chat template over plain-string messages, with
    the generation prompt. The template writes BOS itself where the model wants it (apply_chat_template adds no
    special tokens of its own)."""
    out = tokenizer.apply_chat_template(
        [dict(m) for m in messages], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    if isinstance(out, Mapping):  # a BatchEncoding, should a version ignore return_dict=False
        out = out["input_ids"]
    return [int(t) for t in out]


def text_chat_check(tokenizer: Any, model: str) -> None:
    """A text-only checkpoint prompted with its own template must have one; say so before any request."""
    if not getattr(tokenizer, "chat_template", None):
        raise BackendError(
            f"{model} has no image processor and its tokenizer has no chat template: "
            "pass a conversation format (e.g. --conversation llava_v1)",
            "http_error",
        )


@dataclass(frozen=True)
class LocalChat:
    """A local checkpoint's processor and how it is prompted: its trained conversation format through the
    chat encoder, or (`chat` None) a text-only model through its tokenizer's own template."""

    processor: Any
    tokenizer: Any
    text_only: bool
    conversation: str
    chat: Any


def open_local_chat(model: str, conversation: str | None, who: str) -> LocalChat:
    """What the transformers and the in-process vllm backends share: one way to read a checkpoint folder."""
    from transformers import AutoProcessor

    from runtime.chat import ChatEncoder, FormatError, get_format
    from runtime.model.loading import trained_format

    path = Path(model)
    if not path.is_dir():
        raise BackendError(f"{who} backend: {model} is not a local checkpoint folder", "http_error")
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    tokenizer = getattr(processor, "tokenizer", processor)
    text_only = not has_image_processor(processor)
    conversation = conversation or trained_format(path) or "model"
    chat = None
    try:
        fmt = get_format(conversation)
        if text_only and fmt.style == "chat_template":
            text_chat_check(tokenizer, str(model))
        else:
            chat = ChatEncoder(processor, fmt)
    except (FormatError, ValueError) as exc:
        raise BackendError(f"{who} backend: {exc}", "http_error") from None
    return LocalChat(processor, tokenizer, text_only, conversation, chat)


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        *,
        model: str,
        device: str = "cpu",
        max_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        conversation: str | None = None,
        load_weights: bool = True,
        **_: Any,
    ):
        super().__init__(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
        from runtime.model.compat import allow_image_only_processors

        allow_image_only_processors()

        self.model = str(model)
        self.device = device
        path = Path(model)
        local = open_local_chat(self.model, conversation, "transformers")
        self.processor, self.tokenizer, self.text_only = local.processor, local.tokenizer, local.text_only
        self.conversation, self.chat = local.conversation, local.chat
        self.net: Any = None
        if load_weights:
            import torch
            from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

            self._torch = torch
            auto: Any = AutoModelForCausalLM if self.text_only else AutoModelForImageTextToText
            net: Any = auto.from_pretrained(path, local_files_only=True)
            self.net = net.to(device).eval()

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, "conversation": self.conversation}

    def prompt(self, req: Request) -> tuple[list[int], dict[str, Any]]:
        """The ids `generate()` gets for a request (image tokens expanded) and the image tensors."""
        from runtime.chat import Dialogue

        if req.image is not None and self.text_only:
            raise BackendError(f"{self.model} has no image processor: it cannot be asked about an image", "http_error")
        if self.chat is None:
            return chat_template_ids(self.tokenizer, req.messages), {}
        dialogue = Dialogue.from_messages(req.messages, image=req.image is not None)
        encoded = self.chat.encode(dialogue, generation_prompt=True)
        extras: dict[str, Any] = {}
        if req.image is not None:
            from PIL import Image

            with Image.open(req.image) as im:
                n, extras = self.chat.image_inputs(im.convert("RGB"))
            encoded = self.chat.expand(encoded, n)
        return encoded.input_ids, extras

    def _sampling(self, req: Request) -> dict[str, Any]:
        """generate()'s decoding options: greedy at temperature 0; else sampling with the request's seed."""
        if self.temperature <= 0:
            return {"do_sample": False}
        if req.seed is not None:
            # Seeds every device's generator: the same request and seed give the same reply on a rerun.
            self._torch.manual_seed(req.seed)
        # top_k=0 turns off transformers' default top-k of 50, which vllm and OpenAI servers do not apply;
        # temperature and top_p are passed so that the checkpoint's generation_config cannot override them.
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0}

    def _one(self, req: Request) -> Completion:
        ids, extras = self.prompt(req)
        torch = self._torch
        input_ids = torch.tensor([ids], device=self.device)
        inputs = {k: v.to(self.device) for k, v in extras.items()}
        if "image_grid_thw" in inputs:  # Qwen2-VL: which positions are image tokens, for its 3-D rotary positions
            inputs["mm_token_type_ids"] = (input_ids == self.chat.image_token_id).long()
        with torch.inference_mode():
            out = self.net.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                **inputs,
                **self._sampling(req),
                max_new_tokens=self.max_tokens,
            )
        new = out[0, input_ids.shape[1] :]
        text = str(self.processor.decode(new, skip_special_tokens=True)).strip()
        return Completion(
            text, prompt_tokens=len(ids), completion_tokens=int(new.shape[0]), finish_reason=self._finish(new)
        )

    def _finish(self, new: Any) -> str:
        """ "stop" when the reply ended with an end-of-sequence token (or a stop rule), "length" when it was cut."""
        eos = self.net.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        if len(new) and int(new[-1]) in eos_ids:
            return "stop"
        return "length" if len(new) >= self.max_tokens else "stop"

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion | BackendError]]:
        for req in requests:
            reply: Completion | BackendError
            try:
                reply = self._one(req)
            except BackendError as exc:  # this request cannot be asked (an image for a text-only model)
                reply = exc
            yield req, reply
