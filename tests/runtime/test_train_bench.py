"""bench/train_gpu.py: exits 0 with a message where no GPU is present; its FLOPs arithmetic is right."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def load_bench():
    spec = importlib.util.spec_from_file_location("train_gpu", ROOT / "bench" / "train_gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_gpu"] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the bench would run for real")
def test_without_a_gpu_the_bench_says_so_and_exits_0():
    out = subprocess.run([sys.executable, "bench/train_gpu.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "no CUDA GPU" in out.stdout


def test_flops_count_matches_the_closed_form_on_the_tiny_model():
    from runtime.model.tiny import build_tiny_llava

    bench = load_bench()
    model, _ = build_tiny_llava()
    cfg = model.config
    t = cfg.text_config
    n = bench.count_params(model)
    d, f, L, V, kv = t.hidden_size, t.intermediate_size, t.num_hidden_layers, t.vocab_size, t.num_key_value_heads
    head = d // t.num_attention_heads
    per_layer = 2 * d * d + 2 * d * kv * head + 3 * d * f + 2 * d  # q,o + k,v + MLP + two RMSNorms
    assert n["llm_matmul"] == L * per_layer + d + d * V  # + final norm + lm_head; the embedding lookup excluded
    assert n["vision"] == sum(p.numel() for p in model.model.vision_tower.parameters())
    flops = bench.step_flops(cfg, n, batch=2, seq_len=100, image_tokens=16)
    assert flops.llm_matmul == 6 * n["llm_matmul"] * 200
    assert flops.attention == 12 * L * d * 100 * 200
    assert flops.vision_forward == 2 * n["vision"] * 2 * 17
    assert flops.total == flops.llm_matmul + flops.attention + flops.projector + flops.vision_forward


def test_the_7b_config_is_7b_class_and_peaks_are_known_for_common_gpus():
    from transformers import LlavaForConditionalGeneration

    bench = load_bench()
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(bench.llava_7b_config())
    n = bench.count_params(model)
    assert 6.5e9 < n["llm"] < 7.0e9 and 2.9e8 < n["vision"] < 3.1e8
    assert bench.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert bench.peak_tflops("Some Future GPU") is None
