"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks of LLM synthesis.

    with StubServer(lambda body: '{"answer": "sinus rhythm"}') as srv:
        backend = OpenAIBackend(url=srv.url, model="m", concurrency=16)
        ...
        assert srv.calls[prompt_key(srv.bodies[0])] == 1

`reply(body)` gets each request body and returns the assistant's content (a str), a refusal
(`{"refusal": "..."}`; a dict may also set `content` and `finish_reason`), or an error as
`(status_code, body_text)`; an exception in `reply` is answered with a 500. Replies carry `usage` estimated
at four characters a token. `calls` counts requests per prompt (messages and seed), `bodies` keeps every
body in arrival order.

Fast enough to benchmark the client side: HTTP/1.1 keep-alive (the OpenAI backend's pool reuses its
connections), each response written in one send with TCP_NODELAY (headers and body in separate segments
would meet the peer's delayed ACK and stall 40 ms), no request logging. `python -m tests.synthesis.stub_server`
prints the requests per second the OpenAI backend gets from it.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


def prompt_key(body: dict[str, Any]) -> str:
    """What `StubServer.calls` counts by: the messages (order of keys ignored) and the seed of a request."""
    messages = json.dumps(body.get("messages"), sort_keys=True)
    return hashlib.sha256(messages.encode()).hexdigest() + "\x1f" + str(body.get("seed"))


def _characters(messages: Any) -> int:
    """The characters of the text in chat messages (string contents and the text parts of multimodal ones)."""
    total = 0
    for m in messages if isinstance(messages, list) else []:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return total


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (a connection serves many requests), parsed by hand: the base class's header
    parsing (email.parser) costs more than the rest of a request, and the server shares the GIL with the
    client it is measured against. Anything it does not understand gets a 400 and a closed connection."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet: tests and benchmarks print their own
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        super().finish()

    def handle_one_request(self) -> None:
        try:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                return
            self.command, self.path, version = line.decode("latin-1").split()
            headers: dict[str, str] = {}
            while True:
                header = self.rfile.readline(65537)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            connection = headers.get("connection", "").lower()
            self.close_connection = connection == "close" or (version != "HTTP/1.1" and connection != "keep-alive")
            if "chunked" in headers.get("transfer-encoding", ""):
                raise ValueError("chunked request bodies are not supported")
            raw = self.rfile.read(int(headers.get("content-length") or 0))
        except (ValueError, UnicodeDecodeError):
            self.close_connection = True
            self._send(400, b'{"error": {"message": "bad request"}}')
            return
        except OSError:  # the client went away or timed out
            self.close_connection = True
            return
        if self.command != "POST" or self.path.split("?", 1)[0] != CHAT_PATH:
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        self._chat(raw)

    def _send(self, status: int, data: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode("latin-1")
        try:
            self.wfile.write(head + data)  # one write: one segment for small replies
        except OSError:
            self.close_connection = True  # the client gave up (a timeout test)

    def _chat(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "the body is not JSON"}}')
            return
        stub = self.server.stub
        stub._record(body)
        if stub.delay:
            time.sleep(stub.delay)
        try:
            status, data = stub._answer(body)
        except Exception as exc:  # a scripting error in the test: the client sees a server error
            status, data = 500, json.dumps({"error": {"message": f"stub reply failed: {exc!r}"}}).encode()
        self._send(status, data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a thread per connection; none outlives the test process
    request_queue_size = 256  # a client opening `concurrency` connections at once is not reset (the default is 5)
    stub: StubServer
    connections: set[socket.socket]


class StubServer:
    """`with StubServer(reply) as srv:` serves POST /v1/chat/completions at `srv.url` until the block ends."""

    def __init__(self, reply: Callable[[dict[str, Any]], Any], *, delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay
        self.calls: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._server.connections = set()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StubServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        # Kept-alive connections outlive the listening socket: close them, so that a client used after the
        # block sees a server that is gone rather than one that still answers.
        for conn in list(self._server.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _record(self, body: dict[str, Any]) -> None:
        key = prompt_key(body)
        with self._lock:
            self.calls[key] += 1
            self.bodies.append(body)

    def _answer(self, body: dict[str, Any]) -> tuple[int, bytes]:
        """(status, response bytes) for one request, from the scripted reply."""
        out = self.reply(body)
        if isinstance(out, tuple):
            status, text = out
            return int(status), str(text).encode()
        if isinstance(out, str):
            message: dict[str, Any] = {"role": "assistant", "content": out}
            reason = "stop"
        elif isinstance(out, dict):
            message = {"role": "assistant", "content": out.get("content"), "refusal": out.get("refusal")}
            reason = out.get("finish_reason", "stop")
        else:
            raise TypeError(f"reply returned {type(out).__name__}: expected str, dict or (status, text)")
        prompt_tokens = _characters(body.get("messages")) // 4
        completion_tokens = len(message["content"] or "") // 4
        completion = {
            "id": f"chatcmpl-stub-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, json.dumps(completion).encode()


def benchmark(requests: int = 5000, concurrency: int = 16) -> float:
    """Requests per second the OpenAI backend gets from a StubServer that answers at once."""
    from runtime.evaluate.backends.base import Request
    from runtime.evaluate.backends.openai import OpenAIBackend

    batch = [
        Request(str(k), ({"role": "user", "content": f"Describe ECG number {k} as JSON."},), seed=k)
        for k in range(requests)
    ]
    with StubServer(lambda body: '{"rhythm": "sinus rhythm", "rate": 72}') as srv:
        backend = OpenAIBackend(url=srv.url, model="stub", concurrency=concurrency, retries=0)
        try:
            list(backend.generate(batch[: concurrency * 4]))  # warm: connections open, threads started
            start = time.perf_counter()
            done = sum(1 for _, reply in backend.generate(batch) if isinstance(reply, str))
            elapsed = time.perf_counter() - start
        finally:
            backend.close()
    assert done == requests, f"{requests - done} requests failed"
    return requests / elapsed


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(f"{benchmark(n):.0f} requests/s (OpenAI backend, concurrency 16, {n} requests)")
