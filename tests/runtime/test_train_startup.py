"""What happens before step 1: lengths planned once (build sidecar, cache), duplicate ids, the memory plan,
and the inspection commands that show the exact tokens without training or generating."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image

from runtime.chat import get_format
from runtime.data.manifest import load_manifests
from runtime.train import lengths as lengths_module
from runtime.train.encode import ItemEncoder
from runtime.train.lengths import file_sha256, plan_lengths
from runtime.train.recipe import DEFAULT_CONFIG, load_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_the_build_writes_llava_length_estimates_and_image_sizes_beside_the_manifest(tiny_manifest):
    side = json.loads(tiny_manifest.with_name("ecginstruct.lengths.json").read_text())
    manifest = json.loads(tiny_manifest.read_text())
    assert side["manifest_sha256"] == file_sha256(tiny_manifest)
    assert side["ids"] == [m["id"] for m in manifest]
    images = tiny_manifest.parent.parent / "images"
    for item, length, size in zip(manifest, side["modality_lengths"], side["image_sizes"], strict=True):
        # LLaVA's modality_lengths: whitespace words over all turns, plus 128 for the image.
        assert length == sum(len(c["value"].split()) for c in item["conversations"]) + 128
        with Image.open(images / item["image"]) as im:
            assert size == [im.height, im.width]


@pytest.fixture()
def next_encoder():
    from tests.runtime.test_train_next import tiny_next

    _, processor = tiny_next()
    return ItemEncoder(processor, get_format("llava_v1"), 4096)


def test_sizes_come_from_the_sidecar_and_the_second_start_reads_the_cache(
    tiny_manifest, next_encoder, tmp_path, monkeypatch
):
    items = load_manifests([tiny_manifest]).items

    def no_image_opened(path):
        raise AssertionError(f"opened {path}")

    monkeypatch.setattr(lengths_module, "image_size", no_image_opened)
    first = plan_lengths(items, next_encoder, manifests=[tiny_manifest], cache_dir=tmp_path, say=lambda m: None)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    # Exact: the planned length of every item is the length it encodes to.
    for item, plan in zip(items, first, strict=True):
        with Image.open(item.image) as im:
            assert len(next_encoder.encode(item, im.convert("RGB"))["input_ids"]) == plan.length

    def recompute(*a, **k):
        raise AssertionError("planned again instead of reading the cache")

    monkeypatch.setattr(lengths_module, "compute", recompute)
    assert plan_lengths(items, next_encoder, manifests=[tiny_manifest], cache_dir=tmp_path, say=lambda m: None) == first
    shorter = ItemEncoder(next_encoder.processor, get_format("llava_v1"), 512)
    with pytest.raises(AssertionError, match="planned again"):  # another max length is another key
        plan_lengths(items, shorter, manifests=[tiny_manifest], cache_dir=tmp_path, say=lambda m: None)


def test_a_stale_sidecar_is_ignored(tiny_manifest, tmp_path):
    edited = tmp_path / "manifests" / "ecginstruct.json"
    edited.parent.mkdir()
    edited.write_text(tiny_manifest.read_text().replace("?", " ?"))
    (edited.parent / "ecginstruct.lengths.json").write_text(
        tiny_manifest.with_name("ecginstruct.lengths.json").read_text()
    )
    assert lengths_module.sidecar_sizes(edited, file_sha256(edited)) is None
    assert lengths_module.sidecar_sizes(tiny_manifest, file_sha256(tiny_manifest))


def test_duplicate_ids_are_counted_and_kept_or_dropped_with_dedupe(tmp_path):
    item = {"id": "x", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}
    path = tmp_path / "m.json"
    path.write_text(json.dumps([item, item, {**item, "id": "y"}, item]))
    kept = load_manifests([path])
    assert len(kept.items) == 4 and kept.duplicates == 2 and "2 with a duplicate id kept" in kept.summary()
    deduped = load_manifests([path], dedupe=True)
    assert [i.id for i in deduped.items] == ["x", "y"] and "dropped (--dedupe)" in deduped.summary()


def seven_b():
    """The paper's base on the meta device: a vicuna-7b-shaped LLaVA (no memory, no weights)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_gpu", ROOT / "bench" / "train_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["train_gpu"] = bench
    spec.loader.exec_module(bench)
    from transformers import LlavaForConditionalGeneration

    from runtime.model.loading import configure_trainable

    with torch.device("meta"):
        model = LlavaForConditionalGeneration(bench.llava_7b_config())
    return configure_trainable(model)


def test_a_7b_plan_under_plain_ddp_is_refused_with_the_flag_that_fits():
    from runtime.train.memory import GiB, plan_for
    from runtime.train.trainer import memory_verdict

    model, recipe = seven_b(), load_recipe(DEFAULT_CONFIG, {})
    ddp = plan_for(model, recipe, 8, 4, "ddp")
    params = sum(p.numel() for p in model.parameters())
    # fp32 weights, gradients and AdamW moments: 16 bytes a trained parameter, over 100 GiB for 7B.
    assert 15 < (ddp.weights + ddp.gradients + ddp.optimizer) / params < 16.1 and ddp.total > 100 * GiB
    line, refused = memory_verdict(model, recipe, 8, 4, "ddp", 80 * GiB)
    assert refused and "--deepspeed runtime/configs/zero3.json" in refused and "--no-memory-check" in refused
    assert memory_verdict(model, recipe, 8, 2, "zero3", 80 * GiB)[1] is None
    assert "GiB per GPU (ddp" in line


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ecgspec.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )


def test_show_tokens_prints_what_the_model_is_fed_and_trains_nothing(tiny_manifest, tmp_path):
    from runtime.model.tiny import build_tiny_processor

    out = cli("train", str(tiny_manifest), "--model", "tiny", "-o", str(tmp_path / "o"), "--show-tokens", "2")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 2 and not (tmp_path / "o").exists()
    encoder = ItemEncoder(build_tiny_processor(), get_format("llava_v1"), 512)
    for line, item in zip(lines, load_manifests([tiny_manifest]).items[:2], strict=True):
        with Image.open(item.image) as im:
            features = encoder.encode(item, im.convert("RGB"))
        assert line == {"id": item.id, "input_ids": features["input_ids"], "labels": features["labels"]}


def test_show_prompts_prints_generate_inputs_without_loading_weights(tiny_checkpoint, tmp_path):
    from runtime.evaluate.backends.base import Request
    from runtime.evaluate.backends.transformers import TransformersBackend
    from tests.helpers import ecgspec_build

    bench = ecgspec_build("specs/ecgbench_samples.ecg", tmp_path / "bench")
    plan_path = bench / "plans" / "ecgbench_samples.json"
    out = cli(
        "eval", str(plan_path), "--backend", "transformers", "--model", str(tiny_checkpoint), "--show-prompts", "3"
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 3 and all(line["turn"] == 0 for line in lines)
    plan = json.loads(plan_path.read_text())
    items = [it for t in plan["tasks"] for it in t["items"]][:3]
    backend = TransformersBackend(model=str(tiny_checkpoint), load_weights=False)
    for line, item in zip(lines, items, strict=True):
        request = Request(
            "k", ({"role": "user", "content": item["turns"][0]["question"]},), plan_path.parent / item["image"]
        )
        assert line["id"] == item["id"] and line["input_ids"] == backend.prompt(request)[0]
