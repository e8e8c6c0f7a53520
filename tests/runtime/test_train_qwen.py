"""Qwen2-VL and Qwen2.5-VL bases in their own chat template: masks, dynamic-resolution lengths, mixed-size
batches, a training run and the evaluator's prompts, on tiny random models."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image

from runtime.chat import get_format
from runtime.data.manifest import Conversation, Turn, load_manifests
from runtime.model.compat import allow_image_only_processors
from runtime.model.loading import configure_trainable, load_model
from runtime.model.tiny_qwen import VARIANTS, build_tiny_qwen2_vl, save_tiny_qwen2_vl
from runtime.train.collator import PadCollator
from runtime.train.encode import IGNORE_INDEX, ItemEncoder, dialogue_of

allow_image_only_processors()  # this machine has no torchvision; a no-op where it is installed

ANSWERS = ("Sinus rhythm.", "72 bpm")
CONV = Conversation(
    "q",
    (
        Turn("user", "What is the rhythm?"),
        Turn("assistant", ANSWERS[0]),
        Turn("user", "And the heart rate?"),
        Turn("assistant", ANSWERS[1]),
    ),
    Path("x.png"),
)
SIZES = [(85, 110), (40, 40)]  # (height, width): a landscape page and a small square


def blank(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size[::-1], "white")


def spans(labels: list[int]) -> list[tuple[int, int]]:
    """[start, end) of each run of supervised tokens."""
    runs, start = [], None
    for k, lab in enumerate(labels + [IGNORE_INDEX]):
        if lab != IGNORE_INDEX and start is None:
            start = k
        elif lab == IGNORE_INDEX and start is not None:
            runs.append((start, k))
            start = None
    return runs


@pytest.fixture(scope="module", params=VARIANTS)
def tiny(request):
    model, processor = build_tiny_qwen2_vl(seed=0, variant=request.param)
    return model, processor


def test_answers_and_their_im_end_are_supervised_and_lengths_follow_the_image_size(tiny):
    _, processor = tiny
    tok = processor.tokenizer
    assert tok.bos_token is None
    encoder = ItemEncoder(processor, get_format("model"), max_length=512)
    items = [encoder.encode(CONV, blank(s)) for s in SIZES]
    # Dynamic resolution: the two sizes give different image-token counts, and the plan knows each exactly.
    assert [len(i["input_ids"]) for i in items] == [encoder.plan(CONV, s).length for s in SIZES]
    assert len(items[0]["input_ids"]) != len(items[1]["input_ids"])
    for item in items:
        ids, labels = item["input_ids"], item["labels"]
        image = [k for k, t in enumerate(ids) if t == processor.image_token_id]
        assert image and all(labels[k] == IGNORE_INDEX for k in image)
        assert image == list(range(image[0], image[-1] + 1))  # one contiguous run, as the processor expands it
        assert item["image_grid_thw"].prod() // 4 == len(image)
        # Each answer span is the answer, its <|im_end|> and the newline the template closes every turn with.
        supervised = [tok.decode([ids[k] for k in range(a, b)]) for a, b in spans(labels)]
        assert supervised == [f"{answer}<|im_end|>\n" for answer in ANSWERS]
        assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")  # no BOS, as Qwen's own prompts


def test_a_mixed_size_batch_trains_the_merger_and_the_llm_with_the_vision_tower_frozen(tiny):
    model, processor = tiny
    encoder = ItemEncoder(processor, get_format("model"), max_length=512)
    items = [encoder.encode(CONV, blank(s)) for s in SIZES]
    batch = PadCollator(processor.tokenizer.pad_token_id, image_token_id=processor.image_token_id)(items)
    assert batch["pixel_values"].shape[0] == sum(int(i["image_grid_thw"].prod()) for i in items)
    assert batch["image_grid_thw"].shape == (2, 3)
    assert batch["mm_token_type_ids"].sum() == (batch["input_ids"] == processor.image_token_id).sum()
    model = configure_trainable(model)
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    assert torch.isfinite(loss)
    visual = model.model.visual
    merger = {id(p) for p in visual.merger.parameters()}
    assert all(p.grad is None for p in visual.parameters() if id(p) not in merger)
    assert all(p.grad is not None for p in visual.merger.parameters())
    assert model.lm_head.weight.grad is not None


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_in_the_models_own_template_saves_a_loadable_checkpoint(variant, tiny_manifest, tmp_path):
    from runtime.train.recipe import TINY_CONFIG, load_recipe
    from runtime.train.trainer import TrainRequest, train

    base = save_tiny_qwen2_vl(tmp_path / "base", variant=variant)
    recipe = load_recipe(TINY_CONFIG, {"conversation": "model", "max_steps": 2})
    out = tmp_path / "run"
    result = train(TrainRequest([tiny_manifest], str(base), out, recipe, use_cpu=True))
    assert result.global_step == 2
    assert result.losses and all(torch.isfinite(torch.tensor(result.losses)))
    model, processor = load_model(str(out))
    assert model.config.model_type == variant
    assert processor.image_token_id == model.config.image_token_id


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_evaluators_prompts_equal_the_training_ids_up_to_each_answer(variant, tiny_manifest, tmp_path):
    """Asked in the checkpoint's own template, each question's ids are exactly what training saw up to that
    turn's first supervised token, earlier answers and the expanded image included."""
    from runtime.evaluate.backends.base import Request
    from runtime.evaluate.backends.transformers import TransformersBackend

    checkpoint = save_tiny_qwen2_vl(tmp_path / "base", variant=variant)
    backend = TransformersBackend(model=str(checkpoint), load_weights=False)
    assert backend.conversation == "model"
    encoder = ItemEncoder(backend.processor, get_format("model"), max_length=4096)
    asked = 0
    for conv in load_manifests([tiny_manifest]).items[:3]:
        with Image.open(conv.image) as im:
            item = encoder.encode(conv, im.convert("RGB"))
        dialogue = dialogue_of(conv)
        starts = [a for a, _ in spans(item["labels"])]
        assert len(starts) == len(dialogue.turns) // 2
        for turn, start in enumerate(starts):
            history = dialogue.turns[: 2 * turn + 1]
            messages = [{"role": "system", "content": dialogue.system}] if dialogue.system is not None else []
            messages += [{"role": role, "content": text} for role, text in history]
            ids, extras = backend.prompt(Request(f"{conv.id}/{turn}", tuple(messages), conv.image))
            assert ids == item["input_ids"][:start]
            assert torch.equal(extras["image_grid_thw"], item["image_grid_thw"])
            assert torch.equal(extras["pixel_values"], item["pixel_values"])
            asked += 1
    assert asked > 3  # multi-turn items: later turns carry earlier answers
