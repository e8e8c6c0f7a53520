"""The capstone: the README's "Train" path, run as written — build the corpus, train the tiny model on it, build
the benchmark plan, evaluate the checkpoint on it — each step a fresh `ecgspec` process, as a user types it.

The commands are read from the README, so the README cannot drift from what works. Only sizes change: the
corpus is limited to a few items, builds use one worker, training stops after 4 steps, and `out/` is a
temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

pytest.importorskip("torch")
pytest.importorskip("transformers")

CORPUS_LIMIT = "8"
MAX_STEPS = "4"


def readme_train_commands() -> list[list[str]]:
    """The `ecgspec …` lines of the first shell block of the README's "Train" section."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Train\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README's Train section has no ```sh block"
    return [
        shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip().startswith("ecgspec ")
    ]


def adapt(argv: list[str], out: Path) -> list[str]:
    """The README's command at test size, with `out/` moved under the test's folder."""
    argv = [a.replace("out/", f"{out}/", 1) if a.startswith("out/") else a for a in argv]
    if argv[1] == "build":
        argv += ["-j", "1", "--no-progress"]
        if "ecginstruct" in argv[2]:
            argv += ["--limit", CORPUS_LIMIT]
    if argv[1] == "train":
        argv[argv.index("--max-steps") + 1] = MAX_STEPS
    return [sys.executable, "-m", "ecgspec", *argv[1:]]


def test_readme_train_path_builds_trains_evaluates_and_reports(tmp_path: Path) -> None:
    commands = readme_train_commands()
    assert [c[:2] for c in commands] == [
        ["ecgspec", "build"],
        ["ecgspec", "train"],
        ["ecgspec", "build"],
        ["ecgspec", "eval"],
    ], commands
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "NO_COLOR": "1",
    }
    out = tmp_path / "out"
    for argv in commands:
        cmd = adapt(argv, out)
        run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, f"{shlex.join(cmd)}\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"

    manifest = out / "ecginstruct" / "manifests" / "ecginstruct.json"
    items = json.loads(manifest.read_text())
    assert len(items) == int(CORPUS_LIMIT)
    assert all((out / "ecginstruct" / "images" / it["image"]).is_file() for it in items)

    ckpt = out / "tiny"
    assert (ckpt / "config.json").is_file() and any(ckpt.glob("*.safetensors"))

    plan = json.loads((out / "bench" / "plans" / "ecgbench_samples.json").read_text())
    tasks = {t["id"]: len(t["items"]) for t in plan["tasks"]}
    assert tasks and all(tasks.values())

    results = json.loads((out / "eval" / "results" / "ecgbench_samples.json").read_text())
    assert results["backend"] == "transformers" and results["model"]
    scored = {t["id"]: t for t in results["tasks"]}
    assert scored.keys() == tasks.keys()
    for task_id, task in scored.items():
        assert task["n"] == tasks[task_id] and task["missing"] == 0
        assert task["metrics"] and all(m["value"] is not None or name == "auc" for name, m in task["metrics"].items())
    rows = (out / "eval" / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == sum(tasks.values())
    report = (out / "eval" / "report.md").read_text()
    assert report.count("## ") == len(tasks) and all(task_id in report for task_id in tasks)
