"""Shared test helpers: plans made by hand, and a real OpenAI-compatible HTTP server on 127.0.0.1
that answers from fixed rules and counts what it was sent."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ecgspec.artifacts.plan_schema import Extract, Item, Plan, Task, Turn

Rule = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | str, float]]  # body → (status, reply, delay s)


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat request."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return content


def completion(text: str, **message: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text, **message}}
        ],
    }


class RuleServer:
    """`with RuleServer(rule) as srv:` → srv.url ('http://127.0.0.1:PORT/v1'), srv.calls (Counter of
    user texts), srv.bodies (every request body)."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.calls: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.calls[user_text(body)] += 1
                    outer.bodies.append(body)
                status, reply, delay = outer.rule(body)
                if delay:
                    time.sleep(delay)
                data = (reply if isinstance(reply, str) else json.dumps(reply)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> RuleServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def item(
    id_: str,
    target: Any,
    question: str = "Q",
    options: tuple[str, ...] | None = None,
    answer: str | None = None,
    image: str | None = None,
) -> Item:
    return Item(id=id_, turns=(Turn(question=question, answer=answer),), target=target, options=options, image=image)


def plan_of(*tasks: Task, bootstrap: int = 0, seed: int = 0, scoring: str = "default") -> Plan:
    return Plan(
        suite="mini",
        version="0.1",
        suite_hash="s" * 8,
        spec_hash="p" * 8,
        scoring=scoring,  # type: ignore[arg-type]
        judge="judge-model",
        bootstrap=bootstrap,
        seed=seed,
        tasks=tasks,
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


__all__ = ["Extract", "RuleServer", "Task", "completion", "item", "plan_of", "user_text", "write_jsonl"]


def released_f1_auc_hl(pred: list[list[str]], truth: list[list[str]]) -> tuple[float, float, float]:
    """The released `compute_f1_auc` (evaluate_ecgbench.py), written out from its description with
    scikit-learn, independently of runtime.evaluate.compat: classes fitted on the references, mean
    per-class F1, mean per-class hard-label AUC with NaN propagating, Hamming loss."""
    import warnings

    import numpy as np
    from sklearn.metrics import f1_score, hamming_loss, roc_auc_score
    from sklearn.preprocessing import MultiLabelBinarizer

    mlb = MultiLabelBinarizer()
    t = mlb.fit_transform(truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # answers naming classes no reference has: dropped, as the release does
        p = mlb.transform(pred)
    aucs = []
    for j in range(t.shape[1]):
        try:
            aucs.append(roc_auc_score(t[:, j], p[:, j]))
        except ValueError:
            aucs.append(np.nan)
    return float(np.mean(f1_score(t, p, average=None))), float(np.mean(aucs)), float(hamming_loss(t, p))
