"""Which tokens are supervised: exactly the answers and their end-of-turn token, checked token by token."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image

from runtime.chat import ChatEncoder, get_format
from runtime.chat.encoder import IGNORE_INDEX
from runtime.data.manifest import Conversation, Turn, load_manifests
from runtime.train.collator import PadCollator
from runtime.train.dataset import ConversationDataset
from runtime.train.encode import ItemEncoder, dialogue_of


def ConversationEncoder(processor, max_length: int, fmt: str = "llava_v1") -> ItemEncoder:
    return ItemEncoder(processor, get_format(fmt), max_length)


ANSWERS = ("The heart rate is 69 bpm.", "sinus rhythm")


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_checkpoint)


def conversation(image: bool = True, system: str | None = None) -> Conversation:
    turns = (
        Turn("user", "What is the heart rate?"),
        Turn("assistant", ANSWERS[0]),
        Turn("user", "And the rhythm?"),
        Turn("assistant", ANSWERS[1]),
    )
    return Conversation("c1", turns, image=None if not image else __import__("pathlib").Path("x.png"), system=system)


def expected_labels(tok, ids: list[int]) -> list[int]:
    """Independent reference: find each answer's tokens (" " + answer + EOS, as the template writes it) after
    the k-th "ASSISTANT:" marker and supervise exactly those."""
    labels = [IGNORE_INDEX] * len(ids)
    marker = tok(" ASSISTANT:", add_special_tokens=False)["input_ids"]
    starts = [k + len(marker) for k in range(len(ids)) if ids[k : k + len(marker)] == marker]
    assert len(starts) == len(ANSWERS)
    for start, answer in zip(starts, ANSWERS, strict=True):
        answer_ids = tok(" " + answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert ids[start : start + len(answer_ids)] == answer_ids
        labels[start : start + len(answer_ids)] = answer_ids
    return labels


@pytest.mark.parametrize("fmt", ["llava_v1", "model"])
def test_supervised_tokens_are_exactly_the_answers_and_their_eos(processor, fmt):
    encoder = ConversationEncoder(processor, max_length=1024, fmt=fmt)
    out = encoder.encode(conversation(), Image.new("RGB", (300, 200), "white"))
    ids, labels = out["input_ids"], out["labels"]
    assert labels == expected_labels(processor.tokenizer, ids)
    image_positions = [k for k, t in enumerate(ids) if t == processor.image_token_id]
    assert len(image_positions) == 16  # (32 / 8)² patches; CLS added by CLIP and dropped by `default`
    assert all(labels[k] == IGNORE_INDEX for k in image_positions)
    assert out["pixel_values"].shape == (1, 3, 32, 32)


def test_prefix_spans_agree_with_the_templates_generation_markers(processor):
    tok = processor.tokenizer
    encoder = ConversationEncoder(processor, max_length=1024, fmt="model")
    conv = conversation(image=False, system="You are an ECG expert.")
    enc = encoder.encode_text(conv)
    marked = tok.apply_chat_template(conv.messages(), return_dict=True, return_assistant_tokens_mask=True)
    assert marked["input_ids"] == enc.input_ids
    assert [lab != IGNORE_INDEX for lab in enc.labels] == [bool(m) for m in marked["assistant_masks"]]


def test_template_without_end_of_turn_gets_eos_supervised(processor):
    # A llava-hf style template that writes no end-of-turn marker after an answer.
    template = (
        "{% for m in messages %}{{ m['role'].upper() + ': ' }}"
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}{{ '<image>\n' }}{% else %}{{ c['text'] + ' ' }}"
        "{% endif %}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
    )
    import copy

    other = copy.deepcopy(processor)
    other.chat_template = template
    encoder = ChatEncoder(other, get_format("model"))
    text, spans = encoder.text(dialogue_of(conversation()))
    assert [text[s:e] for s, e in spans] == [f" {ANSWERS[0]} </s>", f" {ANSWERS[1]} </s>"]


def test_truncation_is_counted_and_fully_truncated_answers_are_dropped(processor, tiny_manifest):
    loaded = load_manifests([tiny_manifest])
    full = ConversationDataset(loaded.items, ConversationEncoder(processor, max_length=512))
    assert full.report.truncated == 0 and len(full) == 8
    # Long enough for every prompt and the first answer's start, too short for the whole 4-turn items.
    shortest_prompt = min(len(ConversationEncoder(processor, 512).encode_text(i).input_ids) for i in loaded.items)
    cut = ConversationDataset(loaded.items, ConversationEncoder(processor, max_length=95))
    assert cut.report.truncated > 0
    assert all(n <= 95 for n in cut.lengths)
    item = cut[0]
    assert len(item["input_ids"]) <= 95 and any(lab != IGNORE_INDEX for lab in item["labels"])
    tiny = ConversationDataset(loaded.items, ConversationEncoder(processor, max_length=20))
    assert len(tiny) == 0 and sum(tiny.report.dropped.values()) == 8 and shortest_prompt > 20
    assert "dropped" in tiny.report.summary(20)


def test_planned_lengths_equal_encoded_lengths(processor, tiny_manifest):
    dataset = ConversationDataset(load_manifests([tiny_manifest]).items, ConversationEncoder(processor, 512))
    assert dataset.lengths == [len(dataset[i]["input_ids"]) for i in range(len(dataset))]


def test_collator_pads_right_with_ignored_labels(processor, tiny_manifest):
    dataset = ConversationDataset(load_manifests([tiny_manifest]).items, ConversationEncoder(processor, 512))
    a, b = dataset[0], dataset[1]
    batch = PadCollator(processor.tokenizer.pad_token_id)([a, b])
    width = max(len(a["input_ids"]), len(b["input_ids"]))
    assert batch["input_ids"].shape == (2, width) and batch["pixel_values"].shape == (2, 3, 32, 32)
    short = 0 if len(a["input_ids"]) < len(b["input_ids"]) else 1
    n = len((a, b)[short]["input_ids"])
    assert (batch["labels"][short, n:] == IGNORE_INDEX).all()
    assert (batch["attention_mask"][short, n:] == 0).all() and (batch["attention_mask"][short, :n] == 1).all()
