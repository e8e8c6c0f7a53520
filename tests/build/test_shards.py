"""A built corpus exported as WebDataset tar shards or Parquet shards (ecgspec/build/shards.py),
read back by the `webdataset` package and pyarrow; an interrupted export resumes."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest

from ecgspec.build.shards import ShardSize, export_shards, parse_shard_size, sample_key
from ecgspec.cli import main
from tests.helpers import ecgspec_build

pq = pytest.importorskip("pyarrow.parquet")
wds = pytest.importorskip("webdataset")

SYNTH = """
import "std/layouts.ecg"
import "std/papers.ecg"

synth filler {
    count = 7
    fs    = 250 Hz
}

task rate {
    family   = basic
    form     = open
    question = "What is the heart rate?"
    answer   = record.heart_rate
}

corpus scale {
    from filler
    layout    = "12x1"
    tasks     = [rate]
    distorted = 0%
    dpi       = 40 dpi
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shards")
    (root / "s.ecg").write_text(SYNTH, encoding="utf-8")
    return ecgspec_build(root / "s.ecg", root / "out")


def _memory_url() -> str:
    return f"memory://ecgspec-{uuid.uuid4().hex}"


def _manifest(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "manifests" / "scale.json").read_text(encoding="utf-8"))


def _index(url: str) -> dict[str, Any]:
    with fsspec.open(f"{url}/scale.shards.json", "rb") as f:
        return json.loads(f.read())


def _bytes(url: str) -> bytes:
    with fsspec.open(url, "rb") as f:
        return f.read()


def test_webdataset_shards_read_back_by_the_webdataset_package(built: Path, tmp_path: Path) -> None:
    url = _memory_url()
    image_sizes = [(built / "images" / i["image"]).stat().st_size for i in _manifest(built)]
    limit = 2 * max(image_sizes) + 40_000  # about two samples a shard
    assert (
        main(["export", str(built), "scale", "--format", "webdataset", "--shard-size", str(limit) + "B", "-o", url])
        == 0
    )
    index = _index(url)
    manifest = _manifest(built)
    assert index["format"] == "webdataset" and index["items"] == len(manifest) == 7
    assert len(index["shards"]) >= 3
    assert index["manifest_sha256"] == hashlib.sha256((built / "manifests" / "scale.json").read_bytes()).hexdigest()
    assert index["spec_hash"] == json.loads((built / "build.json").read_text())["spec_hash"]
    local = []
    for i, s in enumerate(index["shards"]):
        assert s["name"] == f"scale-{i:06d}.tar"
        data = _bytes(f"{url}/{s['name']}")
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
        assert len(data) <= limit or s["items"] == 1
        (tmp_path / s["name"]).write_bytes(data)
        local.append(str(tmp_path / s["name"]))
    fs = fsspec.filesystem("memory")
    assert not [p for p in fs.ls(url.removeprefix("memory://"), detail=False) if p.endswith(".tmp") or "partial" in p]

    samples = list(wds.WebDataset(local, shardshuffle=False, empty_check=False))
    keys = [s["__key__"] for s in samples]
    assert len(keys) == len(set(keys)) == len(manifest)
    by_id = {i["id"]: i for i in manifest}
    prompts = [json.loads(x) for x in (built / "prompts" / "scale.jsonl").read_text().splitlines()]
    seen = []
    for s in samples:
        conv = json.loads(s["conversations.json"])
        item = by_id[conv["id"]]
        seen.append(item["id"])
        assert s["__key__"] == sample_key(item["id"])
        assert s["png"] == (built / "images" / item["image"]).read_bytes()
        assert s["json"] == (built / "images" / item["image"]).with_suffix(".json").read_bytes()
        assert conv["conversations"] == item["conversations"] and conv["image"] == item["image"]
        assert conv["prompts"] == [p for p in prompts if p["item"] == item["id"]] and conv["prompts"]
    assert seen == [i["id"] for i in manifest]  # every item once, in manifest order


def test_parquet_shards_equal_the_single_file_export(built: Path) -> None:
    assert main(["export", str(built), "scale"]) == 0
    single = pq.read_table(built / "hf" / "scale.parquet").to_pylist()
    url = _memory_url()
    assert main(["export", str(built), "scale", "--shard-size", "3", "-o", url]) == 0
    index = _index(url)
    assert [s["items"] for s in index["shards"]] == [3, 3, 1]
    rows = []
    for s in index["shards"]:
        data = _bytes(f"{url}/{s['name']}")
        assert hashlib.sha256(data).hexdigest() == s["sha256"]
        with fsspec.open(f"{url}/{s['name']}", "rb") as f:
            table = pq.read_table(f)
        assert json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["image"] == {"_type": "Image"}
        rows += table.to_pylist()
    assert rows == single


def test_an_interrupted_export_resumes_without_rewriting_done_shards(built: Path) -> None:
    url = _memory_url()
    size = ShardSize(items=2)

    class Interrupted(Exception):
        pass

    def fail_after_second(n: int) -> None:
        if n == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        export_shards(built, "scale", url, fmt="webdataset", size=size, fault=fail_after_second)
    fs = fsspec.filesystem("memory")
    root = url.removeprefix("memory://")
    assert not fs.exists(f"{root}/scale.shards.json")  # no index: a reader sees no export yet
    before = {n: _bytes(f"{url}/scale-{n:06d}.tar") for n in (0, 1)}
    created = {n: fs.info(f"{root}/scale-{n:06d}.tar")["created"] for n in (0, 1)}

    written: list[int] = []
    index = export_shards(built, "scale", url, fmt="webdataset", size=size, fault=written.append)
    assert written == [3, 4]  # shards 0 and 1 were kept, 2 and 3 written
    assert [s["items"] for s in index["shards"]] == [2, 2, 2, 1]
    for n in (0, 1):
        assert _bytes(f"{url}/scale-{n:06d}.tar") == before[n]
        assert fs.info(f"{root}/scale-{n:06d}.tar")["created"] == created[n]
    assert not fs.exists(f"{root}/scale.shards.partial.json")
    ids = []
    for s in index["shards"]:
        assert hashlib.sha256(_bytes(f"{url}/{s['name']}")).hexdigest() == s["sha256"]
        stream = [{"stream": fs.open(f"{root}/{s['name']}"), "url": s["name"]}]
        ids += [x["__key__"] for x in wds.tariterators.group_by_keys(wds.tariterators.tar_file_expander(stream))]
    assert ids == [sample_key(i["id"]) for i in _manifest(built)]  # no duplicates

    again: list[int] = []
    assert export_shards(built, "scale", url, fmt="webdataset", size=size, fault=again.append) == index
    assert again == []  # a finished export is left alone

    # a corrupted shard is rewritten, and those after it
    with fs.open(f"{root}/scale-000002.tar", "wb") as f:
        f.write(b"broken")
    fs.rm(f"{root}/scale.shards.json")
    fixed: list[int] = []
    assert export_shards(built, "scale", url, fmt="webdataset", size=size, fault=fixed.append) == index
    assert fixed == [1, 2, 3, 4]  # no partial record left: a fresh export, with the same bytes


def test_shard_sizes_and_keys() -> None:
    assert parse_shard_size("1GB") == ShardSize(bytes=10**9)
    assert parse_shard_size("512MiB") == ShardSize(bytes=512 << 20)
    assert parse_shard_size("1000") == ShardSize(items=1000)
    assert parse_shard_size("10 items") == ShardSize(items=10)
    for bad in ("", "1.5", "0", "12 parsecs", "GB"):
        with pytest.raises(ValueError):
            parse_shard_size(bad)
    assert sample_key("ptbxl-00001-v0") == "ptbxl-00001-v0"
    odd = [sample_key(x) for x in ("a.b/c", "a_b_c", "a/b.c", "é")]
    assert len(set(odd)) == 4 and all("." not in k and "/" not in k for k in odd)
