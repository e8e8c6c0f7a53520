"""The shipped DeepSpeed and FSDP configs are the shapes the transformers integration expects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from runtime.train.recipe import CONFIGS


def hf_filled_keys() -> set[str]:
    """Every DeepSpeed key transformers' HfTrainerDeepSpeedConfig fills from TrainingArguments or the model."""
    import transformers.integrations.deepspeed as ds

    source = Path(ds.__file__).read_text()
    keys = set(re.findall(r'fill_(?:match|only)\(\s*"([^"]+)"', source))
    keys |= set(re.findall(r'"(zero_optimization\.[a-z0-9_]+)"', source))
    return keys


def auto_keys(config: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in config.items():
        if isinstance(value, dict):
            out |= auto_keys(value, f"{prefix}{key}.")
        elif value == "auto":
            out.add(prefix + key)
    return out


@pytest.mark.parametrize(("name", "stage"), [("zero2.json", 2), ("zero3.json", 3)])
def test_deepspeed_auto_fields_are_ones_transformers_fills(name, stage):
    config = json.loads((CONFIGS / name).read_text())
    assert config["zero_optimization"]["stage"] == stage
    autos = auto_keys(config)
    assert {"train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "bf16.enabled"} <= autos
    assert autos <= hf_filled_keys(), autos - hf_filled_keys()


def test_fsdp_recipe_uses_fsdps_own_checkpointing_and_no_deprecated_option(tmp_path):
    import logging

    from runtime.train.recipe import TINY_CONFIG, load_recipe
    from runtime.train.trainer import TrainRequest, training_arguments

    recipe = load_recipe(TINY_CONFIG, {"fsdp": str(CONFIGS / "fsdp.json"), "gradient_checkpointing": True})
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("transformers.training_args")
    logger.addHandler(handler)
    try:
        args = training_arguments(TrainRequest([], "tiny", tmp_path, recipe, use_cpu=True), 1)
    finally:
        logger.removeHandler(handler)
    assert args.fsdp is True
    assert args.fsdp_config["activation_checkpointing"] is True and not args.activation_checkpointing
    assert "LlamaDecoderLayer" in args.fsdp_config["transformer_layer_cls_to_wrap"]
    assert not [r for r in records if "deprecated" in r or "redundant AllGather" in r], records
