"""Where a synthesis's results live: OUT/synth/CORPUS.sqlite for the items (a record's entry by its
id, read by every worker without loading the rest), CORPUS.jsonl of what was kept and
CORPUS.dropped.jsonl of what was not and why, for people. Each file is written whole to a
temporary name and renamed, so a reader sees the old results or the new, never half."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..atomic import write_atomic


def results_path(out: Path, corpus: str) -> Path:
    return out / "synth" / f"{corpus}.sqlite"


def _line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def write_results(out: Path, corpus: str, records: Iterable[dict[str, Any]], dropped: Iterable[dict[str, Any]]) -> None:
    folder = out / "synth"
    folder.mkdir(parents=True, exist_ok=True)
    final = results_path(out, corpus)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)  # as AtomicWriter names them
    os.close(fd)
    lines: list[str] = []
    try:
        db = sqlite3.connect(tmp)
        db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, entry TEXT NOT NULL, digest TEXT NOT NULL)")
        for rec in records:
            text = _line(rec)
            lines.append(text)
            db.execute(
                "INSERT INTO records VALUES (?, ?, ?)", (rec["id"], text, hashlib.sha256(text.encode()).hexdigest())
            )
        db.commit()
        db.close()
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_atomic(folder / f"{corpus}.jsonl", "".join(t + "\n" for t in lines))
    write_atomic(folder / f"{corpus}.dropped.jsonl", "".join(_line(d) + "\n" for d in dropped))


class SynthResults:
    """A corpus's synthesis results, by record id (`SOURCE/KEY`); opened read-only by each worker."""

    def __init__(self, path: Path):
        self.path = path
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def entry(self, record_id: str) -> tuple[dict[str, Any] | None, str]:
        """The record's entry and its digest (which keys the items that use it); (None, "") without one."""
        row = self._db.execute("SELECT entry, digest FROM records WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            return None, ""
        return json.loads(row[0]), row[1]

    def close(self) -> None:
        self._db.close()
