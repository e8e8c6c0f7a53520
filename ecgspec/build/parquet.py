"""A build exported for Hugging Face `datasets` (and any Parquet reader): one row per image.

Columns: id, image ({bytes, path}: embedded PNG bytes, or the path alone), conversations (the
LLaVA turns), and the item's provenance (source, record, split, layout, paper, distort,
synthetic). The schema's `huggingface` metadata declares `image` an Image feature, so
`datasets.load_dataset("parquet", data_files=…)` decodes it. Rows are written in row groups as
the manifest is read, one line at a time: memory does not grow with the corpus.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROW_GROUP = 256


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
        **{k: text for k in ("source", "record", "split", "layout", "paper", "distort")},
        "synthetic": {"dtype": "bool", "_type": "Value"},
    }


def export_parquet(build: Path, corpus: str, out: Path, *, embed: bool = True) -> int:
    """Write `out` from BUILD/manifests/CORPUS.json (+ item provenance); return the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .store import ItemStore

    manifest = build / "manifests" / f"{corpus}.json"
    store = ItemStore(build, corpus)
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
            *((k, pa.string()) for k in ("source", "record", "split", "layout", "paper", "distort")),
            ("synthetic", pa.bool_()),
        ],
        metadata={"huggingface": json.dumps({"info": {"features": _features()}})},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    rows: list[dict[str, Any]] = []
    n = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for item in manifest_items(manifest):
                image_path = build / "images" / item["image"]
                try:
                    meta = json.loads(store.path(item["id"]).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    meta = {}
                render = meta.get("render") or {}
                rows.append(
                    {
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
                )
                if len(rows) >= ROW_GROUP:
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    n += len(rows)
                    rows = []
            if rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                n += len(rows)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
        raise
    return n
