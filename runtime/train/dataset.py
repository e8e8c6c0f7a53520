"""The training dataset: conversations planned up front (lengths, truncations), images decoded lazily."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from runtime.data.manifest import Conversation
from runtime.train.encode import ConversationEncoder, LengthPlan


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


def image_size(path: Any) -> tuple[int, int]:
    """(height, width) from the file header; PIL does not decode the pixels for this."""
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


class ConversationDataset:
    """A map-style dataset of encoded conversations (a torch Dataset by duck typing: __len__/__getitem__).

    `lengths` (exact, after image expansion and truncation) feed the length-grouped sampler; computing them
    needs only the text, plus the image header for processors whose image-token count varies with size.
    """

    def __init__(self, items: list[Conversation], encoder: ConversationEncoder) -> None:
        self.encoder = encoder
        self.report = PlanReport()
        self.items: list[Conversation] = []
        self.lengths: list[int] = []
        sized = encoder.needs_image_size()
        for item in items:
            plan: LengthPlan = encoder.plan(item, image_size(item.image) if sized and item.image else None)
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
