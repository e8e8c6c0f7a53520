"""Start-up cost of a training run: reading the manifests and planning every item's length.

    .venv/bin/python bench/train_plan.py [--items 10000 1000000] [--next] [--format llava_v1|model]

Synthetic ECGInstruct-like manifests (1-4 turns, questions and answers of realistic length, one image per
item) in the build layout, with the build's `NAME.lengths.json` sidecar; the real LLaMA-2 tokenizer of the
test fixtures; a LLaVA-NeXT-shaped processor (`--next`, image tokens depend on the page size, taken from the
sidecar) or a LLaVA-1.5 one. For each size it prints, medians of --repeat runs:

  load     load_manifests (JSON parse, validation, one stat() per image)
  plan     exact lengths for every item: batched tokenisation (the first start of a run)
  cached   the same from the on-disk cache (every later start, resume and rank)

and the start-up projected for ECGInstruct's 1.2M items. For comparison, `--per-item N` times the previous
planner's way on N items: the chat template rendered per turn and every image opened. Images are 2,000
distinct files cycled over the items, so stat() hits the page cache: a network filesystem adds its own
latency per file on top of `load`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

ECGINSTRUCT_ITEMS = 1_200_000
QUESTIONS = [
    "What is the heart rate shown in this ECG?",
    "Please interpret this 12-lead electrocardiogram and describe the rhythm, axis and any abnormalities.",
    "Is there evidence of atrial fibrillation in this recording?",
    "Which of the following best describes the rhythm? A. sinus rhythm B. atrial flutter C. sinus tachycardia "
    "D. ventricular tachycardia",
    "Fill in the blank: the QRS axis of this ECG is ___.",
]
ANSWERS = [
    "The heart rate is about 72 beats per minute.",
    "Sinus rhythm with a normal axis. There are Q waves in leads II, III and aVF with T-wave inversion, "
    "consistent with an old inferior myocardial infarction. No signs of acute ischemia.",
    "No. The rhythm is regular with a P wave before every QRS complex.",
    "A. sinus rhythm",
    "normal",
]


def synth_manifest(folder: Path, n: int, images: int = 2000) -> Path:
    from PIL import Image

    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    sizes = [(1700, 2200), (850, 1100), (1100, 1700)]
    for k in range(min(images, n)):
        path = image_dir / f"p{k}.png"
        if not path.exists():
            Image.new("RGB", (8, 8), "white").save(path)
    manifest = folder / "manifests" / "synthetic.json"
    manifest.parent.mkdir(exist_ok=True)
    ids, lengths, shapes = [], [], []
    with open(manifest, "w", encoding="utf-8") as f:
        f.write("[")
        for i in range(n):
            turns = []
            for t in range(1 + i % 4):
                q = QUESTIONS[(i + t) % len(QUESTIONS)]
                turns += [
                    {"from": "human", "value": ("<image>\n" if t == 0 else "") + q},
                    {"from": "gpt", "value": ANSWERS[(i * 7 + t) % len(ANSWERS)]},
                ]
            item = {"id": f"s{i}", "image": f"p{i % images}.png", "conversations": turns}
            f.write(("," if i else "") + "\n" + json.dumps(item))
            ids.append(item["id"])
            lengths.append(sum(len(c["value"].split()) for c in turns) + 128)
            shapes.append(list(sizes[i % len(sizes)]))
        f.write("\n]\n")
    from runtime.train.lengths import file_sha256

    side = {
        "schema": "ecgspec.lengths/1",
        "manifest": manifest.name,
        "manifest_sha256": file_sha256(manifest),
        "estimate": "llava modality_lengths",
        "ids": ids,
        "modality_lengths": lengths,
        "image_sizes": shapes,
    }
    manifest.with_name("synthetic.lengths.json").write_text(json.dumps(side, separators=(",", ":")))
    return manifest


def processor(next_: bool):
    from transformers import AutoTokenizer

    from runtime.model.tiny import build_llava_hf_shaped

    tok = AutoTokenizer.from_pretrained(ROOT / "tests" / "runtime" / "fixtures" / "llama_tokenizer")
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.add_special_tokens({"pad_token": "<pad>"})
    return build_llava_hf_shaped(tok, next_=next_)[1]


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def measure(folder: Path, n: int, encoder: Any, repeat: int) -> tuple[float, float, float]:
    """Median seconds to load an n-item manifest, to plan its lengths afresh, and to read them from the cache."""
    from runtime.data.manifest import load_manifests
    from runtime.train.lengths import plan_lengths

    manifest = synth_manifest(folder, n)
    t_load, loaded = median_time(lambda: load_manifests([manifest]), repeat)
    items = loaded.items  # type: ignore[attr-defined]
    assert len(items) == n, loaded.summary()  # type: ignore[attr-defined]
    cache = folder / "cache"

    def plan() -> object:
        return plan_lengths(items, encoder, manifests=[manifest], cache_dir=cache, say=lambda m: None)

    def fresh() -> object:
        for f in cache.glob("*.npz"):
            f.unlink()
        return plan()

    t_plan, _ = median_time(fresh, repeat)
    t_cached, _ = median_time(plan, repeat)
    return t_load, t_plan, t_cached


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--next", action="store_true", help="LLaVA-NeXT processor (sizes from the sidecar)")
    ap.add_argument("--format", default="llava_v1")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (1 for sizes above 100k)")
    ap.add_argument("--per-item", type=int, default=2000, help="items timed with the previous per-item planner")
    args = ap.parse_args(argv)

    from runtime.chat import get_format
    from runtime.data.manifest import load_manifests
    from runtime.train.encode import ItemEncoder

    encoder = ItemEncoder(processor(args.next), get_format(args.format), 4096)
    kind = "LLaVA-NeXT" if args.next else "LLaVA-1.5"
    print(f"{kind} processor, real LLaMA-2 tokenizer, format {args.format}, {os.cpu_count()} CPUs")
    print(
        f"{'items':>10} {'load':>9} {'plan':>9} {'cached':>9} {'load µs/it':>11} {'plan µs/it':>11} "
        f"{'cache µs/it':>12} {'start-up 1.2M (first / later)':>30}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.items:
            t_load, t_plan, t_cached = measure(Path(tmp) / f"n{n}", n, encoder, args.repeat if n <= 100_000 else 1)
            per = [t / n for t in (t_load, t_plan, t_cached)]
            first = ECGINSTRUCT_ITEMS * (per[0] + per[1])
            later = ECGINSTRUCT_ITEMS * (per[0] + per[2])
            print(
                f"{n:>10,} {t_load:>8.2f}s {t_plan:>8.2f}s {t_cached:>8.2f}s {1e6 * per[0]:>11.1f} "
                f"{1e6 * per[1]:>11.1f} {1e6 * per[2]:>12.1f} {first / 60:>17.1f} / {later / 60:.1f} min"
            )
    if args.per_item:
        from PIL import Image

        with tempfile.TemporaryDirectory() as tmp:
            manifest = synth_manifest(Path(tmp), args.per_item)
            items = load_manifests([manifest]).items
            from runtime.model.chat_template import LLAVA_HF_TEMPLATE

            encoder.processor.chat_template = LLAVA_HF_TEMPLATE
            model = ItemEncoder(encoder.processor, get_format("model"), 4096)
            start = time.perf_counter()
            for item in items:
                size = None
                if model.needs_image_size():
                    with Image.open(item.image) as im:
                        size = (im.height, im.width)
                model.plan(item, size)
            per_item = (time.perf_counter() - start) / len(items)
            print(
                f"previous planner (template rendered per turn, item by item, image opened): "
                f"{1e6 * per_item:.0f} µs/item, {ECGINSTRUCT_ITEMS * per_item / 60:.1f} min for 1.2M items"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
