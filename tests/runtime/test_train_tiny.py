"""End to end on the tiny model: training lowers the loss, the vision tower stays frozen, the result loads and
generates; --freeze-llm, --lora and resume do what they say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from runtime.model.loading import parts
from runtime.model.tiny import build_tiny_llava
from runtime.train.recipe import TINY_CONFIG, load_recipe
from runtime.train.trainer import TrainRequest, train


def run(manifest: Path, out: Path, **overrides: object):
    recipe = load_recipe(TINY_CONFIG, dict(overrides))
    return train(TrainRequest([manifest], "tiny", out, recipe, use_cpu=True))


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_tiny_training_lowers_loss_keeps_vision_frozen_and_saves_a_generating_checkpoint(tiny_manifest, tmp_path):
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    initial, _ = build_tiny_llava(seed=0)
    vision0, projector0, llm0, _ = (state(m) for m in parts(initial))
    result = run(tiny_manifest, tmp_path / "run", max_steps=12)
    assert result.global_step == 12
    assert len(result.losses) == 12
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3 - 1.0, result.losses

    model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "run")
    processor = AutoProcessor.from_pretrained(tmp_path / "run")
    vision, projector, llm, _ = (state(m) for m in parts(model))
    assert vision.keys() == vision0.keys()
    assert all(torch.equal(vision[k], vision0[k]) for k in vision0), "the vision tower changed"
    assert any(not torch.equal(projector[k], projector0[k]) for k in projector0), "the projector did not train"
    assert any(not torch.equal(llm[k], llm0[k]) for k in llm0), "the LLM did not train"

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is the heart rate?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    first = json.loads(tiny_manifest.read_text())[0]["image"]
    image = Image.open(tiny_manifest.parents[1] / "images" / first).convert("RGB")
    inputs = processor(text=text, images=image, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    assert isinstance(processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True), str)


def test_freeze_llm_trains_only_the_projector(tiny_manifest, tmp_path):
    from transformers import LlavaForConditionalGeneration

    initial, _ = build_tiny_llava(seed=0)
    run(tiny_manifest, tmp_path / "run", max_steps=2, freeze_llm=True)
    model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "run")
    for (name, before), after in zip(
        zip(("vision", "projector", "llm", "head"), parts(initial), strict=True), parts(model), strict=True
    ):
        a, b = state(before), state(after)
        changed = any(not torch.equal(a[k], b[k]) for k in a)
        assert changed == (name == "projector"), name


def test_lora_trains_adapters_and_projector_and_saves_a_merged_checkpoint(tiny_manifest, tmp_path):
    from transformers import LlavaForConditionalGeneration

    initial, _ = build_tiny_llava(seed=0)
    run(tiny_manifest, tmp_path / "run", max_steps=2, lora={"r": 4, "alpha": 8, "dropout": 0.0})
    model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "run")  # plain LLaVA: adapters merged
    assert not any("lora" in k for k in model.state_dict())
    (vision0, projector0, llm0, _), (vision, projector, llm, _) = (map(state, parts(m)) for m in (initial, model))
    assert all(torch.equal(vision[k], vision0[k]) for k in vision0)
    assert any(not torch.equal(projector[k], projector0[k]) for k in projector0)
    changed = {k for k in llm0 if not torch.equal(llm[k], llm0[k])}
    assert changed and all(k.endswith("proj.weight") for k in changed), changed  # merged LoRA deltas only


def test_resume_continues_from_the_last_checkpoint(tiny_manifest, tmp_path):
    out = tmp_path / "run"
    first = run(tiny_manifest, out, max_steps=2, save_steps=2)
    assert first.global_step == 2 and (out / "checkpoint-2").is_dir()
    recipe = load_recipe(TINY_CONFIG, {"max_steps": 4, "save_steps": 2})
    resumed = train(TrainRequest([tiny_manifest], "tiny", out, recipe, resume=True, use_cpu=True))
    assert resumed.global_step == 4
    assert len(resumed.losses) == 2  # only steps 3 and 4 ran
