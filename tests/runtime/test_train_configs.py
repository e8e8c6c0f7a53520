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


def test_fsdp_config_is_accepted_by_training_arguments(tmp_path):
    from transformers import TrainingArguments

    spec = json.loads((CONFIGS / "fsdp.json").read_text())
    args = TrainingArguments(output_dir=str(tmp_path), fsdp=spec["fsdp"], fsdp_config=spec["fsdp_config"],
                             use_cpu=True, report_to="none")
    assert args.fsdp
    assert "LlamaDecoderLayer" in args.fsdp_config["transformer_layer_cls_to_wrap"]
