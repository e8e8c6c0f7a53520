"""Training throughput of a 7B-class LLaVA on one GPU: tokens/s and model FLOPs utilisation (MFU).

    .venv/bin/python bench/train_gpu.py [--layers 32] [--seq-len 2048] [--batch 1] [--steps 5] [--warmup 2]
                                        [--optimizer adamw|sgd] [--no-checkpointing] [--peak-tflops X]

The model is LLaVA-1.5/PULSE-shaped with random weights (nothing downloads): a vicuna-7b-like Llama (hidden
4096, 32 layers, 32 heads, MLP 11008, vocab 32064) under a CLIP ViT-L/14-336 vision tower (24 layers, 576
image tokens) and the 2-layer MLP projector; the recipe's trainable set (vision frozen; projector + LLM
trained), bf16 weights, SDPA attention, gradient checkpointing, synthetic batches of `seq-len` tokens of
which the first 576 are the image.

MFU = model FLOPs per second ÷ the GPU's peak dense bf16 FLOPs (table below, or --peak-tflops). Model FLOPs
per step: 6·N_trained·tokens (forward + backward of every trained matmul: LLM without the embedding lookup,
plus lm_head and projector on their tokens) + the attention score/value matmuls 12·L·d·S per token
(PaLM, appendix B; counted as full, not causal-halved) + 2·N_vision per image patch (the frozen tower runs
forward only). Recomputation by gradient checkpointing is not counted (that would be hardware FLOPs).
"6N" alone is printed too, as the figure most papers quote.

Pure bf16 AdamW (states in bf16) keeps a 7B full fine-tune at ~8 bytes/parameter, about 56 GB, so it fits
an 80 GB GPU; the real recipe spreads optimizer states with ZeRO/FSDP instead. --optimizer sgd measures the
forward/backward alone. On a machine without a GPU the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

# Dense bf16 peak FLOP/s (no sparsity), from the vendors' data sheets; first matching name wins.
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("A10G", 70.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
]
IMAGE_TOKENS_336 = 576


def peak_tflops(name: str) -> float | None:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in name.lower():
            return tflops
    return None


def llava_7b_config(layers: int = 32) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        image_size=336,
        patch_size=14,
        projection_dim=768,
        hidden_act="quick_gelu",
    )
    text = LlamaConfig(
        vocab_size=32064,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=layers,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=32000,
        image_seq_length=576,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )


@dataclass(frozen=True)
class StepFlops:
    """Model FLOPs of one training step, split by where they are spent."""

    llm_matmul: float  # 6 · N_llm · tokens (lm_head included, embedding lookup excluded)
    attention: float  # 12 · L · d · S · tokens
    projector: float  # 6 · N_proj · image tokens
    vision_forward: float  # 2 · N_vision · patches (frozen: no backward)

    @property
    def total(self) -> float:
        return self.llm_matmul + self.attention + self.projector + self.vision_forward


def count_params(model: Any) -> dict[str, int]:
    """Parameter counts of the parts of a LLaVA model (works on the meta device)."""
    inner = model.model
    n = {
        "vision": sum(p.numel() for p in inner.vision_tower.parameters()),
        "projector": sum(p.numel() for p in inner.multi_modal_projector.parameters()),
        "llm": sum(p.numel() for p in inner.language_model.parameters()),
        "embed": inner.language_model.embed_tokens.weight.numel(),
        "lm_head": model.lm_head.weight.numel(),
    }
    # The matmul parameters of the LLM: every weight a token passes through, not the embedding table (a lookup).
    n["llm_matmul"] = n["llm"] - n["embed"] + n["lm_head"]
    return n


def step_flops(config: Any, params: dict[str, int], *, batch: int, seq_len: int, image_tokens: int) -> StepFlops:
    text = config.text_config
    tokens = batch * seq_len
    patches = batch * (image_tokens + 1)  # the vision tower also runs the CLS position
    return StepFlops(
        llm_matmul=6.0 * params["llm_matmul"] * tokens,
        attention=12.0 * text.num_hidden_layers * text.hidden_size * seq_len * tokens,
        projector=6.0 * params["projector"] * batch * image_tokens,
        vision_forward=2.0 * params["vision"] * patches,
    )


def synthetic_batch(config: Any, *, batch: int, seq_len: int, image_tokens: int, device: Any) -> dict[str, Any]:
    import torch

    ids = torch.randint(3, config.image_token_index, (batch, seq_len), device=device)
    ids[:, 1 : 1 + image_tokens] = config.image_token_index
    labels = ids.clone()
    labels[:, : 1 + image_tokens] = -100  # prompt and image unsupervised, as in training
    size = config.vision_config.image_size
    pixels = torch.randn(batch, 3, size, size, device=device, dtype=torch.bfloat16)
    return {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids), "pixel_values": pixels}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=32, help="LLM layers (32 = 7B)")
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    ap.add_argument("--no-checkpointing", action="store_true")
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, if not in the table")
    args = ap.parse_args(argv)

    try:
        import torch
    except ImportError:
        print("train_gpu: torch is not installed (pip install '.[train]'); nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("train_gpu: no CUDA GPU on this machine; nothing to measure (run it where a GPU is present)")
        return 0
    from transformers import LlavaForConditionalGeneration

    name = torch.cuda.get_device_name(0)
    peak = args.peak_tflops or peak_tflops(name)
    config = llava_7b_config(args.layers)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlavaForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.model.vision_tower.requires_grad_(False)
    model.config.use_cache = False
    if not args.no_checkpointing:
        # transformers 5 renamed it; non-reentrant works with the frozen vision tower's inputs needing no grad
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    params = count_params(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if args.optimizer == "adamw":
        opt: Any = torch.optim.AdamW(trainable, lr=2e-5, weight_decay=0.0, fused=True)
    else:
        opt = torch.optim.SGD(trainable, lr=2e-5)
    flops = step_flops(config, params, batch=args.batch, seq_len=args.seq_len, image_tokens=IMAGE_TOKENS_336)
    print(
        f"train_gpu: {name}; LLaVA with a {params['llm'] / 1e9:.2f} B-parameter LLM ({args.layers} layers), "
        f"vision {params['vision'] / 1e6:.0f} M frozen, projector {params['projector'] / 1e6:.1f} M; "
        f"batch {args.batch} × {args.seq_len} tokens; {args.optimizer}; "
        f"checkpointing {'off' if args.no_checkpointing else 'on'}"
    )

    def step() -> float:
        batch = synthetic_batch(
            config, batch=args.batch, seq_len=args.seq_len, image_tokens=IMAGE_TOKENS_336, device="cuda"
        )
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    tokens_per_s = args.batch * args.seq_len / seconds
    six_n = 6.0 * params["llm_matmul"] * args.batch * args.seq_len / seconds
    model_flops = flops.total / seconds
    print(
        f"train_gpu: {seconds * 1000:.0f} ms/step, {tokens_per_s:,.0f} tokens/s, "
        f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    )
    print(f"train_gpu: model FLOPs {model_flops / 1e12:.1f} TFLOP/s (6N: {six_n / 1e12:.1f} TFLOP/s)")
    if peak:
        print(
            f"train_gpu: MFU {100 * model_flops / (peak * 1e12):.1f}% (6N only: {100 * six_n / (peak * 1e12):.1f}%) "
            f"of an assumed {peak:.0f} TFLOP/s dense bf16 peak for {name}"
        )
    else:
        print(f"train_gpu: no peak figure known for {name}; pass --peak-tflops to get MFU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
