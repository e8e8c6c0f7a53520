"""The response cache: one SQLite file (WAL mode) of every response a run received.

A response is keyed on (plan hash, item id, turn, model, generation settings): a rerun of the same
plan with the same model and settings finds it and sends nothing, so a run that was killed resumes
where it stopped. Each response is committed as it arrives; SQLite's journal makes a commit
all-or-nothing even under SIGKILL, so a resumed run neither loses nor duplicates one. Judge
verdicts live in the same file under the judge's model name, keyed also on the judged text.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    plan_hash TEXT NOT NULL,
    item TEXT NOT NULL,
    turn INTEGER NOT NULL,
    model TEXT NOT NULL,
    settings TEXT NOT NULL,
    response TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now'))
)
"""


def settings_json(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(plan_hash: str, item: str, turn: int, model: str, settings: dict[str, Any], extra: str = "") -> str:
    raw = json.dumps([plan_hash, item, turn, model, settings_json(settings), extra], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class ResponseCache:
    """Thread-safe: one connection behind a lock (writes are tiny; the model call dominates)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(
        self, key: str, *, plan_hash: str, item: str, turn: int, model: str, settings: dict[str, Any], response: str
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, plan_hash, item, turn, model, settings, response) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, plan_hash, item, turn, model, settings_json(settings), response),
            )
            self._db.commit()

    def count(self, plan_hash: str | None = None) -> int:
        with self._lock:
            if plan_hash is None:
                return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
            return int(
                self._db.execute("SELECT COUNT(*) FROM responses WHERE plan_hash = ?", (plan_hash,)).fetchone()[0]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
