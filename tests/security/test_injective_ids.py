"""Record keys that differ only in characters a file name cannot hold (`a b`, `a_b`, `a/b`) are
different records: each gets its own id, image and answers, and a build that would still give
two records one name stops with both keys named instead of overwriting one with the other."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from ecgspec.build import work_items
from ecgspec.build.work_items import safe_name
from ecgspec.cli import main
from tests.build.conftest import MINI, REPO

FILES = {  # key → the CinC record it points at; three keys per readable name
    "a b": "HR06000",
    "a_b": "HR06001",
    "a/b": "HR06002",
    "c": "HR06003",
    "c.": "HR06004",
    ".c": "HR06005",
}

SPEC = (
    MINI
    + """
source mine from table {
    root  = "data/cinc2021"
    index = "index.csv"
    key   = id
    file  = path
}

source plain from table {
    root  = "data/cinc2021"
    index = "plain.csv"
    key   = id
    file  = path
}

corpus inj {
    from mine
    layout    = "4x3"
    distorted = 0%
    tasks  = [rate_open]
    turns  = 1
    dpi    = 60 dpi
    seed   = 5
}

corpus ref {
    from plain
    layout    = "4x3"
    distorted = 0%
    tasks  = [rate_open]
    turns  = 1
    dpi    = 60 dpi
    seed   = 5
}
"""
)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    data = tmp_path / "data" / "cinc2021"
    data.mkdir(parents=True)
    for rec in FILES.values():
        for ext in (".hea", ".mat"):
            shutil.copy(REPO / "data" / "samples" / "cinc2021" / f"{rec}{ext}", data / f"{rec}{ext}")
    (data / "index.csv").write_text("id,path\n" + "".join(f"{k},{f}\n" for k, f in FILES.items()))
    (data / "plain.csv").write_text("id,path\n" + "".join(f"k{f},{f}\n" for f in FILES.values()))
    (tmp_path / "mini.ecg").write_text(SPEC, encoding="utf-8")
    return tmp_path


def build(ws: Path, *args: str) -> int:
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        return main(["build", "mini.ecg", "-o", "out", "-j", "1", "--no-progress", *args])
    finally:
        os.chdir(cwd)


def test_safe_names_are_one_to_one_and_plain_keys_keep_theirs() -> None:
    for key in ("HR06000", "00001_lr", "s0010_re", "synth-0001", "JS20003"):
        assert safe_name(key) == key  # today's ids and image paths of plain keys do not move
    keys = ["a b", "a_b", "a/b", "a\\b", "a:b", "c", "c.", ".c", "", ".", "..", "x" * 300, "x" * 301, "é", "e"]
    names = [safe_name(k) for k in keys]
    assert len(set(names)) == len(keys)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._-]+(~[0-9a-f]{8})?", name) and len(name) < 120
        assert not name.startswith(".")
    assert safe_name("a/b") == safe_name("a/b")  # stable: the same key, the same name
    assert re.fullmatch(r"a_b~[0-9a-f]{8}", safe_name("a b"))


def test_records_whose_keys_differ_only_in_unsafe_characters_are_all_built(ws: Path, capsys) -> None:
    assert build(ws) == 0
    out = capsys.readouterr().out
    assert "corpus inj: 6 images" in out and "(6 built, 0 resumed)" in out
    root = ws / "out"
    items = json.loads((root / "manifests" / "inj.json").read_text())
    assert len({i["id"] for i in items}) == len({i["image"] for i in items}) == 6
    assert len(list((root / "images" / "inj").rglob("*.png"))) == 6
    by_record: dict[str, dict] = {}
    for line in (root / "prompts" / "inj.jsonl").read_text().splitlines():
        p = json.loads(line)
        by_record[p["provenance"]["record"]] = p
    assert set(by_record) == set(FILES)
    assert by_record["a_b"]["item"] == "mine-a_b-v0" and by_record["a_b"]["image"] == "inj/mine/a_b_v0.png"
    assert re.fullmatch(r"mine-a_b~[0-9a-f]{8}-v0", by_record["a b"]["item"])
    # Each key is answered from its own record: the same rate as a plain-keyed copy of that file.
    ref = {
        json.loads(x)["provenance"]["record"]: json.loads(x)
        for x in (root / "prompts" / "ref.jsonl").read_text().splitlines()
    }
    for key, rec in FILES.items():
        assert by_record[key]["target"] == ref[f"k{rec}"]["target"], key
    for item in items:  # each item's stored result names its own record and image
        stored = json.loads((root / ".work" / "inj" / f"{item['id']}.json").read_text())
        assert stored["image"] == item["image"] and safe_name(stored["record"]) in item["id"]

    assert build(ws) == 0
    assert "(0 built, 6 resumed)" in capsys.readouterr().out


def test_two_records_that_would_still_share_a_name_stop_the_build(
    ws: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name without the hash (what ids were before): `a b`, `a_b` and `a/b` meet.
    monkeypatch.setattr(work_items, "safe_name", lambda key: re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._"))
    assert build(ws, "--only", "inj") == 1
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert "'a b'" in err and "'a_b'" in err and "source 'mine'" in err and "'inj'" in err, err
    assert not (ws / "out" / "images").exists() and not (ws / "out" / ".work").exists()
