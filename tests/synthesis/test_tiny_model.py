"""Synthesis on the transformers backend with a tiny random model: no guided decoding there, so every
reply is validated, and a random model's replies are all dropped, and counted, without harming the build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ecgspec.cli import main
from tests.synthesis.conftest import SPEC


def test_a_tiny_random_model_writes_nothing_valid_and_every_reply_is_counted(workspace: Path, tmp_path: Path) -> None:
    from runtime.model.tiny import save_tiny_llava

    model = save_tiny_llava(tmp_path / "tiny")
    spec = SPEC.replace(
        """    backend     = openai
    url         = llm_url
    model       = "stub-writer"
""",
        f"""    backend     = transformers
    model       = "{model}"
    max_tokens  = 12
""",
    ).replace('    model       = "stub-referee"\n', "")
    spec = spec.replace("    per_record = 2\n    attempts   = 2\n", "    per_record = 1\n    attempts   = 2\n")
    (workspace / "synth.ecg").write_text(spec)
    out = tmp_path / "out"
    build = ["build", str(workspace / "synth.ecg"), "-o", str(out), "--no-progress", "-j", "1", "--limit", "6"]
    assert main(build) == 0  # 3 records, 2 variants each
    counts = json.loads((out / "build.json").read_text())["corpora"]["mini"]["synthesis"]["instructs"]
    qa, talk = counts["qa"], counts["talk"]
    assert qa["planned"] == qa["generated"] == 3 and qa["retried"] == 3 and qa["invalid"] == 3
    assert talk["planned"] == talk["generated"] == 3 and talk["invalid"] == 3
    assert qa.get("kept", 0) == 0 and talk.get("kept", 0) == 0 and "judged" not in qa
    assert qa["tokens_out"] > 0 and qa["tokens_in"] > 0  # counted from the model's own token ids
    # A rerun asks the model nothing: every reply, even an unusable one, is cached.
    assert main(build) == 0
    again = json.loads((out / "build.json").read_text())["corpora"]["mini"]["synthesis"]
    assert (
        again["models"]["writer"]["sent"] == 0 and again["models"]["writer"]["cached"] == 3 * 2 + 3 * 3
    )  # qa: 2 attempts, talk: 3
    # No instruction was kept, so the turns drawn for their family (rhythm) stay empty and are counted; only
    # the templated task is asked. How many turns land on each family depends on the draws (the spec, which
    # names the model's temporary folder, seeds them), so this pins the kinds and the counts, not a number.
    tasks = {json.loads(x)["task"] for x in (out / "prompts" / "mini.jsonl").read_text().splitlines()}
    assert tasks <= {"rate_open"}
    families = json.loads((out / "build.json").read_text())["corpora"]["mini"]["families"]
    assert families["rhythm"]["drawn"] > 0 and families["rhythm"]["filled"] == 0
    assert families["rhythm"]["unfilled"] == families["rhythm"]["drawn"]
    basic = families.get("basic", {"drawn": 0, "filled": 0})
    assert (basic["filled"] > 0) == bool(tasks)
