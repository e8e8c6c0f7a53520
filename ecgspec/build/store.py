"""Per-item results on disk: what makes a build resumable.

Every finished item leaves one small JSON file under OUT/.work/CORPUS/, written atomically and
stamped with the item's hash (spec, templates, tool version, item key). A rerun skips an item
whose file carries the right hash and whose image exists, so a build killed at any moment
loses at most the items in flight and never duplicates one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..atomic import write_atomic

__all__ = ["ItemStore", "sha256_file", "write_atomic"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ItemStore:
    """The results of one corpus's items, one file each."""

    def __init__(self, out: Path, corpus: str):
        self.out = out
        self.folder = out / ".work" / corpus

    def path(self, item_id: str) -> Path:
        return self.folder / f"{item_id}.json"

    def load(self, item_id: str, expected_hash: str) -> dict[str, Any] | None:
        """The stored result of an item, if it is complete and current."""
        try:
            data = json.loads(self.path(item_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("hash") != expected_hash:
            return None
        image = data.get("image")
        if data.get("status") == "ok" and not (image and (self.out / "images" / image).is_file()):
            return None
        return data

    def save(self, result: dict[str, Any]) -> None:
        write_atomic(self.path(result["id"]), json.dumps(result, sort_keys=True, ensure_ascii=False))
