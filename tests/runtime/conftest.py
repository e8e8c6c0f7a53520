"""Fixtures of the trainer tests: a small LLaVA manifest of real rendered sample records, a tiny checkpoint.

`tiny_manifest` is the one place that makes training data. Until `ecgspec build` lands it renders a few
shipped sample records itself and writes the manifest in the build's layout (OUT/manifests/NAME.json, images
under OUT/images/); the body can later become `ecgspec build specs/ecginstruct.ecg -o OUT` unchanged for callers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One math thread per test process: the tiny models gain nothing from more, and on a shared 2-core machine
# OpenMP threads spinning against xdist workers make a 1-second run take 20.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RECORDS = ["cinc2021/HR06000", "cinc2021/HR06001", "cinc2021/HR06002", "cinc2021/HR06003"]


def build_sample_manifest(out: Path) -> Path:
    """Render the sample records (4x3 page, standard paper, 50 dpi) and write OUT/manifests/tiny.json with
    questions whose answers come from the record: heart rate measured on the signal, SNOMED codes, sex, age."""
    from PIL import Image

    from ecgspec.render.api import render_page
    from ecgspec.render.cli import load_specs
    from ecgspec.render.record import read_wfdb

    program = load_specs(None, argparse.Namespace())
    assert program is not None
    layout, paper = program.decls[("layout", "4x3")], program.decls[("paper", "standard")]
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "manifests").mkdir(parents=True, exist_ok=True)
    items = []
    for rel in SAMPLE_RECORDS:
        record = read_wfdb(ROOT / "data" / "samples" / rel)
        page = render_page(record, layout, paper, dpi=50)  # type: ignore[arg-type]
        image = f"images/{record.id}.png"
        Image.fromarray(page.array).save(out / image)
        rate = round(record.rhythm.heart_rate)
        codes = ", ".join(record.meta.get("dx", []))
        items.append({
            "id": f"{record.id}/rate",
            "image": image,
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is the heart rate of this ECG?"},
                {"from": "gpt", "value": f"The heart rate is {rate} bpm."},
            ],
        })
        items.append({
            "id": f"{record.id}/dx",
            "image": image,
            "conversations": [
                {"from": "human", "value": "<image>\nWhich SNOMED diagnosis codes does this ECG carry?"},
                {"from": "gpt", "value": f"The diagnosis codes are {codes}."},
                {"from": "human", "value": "What is the sex of the patient?"},
                {"from": "gpt", "value": str(record.meta.get("sex", "unknown")).lower()},
            ],
        })
    manifest = out / "manifests" / "tiny.json"
    manifest.write_text(json.dumps(items, indent=1))
    return manifest


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LLaVA manifest (8 items, 4 rendered ECG pages) in the `ecgspec build` output layout."""
    return build_sample_manifest(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny LLaVA checkpoint directory (seed 0)."""
    from runtime.model.tiny import save_tiny_llava

    return save_tiny_llava(tmp_path_factory.mktemp("tiny") / "model")
