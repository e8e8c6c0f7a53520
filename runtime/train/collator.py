"""Batching encoded conversations: right padding, -100 labels on padding, image tensors stacked."""

from __future__ import annotations

from typing import Any

from runtime.train.encode import IGNORE_INDEX


class PadCollator:
    """Pads to the longest item in the batch (length-grouped batching keeps that close to every item)."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, Any] = {}
        for key, fill in (("input_ids", self.pad_token_id), ("labels", IGNORE_INDEX), ("attention_mask", 0)):
            rows = [list(f[key]) + [fill] * (width - len(f[key])) for f in features]
            batch[key] = torch.tensor(rows, dtype=torch.long)
        with_images = [f for f in features if "pixel_values" in f]
        if with_images:
            pixels = [f["pixel_values"] for f in with_images]
            if pixels[0].dim() == 5:
                # LLaVA-NeXT: (1, patches, C, H, W) with a patch count that varies by aspect ratio; pad the
                # patch axis — the model keeps only the patches `image_sizes` says are real.
                most = max(p.shape[1] for p in pixels)
                pixels = [torch.nn.functional.pad(p, (0, 0, 0, 0, 0, 0, 0, most - p.shape[1])) for p in pixels]
            batch["pixel_values"] = torch.cat(pixels, dim=0)
            if "image_sizes" in with_images[0]:
                batch["image_sizes"] = torch.cat([f["image_sizes"] for f in with_images], dim=0)
        return batch
