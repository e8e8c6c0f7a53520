"""Fixtures of the trainer tests: the demo corpus as `ecgspec build` compiles it, a tiny checkpoint.

`tiny_manifest` is the one place that makes training data: `ecgspec build specs/ecginstruct.ecg --limit 8`,
built once per session — real sample records rendered on the corpus's mix of layouts, papers and distortions,
with the corpus's questions (multi-turn, 8 items), in the build layout (OUT/manifests/ecginstruct.json, image
paths relative to OUT/images).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import ecgspec_build

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One math thread per test process: the tiny models gain nothing from more, and on a shared 2-core machine
# OpenMP threads spinning against xdist workers make a 1-second run take 20.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(1)

CORPUS_ITEMS = 8


@pytest.fixture(scope="session", autouse=True)
def length_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planned lengths are cached in a folder of the test session, never in the user's cache."""
    folder = tmp_path_factory.mktemp("ecgspec-cache")
    os.environ["ECGSPEC_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT/manifests/ecginstruct.json of `ecgspec build specs/ecginstruct.ecg --limit 8` (8 items)."""
    out = ecgspec_build(
        "specs/ecginstruct.ecg", tmp_path_factory.mktemp("corpus") / "ecginstruct", "--limit", str(CORPUS_ITEMS)
    )
    manifest = out / "manifests" / "ecginstruct.json"
    assert manifest.is_file(), f"ecgspec build wrote no {manifest}"
    return manifest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny LLaVA checkpoint directory (seed 0)."""
    from runtime.model.tiny import save_tiny_llava

    return save_tiny_llava(tmp_path_factory.mktemp("tiny") / "model")


FIXTURES = Path(__file__).parent / "fixtures"
LLAMA_TOKENIZER = FIXTURES / "llama_tokenizer"


@pytest.fixture(scope="session")
def llama_tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """The real LLaMA-2 SentencePiece tokenizer (fixtures/llama_tokenizer) as the llava-hf checkpoints extend
    it: `<image>` (32000) and `<pad>` (32001) added as special tokens. Converted to a fast tokenizer once."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(LLAMA_TOKENIZER)
    tok.add_tokens(["<image>"], special_tokens=True)
    tok.add_special_tokens({"pad_token": "<pad>"})
    assert tok.convert_tokens_to_ids(["<image>", "<pad>"]) == [32000, 32001]  # as in llava-hf's tokenizers
    saved = tmp_path_factory.mktemp("llama_tokenizer")
    tok.save_pretrained(saved)
    return AutoTokenizer.from_pretrained(saved)
