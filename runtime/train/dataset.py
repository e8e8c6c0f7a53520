"""The training dataset: conversations with their planned lengths; images decoded lazily."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runtime.data.manifest import Conversation
from runtime.train.encode import ItemEncoder, LengthPlan


@dataclass
class PlanReport:
    """Max-length outcome over the corpus; printed before training starts."""

    kept: int = 0
    truncated: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    longest: int = 0

    def summary(self, max_length: int) -> str:
        line = f"{self.kept} items trainable at max length {max_length} (longest {self.longest} tokens)"
        line += f"; {self.truncated} truncated"
        for why, n in sorted(self.dropped.items()):
            line += f"; {n} dropped ({why})"
        return line


class ConversationDataset:
    """A map-style dataset of encoded conversations (a torch Dataset by duck typing: __len__/__getitem__).

    `lengths` (exact, after image expansion and truncation) feed the length-grouped sampler. Items the max
    length leaves nothing to learn from are left out here, and counted.
    """

    def __init__(
        self, items: Sequence[Conversation], encoder: ItemEncoder, plans: Sequence[LengthPlan] | None = None
    ) -> None:
        self.encoder = encoder
        self.report = PlanReport()
        self.items: list[Conversation] = []
        self.lengths: list[int] = []
        if plans is None:
            from runtime.train.lengths import compute

            plans = compute(items, encoder, {})
        for item, plan in zip(items, plans, strict=True):
            self.report.longest = max(self.report.longest, plan.full_length)
            if plan.dropped:
                self.report.dropped[plan.dropped] += 1
                continue
            self.report.truncated += plan.truncated
            self.items.append(item)
            self.lengths.append(plan.length)
        self.report.kept = len(self.items)
        # Indices read in this process (not in data-loader workers): lets the multi-process test show that
        # ranks trained on different items.
        self.fetched: list[int] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        self.fetched.append(index)
        image = None
        if item.image is not None:
            from PIL import Image

            with Image.open(item.image) as im:
                image = im.convert("RGB")
        return self.encoder.encode(item, image)
