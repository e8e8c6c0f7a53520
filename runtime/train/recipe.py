"""The training recipe: a config file (YAML or JSON) of hyper-parameters, overridden by command-line flags.

The default, `runtime/configs/pulse.yaml`, is the PULSE paper's recipe: 3 epochs, global batch 128,
lr 2e-5 with cosine decay and 3% warmup, no weight decay, max length 4096, bf16, LLaVA's `llava_v1`
conversation format. The global batch is a
property of the recipe, not of the cluster: gradient accumulation is derived from the world size so that
per_device_batch_size × grad_accum × world_size stays equal to it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIGS / "pulse.yaml"
TINY_CONFIG = CONFIGS / "tiny.yaml"


class RecipeError(ValueError):
    """An inconsistent recipe; one line for the user."""


@dataclass
class Recipe:
    epochs: float = 3.0
    max_steps: int = -1
    global_batch_size: int = 128
    per_device_batch_size: int = 4
    grad_accum: int | None = None  # derived from global batch and world size when None
    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 4096
    conversation: str = "llava_v1"  # a format of runtime/configs/chat_formats.yaml (`model`: the checkpoint's template)
    bf16: bool = True
    # Weights' dtype at load: `auto` is bf16 under DeepSpeed (ZeRO keeps fp32 master weights in the optimizer)
    # and fp32 otherwise (AdamW on bf16 weights would round 2e-5 updates away); `bf16`/`fp32` force it.
    weights_dtype: str = "auto"
    memory_check: bool = True  # refuse a plan whose estimated memory per GPU exceeds the GPU's
    gradient_checkpointing: bool = True
    freeze_llm: bool = False
    lora: dict[str, Any] | None = None  # {"r": 64, "alpha": 16, "dropout": 0.05} to train the LLM through LoRA
    seed: int = 42
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int = 2
    dataloader_num_workers: int = 4
    group_by_length: bool = True
    deepspeed: str | None = None
    fsdp: str | None = None  # path to an FSDP config (JSON/YAML) with an "fsdp" option string and "fsdp_config"
    extra: dict[str, Any] = field(default_factory=dict)  # passed to TrainingArguments verbatim

    def accumulation(self, world_size: int) -> int:
        """Gradient accumulation steps that keep the configured global batch on `world_size` processes."""
        if self.grad_accum is not None:
            return self.grad_accum
        per_step = self.per_device_batch_size * world_size
        if self.global_batch_size % per_step:
            raise RecipeError(
                f"global batch {self.global_batch_size} is not a multiple of per-device batch "
                f"{self.per_device_batch_size} × {world_size} processes; change --batch-size or set --grad-accum"
            )
        return self.global_batch_size // per_step


def read_config(path: Path) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping of settings")
    return data


def load_recipe(path: Path | None, overrides: dict[str, Any]) -> Recipe:
    """The recipe from a config file, then every override that is not None."""
    values: dict[str, Any] = read_config(path) if path else {}
    known = {f.name for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RecipeError(f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values.update({k: v for k, v in overrides.items() if v is not None})
    recipe = Recipe(**values)
    if recipe.deepspeed and recipe.fsdp:
        raise RecipeError("--deepspeed and --fsdp are alternatives; pick one")
    if recipe.weights_dtype not in ("auto", "bf16", "fp32"):
        raise RecipeError(f"weights_dtype {recipe.weights_dtype!r}: expected auto, bf16 or fp32")
    from runtime.chat.formats import FormatError, get_format

    try:
        get_format(recipe.conversation)
    except FormatError as exc:
        raise RecipeError(str(exc)) from None
    return recipe
