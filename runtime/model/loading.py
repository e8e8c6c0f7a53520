"""Loading a LLaVA checkpoint from a local directory, and choosing what trains.

Nothing downloads: `--model` is a local Hugging Face directory (LLaVA-1.5 `llava` or LLaVA-1.6 `llava_next`,
e.g. llava-hf/llava-v1.6-vicuna-7b-hf fetched beforehand) or `tiny`. Everything is opened with
``local_files_only=True`` so a typo never turns into a hub request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUPPORTED = {
    "llava": "LlavaForConditionalGeneration",
    "llava_next": "LlavaNextForConditionalGeneration",
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
}
CHAT_FILE = "ecgspec_chat.json"  # the conversation format a checkpoint was trained with, for the evaluator
LLM_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class ModelError(ValueError):
    """A --model that cannot be used; the message is one line for the user."""


def check_local_model(spec: str) -> Path:
    """The checkpoint directory for a --model value, or a one-line error saying how to get it."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(
            f"--model {spec!r} is not a local directory and nothing is downloaded at run time; fetch it first, "
            f"e.g. `huggingface-cli download llava-hf/llava-v1.6-vicuna-7b-hf --local-dir DIR`, then pass --model DIR"
        )
    if not (path / "config.json").is_file():
        raise ModelError(f"--model {spec!r}: no config.json there; expected a Hugging Face checkpoint directory")
    model_type = json.loads((path / "config.json").read_text()).get("model_type")
    if model_type not in SUPPORTED:
        raise ModelError(
            f"--model {spec!r} is a {model_type!r} checkpoint; the trainer takes {', '.join(SUPPORTED)} "
            "(Hugging Face format: convert original liuhaotian/* checkpoints or use the llava-hf/* ones)"
        )
    return path


def model_type(spec: str) -> str:
    if spec == "tiny":
        return "llava"
    return str(json.loads((check_local_model(spec) / "config.json").read_text())["model_type"])


def load_processor(spec: str) -> Any:
    """The processor alone (tokenizer, image processor, chat template): enough to encode, no weights read."""
    if spec == "tiny":
        from .tiny import build_tiny_processor

        return build_tiny_processor()
    from transformers import AutoProcessor

    from .compat import allow_image_only_processors

    allow_image_only_processors()
    return AutoProcessor.from_pretrained(check_local_model(spec), local_files_only=True)


def meta_model(spec: str) -> Any:
    """The model's modules on the meta device (no memory, no weights read): for counting parameters."""
    import torch

    if spec == "tiny":
        from .tiny import build_tiny_llava

        return build_tiny_llava()[0]
    import transformers
    from transformers import AutoConfig

    path = check_local_model(spec)
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with torch.device("meta"):
        return getattr(transformers, SUPPORTED[config.model_type])(config)


def trained_format(path: Path) -> str | None:
    """The conversation format recorded in a checkpoint trained by ecgspec, else None."""
    file = Path(path) / CHAT_FILE
    if not file.is_file():
        return None
    return str(json.loads(file.read_text(encoding="utf-8")).get("conversation")) or None


def load_model(
    spec: str, *, dtype: Any = None, seed: int = 0, attn_implementation: str | None = None
) -> tuple[Any, Any]:
    """(model, processor) for `tiny` or a local checkpoint directory."""
    if spec == "tiny":
        from .tiny import build_tiny_llava

        model, processor = build_tiny_llava(seed=seed)
        return (model.to(dtype) if dtype is not None else model), processor
    import transformers
    from transformers import AutoProcessor

    from .compat import allow_image_only_processors

    allow_image_only_processors()
    path = check_local_model(spec)
    model_type = json.loads((path / "config.json").read_text())["model_type"]
    cls = getattr(transformers, SUPPORTED[model_type])
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = cls.from_pretrained(path, **kwargs)
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    check_processor_matches(model.config, processor)
    return model, processor


def check_processor_matches(config: Any, processor: Any) -> None:
    """For LLaVA-1.5 the processor's image-token count must equal the number of features the vision tower
    gives (patches, +CLS, −1 under the `default` strategy); a mismatch fails only at the first forward pass."""
    if getattr(config, "model_type", "") != "llava" or not hasattr(processor, "_get_num_multimodal_tokens"):
        return
    vision = config.vision_config
    features = (vision.image_size // vision.patch_size) ** 2
    if getattr(vision, "model_type", "") == "clip_vision_model":
        features += 1  # CLS
    if config.vision_feature_select_strategy == "default":
        features -= 1
    n = processor._get_num_multimodal_tokens(image_sizes=[[vision.image_size, vision.image_size]]).num_image_tokens[0]
    if n != features:
        raise ModelError(
            f"processor expands <image> to {n} tokens but the vision tower gives {features} features; "
            "set num_additional_image_tokens / patch_size / vision_feature_select_strategy in processor_config.json"
        )


def parts(model: Any) -> tuple[Any, Any, Any, Any]:
    """(vision encoder, projector, language model, lm head) of a LLaVA, LLaVA-NeXT or Qwen2(.5)-VL model.

    In Qwen2-VL the projector (the patch merger) lives inside the vision module; `configure_trainable`
    freezes the vision module and then unfreezes the merger."""
    inner = model.model
    if hasattr(inner, "visual"):
        return inner.visual, inner.visual.merger, inner.language_model, model.lm_head
    return inner.vision_tower, inner.multi_modal_projector, inner.language_model, model.lm_head


def configure_trainable(model: Any, *, freeze_llm: bool = False, lora: dict[str, Any] | None = None) -> Any:
    """Freeze the vision tower; train the projector and (unless `freeze_llm`) the LLM, fully or through LoRA.

    Returns the model to train (a peft model when `lora` is given). `image_newline` (LLaVA-NeXT) trains with
    the projector: it is part of the connector, not of the vision encoder.
    """
    vision, projector, llm, head = parts(model)
    for p in model.parameters():
        p.requires_grad_(True)
    for p in vision.parameters():
        p.requires_grad_(False)
    for p in projector.parameters():
        p.requires_grad_(True)
    if freeze_llm:
        for module in (llm, head):
            for p in module.parameters():
                p.requires_grad_(False)
    if lora is None or freeze_llm:
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=int(lora.get("r", 64)),
        lora_alpha=int(lora.get("alpha", 16)),
        lora_dropout=float(lora.get("dropout", 0.05)),
        # Only the language model's linear layers: the vision tower stays frozen and the projector trains in full.
        target_modules=r".*language_model.*\.(" + "|".join(LLM_LINEAR) + r")$",
        modules_to_save=["merger"] if hasattr(model.model, "visual") else ["multi_modal_projector"],
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def trainable_summary(model: Any) -> str:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"{trainable:,} of {total:,} parameters trainable ({100 * trainable / max(total, 1):.1f}%)"
