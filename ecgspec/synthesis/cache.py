"""The reply cache: every reply a synthesis received, in one SQLite file (WAL), keyed on the request.

A key is the sha256 of (messages, model, generation settings, schema, seed): the same prompt to
the same model with the same settings is never sent twice, an interrupted synthesis resumes with
what it had, and an edited template or setting changes only the keys of the prompts it changes.
Each reply is committed as it arrives; SQLite's journal makes a commit all-or-nothing even under
SIGKILL. Refusals are answers too and are kept; failures in transit (timeouts, 5xx) are not, so a
rerun sends those again.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created TEXT NOT NULL DEFAULT (datetime('now'))
)
"""


def request_key(messages: Any, model: str, settings: dict[str, Any], schema: Any, seed: int | None) -> str:
    raw = json.dumps(
        [messages, model, settings, schema, seed], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Reply:
    status: str  # "ok" | "refusal"
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ReplyCache:
    """Thread-safe: one connection behind a lock (a write is tiny next to a model call)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, Reply]:
        out: dict[str, Reply] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                rows = self._db.execute(
                    "SELECT key, status, text, prompt_tokens, completion_tokens FROM replies WHERE key IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                out.update({k: Reply(s, t, p, c) for k, s, t, p, c in rows})
        return out

    def put(self, key: str, model: str, reply: Reply) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, model, status, text, prompt_tokens, completion_tokens) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, reply.status, reply.text, reply.prompt_tokens, reply.completion_tokens),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
