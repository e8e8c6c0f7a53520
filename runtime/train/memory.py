"""Memory per GPU of a training plan, estimated before any weight is loaded.

The estimate counts what dominates a full fine-tune: weights, gradients and AdamW state for the chosen
parallelism, plus activations for the recipe's batch and max length. It is printed before training starts,
and a plan that cannot fit the GPU is refused with the flag that makes it fit, instead of an out-of-memory
error an hour into loading.

Bytes per parameter (P all parameters, T the trained ones, N processes):

| strategy          | weights          | gradients   | optimizer                           |
|-------------------|------------------|-------------|-------------------------------------|
| ddp (one process) | P·w              | T·w         | T·2w (AdamW's two moments, dtype w) |
| zero2             | P·2 (bf16)       | T·2 / N     | T·12 / N (fp32 master + moments)    |
| zero3             | P·2 / N          | T·2 / N     | T·12 / N                            |
| fsdp              | P·4 / N (fp32)   | T·4 / N     | T·8 / N                             |

w is the weights' byte width (4 for fp32, 2 for bf16). Activations: with gradient checkpointing each layer
keeps its input (b·s·d·2 bytes) and one layer is live at a time (about 34·b·s·d bytes, Korthikanti et al.
2022, with SDPA so no s² term); without, every layer keeps its 34·b·s·d; plus the fp32 logits for the loss
(b·s·V·4, twice for their gradient). It is an estimate: allocator fragmentation, CUDA context (~1 GiB) and
communication buffers come on top, so a plan is refused above 92% of the GPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GiB = 1024**3
HEADROOM = 0.92


@dataclass(frozen=True)
class MemoryPlan:
    strategy: str
    weights: float
    gradients: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations

    def describe(self) -> str:
        return (
            f"{self.total / GiB:.1f} GiB per GPU ({self.strategy}: weights {self.weights / GiB:.1f}, "
            f"gradients {self.gradients / GiB:.1f}, optimizer {self.optimizer / GiB:.1f}, "
            f"activations {self.activations / GiB:.1f})"
        )


def strategy_of(deepspeed: str | None, fsdp: str | None) -> str:
    if fsdp:
        return "fsdp"
    if deepspeed:
        stage = json.loads(Path(deepspeed).read_text()).get("zero_optimization", {}).get("stage", 0)
        return f"zero{stage}" if stage in (2, 3) else "ddp"
    return "ddp"


def estimate(
    *,
    params: int,
    trained: int,
    strategy: str,
    world_size: int,
    weight_bytes: int,
    batch: int,
    seq_len: int,
    hidden: int,
    layers: int,
    vocab: int,
    checkpointing: bool,
) -> MemoryPlan:
    n = max(world_size, 1)
    if strategy == "zero3":
        weights, grads, optim = 2 * params / n, 2 * trained / n, 12 * trained / n
    elif strategy == "zero2":
        weights, grads, optim = 2 * params, 2 * trained / n, 12 * trained / n
    elif strategy == "fsdp":
        weights, grads, optim = 4 * params / n, 4 * trained / n, 8 * trained / n
    else:
        weights, grads, optim = weight_bytes * params, weight_bytes * trained, 2 * weight_bytes * trained
    tokens = batch * seq_len
    per_layer = 34 * tokens * hidden
    acts = (layers * 2 * tokens * hidden + per_layer) if checkpointing else layers * per_layer
    acts += 2 * 4 * tokens * vocab
    return MemoryPlan(strategy, weights, grads, optim, float(acts))


def plan_for(model: Any, recipe: Any, world_size: int, weight_bytes: int, strategy: str) -> MemoryPlan:
    """The estimate for a model (real or on the meta device) already configured for training."""
    text = getattr(model.config, "text_config", model.config)
    params = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return estimate(
        params=params,
        trained=trained,
        strategy=strategy,
        world_size=world_size,
        weight_bytes=weight_bytes,
        batch=recipe.per_device_batch_size,
        seq_len=recipe.max_length,
        hidden=text.hidden_size,
        layers=text.num_hidden_layers,
        vocab=text.vocab_size,
        checkpointing=recipe.gradient_checkpointing,
    )


def fixes(model: Any, recipe: Any, world_size: int, weight_bytes: int, budget: float) -> list[str]:
    """Flags that would make the plan fit, each with its estimate; the cheapest change first."""
    out = []
    for flag, strategy in (
        ("--deepspeed runtime/configs/zero2.json", "zero2"),
        ("--deepspeed runtime/configs/zero3.json", "zero3"),
        ("--fsdp runtime/configs/fsdp.json", "fsdp"),
    ):
        plan = plan_for(model, recipe, world_size, 2, strategy)
        if plan.total <= budget and world_size > 1:
            out.append(f"{flag} (≈ {plan.total / GiB:.0f} GiB)")
    if not recipe.gradient_checkpointing:
        out.append("--gradient-checkpointing")
    if recipe.per_device_batch_size > 1:
        out.append(f"--batch-size {max(recipe.per_device_batch_size // 2, 1)} (accumulation keeps the global batch)")
    if world_size == 1:
        out.append("more GPUs with torchrun and --deepspeed runtime/configs/zero3.json")
    out.append("--lora (the LLM through LoRA)")
    return out
