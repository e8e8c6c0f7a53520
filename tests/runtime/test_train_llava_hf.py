"""The PULSE path on models shaped like the llava-hf checkpoints, with the real LLaMA-2 tokenizer.

Tiny random LLaVA-1.5 and LLaVA-NeXT (CLIP-336/14, 576 tokens a tile, any-resolution tiles, vocabulary 32064
with `<image>` at 32000) are trained in LLaVA's `llava_v1` format and saved; the evaluator then loads the
saved checkpoint and, for every turn, prompts it with exactly the ids it was trained on up to that turn's
answer — image tokens expanded by the saved processor as in training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image

from runtime.chat import IGNORE_INDEX, get_format
from runtime.data.manifest import Conversation, Turn
from runtime.evaluate.backends.base import Request
from runtime.evaluate.backends.transformers import TransformersBackend
from runtime.model.loading import CHAT_FILE
from runtime.model.tiny import build_llava_hf_shaped
from runtime.train.encode import ItemEncoder
from runtime.train.recipe import TINY_CONFIG, load_recipe
from runtime.train.trainer import TrainRequest, train

QUESTIONS = ("What is the rhythm of this ECG?", "Is the heart rate normal?")
ANSWERS = ("Sinus rhythm.", "No, it is 112 bpm: sinus tachycardia.")


@pytest.fixture(scope="module", params=[False, True], ids=["llava-1.5", "llava-next"])
def checkpoint(request, llama_tokenizer, tmp_path_factory):
    model, processor = build_llava_hf_shaped(llama_tokenizer, next_=request.param)
    path = tmp_path_factory.mktemp("llava-hf") / ("next" if request.param else "v15")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    Image.new("RGB", (550, 425), "white").save(path)  # a landscape ECG page, as the corpus renders them
    return path


def test_trains_in_llava_v1_and_saves_the_format_for_the_evaluator(checkpoint, tiny_manifest, tmp_path):
    recipe = load_recipe(TINY_CONFIG, {"max_steps": 1, "max_length": 4096, "conversation": "llava_v1"})
    result = train(TrainRequest([tiny_manifest], str(checkpoint), tmp_path / "out", recipe, use_cpu=True))
    assert result.global_step == 1 and all(torch.isfinite(torch.tensor(result.losses)))
    assert json.loads((tmp_path / "out" / CHAT_FILE).read_text()) == {"conversation": "llava_v1"}
    backend = TransformersBackend(model=str(tmp_path / "out"), load_weights=False)
    assert backend.conversation == "llava_v1"


def test_every_turns_prompt_equals_the_training_ids_up_to_its_answer(checkpoint, tmp_path):
    image = page(tmp_path)
    backend = TransformersBackend(model=str(checkpoint), conversation="llava_v1", load_weights=False)
    encoder = ItemEncoder(backend.processor, get_format("llava_v1"), max_length=8192)
    conv = Conversation(
        "c",
        (
            Turn("user", QUESTIONS[0]),
            Turn("assistant", ANSWERS[0]),
            Turn("user", QUESTIONS[1]),
            Turn("assistant", ANSWERS[1]),
        ),
        image,
    )
    with Image.open(image) as im:
        features = encoder.encode(conv, im.convert("RGB"))
    ids, labels = features["input_ids"], features["labels"]
    assert len(ids) == encoder.plan(conv, (425, 550)).length
    starts = [k for k in range(1, len(labels)) if labels[k] != IGNORE_INDEX and labels[k - 1] == IGNORE_INDEX]
    messages: list[dict[str, str]] = []
    for turn, start in enumerate(starts):
        messages.append({"role": "user", "content": QUESTIONS[turn]})
        prompt, extras = backend.prompt(Request("k", tuple(messages), image))
        assert prompt == ids[:start]
        assert torch.equal(extras["pixel_values"], features["pixel_values"])
        messages.append({"role": "assistant", "content": ANSWERS[turn]})
    tok = backend.processor.tokenizer
    assert tok.decode([t for t in ids[: starts[0]] if t != 32000]).startswith(
        "<s> A chat between a curious human and an artificial intelligence assistant."
    )
    ends = [next((k for k in range(s, len(labels)) if labels[k] == IGNORE_INDEX), len(labels)) for s in starts]
    runs = [ids[s:e] for s, e in zip(starts, ends, strict=True)]
    assert [tok.decode(run) for run in runs] == [answer + "</s>" for answer in ANSWERS]
