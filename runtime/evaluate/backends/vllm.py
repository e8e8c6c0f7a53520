"""In-process vllm (GPU only, optional extra).

Prompts are token ids from `runtime.chat.ChatEncoder` (as for the transformers backend and the trainer), in
the checkpoint's trained conversation format, with one image token per image that vllm expands to the
image's features itself; so a checkpoint trained in LLaVA's `llava_v1` format is prompted token for token
as it was trained. vllm pins its own torch, transformers and lark: `vllm serve MODEL` in its own
environment with `--backend openai` is the other way (that server tokenises the chat template's text).

A checkpoint without an image processor is a plain chat LLM (the generator of synthesis, e.g.
Llama-3-70B-Instruct): its prompts are its tokenizer's own chat template over plain-string messages, as
for the transformers backend. Every request gets its own SamplingParams: its seed, and for a request with a
JSON schema guided decoding to that schema (`guided = "json_schema"`, the default), or to any JSON object
(`"json_object"`), or none (`"none"`): `structured_outputs` in vllm >= 0.10.2, `guided_decoding` before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .base import Backend, BackendError, Completion, Request
from .transformers import chat_template_ids, open_local_chat

GUIDED = ("json_schema", "json_object", "none")


def structured_outputs(guided: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The SamplingParams keywords that guide a reply to a schema, for the installed vllm; None where
    guidance is off or this vllm has none (replies are validated by the caller in any case)."""
    if guided == "none":
        return None
    try:  # vllm >= 0.10.2
        from vllm.sampling_params import StructuredOutputsParams as Params

        keyword = "structured_outputs"
    except ImportError:
        try:  # vllm < 0.10.2
            from vllm.sampling_params import GuidedDecodingParams as Params

            keyword = "guided_decoding"
        except ImportError:
            return None

    def guide(schema: dict[str, Any]) -> dict[str, Any]:
        return {keyword: Params(json_object=True) if guided == "json_object" else Params(json=schema)}

    return guide


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int = 512,
        temperature: float = 0.0,
        top_p: float = 1.0,
        conversation: str | None = None,
        guided: str = "json_schema",
        **engine: Any,
    ):
        super().__init__(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
        if guided not in GUIDED:
            raise ValueError(f"guided must be one of {', '.join(GUIDED)}, not {guided!r}")
        try:
            from vllm import LLM, SamplingParams
        except ImportError:
            raise BackendError(
                "the vllm backend needs vllm (pip install 'ecgspec[vllm]' on a GPU machine), "
                "or run `vllm serve MODEL` and use --backend openai"
            ) from None
        self.model = str(model)
        self.guided = guided
        local = open_local_chat(self.model, conversation, "vllm")
        self.tokenizer, self.text_only = local.tokenizer, local.text_only
        self.conversation, self.chat = local.conversation, local.chat
        self._sampling_params = SamplingParams
        self._guide = structured_outputs(guided)
        self._llm = LLM(model=self.model, **engine)

    @property
    def settings(self) -> dict[str, Any]:
        out = {**super().settings, "conversation": self.conversation}
        if self.guided != "json_schema":  # only when changed: schema requests are guided by default
            out["guided"] = self.guided
        return out

    @property
    def guides_schema(self) -> bool:
        return self.guided == "json_schema" and self._guide is not None

    def prompt(self, req: Request) -> dict[str, Any]:
        if self.chat is None:
            if req.image is not None:
                raise BackendError(f"{self.model} has no image processor: it cannot be asked about an image")
            return {"prompt_token_ids": chat_template_ids(self.tokenizer, req.messages)}

        from PIL import Image

        from runtime.chat import Dialogue

        dialogue = Dialogue.from_messages(req.messages, image=req.image is not None)
        prompt: dict[str, Any] = {"prompt_token_ids": self.chat.prompt_ids(dialogue)}
        if req.image is not None:
            with Image.open(req.image) as im:
                prompt["multi_modal_data"] = {"image": im.convert("RGB")}
        return prompt

    def sampling(self, req: Request) -> Any:
        """This request's SamplingParams: its seed (a retry with another seed samples another reply) and, for a
        request with a schema, guided decoding to it."""
        opts: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": req.seed,
        }
        if req.schema is not None and self._guide is not None:
            opts.update(self._guide(req.schema))
        return self._sampling_params(**opts)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion | BackendError]]:
        asked: list[Request] = []
        prompts: list[dict[str, Any]] = []
        for req in requests:
            try:
                prompts.append(self.prompt(req))
            except BackendError as exc:  # this request cannot be asked (an image for a text-only model)
                yield req, exc
                continue
            asked.append(req)
        if not asked:
            return
        params = [self.sampling(r) for r in asked]
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        for req, out in zip(asked, outputs, strict=True):
            best = out.outputs[0]
            prompt_ids = getattr(out, "prompt_token_ids", None)
            yield (
                req,
                Completion(
                    best.text.strip(),
                    prompt_tokens=None if prompt_ids is None else len(prompt_ids),
                    completion_tokens=len(best.token_ids),
                    finish_reason=best.finish_reason,
                ),
            )
