"""A tiny, randomly initialised LLaVA that runs the whole training and evaluation path offline on a CPU.

`save_tiny_llava(path)` writes a complete Hugging Face checkpoint directory — config, weights, tokenizer,
image processor, processor with chat template, generation config — that loads with
``LlavaForConditionalGeneration.from_pretrained(path)`` and ``AutoProcessor.from_pretrained(path)`` with no
network. The tokenizer is a byte-level BPE trained in memory on a fixed ECG vocabulary, so it encodes any
text and the files are the same byte for byte on every run with the same seed.

The vision tower is a 2-layer CLIP at `image_size` px with 8 px patches. CLIP adds a CLS position, and the
`default` feature strategy drops it again: the processor needs ``num_additional_image_tokens=1`` so that the
number of `<image>` tokens it expands to equals the number of features the model produces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.chat.formats import get_format

from .chat_template import separators_template

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
PATCH_SIZE = 8
VOCAB_SIZE = 640

# Words the tiny tokenizer learns merges for; any other text still encodes byte by byte.
_ECG_WORDS = """
A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful,
detailed, and polite answers to the human's questions. USER: ASSISTANT: <image>
What is the heart rate of this ECG? The heart rate is beats per minute bpm. What is the rhythm?
sinus rhythm sinus tachycardia sinus bradycardia atrial fibrillation atrial flutter normal abnormal
left right bundle branch block axis deviation ventricular premature complex contraction hypertrophy
myocardial infarction ischemia ST elevation depression T wave inversion QRS duration QT interval
PR interval P wave lead leads I II III aVR aVL aVF V1 V2 V3 V4 V5 V6 ms mV mm yes no A B C D
Which of the following diagnoses does this ECG show? Options: Answer: Write a report for this ECG.
The ECG shows diagnosis codes SNOMED Please interpret the following electrocardiogram image.
0 1 2 3 4 5 6 7 8 9 10 20 30 40 50 60 70 80 90 100 110 120 130 140 150 160 170 180
"""


def train_bpe(words: str, special_tokens: list[str], vocab_size: int, unk_token: str | None = None) -> Any:
    """A byte-level BPE over a fixed word list: it encodes any text (byte fallback), and training is a single
    pass over a constant corpus, so the learned merges (and the saved tokenizer.json) are deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=unk_token) if unk_token else models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(words.strip().splitlines() * 4, trainer=trainer)
    return tok


def build_tiny_processor(image_size: int = 32) -> Any:
    """The processor (tokenizer + PIL image processor + chat template) of the tiny model."""
    from transformers import LlavaProcessor, PreTrainedTokenizerFast
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    template = separators_template(get_format("llava_v1"))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(_ECG_WORDS, SPECIAL_TOKENS, VOCAB_SIZE, unk_token="<unk>"),
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=4096,
        padding_side="right",
        chat_template=template,
    )
    # ECG printouts are landscape: pad to a square (LLaVA-1.5 style) so cropping never cuts leads off the page.
    image_processor = LlavaImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_pad=True,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
    )


def tiny_vision_config(image_size: int, patch_size: int) -> Any:
    """A 2-layer CLIP vision tower, 32 wide."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=32,
    )


def tiny_text_config(tokenizer: Any, vocab_size: int, kv_heads: int) -> Any:
    """A 2-layer Llama, 64 wide, with the tokenizer's special ids."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


def tiny_llava_config(tokenizer: Any, image_size: int = 32) -> Any:
    """A LlavaConfig with a 2-layer CLIP vision tower and a 2-layer Llama text model."""
    from transformers import LlavaConfig

    return LlavaConfig(
        vision_config=tiny_vision_config(image_size, PATCH_SIZE),
        text_config=tiny_text_config(tokenizer, len(tokenizer), kv_heads=2),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )


def build_tiny_llava(*, seed: int = 0, image_size: int = 32) -> tuple[Any, Any]:
    """(model, processor): the tiny LLaVA in memory, randomly initialised from `seed`."""
    import torch
    from transformers import GenerationConfig, LlavaForConditionalGeneration

    processor = build_tiny_processor(image_size)
    config = tiny_llava_config(processor.tokenizer, image_size)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    tok = processor.tokenizer
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    return model, processor


def save_tiny_llava(path: Path, *, seed: int = 0, image_size: int = 32) -> Path:
    """Write a complete tiny LLaVA checkpoint directory at `path` and return it.

    Loadable offline with ``LlavaForConditionalGeneration.from_pretrained(path)`` and
    ``AutoProcessor.from_pretrained(path)``; the same seed gives the same weights and tokenizer.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model, processor = build_tiny_llava(seed=seed, image_size=image_size)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# The llava-hf LLaVA-1.6-vicuna-7b any-resolution grid (height, width), 336 px tiles.
LLAVA_NEXT_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def build_llava_hf_shaped(tokenizer: Any, *, next_: bool, seed: int = 0) -> tuple[Any, Any]:
    """A tiny random model shaped like llava-hf/llava-1.5-7b-hf (`next_=False`) or llava-v1.6-vicuna-7b-hf:
    CLIP at 336 px with 14 px patches (576 image tokens a tile, any-resolution tiles for NeXT), the
    `default` feature strategy from layer -2, a vocabulary of 32064 with `<image>` at 32000 — only the
    widths and depths are small. `tokenizer` is a LLaMA tokenizer with `<image>` and `<pad>` added."""
    import torch
    from transformers import (
        GenerationConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        LlavaProcessor,
    )
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    vision = tiny_vision_config(336, 14)
    text = tiny_text_config(tokenizer, 32064, kv_heads=4)
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    common = {"vision_feature_select_strategy": "default", "num_additional_image_tokens": 1, "patch_size": 14}
    images: Any
    processor: Any
    config: Any
    torch.manual_seed(seed)
    if next_:
        images = LlavaNextImageProcessorPil(
            size={"shortest_edge": 336},
            crop_size={"height": 336, "width": 336},
            image_grid_pinpoints=LLAVA_NEXT_PINPOINTS,
        )
        processor = LlavaNextProcessor(image_processor=images, tokenizer=tokenizer, **common)
        config = LlavaNextConfig(
            vision_config=vision,
            text_config=text,
            image_token_index=image_token,
            image_grid_pinpoints=LLAVA_NEXT_PINPOINTS,
            vision_feature_select_strategy="default",
            vision_feature_layer=-2,
        )
        model: Any = LlavaNextForConditionalGeneration(config)
    else:
        images = LlavaImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
        processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, **common)
        config = LlavaConfig(
            vision_config=vision,
            text_config=text,
            image_token_index=image_token,
            image_seq_length=576,
            vision_feature_select_strategy="default",
            vision_feature_layer=-2,
        )
        model = LlavaForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model, processor
