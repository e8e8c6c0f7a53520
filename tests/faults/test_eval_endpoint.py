"""An OpenAI-compatible endpoint that misbehaves: one that trickles its answer a byte at a time is cut off at
the request's deadline (not held for as long as it keeps sending), and text it sends never reaches the
terminal with escape sequences or control characters in it."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("httpx")

from runtime.evaluate.backends.base import BackendError, Request, printable
from runtime.evaluate.backends.openai import OpenAIBackend
from tests.evaluate.helpers import RuleServer

TRICKLE_BYTES = 60
TRICKLE_EVERY_S = 0.2  # the whole answer would take 12 s


class TrickleServer:
    """Answers every request with a valid status line and headers, then one byte of body per 0.2 s."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(TRICKLE_BYTES))
                self.end_headers()
                try:
                    for _ in range(TRICKLE_BYTES):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(TRICKLE_EVERY_S)
                    outer.finished.set()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> TrickleServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_trickling_server_is_cut_off_at_the_request_deadline():
    with TrickleServer() as server:
        backend = OpenAIBackend(url=server.url, model="m", timeout=1.0, retries=0)
        try:
            with pytest.raises(BackendError) as caught:
                backend.complete(Request("k", ({"role": "user", "content": "Q"},)))
        finally:
            backend.close()
        # Each byte came well within the per-read timeout; only a whole-request deadline stops this.
        assert caught.value.kind == "timeout" and "within 1 s" in str(caught.value)
        assert not server.finished.is_set(), "the client waited for the whole trickle"


HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b[31mbad\x1b[0m request\x00\x07\r"


def test_endpoint_text_reaches_the_terminal_without_escapes_or_control_characters(tmp_path, capsys):
    from ecgspec.cli import main
    from tests.evaluate.helpers import Task as PlanTask
    from tests.evaluate.helpers import item, plan_of

    task = PlanTask(id="t", form="multiple_choice", metrics=("accuracy",), items=(item("i1", "A", options=("x", "y")),))
    plan = plan_of(task)
    plan_path = tmp_path / "plan.json"
    plan.write(plan_path)
    with RuleServer(lambda body: (400, HOSTILE, 0)) as server:
        code = main(
            [
                "eval",
                str(plan_path),
                "--backend",
                "openai",
                "--model",
                "m",
                "--url",
                server.url,
                "--retries",
                "0",
                "-o",
                str(tmp_path / "out"),
            ]
        )
    err = capsys.readouterr().err
    assert code == 1 and "bad request" in err
    assert not any(ch in err for ch in "\x1b\x00\x07\r"), repr(err)
    assert printable("ok\n\tline") == "ok\n\tline"  # line breaks and tabs are kept
