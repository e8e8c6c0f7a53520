"""A build exported for Hugging Face `datasets` (and any Parquet reader): one row per image.

Columns: id, image ({bytes, path}: embedded PNG bytes, or the path alone), conversations (the
LLaVA turns), and the item's provenance (source, record, split, layout, paper, distort,
synthetic). The schema's `huggingface` metadata declares `image` an Image feature, so
`datasets.load_dataset("parquet", data_files=…)` decodes it. Rows are written in row groups as
the manifest is read, one line at a time: memory does not grow with the corpus. The same rows and
writer make one file (`export_parquet`) or shards of a declared size (shards.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .store import ItemStore

ROW_GROUP = 256
ROW_GROUP_BYTES = 64 << 20  # a row group is also flushed once its rows hold this many image bytes

PROVENANCE = ("source", "record", "split", "layout", "paper", "distort")


def manifest_items(path: Path) -> Iterator[dict[str, Any]]:
    """The items of a manifest written by `ecgspec build` (one item a line), or of any LLaVA JSON."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
        if first.strip() != "[":
            f.seek(0)
            yield from json.load(f)
            return
        for line in f:
            line = line.strip().rstrip(",")
            if line and line != "]":
                yield json.loads(line)


def _features() -> dict[str, Any]:
    text = {"dtype": "string", "_type": "Value"}
    return {
        "id": text,
        "image": {"_type": "Image"},
        "conversations": [{"from": text, "value": text}],
        **{k: text for k in PROVENANCE},
        "synthetic": {"dtype": "bool", "_type": "Value"},
    }


def parquet_schema() -> Any:
    """The export's pyarrow schema, with the `huggingface` features metadata."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
            *((k, pa.string()) for k in PROVENANCE),
            ("synthetic", pa.bool_()),
        ],
        metadata={"huggingface": json.dumps({"info": {"features": _features()}})},
    )


def item_row(
    build: Path, item: dict[str, Any], *, embed: bool = True, store: ItemStore | None = None
) -> dict[str, Any]:
    """The Parquet row of one manifest item (its provenance read from the item's stored result)."""
    image_path = build / "images" / item["image"]
    meta: dict[str, Any] = {}
    if store is not None:
        try:
            meta = json.loads(store.path(item["id"]).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
    render = meta.get("render") or {}
    return {
        "id": item["id"],
        "image": {
            "bytes": image_path.read_bytes() if embed else None,
            "path": item["image"] if embed else str(image_path),
        },
        "conversations": item["conversations"],
        "source": meta.get("source"),
        "record": meta.get("record"),
        "split": meta.get("split"),
        "layout": render.get("layout"),
        "paper": render.get("paper"),
        "distort": render.get("distort"),
        "synthetic": bool(meta.get("synthetic") or item.get("synthetic")),
    }


def row_bytes(row: dict[str, Any]) -> int:
    """About what a row adds to a Parquet file: its image bytes and its text."""
    image = row["image"]
    return len(image["bytes"] or b"") + len(image["path"] or "") + len(json.dumps(row["conversations"])) + 64


class RowWriter:
    """Rows into one Parquet file (a path or a binary file object), a row group at a time."""

    def __init__(self, where: Any):
        import pyarrow.parquet as pq

        self.schema = parquet_schema()
        self.writer = pq.ParquetWriter(where, self.schema)
        self.rows: list[dict[str, Any]] = []
        self.pending = 0
        self.n = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.pending += row_bytes(row)
        if len(self.rows) >= ROW_GROUP or self.pending >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.n += len(self.rows)
            self.rows, self.pending = [], 0

    def close(self) -> int:
        """Write what is left and the footer; return the number of rows."""
        self.flush()
        self.writer.close()
        return self.n


def corpus_rows(build: Path, corpus: str, *, embed: bool = True) -> Iterator[dict[str, Any]]:
    """The rows of BUILD/manifests/CORPUS.json, in manifest order."""
    store = ItemStore(build, corpus)
    for item in manifest_items(build / "manifests" / f"{corpus}.json"):
        yield item_row(build, item, embed=embed, store=store)


def export_parquet(build: Path, corpus: str, out: Path, *, embed: bool = True) -> int:
    """Write `out` from BUILD/manifests/CORPUS.json (+ item provenance); return the number of rows."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        writer = RowWriter(tmp)
        try:
            for row in corpus_rows(build, corpus, embed=embed):
                writer.add(row)
        finally:
            n = writer.close()
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise
    return n
