"""A built corpus as shards for clusters: WebDataset tar shards or Parquet shards of a declared size.

`ecgspec export OUT CORPUS --format webdataset|parquet --shard-size 1GB|N -o URL` writes, under URL
(a local folder or any fsspec URL: s3://, gs://, file://, memory://):

NAME-000000.tar …    (or NAME-000000.parquet …) the shards, in manifest order
NAME.shards.json     the index, written last: format, shard size, the corpus's manifest sha256 and
                     the build's spec hash, and per shard its name, item count, byte size, sha256
                     and first/last item id

A WebDataset sample is one item: `KEY.png` (or `.jpg`: the image's bytes as built), `KEY.json` (the
image's sidecar JSON, as built) and `KEY.conversations.json` (the item's LLaVA manifest entry, with
the item's prompts/NAME.jsonl lines under "prompts"). KEY is the item id made tar-safe: every
character outside [A-Za-z0-9_-] becomes `_` and, where that changed the id, `_` + 10 hex digits
of the id's sha256 are appended, so keys stay unique without remembering them. Tar members carry
mtime 0 and no owner, so a shard's bytes depend on its items alone.

A shard closes before the sample that would take it past the declared bytes (a tar's exact size,
its end blocks included; a Parquet shard's image and text bytes, which its footer exceeds by a
few KB), or after N items; a single larger sample makes a shard of its own. Each shard is
written to `NAME-000000.tar.tmp` and moved to its name (fs.mv): atomic on a local disk and in
memory://; on object stores (s3, gs) a move is a copy and a delete, so the object appears whole
under its name but a crash may leave a `.tmp` object behind, overwritten by the rerun. After
each shard, `NAME.shards.partial.json` records the shards done; a rerun with the same manifest,
spec hash, format and shard size keeps the leading shards whose size and sha256 still match and
writes the rest, and a finished export (whose index matches) is left alone. Readers should take
the shard list from the index: a shard not in it is not part of a finished export.

Memory stays flat: items are streamed from the manifest and prompts/NAME.jsonl together, and a
tar is written straight into the shard's file one member at a time (Parquet: one row group).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .parquet import RowWriter, item_row, manifest_items, row_bytes
from .store import ItemStore

FORMATS = {"webdataset": "tar", "parquet": "parquet"}
INDEX_SCHEMA = "ecgspec.shards/1"

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}


@dataclass(frozen=True)
class ShardSize:
    """At most `bytes` bytes or `items` items a shard (one of the two)."""

    bytes: int | None = None
    items: int | None = None

    def as_json(self) -> dict[str, int]:
        return {"bytes": self.bytes} if self.bytes is not None else {"items": self.items or 0}


def parse_shard_size(text: str) -> ShardSize:
    """`1GB`, `512MiB`, `300kb` (bytes: decimal or binary units) or `1000`, `1000 items` (items)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m:
        raise ValueError(f"{text!r}: expected a size such as 1GB, 512MiB or a number of items such as 1000")
    number, unit = m.group(1), m.group(2).lower()
    if unit in ("", "item", "items"):
        if "." in number or int(number) < 1:
            raise ValueError(f"{text!r}: a number of items is a whole number ≥ 1")
        return ShardSize(items=int(number))
    if unit not in _UNITS:
        raise ValueError(f"{text!r}: unknown unit {m.group(2)!r} (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, items)")
    size = int(float(number) * _UNITS[unit])
    if size < 1:
        raise ValueError(f"{text!r}: a shard size is at least one byte")
    return ShardSize(bytes=size)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def sample_key(item_id: str) -> str:
    """The item id as a WebDataset key: no dots (which start the extension), slashes or odd bytes."""
    key = _UNSAFE.sub("_", item_id)
    if key != item_id or not key:
        key = f"{key}_{hashlib.sha256(item_id.encode()).hexdigest()[:10]}"
    return key


# -- the items ---------------------------------------------------------------------------------------


def _prompt_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def corpus_items(build: Path, corpus: str) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(manifest entry, its prompts lines) in manifest order: both files are written in the same order,
    so they are read side by side, one item at a time."""
    prompts = _prompt_lines(build / "prompts" / f"{corpus}.jsonl")
    pending = next(prompts, None)
    for item in manifest_items(build / "manifests" / f"{corpus}.json"):
        lines: list[dict[str, Any]] = []
        while pending is not None and pending.get("item") == item["id"]:
            lines.append(pending)
            pending = next(prompts, None)
        yield item, lines


# -- writing a shard ---------------------------------------------------------------------------------


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes and counts what goes through it into another file."""

    def __init__(self, f: Any):
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.f.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


_BLOCK, _RECORD = tarfile.BLOCKSIZE, tarfile.RECORDSIZE


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes]]) -> int:
    """What these members add to a tar (PAX format): headers and data padded to 512-byte blocks."""
    n = 0
    for info, data in members:
        n += len(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        n += -(-len(data) // _BLOCK) * _BLOCK
    return n


def _tar_end(offset: int) -> int:
    """A tar's size once closed: two zero blocks, padded to a 10240-byte record."""
    return -(-(offset + 2 * _BLOCK) // _RECORD) * _RECORD


class _TarShard:
    def __init__(self, f: _HashingFile):
        self.f = f
        self.tar = tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT)
        self.items = 0

    def fits(self, sample: Any, size: ShardSize) -> bool:
        if self.items == 0:
            return True
        if size.items is not None:
            return self.items < size.items
        assert size.bytes is not None
        return _tar_end(self.f.size + _tar_bytes(sample)) <= size.bytes

    def add(self, sample: list[tuple[tarfile.TarInfo, bytes]]) -> None:
        for info, data in sample:
            self.tar.addfile(info, io.BytesIO(data))
        self.items += 1

    def close(self) -> None:
        self.tar.close()


class _ParquetShard:
    def __init__(self, f: _HashingFile):
        self.f = f
        self.writer = RowWriter(f)
        self.items = 0
        self.bytes = 0

    def fits(self, row: Any, size: ShardSize) -> bool:
        if self.items == 0:
            return True
        if size.items is not None:
            return self.items < size.items
        assert size.bytes is not None
        return self.bytes + row_bytes(row) <= size.bytes

    def add(self, row: dict[str, Any]) -> None:
        self.writer.add(row)
        self.bytes += row_bytes(row)
        self.items += 1

    def close(self) -> None:
        self.writer.close()


def _wds_sample(build: Path, item: dict[str, Any], prompts: list[dict[str, Any]]) -> Any:
    key = sample_key(item["id"])
    image = build / "images" / item["image"]
    ext = image.suffix.lower().lstrip(".") or "png"
    ext = "jpg" if ext == "jpeg" else ext
    try:
        sidecar = image.with_suffix(".json").read_bytes()
    except OSError:
        sidecar = b"{}"
    conversations = json.dumps({**item, "prompts": prompts}, ensure_ascii=False).encode()
    files = [
        (f"{key}.{ext}", image.read_bytes()),
        (f"{key}.json", sidecar),
        (f"{key}.conversations.json", conversations),
    ]
    return [(_member(name, len(data)), data) for name, data in files]


# -- the export --------------------------------------------------------------------------------------


def _filesystem(url: str) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path.rstrip("/") or path


def _join(root: str, name: str) -> str:
    return f"{root}/{name}" if root else name


def _read_json(fs: Any, path: str) -> dict[str, Any] | None:
    try:
        with fs.open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(fs: Any, path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with fs.open(tmp, "wb") as f:
        f.write((json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode())
    fs.mv(tmp, path)


def _sha256(fs: Any, path: str) -> str | None:
    h = hashlib.sha256()
    try:
        with fs.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _verified(fs: Any, root: str, shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leading shards still on disk as the index says (size, then sha256)."""
    done = []
    for s in shards:
        path = _join(root, s["name"])
        try:
            if fs.size(path) != s["bytes"] or _sha256(fs, path) != s["sha256"]:
                break
        except (OSError, KeyError):
            break
        done.append(s)
    return done


def export_shards(
    build: Path,
    corpus: str,
    url: str,
    *,
    fmt: str = "webdataset",
    size: ShardSize = ShardSize(bytes=10**9),
    embed: bool = True,
    fault: Any = None,
) -> dict[str, Any]:
    """Write CORPUS's shards and index under `url`; return the index. `fault(shard_number)`, called
    after each shard is in place, is for tests that interrupt an export."""
    from .store import sha256_file

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    ext = FORMATS[fmt]
    manifest = build / "manifests" / f"{corpus}.json"
    try:
        spec_hash = json.loads((build / "build.json").read_text(encoding="utf-8")).get("spec_hash")
    except (OSError, ValueError):
        spec_hash = None
    head = {
        "schema": INDEX_SCHEMA,
        "corpus": corpus,
        "format": fmt,
        "shard_size": size.as_json(),
        "embed": embed if fmt == "parquet" else True,
        "manifest_sha256": sha256_file(manifest),
        "spec_hash": spec_hash,
    }
    fs, root = _filesystem(url)
    fs.makedirs(root, exist_ok=True)
    index_path = _join(root, f"{corpus}.shards.json")
    partial_path = _join(root, f"{corpus}.shards.partial.json")

    def same(doc: dict[str, Any] | None) -> bool:
        return doc is not None and all(doc.get(k) == v for k, v in head.items())

    index = _read_json(fs, index_path)
    if same(index):
        assert index is not None
        if len(_verified(fs, root, index["shards"])) == len(index["shards"]):
            return index  # finished before, and untouched since
    if fs.exists(index_path):
        fs.rm(index_path)  # shards are about to change under it
    partial = _read_json(fs, partial_path)
    shards = _verified(fs, root, partial["shards"]) if same(partial) and partial else []
    skip = sum(s["items"] for s in shards)

    store = ItemStore(build, corpus)
    items = corpus_items(build, corpus)
    for _ in range(skip):
        next(items)

    def samples() -> Iterator[tuple[str, Any]]:
        for item, prompts in items:
            if fmt == "webdataset":
                yield item["id"], _wds_sample(build, item, prompts)
            else:
                yield item["id"], item_row(build, item, embed=embed, store=store)

    stream = samples()
    nxt = next(stream, None)
    while nxt is not None:
        name = f"{corpus}-{len(shards):06d}.{ext}"
        path, tmp = _join(root, name), _join(root, f"{name}.tmp")
        first = nxt[0]
        last = first
        with fs.open(tmp, "wb") as raw:
            f = _HashingFile(raw)
            shard: _TarShard | _ParquetShard = _TarShard(f) if fmt == "webdataset" else _ParquetShard(f)
            while nxt is not None and shard.fits(nxt[1], size):
                shard.add(nxt[1])
                last = nxt[0]
                nxt = next(stream, None)
            shard.close()
        fs.mv(tmp, path)
        shards.append(
            {
                "name": name,
                "items": shard.items,
                "bytes": f.size,
                "sha256": f.sha.hexdigest(),
                "first": first,
                "last": last,
            }
        )
        _write_json(fs, partial_path, {**head, "shards": shards})
        if fault is not None:
            fault(len(shards))
    # shards of an earlier, longer export of this name are not part of this one
    names = {s["name"] for s in shards}
    for p in fs.glob(_join(root, f"{corpus}-[0-9][0-9][0-9][0-9][0-9][0-9].{ext}")):
        if p.rstrip("/").rsplit("/", 1)[-1] not in names:
            fs.rm(p)
    index = {**head, "items": sum(s["items"] for s in shards), "shards": shards}
    _write_json(fs, index_path, index)
    if fs.exists(partial_path):
        fs.rm(partial_path)
    return index
