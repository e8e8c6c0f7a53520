"""A wheel carries the shipped template library (the repository's templates/) as ecgspec/templates/,
and an install from it finds `std/NAME` templates and the LLM extractor's prompt there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# What a wheel is built from; copied, so the build writes nothing (build/, egg-info) into the checkout.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "ecgspec", "runtime", "templates", "specs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    build = f"from setuptools import build_meta; print(build_meta.build_wheel({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", build], cwd=src, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("library", ["templates", "specs"])
def test_the_wheel_holds_every_shipped_library_file_under_the_package(wheel: Path, library: str) -> None:
    shipped = {
        p.relative_to(REPO / library).as_posix()
        for p in (REPO / library).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    with zipfile.ZipFile(wheel) as z:
        prefix = f"ecgspec/{library}/"
        packed = {n.removeprefix(prefix) for n in z.namelist() if n.startswith(prefix)}
        assert packed == shipped
        assert (
            z.read("ecgspec/templates/extract/llm_extract.j2")
            == (REPO / "templates" / "extract" / "llm_extract.j2").read_bytes()
        )


def test_an_install_from_the_wheel_finds_std_templates_in_its_packaged_copy(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    probe = (
        "from ecgspec.template_loader import SHIPPED_TEMPLATES, find_template, search_path\n"
        "from runtime.evaluate.llm_extract import TEMPLATE\n"
        "from ecgspec.resolve import STD\n"
        "print(SHIPPED_TEMPLATES)\n"
        "print(find_template(search_path(None), 'std/bench/multi_label.j2'))\n"
        "print(TEMPLATE)\n"
        "print(STD)\n"
    )
    # Run away from the checkout, with the unpacked wheel first on the path (the editable install's after).
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    library, found, extract, std = done.stdout.split("\n")[:4]
    packaged = site / "ecgspec" / "templates"
    assert Path(library) == packaged
    assert Path(found) == packaged / "bench" / "multi_label.j2"
    assert Path(extract) == packaged / "extract" / "llm_extract.j2" and Path(extract).is_file()
    assert Path(std) == site / "ecgspec" / "specs" and (Path(std) / "layouts.ecg").is_file()
