"""Tiny, randomly initialised Qwen2-VL and Qwen2.5-VL models that run the training and evaluation path on a CPU.

`save_tiny_qwen2_vl(path, variant=...)` writes a complete Hugging Face checkpoint directory (config, weights,
tokenizer, PIL image processor, processor with a ChatML chat template of Qwen2-VL's shape) that loads offline
with ``AutoModelForImageTextToText.from_pretrained`` and ``AutoProcessor.from_pretrained``. What matters for
the trainer is kept as in the released models: Qwen's special tokens (no BOS; `<|endoftext|>` pads,
`<|im_end|>` ends a turn), dynamic resolution (the image-token count follows the image's size), a patch
merger of 2×2 patches that is the projector, and multimodal RoPE. Only the sizes are small: 8 px patches and
a pixel budget of at most 12 merged tokens, so an ECG page becomes a handful of tokens.

Without torchvision, transformers (≥ 5.4) can neither build nor load a Qwen2-VL processor: the processor
declares a video processor, video processors need torchvision, and `AutoProcessor` loads every declared
sub-processor eagerly. `allow_image_only_processors()` lets them load with a video processor that only holds
its configuration (it refuses videos); it does nothing where torchvision is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.model.compat import allow_image_only_processors
from runtime.model.tiny import train_bpe

VARIANTS = ("qwen2_vl", "qwen2_5_vl")
PATCH_SIZE = 8
MERGE_SIZE = 2
# Pixel budget in merged tokens: (8 px × 2)² px each. A landscape ECG page resizes to at most 12 tokens, a
# small image to no fewer than 2, and every size in between to its own count (dynamic resolution).
MIN_PIXELS = 2 * (PATCH_SIZE * MERGE_SIZE) ** 2
MAX_PIXELS = 12 * (PATCH_SIZE * MERGE_SIZE) ** 2
VOCAB_SIZE = 640
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
DEFAULT_SYSTEM = "You are a helpful assistant."

# ChatML as Qwen2-VL's own template renders it: a default system turn when none is given, the image as
# <|vision_start|><|image_pad|><|vision_end|> where it stands in the user's content, every turn closed by
# <|im_end|> and a newline. Written for this project (same shape, not the published file).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'video' -%}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Words the tiny tokenizer learns merges for; any other text still encodes byte by byte.
_WORDS = """
You are a helpful assistant. system user assistant
What is the heart rate of this ECG? The heart rate is beats per minute bpm. What is the rhythm?
sinus rhythm sinus tachycardia sinus bradycardia atrial fibrillation atrial flutter normal abnormal
left right bundle branch block axis deviation ventricular premature complex contraction hypertrophy
myocardial infarction ischemia ST elevation depression T wave inversion QRS duration QT interval
PR interval P wave lead leads I II III aVR aVL aVF V1 V2 V3 V4 V5 V6 ms mV mm yes no A B C D
Which of the following diagnoses does this ECG show? Options: Answer: Write a report for this ECG.
0 1 2 3 4 5 6 7 8 9 10 20 30 40 50 60 70 80 90 100 110 120 130 140 150 160 170 180
"""


def build_tiny_qwen_processor(variant: str = "qwen2_vl") -> Any:
    """The processor (tokenizer + PIL image processor + chat template) of a tiny Qwen2-VL / Qwen2.5-VL."""
    _check(variant)
    allow_image_only_processors()
    import transformers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.video_processing_utils import BaseVideoProcessor

    # As Qwen's tokenizers: no BOS (the template starts with <|im_start|>), <|im_end|> ends an answer and
    # stops generation, <|endoftext|> pads.
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(_WORDS, SPECIAL_TOKENS, VOCAB_SIZE),
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"},
        model_max_length=4096,
        padding_side="right",
        chat_template=CHAT_TEMPLATE,
    )
    images = Qwen2VLImageProcessorPil(
        patch_size=PATCH_SIZE,
        merge_size=MERGE_SIZE,
        temporal_patch_size=2,
        min_pixels=MIN_PIXELS,
        max_pixels=MAX_PIXELS,
    )
    # Images only: the video processor is there because the processor class declares one.
    settings: dict[str, Any] = {"patch_size": PATCH_SIZE, "merge_size": MERGE_SIZE, "temporal_patch_size": 2}
    videos = BaseVideoProcessor(**settings)
    cls = transformers.Qwen2VLProcessor if variant == "qwen2_vl" else transformers.Qwen2_5_VLProcessor
    return cls(image_processor=images, tokenizer=tokenizer, video_processor=videos, chat_template=CHAT_TEMPLATE)


def tiny_qwen_config(tokenizer: Any, variant: str = "qwen2_vl") -> Any:
    """A 2-layer text model (hidden 64) and a 2-layer vision tower (width 32) of the variant's architecture."""
    _check(variant)
    import transformers

    ids = {
        name: tokenizer.convert_tokens_to_ids(tok)
        for name, tok in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        # M-RoPE: the head's 8 rotary frequencies split over (time, height, width) as Qwen's 16/24/24 of 64.
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "bos_token_id": None,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    common = {
        "depth": 2,
        "num_heads": 2,
        "in_channels": 3,
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "temporal_patch_size": 2,
    }
    if variant == "qwen2_vl":
        # `hidden_size` here is the merger's output: the LLM's width.
        vision: dict[str, Any] = dict(common, embed_dim=32, mlp_ratio=2, hidden_size=64)
        return transformers.Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    # Qwen2.5-VL: windowed attention in every block but the last (a 2×2-merged-token window of 32 px).
    vision = dict[str, Any](
        common, hidden_size=32, intermediate_size=64, out_hidden_size=64, window_size=32, fullatt_block_indexes=[1]
    )
    return transformers.Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)


def build_tiny_qwen2_vl(seed: int = 0, variant: str = "qwen2_vl") -> tuple[Any, Any]:
    """(model, processor): a tiny Qwen2-VL or Qwen2.5-VL in memory, randomly initialised from `seed`."""
    import torch
    import transformers
    from transformers import GenerationConfig

    processor = build_tiny_qwen_processor(variant)
    config = tiny_qwen_config(processor.tokenizer, variant)
    torch.manual_seed(seed)
    cls = (
        transformers.Qwen2VLForConditionalGeneration
        if variant == "qwen2_vl"
        else transformers.Qwen2_5_VLForConditionalGeneration
    )
    model = cls(config)
    tok = processor.tokenizer
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return model, processor


def save_tiny_qwen2_vl(path: Path, *, seed: int = 0, variant: str = "qwen2_vl") -> Path:
    """Write a complete tiny Qwen2-VL / Qwen2.5-VL checkpoint directory at `path` and return it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model, processor = build_tiny_qwen2_vl(seed=seed, variant=variant)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _check(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown tiny Qwen variant {variant!r}: expected one of {', '.join(VARIANTS)}")
