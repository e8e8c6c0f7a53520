"""A build killed with `kill -9` takes its processes with it: the fork server, the workers and
the resource tracker end within seconds, none writes another item, and a rerun resumes to the
same bytes as a build never interrupted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecgspec.cli import main
from tests.build.conftest import MINI, REPO, tree_bytes

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")

ITEMS = 14 * 4
SPEC = MINI.replace("    seed      = 5\n", "    seed      = 5\n    variants  = 4\n")


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process; None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every living process below `root` (pid → start time, so a reused pid is not mistaken)."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None and st[1] != "Z":
            parents.setdefault(st[0], []).append(int(entry.name))
            starts[int(entry.name)] = st[2]
    out: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def alive(procs: dict[int, str]) -> dict[int, str]:
    return {
        pid: start for pid, start in procs.items() if (st := _stat(pid)) is not None and st[1] != "Z" and st[2] == start
    }


def test_workers_die_with_a_killed_build_and_a_rerun_resumes(tmp_path: Path) -> None:
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    (tmp_path / "mini.ecg").write_text(SPEC, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "ecgspec", "build", "mini.ecg", "-o", "killed", "-j", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tmp_path / "killed" / ".work" / "mini"
    try:
        deadline = time.monotonic() + 90
        procs: dict[int, str] = {}
        while time.monotonic() < deadline:
            procs = descendants(proc.pid)
            # the fork server, its two workers and the resource tracker, and work under way
            if len(procs) >= 4 and len(list(work.glob("*.json"))) >= 4:
                break
            time.sleep(0.02)
        procs = descendants(proc.pid)
        assert len(procs) >= 3, "the build must be running its workers when it is killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    deadline = time.monotonic() + 5
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = alive(procs)
    for pid in left:  # leave nothing behind, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the killed build still run: {sorted(left)}"

    written = sorted(p.name for p in work.iterdir())
    assert 4 <= len(written) < ITEMS, "the kill must land mid-build"
    time.sleep(1.0)
    assert sorted(p.name for p in work.iterdir()) == written, "an item was written after the build died"

    rerun = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed)" in rerun.stdout
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert main(["build", "mini.ecg", "-o", "fresh", "-j", "1", "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    assert tree_bytes(tmp_path / "killed") == tree_bytes(tmp_path / "fresh")
    assert not [p for p in (tmp_path / "killed").rglob("*.tmp")]
