"""Two-process data-parallel training with torchrun on CPU (gloo) ends with identical parameters on both ranks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_train_on_different_items_and_end_identical(tiny_manifest, tmp_path):
    from runtime.model.tiny import build_tiny_llava

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    dump = tmp_path / "dump"
    env = {**os.environ, "ECGSPEC_TRAIN_DUMP_PARAMS": str(dump), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        torchrun,
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "runtime.train",
        str(tiny_manifest),
        "--model",
        "tiny",
        "-o",
        str(tmp_path / "run"),
        "--max-steps",
        "3",
        "--cpu",
    ]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "2 process(es) × batch 2 × grad accum 1 = global batch 4" in out.stdout

    ranks = [torch.load(dump / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["fetched"][:4] != ranks[1]["fetched"][:4]  # each rank read its own shard
    p0, p1 = ranks[0]["params"], ranks[1]["params"]
    assert p0.keys() == p1.keys() and len(p0) > 0
    assert all(torch.equal(p0[k], p1[k]) for k in p0), [k for k in p0 if not torch.equal(p0[k], p1[k])][:5]
    initial = dict(build_tiny_llava(seed=0)[0].named_parameters())
    assert any(not torch.equal(p0[k], initial[k].detach()) for k in p0), "no parameter moved"
