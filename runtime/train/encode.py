"""Turning a conversation into `input_ids` + `labels` with the base model's own chat template.

Supervision: labels equal the input ids on the assistant's answer tokens and their end-of-turn token, and
are -100 everywhere else — system prompt, user turns, role markers, the generation prompt and every
`<image>` token the processor expands. (Training on the end-of-turn token is what teaches the model to stop.)

Assistant spans are found without trusting the template to mark them: for assistant message i, the
template rendered over messages[:i] with the generation prompt is a prefix of the rendering over
messages[:i+1], which is a prefix of the full rendering; the characters between the two are the answer.
Tokens are then mapped to characters through the fast tokenizer's offsets. Templates that write no
end-of-turn marker after an answer (some llava-hf templates) get the tokenizer's EOS appended to each
answer, so that every base model learns to stop.

Image tokens are expanded by the processor itself (its count depends on the image size for LLaVA-NeXT), and
the expanded ids are aligned back onto the unexpanded ones, so the masks follow whatever it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.data.manifest import Conversation

IGNORE_INDEX = -100


class TemplateError(ValueError):
    """The chat template does not render conversations incrementally (a rendering is not a prefix of the next)."""


@dataclass(frozen=True)
class TextEncoding:
    """Token ids with a single `<image>` token per image (not yet expanded) and their labels."""

    input_ids: list[int]
    labels: list[int]


@dataclass(frozen=True)
class LengthPlan:
    """What max-length truncation does to one item, known before any image is decoded."""

    length: int  # sequence length after image expansion and truncation
    full_length: int  # before truncation
    truncated: bool
    dropped: str | None  # why the item cannot be trained on at this max length, else None


class ConversationEncoder:
    """Encodes `Conversation`s for one processor (tokenizer + image processor + chat template)."""

    def __init__(self, processor: Any, max_length: int) -> None:
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = max_length
        self.image_token = getattr(processor, "image_token", "<image>")
        self.image_token_id: int = self.tokenizer.convert_tokens_to_ids(self.image_token)
        self.eos = self.tokenizer.eos_token
        if getattr(processor, "chat_template", None) is None and getattr(self.tokenizer, "chat_template", None) is None:
            raise TemplateError("the model has no chat template (chat_template.jinja); add the base model's template")
        self._fixed_image_tokens: int | None = None

    # ---- text -----------------------------------------------------------------------------------

    def render(self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = False) -> str:
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def render_with_spans(self, conv: Conversation) -> tuple[str, list[tuple[int, int]]]:
        """The full chat text and the [start, end) character spans of each answer (with its end of turn)."""
        messages = conv.messages()
        full = self.render(messages)
        spans: list[tuple[int, int]] = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self.render(messages[:i], add_generation_prompt=True)
            through = self.render(messages[: i + 1])
            if not (through.startswith(before) and full.startswith(through)):
                raise TemplateError(
                    f"item {conv.id!r}: the chat template does not render turn by turn "
                    "(the text up to an answer is not a prefix of the full conversation)"
                )
            spans.append((len(before), len(through)))
        if not self.eos or all(self.eos in full[s:e] for s, e in spans):
            return full, spans
        # No end-of-turn marker after the answers: append EOS to each so that the model learns to stop.
        pieces, moved, cursor = [], [], 0
        for start, end in spans:
            shift = len(self.eos) * len(moved)
            pieces += [full[cursor:end], self.eos]
            moved.append((start + shift, end + shift + len(self.eos)))
            cursor = end
        pieces.append(full[cursor:])
        return "".join(pieces), moved

    def encode_text(self, conv: Conversation) -> tuple[str, TextEncoding]:
        text, spans = self.render_with_spans(conv)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = list(enc["input_ids"])
        labels = [IGNORE_INDEX] * len(ids)
        for k, (start, end) in enumerate(enc["offset_mapping"]):
            if end > start and any(s <= start < e for s, e in spans) and ids[k] != self.image_token_id:
                labels[k] = ids[k]
        return text, TextEncoding(ids, labels)

    # ---- lengths without decoding images ------------------------------------------------------------

    def num_image_tokens(self, image_size: tuple[int, int] | None = None) -> int:
        """How many tokens the processor expands one `<image>` into, for an image of (height, width)."""
        if self._fixed_image_tokens is not None:
            return self._fixed_image_tokens
        count = getattr(self.processor, "_get_num_multimodal_tokens", None)
        size = image_size or (336, 336)
        if count is not None:
            n = int(count(image_sizes=[list(size)]).num_image_tokens[0])
        else:  # a processor without the helper: expand a blank image of that size and count
            from PIL import Image

            out = self.processor(text=self.image_token, images=Image.new("RGB", size[::-1]), add_special_tokens=False)
            n = sum(1 for t in out["input_ids"][0] if t == self.image_token_id)
        # LLaVA-1.5 pads/crops to a fixed square: the count does not depend on the size, so cache it.
        if type(self.processor).__name__ == "LlavaProcessor":
            self._fixed_image_tokens = n
        return n

    def needs_image_size(self) -> bool:
        """Whether the image-token count depends on the image size (LLaVA-NeXT any-resolution)."""
        return type(self.processor).__name__ != "LlavaProcessor"

    def plan(self, conv: Conversation, image_size: tuple[int, int] | None = None) -> LengthPlan:
        """The exact post-expansion length and the truncation outcome of one item."""
        _, enc = self.encode_text(conv)
        n_img = self.num_image_tokens(image_size) if conv.image is not None else 0
        expanded = len(enc.input_ids) + (n_img - 1 if conv.image is not None else 0)
        first_label = next((k for k, lab in enumerate(enc.labels) if lab != IGNORE_INDEX), None)
        dropped = None
        if conv.image is not None:
            img_pos = enc.input_ids.index(self.image_token_id)
            if img_pos + n_img > self.max_length:
                dropped = "image tokens cut by max length"
            elif first_label is not None:
                first_label += n_img - 1 if first_label > img_pos else 0
        if dropped is None and (first_label is None or first_label >= self.max_length):
            dropped = "answer fully truncated"
        return LengthPlan(min(expanded, self.max_length), expanded, expanded > self.max_length, dropped)

    # ---- full encoding with the image ------------------------------------------------------------------

    def encode(self, conv: Conversation, image: Any | None) -> dict[str, Any]:
        """input_ids, labels, attention_mask (lists) plus the processor's image tensors, truncated to max length."""
        text, enc = self.encode_text(conv)
        if image is None:
            ids, labels, extra = enc.input_ids, enc.labels, {}
        else:
            out = self.processor(text=[text], images=[image], add_special_tokens=False, return_tensors="pt")
            expanded = out["input_ids"][0].tolist()
            ids, labels = expanded, self._align(conv, enc, expanded)
            extra = {k: v for k, v in out.items() if k not in ("input_ids", "attention_mask")}
        if len(ids) > self.max_length:
            ids, labels = ids[: self.max_length], labels[: self.max_length]
        return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids), **extra}

    def _align(self, conv: Conversation, enc: TextEncoding, expanded: list[int]) -> list[int]:
        """Labels for the processor's expanded ids: each `<image>` run gets -100, other tokens keep theirs."""
        labels: list[int] = []
        j = 0
        for tok, lab in zip(enc.input_ids, enc.labels):
            if tok == self.image_token_id:
                run = 0
                while j + run < len(expanded) and expanded[j + run] == self.image_token_id:
                    run += 1
                labels.extend([IGNORE_INDEX] * run)
                j += run
                continue
            if j >= len(expanded) or expanded[j] != tok:
                raise TemplateError(f"item {conv.id!r}: the processor tokenised the text differently around the image")
            labels.append(lab)
            j += 1
        if j != len(expanded):
            raise TemplateError(f"item {conv.id!r}: the processor added {len(expanded) - j} unexpected tokens")
        return labels
