"""`ecgspec train`: fine-tune a LLaVA model on LLaVA-format manifests.

Registered on the `ecgspec` parser by `runtime.cli`; also runnable as `python -m runtime.train …`, which is
what `torchrun --nproc_per_node N -m runtime.train …` launches for multi-GPU and multi-node jobs. This
module imports nothing heavy: torch and transformers load only when the command runs.

Exit status: 0 trained, 1 a problem with the data, the model or the recipe (one message, no traceback),
2 misuse.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EPILOG = """\
The recipe comes from --config (default runtime/configs/pulse.yaml, the PULSE paper's; runtime/configs/tiny.yaml
with --model tiny); flags override it. The global batch stays as configured: grad accumulation =
global batch / (batch size × processes). Multi-GPU / multi-node: torchrun --nproc_per_node 8 -m runtime.train …
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST", help="LLaVA-format JSON or JSONL")
    p.add_argument("--model", required=True, help="a local Hugging Face LLaVA / LLaVA-NeXT directory, or `tiny`")
    p.add_argument("--output", "-o", required=True, type=Path, help="checkpoints and the final model go here")
    p.add_argument("--config", type=Path, help="recipe YAML/JSON (default: the PULSE recipe)")
    p.add_argument("--image-folder", type=Path, help="image paths are relative to this (default: from the manifest)")
    p.add_argument("--max-steps", type=int, help="stop after N optimiser steps (overrides --epochs)")
    p.add_argument("--epochs", type=float)
    p.add_argument("--lr", type=float, dest="learning_rate")
    p.add_argument("--batch-size", type=int, dest="per_device_batch_size", help="per device")
    p.add_argument("--global-batch-size", type=int)
    p.add_argument("--grad-accum", type=int, help="fix accumulation instead of deriving it from the global batch")
    p.add_argument("--max-length", type=int)
    p.add_argument("--freeze-llm", action="store_const", const=True, help="train only the projector")
    p.add_argument("--lora", action="store_const", const=True, help="train the LLM through LoRA (projector in full)")
    p.add_argument("--lora-r", type=int, default=64)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--deepspeed", help="DeepSpeed JSON, e.g. runtime/configs/zero3.json")
    p.add_argument("--fsdp", help="FSDP config, e.g. runtime/configs/fsdp.json")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CKPT",
        help="resume from CKPT, or from the last checkpoint in --output",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--save-steps", type=int)
    p.add_argument("--logging-steps", type=int)
    p.add_argument("--workers", type=int, dest="dataloader_num_workers", help="data loader worker processes")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU is present (gloo)")
    p.add_argument(
        "--conversation",
        help="conversation format (runtime/configs/chat_formats.yaml): llava_v1, "
        "vicuna_v1, or `model` for the checkpoint's own chat template (default: the recipe's)",
    )
    p.add_argument(
        "--weights-dtype",
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 under DeepSpeed (fp32 master weights in ZeRO), else fp32",
    )
    p.add_argument(
        "--no-memory-check",
        dest="memory_check",
        action="store_const",
        const=False,
        help="train even when the estimated memory per GPU exceeds the GPU's",
    )
    p.add_argument("--dedupe", action="store_true", help="drop later items whose id repeats (default: keep, counted)")
    p.add_argument(
        "--length-cache",
        type=Path,
        help="where planned sequence lengths are cached "
        "(default: $ECGSPEC_CACHE_DIR/train-lengths or ~/.cache/ecgspec/train-lengths)",
    )
    p.add_argument(
        "--show-tokens",
        type=int,
        metavar="N",
        help="print the first N encoded items as JSON lines {id, input_ids, labels} and exit",
    )


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune a LLaVA model on training manifests (PULSE recipe)",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=cmd_train)


def _err(message: str) -> None:
    print(f"ecgspec train: {message}", file=sys.stderr)


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    from runtime.data.manifest import ManifestError
    from runtime.model.loading import ModelError, check_local_model
    from runtime.train.encode import TemplateError
    from runtime.train.recipe import DEFAULT_CONFIG, TINY_CONFIG, RecipeError, load_recipe

    try:
        if args.model != "tiny":
            check_local_model(args.model)  # before importing torch: a wrong name fails in a blink
        for m in args.manifests:
            if not m.is_file():
                raise ManifestError(f"{m}: no such manifest")
        config = args.config or (TINY_CONFIG if args.model == "tiny" else DEFAULT_CONFIG)
        overrides = {
            k: getattr(args, k)
            for k in (
                "max_steps",
                "epochs",
                "learning_rate",
                "per_device_batch_size",
                "global_batch_size",
                "grad_accum",
                "max_length",
                "freeze_llm",
                "bf16",
                "gradient_checkpointing",
                "deepspeed",
                "fsdp",
                "seed",
                "save_steps",
                "logging_steps",
                "dataloader_num_workers",
                "conversation",
                "weights_dtype",
                "memory_check",
            )
        }
        if args.lora:
            overrides["lora"] = {"r": args.lora_r, "alpha": 2 * args.lora_r}  # LLaVA's LoRA recipe: alpha = 2r
        recipe = load_recipe(config, overrides)
    except (ManifestError, ModelError, RecipeError) as exc:
        _err(str(exc))
        return 1

    if args.show_tokens is not None:
        try:
            return show_tokens(args, recipe)
        except (ManifestError, ModelError, TemplateError) as exc:
            _err(str(exc))
            return 1

    from runtime.train.trainer import TrainError, TrainRequest, train

    request = TrainRequest(
        manifests=list(args.manifests),
        model=args.model,
        output=args.output,
        recipe=recipe,
        image_folder=args.image_folder,
        resume=args.resume,
        use_cpu=args.cpu or not _has_gpu(),
        dedupe=args.dedupe,
        length_cache=args.length_cache,
    )
    try:
        result = train(request)
    except (ManifestError, ModelError, RecipeError, TemplateError, TrainError) as exc:
        _err(str(exc))
        return 1
    if result.losses:
        from runtime.train.trainer import say

        say(f"{result.global_step} steps; loss {result.losses[0]:.4f} → {result.losses[-1]:.4f}")
    return 0


def show_tokens(args: argparse.Namespace, recipe: Any) -> int:
    """The first N items exactly as the model is fed them (image tokens expanded), one JSON line each."""
    import json

    from PIL import Image

    from runtime.chat.formats import get_format
    from runtime.data.manifest import load_manifests
    from runtime.model.loading import load_processor
    from runtime.train.encode import ItemEncoder

    loaded = load_manifests(args.manifests, image_folder=args.image_folder, dedupe=args.dedupe)
    encoder = ItemEncoder(load_processor(args.model), get_format(recipe.conversation), recipe.max_length)
    for item in loaded.items[: args.show_tokens]:
        image = None
        if item.image is not None:
            with Image.open(item.image) as im:
                image = im.convert("RGB")
        features = encoder.encode(item, image)
        print(json.dumps({"id": item.id, "input_ids": features["input_ids"], "labels": features["labels"]}))
    return 0


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.train",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return cmd_train(parser.parse_args(argv), parser)
