"""A workspace for synthesis tests: a spec over the shipped CinC sample records, test templates whose
prompts say plainly what they ask (so a scripted server can answer each), and the scripts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

SPEC = """
import "std/layouts.ecg"
import "std/papers.ecg"

let llm_url = "http://127.0.0.1:9/v1"

labels rhythm {
    vocabulary   = [SR, AFIB, STACH, SBRAD, SARRH]
    map          = ["426783006": [SR], "164889003": [AFIB], "427084000": [STACH], "426177001": [SBRAD],
                    "427393009": [SARRH]]
    descriptions = [SR: "sinus rhythm", AFIB: "atrial fibrillation", STACH: "sinus tachycardia",
                    SBRAD: "sinus bradycardia", SARRH: "sinus arrhythmia"]
}

source cinc from wfdb {
    root = "data/cinc2021"
}

llm writer {
    backend     = openai
    url         = llm_url
    model       = "stub-writer"
    temperature = 0.7
    concurrency = 8
    retries     = 0
    timeout     = 20 s
}

llm referee extends writer {
    model       = "stub-referee"
    temperature = 0
}

instruct qa {
    generator  = writer
    judge      = referee
    prompt     = "synth/gen.j2"
    rubric     = "synth/judge.j2"
    labels     = rhythm
    family     = rhythm
    form       = open
    per_record = 2
    attempts   = 2
    threshold  = 4
    example {
        question = "What is the rhythm?"
        answer   = "Sinus rhythm."
    }
}

instruct talk {
    mode      = dialogue
    generator = writer
    prompt    = "synth/gen.j2"
    labels    = rhythm
    family    = rhythm
    turns     = 3
}

task rate_open {
    family   = basic
    form     = open
    question = "What is the heart rate?"
    answer   = record.heart_rate
}

corpus mini {
    from cinc
    layout    = "4x3"
    distorted = 0%
    tasks     = choice[qa: 0.5, talk: 0.3, rate_open: 0.2]
    turns     = 1..2
    variants  = 2
    dpi       = 40 dpi
    seed      = 3
}
"""

GEN = """{% block system %}GEN {{ instruct.name }}{% endblock %}
{% block user %}record={{ record.id }} index={{ request.index }} mode={{ request.mode }} family={{ request.family }} \
form={{ request.form }} turns={{ request.turns }} labels={{ record.label_codes | join(",") }} \
examples={{ examples | length }}{% endblock %}
"""
JUDGE = """{% block system %}JUDGE {{ criteria | length }}{% endblock %}
{% block user %}record={{ record.id }} question={{ pair.question }} answer={{ pair.answer }}{% endblock %}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """tmp_path/{synth.ecg, templates/synth/, data/cinc2021/}."""
    (tmp_path / "templates" / "synth").mkdir(parents=True)
    (tmp_path / "templates" / "synth" / "gen.j2").write_text(GEN, encoding="utf-8")
    (tmp_path / "templates" / "synth" / "judge.j2").write_text(JUDGE, encoding="utf-8")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    (tmp_path / "synth.ecg").write_text(SPEC, encoding="utf-8")
    return tmp_path


def fields(body: dict[str, Any]) -> dict[str, str]:
    """The `key=value` words of a request's first user message (the test templates write them)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return dict(re.findall(r"(\w+)=(\S*)", user))


def pair(question: str, answer: str) -> str:
    return json.dumps({"question": question, "answer": answer, "family": "rhythm", "form": "open", "options": None})


def dialogue(*turns: tuple[str, str]) -> str:
    return json.dumps({"turns": [{"question": q, "answer": a} for q, a in turns]})


def verdict(score: float, reason: str = "fine") -> str:
    return json.dumps({"score": score, "reason": reason})
