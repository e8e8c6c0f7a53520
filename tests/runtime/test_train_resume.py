"""A run killed right after a checkpoint and resumed ends where the uninterrupted run ends.

Three real processes: an uninterrupted 6-step run; the same run SIGKILLed by itself right after saving
checkpoint-3 (as a preempted node dies); and `--resume` of the killed run. The resumed run must reload the
trained weights (not the base model's), see the same batches in the same order (the checkpoint falls inside
an epoch, so the sampler's epoch order and the skipped batches both matter) and end with the same loss curve
and the same parameters.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def train(manifest: Path, out: Path, dump: Path, *extra: str, crash_after: int | None = None):
    env = {**os.environ, "ECGSPEC_TRAIN_DUMP_PARAMS": str(dump), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    if crash_after is not None:
        env["ECGSPEC_TRAIN_CRASH_AFTER_SAVE"] = str(crash_after)
    # 8 items, 2 per step: an epoch is 4 steps, so checkpoint-3 falls inside the first epoch.
    cmd = [
        sys.executable,
        "-m",
        "runtime.train",
        str(manifest),
        "--model",
        "tiny",
        "-o",
        str(out),
        "--max-steps",
        "6",
        "--save-steps",
        "3",
        "--global-batch-size",
        "2",
        "--cpu",
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def losses(out: Path) -> list[tuple[int, float]]:
    state = json.loads((out / "trainer_state.json").read_text()) if (out / "trainer_state.json").is_file() else None
    if state is None:
        last = max(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        state = json.loads((last / "trainer_state.json").read_text())
    return [(h["step"], h["loss"]) for h in state["log_history"] if "loss" in h]


def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(tiny_manifest, tmp_path):
    full = train(tiny_manifest, tmp_path / "full", tmp_path / "dump-full")
    assert full.returncode == 0, full.stderr[-3000:]

    killed = train(tiny_manifest, tmp_path / "part", tmp_path / "dump-killed", crash_after=3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (tmp_path / "part" / "checkpoint-3").is_dir() and not (tmp_path / "part" / "checkpoint-6").exists()

    resumed = train(tiny_manifest, tmp_path / "part", tmp_path / "dump-resumed", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "missing keys" not in resumed.stderr + resumed.stdout

    a = torch.load(tmp_path / "dump-full" / "rank0.pt")
    b = torch.load(tmp_path / "dump-resumed" / "rank0.pt")
    # The same items in the same order after the checkpoint: steps 4-6 read items 7-12 of the uninterrupted
    # run (each process also prefetches one batch past its last step).
    assert b["fetched"][:6] == a["fetched"][6:12]
    assert a["params"].keys() == b["params"].keys()
    worst = max((a["params"][k] - b["params"][k]).abs().max().item() for k in a["params"])
    assert worst < 1e-5, worst
    curve_full, curve_resumed = losses(tmp_path / "full" / "checkpoint-6"), losses(tmp_path / "part" / "checkpoint-6")
    assert [s for s, _ in curve_full] == [s for s, _ in curve_resumed] == [1, 2, 3, 4, 5, 6]
    assert [v for _, v in curve_resumed] == pytest.approx([v for _, v in curve_full], abs=1e-5)
