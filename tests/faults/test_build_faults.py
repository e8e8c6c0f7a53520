"""What the world does to a build: a full disk, a file where OUT should be, a folder that holds
something else, no permission. Each is said in words (exit 1, or 2 for a misused -o), never as
an internal error, and a build stopped by one resumes once it is fixed, with nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecgspec import atomic
from ecgspec.cli import main
from tests.build.conftest import MINI, REPO, tree_bytes

ITEMS = 14  # the mini corpus: the 14 CinC sample records, one variant each


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    (tmp_path / "mini.ecg").write_text(MINI, encoding="utf-8")
    return tmp_path


def build(ws: Path, out: str = "out", *args: str) -> int:
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        return main(["build", "mini.ecg", "-o", out, "-j", "1", "--no-progress", *args])
    finally:
        os.chdir(cwd)


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def fail_writes_after(monkeypatch: pytest.MonkeyPatch, n: int, code: int) -> list[str]:
    """Every atomic write after the first `n` fails with `code`, as a full disk would: mid-write."""
    done: list[str] = []
    real = atomic.AtomicWriter.write

    def write(self: atomic.AtomicWriter, data: bytes | str) -> None:
        if len(done) >= n:
            real(self, data[: len(data) // 2])  # part of it got there
            raise OSError(code, os.strerror(code), str(self.path))
        done.append(str(self.path))
        real(self, data)

    monkeypatch.setattr(atomic.AtomicWriter, "write", write)
    return done


def test_a_full_disk_is_said_in_words_and_the_build_resumes(ws: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    assert build(ws, "fresh") == 0
    capsys.readouterr()
    fail_writes_after(monkeypatch, 12, errno.ENOSPC)  # an image and its result per item: ~6 items in
    assert build(ws) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "no space left on device" in err, err
    assert str(ws / "out") in err or "out/" in err
    assert "resumes" in err
    assert not temporaries(ws / "out"), "a failed write leaves no temporary file"
    assert not (ws / "out" / "manifests").exists() and not (ws / "out" / "build.json").exists()
    done = len(list((ws / "out" / ".work" / "mini").glob("*.json")))
    assert 1 <= done < ITEMS

    monkeypatch.undo()
    assert build(ws) == 0
    assert f"({ITEMS - done} built, {done} resumed)" in capsys.readouterr().out
    assert tree_bytes(ws / "out") == tree_bytes(ws / "fresh")
    assert not temporaries(ws / "out")


def test_a_full_disk_while_merging_leaves_the_old_artifacts(ws: Path, capsys, monkeypatch) -> None:
    assert build(ws) == 0
    before = tree_bytes(ws / "out", skip=())
    capsys.readouterr()
    fail_writes_after(monkeypatch, 1, errno.ENOSPC)  # the prompts' first line goes, the manifest's not
    assert build(ws) == 1
    assert "no space left on device" in capsys.readouterr().err
    assert tree_bytes(ws / "out", skip=()) == before
    monkeypatch.undo()
    assert build(ws) == 0
    assert tree_bytes(ws / "out", skip=("build.json",)) == {k: v for k, v in before.items() if k != "build.json"}


def test_a_file_size_limit_in_workers_is_said_in_words_and_resumes(ws: Path) -> None:
    """A real kernel error, in -j 2 workers: RLIMIT_FSIZE makes a big write fail with EFBIG."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "from ecgspec.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["build", "mini.ecg", "-o", "out", "-j", "2", "--no-progress"]
    run = subprocess.run(
        [sys.executable, "-c", limited, *argv], cwd=ws, env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 1, run.stderr
    assert "internal error" not in run.stderr and "file too large" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert not temporaries(ws / "out")
    assert build(ws, "out", "-j", "2") == 0
    assert build(ws, "fresh") == 0
    assert tree_bytes(ws / "out") == tree_bytes(ws / "fresh")


def test_output_that_is_a_file_is_misuse(ws: Path, capsys) -> None:
    (ws / "out.txt").write_text("mine")
    assert build(ws, "out.txt") == 2
    err = capsys.readouterr().err
    assert "out.txt: is a file, not a folder" in err and "internal error" not in err
    assert (ws / "out.txt").read_text() == "mine"
    assert build(ws, "out.txt/sub") == 2  # a file on the way
    err = capsys.readouterr().err
    assert "out.txt/sub" in err and "not a folder" in err and "internal error" not in err


def test_a_foreign_folder_needs_force_and_an_earlier_build_resumes(ws: Path, capsys) -> None:
    mine = ws / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    (mine / "build.json").write_text('{"schema": "something else"}')
    assert build(ws, "photos") == 2
    err = capsys.readouterr().err
    assert "--force" in err and "not empty" in err and "holiday.jpg" in err
    assert sorted(p.name for p in mine.iterdir()) == ["build.json", "holiday.jpg"]
    assert (mine / "build.json").read_text() == '{"schema": "something else"}'

    # Another spec's build, of other corpora: not this build's folder either.
    other = MINI.replace("corpus mini", "corpus other")
    (ws / "other.ecg").write_text(other, encoding="utf-8")
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        assert main(["build", "other.ecg", "-o", "theirs", "-j", "1", "--no-progress", "--limit", "2"]) == 0
    finally:
        os.chdir(cwd)
    theirs = tree_bytes(ws / "theirs", skip=())
    assert build(ws, "theirs") == 2
    assert tree_bytes(ws / "theirs", skip=()) == theirs
    capsys.readouterr()

    # --force builds into it; an earlier build of the same corpora resumes without it.
    assert build(ws, "photos", "--force") == 0
    assert (mine / "holiday.jpg").read_bytes() == b"\xff\xd8"
    assert json.loads((mine / "build.json").read_text())["corpora"]["mini"]["items"] == ITEMS
    capsys.readouterr()
    assert build(ws, "photos") == 0
    assert f"(0 built, {ITEMS} resumed)" in capsys.readouterr().out
    (ws / "empty").mkdir()
    assert build(ws, "empty", "--limit", "1") == 0


def test_a_killed_build_without_build_json_resumes_without_force(ws: Path, capsys) -> None:
    assert build(ws, "out", "--limit", "3") == 0
    (ws / "out" / "build.json").unlink()
    shutil.rmtree(ws / "out" / "manifests")
    capsys.readouterr()
    assert build(ws, "out", "--limit", "3") == 0
    assert "(0 built, 3 resumed)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only file system")],
)
def test_no_permission_or_a_read_only_filesystem_is_said_in_words(
    ws: Path, capsys, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    # As root, chmod does not stop a write: the error is raised where the file would be made.
    real = atomic.AtomicWriter.__init__
    calls = []

    def init(self: atomic.AtomicWriter, path: str | Path, **kw: bool) -> None:
        calls.append(path)
        if len(calls) > 1:  # the first (OUT's probe) passes: the error comes mid-build
            raise OSError(code, os.strerror(code), str(path))
        real(self, path, **kw)

    monkeypatch.setattr(atomic.AtomicWriter, "__init__", init)
    assert build(ws) == 1
    err = capsys.readouterr().err
    assert words in err and "internal error" not in err, err
    assert str(calls[1]) in err
    calls.clear()
    calls.append("probe fails now")
    assert build(ws, "elsewhere") == 1
    err = capsys.readouterr().err
    assert "-o elsewhere" in err and words in err and "internal error" not in err, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission bits")
def test_an_output_folder_without_write_permission(ws: Path, capsys) -> None:
    locked = ws / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert build(ws, "locked/out") == 1
        err = capsys.readouterr().err
        assert "permission denied" in err and "internal error" not in err
    finally:
        locked.chmod(0o700)


def test_the_top_level_says_expected_os_errors_in_words(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from ecgspec.build import cli as build_cli

    def full(args: object, parser: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/x.png")

    monkeypatch.setattr(build_cli, "cmd_build", full)
    assert main(["build", "x.ecg"]) == 1
    err = capsys.readouterr().err
    assert "cannot write /data/out/x.png: no space left on device" in err and "internal error" not in err

    def bug(args: object, parser: object) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(build_cli, "cmd_build", bug)
    assert main(["build", "x.ecg"]) == 3
    assert "internal error" in capsys.readouterr().err
