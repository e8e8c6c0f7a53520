"""LLaVA-NeXT (the paper's 1.6 base): image-token counts vary with image size; plans, masks and batches follow."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image

from runtime.chat import get_format
from runtime.data.manifest import Conversation, Turn
from runtime.model.loading import configure_trainable
from runtime.model.tiny import build_tiny_processor, tiny_llava_config
from runtime.train.collator import PadCollator
from runtime.train.encode import IGNORE_INDEX, ItemEncoder

GRID = [[32, 64], [64, 32], [64, 64]]


def tiny_next():
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    base = build_tiny_processor()
    images = LlavaNextImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=GRID
    )
    processor = LlavaNextProcessor(
        image_processor=images,
        tokenizer=base.tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=base.chat_template,
    )
    llava = tiny_llava_config(base.tokenizer)
    config = LlavaNextConfig(
        vision_config=llava.vision_config,
        text_config=llava.text_config,
        image_token_index=llava.image_token_index,
        image_grid_pinpoints=GRID,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    return LlavaNextForConditionalGeneration(config), processor


def test_next_lengths_masks_and_a_mixed_size_batch_train():
    model, processor = tiny_next()
    encoder = ItemEncoder(processor, get_format("llava_v1"), max_length=512)
    conv = Conversation("n", (Turn("user", "What is the heart rate?"), Turn("assistant", "60 bpm")), Path("x.png"))
    sizes = [(85, 110), (40, 40)]  # (height, width): a landscape page and a small square
    items = [encoder.encode(conv, Image.new("RGB", (w, h), "white")) for h, w in sizes]
    assert [len(i["input_ids"]) for i in items] == [encoder.plan(conv, s).length for s in sizes]
    assert len(items[0]["input_ids"]) != len(items[1]["input_ids"])
    for item in items:
        image = [k for k, t in enumerate(item["input_ids"]) if t == processor.image_token_id]
        assert all(item["labels"][k] == IGNORE_INDEX for k in image)
        supervised = [t for t, lab in zip(item["input_ids"], item["labels"], strict=True) if lab != IGNORE_INDEX]
        assert processor.tokenizer.decode(supervised) == " 60 bpm</s>"
    model = configure_trainable(model)
    batch = PadCollator(processor.tokenizer.pad_token_id)(items)
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in model.model.vision_tower.parameters())
    assert model.model.image_newline.grad is not None
