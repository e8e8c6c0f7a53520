"""`ecgspec build --executor ray`: a local Ray cluster builds the same bytes as the local executor,
also when a Ray worker dies mid-build (restarted, its items retried, none lost or duplicated)."""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..helpers import REPO, ecgspec_build

ray = pytest.importorskip("ray")

SPEC = "specs/ecginstruct.ecg"
LIMIT = "12"


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every output file, build.json (timings) and the .work store aside."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "build.json" and ".work" not in p.relative_to(folder).parts
    }


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local two-CPU cluster for the module: a build finding Ray connected uses it as it is."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = ecgspec_build(SPEC, tmp_path_factory.mktemp("local") / "out", "--limit", LIMIT)
    return digests(out)


@pytest.fixture
def summaries(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every summary the executor reports to the build, as it reports them."""
    import ecgspec.build.run as build_run

    seen: list[dict[str, Any]] = []
    real = build_run.run

    def run(state: Any, recipe: Any, items: Any, jobs: int, on_done: Any, *rest: Any) -> None:
        def done(s: dict[str, Any]) -> None:
            seen.append(s)
            on_done(s)

        real(state, recipe, items, jobs, done, *rest)

    monkeypatch.setattr(build_run, "run", run)
    return seen


def test_ray_build_is_byte_identical(
    cluster: None, local_build: dict[str, str], summaries: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = ecgspec_build(SPEC, tmp_path / "ray", "--limit", LIMIT, "--executor", "ray", "-j", "2")
    assert digests(out) == local_build
    assert sorted(Counter(s["id"] for s in summaries).values()) == [1] * int(LIMIT)
    assert not any(s["resumed"] for s in summaries)


def test_a_dead_worker_loses_and_duplicates_nothing(
    cluster: None,
    local_build: dict[str, str],
    summaries: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ecgspec.build.ray_executor import CRASH_ENV

    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, f"2:{marker}")  # the first worker to store its 2nd item dies, once
    out = ecgspec_build(SPEC, tmp_path / "ray", "--limit", LIMIT, "--executor", "ray", "-j", "2")
    assert marker.exists(), "no worker died: the fault hook did not fire"
    assert digests(out) == local_build
    # Each item reported once; the one stored just before its worker died is retried and resumed.
    assert sorted(Counter(s["id"] for s in summaries).values()) == [1] * int(LIMIT)
    assert sum(s["resumed"] for s in summaries) >= 1
    work = [p.name for p in (out / ".work").rglob("*") if p.is_file()]
    assert len(work) == len(set(work))


def test_missing_ray_is_worded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> None:
    from ecgspec.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["build", str(REPO / SPEC), "-o", str(tmp_path / "out"), "--executor", "ray", "--no-progress"])
    assert code == 1
    assert "pip install 'ecgspec[ray]'" in capsys.readouterr().err


def test_ray_address_needs_the_ray_executor(tmp_path: Path) -> None:
    from ecgspec.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["build", str(REPO / SPEC), "-o", str(tmp_path / "out"), "--ray-address", "auto"])
    assert exc.value.code == 2
