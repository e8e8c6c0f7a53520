"""Every file a build writes gets the mode a plain `open()` would give it (0666 & ~umask) and
every folder 0777 & ~umask, in the main process and in the workers alike: item results,
images, sidecars, prompts, manifests, build.json, plans and results."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ecgspec.artifacts.results import write_text_atomic
from ecgspec.atomic import AtomicWriter, file_mode, write_atomic
from ecgspec.build.store import write_atomic as store_write_atomic
from ecgspec.cli import main
from ecgspec.render.png import write_atomic as png_write_atomic
from tests.build.conftest import MINI, REPO


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder: Path) -> tuple[set[str], set[str]]:
    """The modes (octal) of the files and of the folders under `folder`, itself included."""
    files: set[str] = set()
    dirs = {oct(stat.S_IMODE(folder.stat().st_mode))}
    for p in folder.rglob("*"):
        (dirs if p.is_dir() else files).add(oct(stat.S_IMODE(p.stat().st_mode)))
    return files, dirs


def workspace(tmp: Path) -> Path:
    shutil.copytree(REPO / "templates" / "instruct", tmp / "templates" / "instruct")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp / "data" / "cinc2021")
    (tmp / "mini.ecg").write_text(MINI, encoding="utf-8")
    return tmp


def test_every_writer_gives_the_umask_mode(tmp_path: Path) -> None:
    for mask in (0o022, 0o027, 0o002):
        with umask(mask):
            assert file_mode() == 0o666 & ~mask
            folder = tmp_path / oct(mask)
            store_write_atomic(folder / "a" / "store.json", "{}")
            png_write_atomic(folder / "b" / "page.png", b"\x89PNG")
            write_text_atomic(folder / "c" / "results.json", "{}")
            write_atomic(folder / "d.bin", b"x")
            with AtomicWriter(folder / "e.jsonl", text=True) as w:
                w.write("line\n")
            files, dirs = modes(folder)
        assert files == {oct(0o666 & ~mask)}, (oct(mask), files)
        assert dirs == {oct(0o777 & ~mask)}, (oct(mask), dirs)
        assert not list(folder.rglob("*.tmp"))


def test_a_build_writes_every_output_with_one_mode(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        with umask(0o022):
            assert main(["build", "mini.ecg", "-o", "out", "-j", "1", "--no-progress", "--limit", "3"]) == 0
    finally:
        os.chdir(cwd)
    out = ws / "out"
    assert (out / "build.json").is_file() and list((out / ".work" / "mini").glob("*.json"))
    assert list((out / "images").rglob("*.png")) and (out / "manifests" / "mini.lengths.json").is_file()
    assert modes(out) == ({"0o644"}, {"0o755"})


def test_workers_under_another_umask_write_the_same_modes(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import os, sys\nos.umask(0o027)\nfrom ecgspec.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    argv = ["build", "mini.ecg", "-o", "out", "-j", "2", "--no-progress", "--limit", "4"]
    run = subprocess.run([sys.executable, "-c", code, *argv], cwd=ws, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert modes(ws / "out") == ({"0o640"}, {"0o750"})


def test_a_suite_plan_is_written_with_the_umask_mode(tmp_path: Path) -> None:
    with umask(0o022):
        assert (
            main(
                [
                    "build",
                    str(REPO / "specs" / "ecgbench_samples.ecg"),
                    "--root",
                    str(REPO),
                    "-o",
                    str(tmp_path / "bench"),
                    "-j",
                    "1",
                    "--no-progress",
                    "--limit",
                    "2",
                ]
            )
            == 0
        )
    assert list((tmp_path / "bench" / "plans").glob("*.json"))
    assert modes(tmp_path / "bench") == ({"0o644"}, {"0o755"})
