"""Batching encoded conversations: right padding, -100 labels on padding, image tensors joined per model family.

LLaVA-1.5 and LLaVA-NeXT give one pixel tensor per image (NeXT's with a patch count that varies by aspect
ratio, and `image_sizes`). Qwen2-VL and Qwen2.5-VL give each image as a flat run of patches, (patches, dim),
with its (t, h, w) grid in `image_grid_thw`: the batch's patches are concatenated along the patch axis and
the grids stacked, which is how their processors batch several images. Their multimodal RoPE also needs to
know which tokens are image tokens (`mm_token_type_ids`); the collator marks them when told the image token.
"""

from __future__ import annotations

from typing import Any

from runtime.train.encode import IGNORE_INDEX

IMAGE_TYPE = 1  # mm_token_type_ids: 0 text, 1 image (2 is video, never produced here)


class PadCollator:
    """Pads to the longest item in the batch (length-grouped batching keeps that close to every item).

    `image_token_id` is needed for models whose processor gives `image_grid_thw` (Qwen2-VL, Qwen2.5-VL):
    their position ids depend on where each image's tokens stand. Items may instead carry their own
    `mm_token_type_ids`, which are then padded like the other rows.
    """

    def __init__(
        self, pad_token_id: int, pad_to_multiple_of: int | None = None, image_token_id: int | None = None
    ) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.image_token_id = image_token_id

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
            # LLaVA: (1, C, H, W) per image, stacked. Qwen2-VL: (patches, dim) per image, concatenated — the
            # vision tower splits them again by `image_grid_thw`, so nothing is padded.
            batch["pixel_values"] = torch.cat(pixels, dim=0)
            for key in ("image_sizes", "image_grid_thw"):
                if key in with_images[0]:
                    batch[key] = torch.cat([f[key] for f in with_images], dim=0)
        if "image_grid_thw" in batch:
            batch["mm_token_type_ids"] = self._token_types(features, batch["input_ids"], width)
        return batch

    def _token_types(self, features: list[dict[str, Any]], input_ids: Any, width: int) -> Any:
        """(batch, width) modality of every token for multimodal RoPE: 1 on image tokens, 0 elsewhere."""
        import torch

        if all("mm_token_type_ids" in f for f in features):
            rows = [list(f["mm_token_type_ids"]) + [0] * (width - len(f["mm_token_type_ids"])) for f in features]
            return torch.tensor(rows, dtype=torch.long)
        if self.image_token_id is None:
            raise ValueError(
                "PadCollator: this model's images come with image_grid_thw (Qwen2-VL family), whose "
                "position ids need to know the image tokens; pass image_token_id"
            )
        # Padding is never the image token, so padded positions stay text (0), as the processor pads them.
        return (input_ids == self.image_token_id).long() * IMAGE_TYPE
