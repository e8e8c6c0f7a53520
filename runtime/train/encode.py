"""Training items as model inputs: a manifest conversation → ids, labels and image tensors.

The text goes through `runtime.chat.ChatEncoder` in the recipe's conversation format (the same encoder the
evaluator prompts with); the image goes through the processor, which says how many tokens it becomes, and
the single image token of the text is expanded to that many. Labels are IGNORE_INDEX on every image token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.chat.encoder import IGNORE_INDEX, ChatEncoder, Dialogue, Encoded, Measure, TemplateError
from runtime.chat.formats import ChatFormat
from runtime.data.manifest import Conversation

__all__ = ["IGNORE_INDEX", "ItemEncoder", "LengthPlan", "TemplateError", "dialogue_of"]


@dataclass(frozen=True)
class LengthPlan:
    """What max-length truncation does to one item, known before any image is decoded."""

    length: int  # sequence length after image expansion and truncation
    full_length: int  # before truncation
    truncated: bool
    dropped: str | None  # why the item cannot be trained on at this max length, else None


def dialogue_of(conv: Conversation) -> Dialogue:
    return Dialogue(tuple((t.role, t.text) for t in conv.turns), conv.system, conv.image is not None)


class ItemEncoder:
    """Encodes manifest conversations for one processor, conversation format and max length."""

    def __init__(self, processor: Any, fmt: ChatFormat, max_length: int) -> None:
        self.chat = ChatEncoder(processor, fmt)
        self.processor = processor
        self.tokenizer = self.chat.tokenizer
        self.max_length = max_length

    def encode_text(self, conv: Conversation) -> Encoded:
        return self.chat.encode(dialogue_of(conv))

    def needs_image_size(self) -> bool:
        return self.chat.needs_image_size()

    def plan_many(self, convs: Sequence[Conversation], sizes: Sequence[tuple[int, int] | None]) -> list[LengthPlan]:
        """Exact post-expansion lengths and truncation outcomes, one batched tokenizer call for all items."""
        measured = self.chat.measure_many([dialogue_of(c) for c in convs])
        return [self._plan(c, m, s) for c, m, s in zip(convs, measured, sizes, strict=True)]

    def plan(self, conv: Conversation, image_size: tuple[int, int] | None = None) -> LengthPlan:
        return self.plan_many([conv], [image_size])[0]

    def _plan(self, conv: Conversation, m: Measure, size: tuple[int, int] | None) -> LengthPlan:
        n_img = self.chat.image_token_count(size) if conv.image is not None else 0
        expanded = m.length + (n_img - 1 if conv.image is not None else 0)
        first_label = m.first_label
        dropped = None
        if m.image_position is not None:
            if m.image_position + n_img > self.max_length:
                dropped = "image tokens cut by max length"
            elif first_label is not None and first_label > m.image_position:
                first_label += n_img - 1
        if dropped is None and (first_label is None or first_label >= self.max_length):
            dropped = "answer fully truncated"
        return LengthPlan(min(expanded, self.max_length), expanded, expanded > self.max_length, dropped)

    def encode(self, conv: Conversation, image: Any | None) -> dict[str, Any]:
        """input_ids, labels, attention_mask (lists) plus the processor's image tensors, truncated to max length."""
        enc = self.encode_text(conv)
        extra: dict[str, Any] = {}
        if image is not None:
            n, extra = self.chat.image_inputs(image)
            enc = self.chat.expand(enc, n)
        ids, labels = enc.input_ids[: self.max_length], enc.labels[: self.max_length]
        return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids), **extra}
