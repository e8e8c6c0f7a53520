"""Training and inference tokens against LLaVA's own code, with the real LLaMA-2 SentencePiece tokenizer.

The references in fixtures/llava_reference/ are what LLaVA's `preprocess_multimodal` + `preprocess_v1`
(haotian-liu/LLaVA, transformers 4.37.2, the slow SentencePiece tokenizer) return for seven conversations;
`make_reference.py` there regenerates them. Here the same conversations go through the manifest parser and
`runtime.chat` (transformers 5, the fast tokenizer) and must give the same ids and labels, token for token;
and every turn's inference prompt must equal the training ids up to that turn's first supervised token.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from runtime.chat import IGNORE_INDEX, ChatEncoder, Dialogue, get_format
from runtime.data.manifest import parse_item
from runtime.train.encode import dialogue_of

REFERENCES = Path(__file__).parent / "fixtures" / "llava_reference"
LLAVA_IMAGE_INDEX = -200  # LLaVA's IMAGE_TOKEN_INDEX


def reference(version: str) -> dict:
    return json.loads((REFERENCES / f"{version}_reference.json").read_text())


def cases(version: str) -> list[dict]:
    return reference(version)["cases"]


@pytest.fixture(scope="module")
def processor(llama_tokenizer):
    """A llava-hf LLaVA-1.5 processor around the real tokenizer (text only matters here)."""
    from transformers import LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    images = LlavaImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    return LlavaProcessor(
        image_processor=images,
        tokenizer=llama_tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


def as_llava(ids: list[int], image_token_id: int) -> list[int]:
    return [LLAVA_IMAGE_INDEX if t == image_token_id else t for t in ids]


def parsed(case: dict):
    raw = {"id": case["id"], "conversations": case["conversations"]}
    if case["image"]:
        raw["image"] = "x.png"
    return parse_item(raw, manifest=Path("reference.json"), position=0, image_folder=Path("."))


@pytest.mark.parametrize("version", ["llava_v1", "vicuna_v1"])
def test_the_format_declares_llavas_own_conversation(version):
    generator = reference(version)["generator"]
    fmt = get_format(version)
    assert (fmt.system, fmt.sep, fmt.sep2, fmt.roles) == (
        generator["system"],
        generator["sep"],
        generator["sep2"],
        ("USER", "ASSISTANT"),
    )


@pytest.mark.parametrize("version", ["llava_v1", "vicuna_v1"])
@pytest.mark.parametrize("case", cases("llava_v1"), ids=lambda c: c["id"])
def test_training_ids_and_labels_equal_llavas_preprocess_v1(processor, version, case):
    ref = next(c for c in cases(version) if c["id"] == case["id"])
    encoder = ChatEncoder(processor, get_format(version))
    enc = encoder.encode(dialogue_of(parsed(ref)))
    assert as_llava(enc.input_ids, encoder.image_token_id) == ref["input_ids"]
    assert enc.labels == ref["labels"]


@pytest.mark.parametrize("case", cases("llava_v1"), ids=lambda c: c["id"])
def test_every_turns_prompt_equals_the_training_ids_up_to_its_first_supervised_token(processor, case):
    encoder = ChatEncoder(processor, get_format("llava_v1"))
    conv = dialogue_of(parsed(case))
    train = encoder.encode(conv)
    starts = [k for k, lab in enumerate(train.labels) if lab != IGNORE_INDEX and train.labels[k - 1] == IGNORE_INDEX]
    assert len(starts) == len(conv.turns) // 2
    for turn, start in enumerate(starts):
        history = Dialogue(conv.turns[: 2 * turn + 1], conv.system, conv.image)
        assert encoder.prompt_ids(history) == train.input_ids[:start]


def test_the_model_template_puts_the_eos_training_saw_after_earlier_answers_in_prompts(processor):
    """A llava-hf-style template without an end-of-turn marker: answers are trained with EOS appended, and a
    later turn's prompt shows the earlier answer with that EOS and no BOS the training did not see."""
    from runtime.model.chat_template import LLAVA_HF_TEMPLATE

    processor.chat_template = LLAVA_HF_TEMPLATE
    try:
        encoder = ChatEncoder(processor, get_format("model"))
        conv = Dialogue(
            (
                ("user", "What is the rhythm?"),
                ("assistant", "Sinus rhythm."),
                ("user", "And the rate?"),
                ("assistant", "72 bpm."),
            ),
            image=True,
        )
        train = encoder.encode(conv)
        tok = processor.tokenizer
        supervised = [t for t, lab in zip(train.input_ids, train.labels, strict=True) if lab != IGNORE_INDEX]
        assert supervised.count(tok.eos_token_id) == 2
        second = max(
            k for k, lab in enumerate(train.labels) if lab != IGNORE_INDEX and train.labels[k - 1] == IGNORE_INDEX
        )
        prompt = encoder.prompt_ids(Dialogue(conv.turns[:3], image=True))
        assert prompt == train.input_ids[:second]
        assert prompt.count(tok.bos_token_id) == train.input_ids.count(tok.bos_token_id) <= 1
    finally:
        processor.chat_template = None


@pytest.mark.parametrize("version", ["llava_v1", "vicuna_v1"])
@pytest.mark.parametrize("case", cases("llava_v1"), ids=lambda c: c["id"])
def test_the_saved_chat_template_renders_the_formats_text(processor, version, case):
    """What `vllm serve` renders for a checkpoint trained in a separators format is the trained text."""
    from runtime.model.chat_template import separators_template

    encoder = ChatEncoder(processor, get_format(version))
    conv = dialogue_of(parsed(case))
    messages = [{"role": role, "content": [{"type": "text", "text": text}]} for role, text in conv.turns]
    if conv.image:
        messages[0]["content"].insert(0, {"type": "image"})
    template = separators_template(get_format(version))
    rendered = processor.tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
    assert rendered == encoder.text(conv)[0]
    asked = processor.tokenizer.apply_chat_template(
        messages[:1], chat_template=template, tokenize=False, add_generation_prompt=True
    )
    assert asked == encoder.text(Dialogue(conv.turns[:1], image=conv.image), generation_prompt=True)[0]


@pytest.mark.parametrize("fmt", ["llava_v1", "model"])
def test_the_length_plans_arithmetic_equals_the_encoding(processor, fmt):
    """`measure_many` (the planner's fast path) agrees with `encode_many` on every reference case."""
    from runtime.model.chat_template import LLAVA_HF_TEMPLATE

    processor.chat_template = LLAVA_HF_TEMPLATE
    try:
        encoder = ChatEncoder(processor, get_format(fmt))
        dialogues = [dialogue_of(parsed(c)) for c in cases("llava_v1")]
        for enc, m in zip(encoder.encode_many(dialogues), encoder.measure_many(dialogues), strict=True):
            image = enc.input_ids.index(encoder.image_token_id) if encoder.image_token_id in enc.input_ids else None
            assert (m.length, m.first_label, m.image_position) == (len(enc.input_ids), enc.first_label, image)
    finally:
        processor.chat_template = None


def test_the_saved_template_prompts_text_only_items_exactly_as_llava_v1(processor):
    """A checkpoint trained in llava_v1 is saved with that format as its template; prompting it in its `model`
    format gives one BOS (the tokenizer's) and LLaVA's ids (images aside, which LLaVA tokenises in chunks)."""
    from runtime.model.chat_template import separators_template

    processor.chat_template = separators_template(get_format("llava_v1"))
    try:
        encoder = ChatEncoder(processor, get_format("model"))
        conv = Dialogue((("user", "What is the rhythm?"),), image=False)
        prompt = encoder.prompt_ids(conv)
        assert prompt.count(processor.tokenizer.bos_token_id) == 1 and prompt[0] == processor.tokenizer.bos_token_id
        assert prompt == ChatEncoder(processor, get_format("llava_v1")).prompt_ids(conv)
    finally:
        processor.chat_template = None
