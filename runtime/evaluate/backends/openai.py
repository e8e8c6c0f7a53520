"""Any OpenAI-compatible chat endpoint: `vllm serve`, hosted models, judges.

Requests run on a thread pool (`concurrency`); each is retried with exponential backoff on 429,
5xx, timeouts and dropped connections (`retries` times, `backoff` × 2^attempt seconds), and
gives up with a BackendError naming the last cause. A 4xx other than 429 is not retried: the
request itself is wrong and sending it again would fail the same way. `timeout` bounds a whole
request, from sending it to the last byte of the answer.

JSON replies: `guided = "json_schema"` sends a request's schema as `response_format` (the OpenAI shape, which
`vllm serve` also takes for structured outputs), `"json_object"` asks for any JSON object; both only for
requests that carry a schema. `json_mode=True` (the judge) asks every request for a JSON object. A request's
seed is sent as `seed`; the reply's `usage` and `finish_reason` come back on the Completion.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import httpx

from .base import Backend, BackendError, Completion, Request, data_url

GUIDED = ("json_schema", "json_object", "none")


@dataclass(frozen=True)
class _Reply:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        *,
        url: str,
        model: str,
        api_key: str | None = None,
        concurrency: int = 8,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 120.0,
        max_tokens: int = 512,
        temperature: float = 0.0,
        top_p: float = 1.0,
        json_mode: bool = False,
        guided: str = "none",
        add_special_tokens: bool = False,
    ):
        super().__init__(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
        if guided not in GUIDED:
            raise ValueError(f"guided must be one of {', '.join(GUIDED)}, not {guided!r}")
        self.url = url.rstrip("/")
        self.model = model
        self.concurrency = max(1, concurrency)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.json_mode = json_mode  # every request: a JSON object (the judge's replies)
        self.guided = guided  # requests with a schema: how the server is asked to keep to it
        # vLLM's extension: tokenise the rendered chat with the tokenizer's BOS, as training did for templates
        # that do not write it (the llava_v1 template saved with ecgspec checkpoints, the llava-hf ones).
        self.add_special_tokens = add_special_tokens
        self.timeout = timeout  # per request, start to last byte
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # A client of one kept-alive connection per request in flight, lent out per request and made when first
        # needed, at most `concurrency`: one shared pool of `concurrency` connections would scan (and poll)
        # every idle connection on each request, which at a thousand requests a second costs more than the rest
        # of the client. They share one TLS context, the costly part of making a client.
        self._tls = httpx.create_ssl_context()
        self._idle: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    @property
    def settings(self) -> dict[str, Any]:
        out = {**super().settings, "json_mode": self.json_mode}
        if self.guided != "none":  # only when set: the eval's and the judge's cache keys stay as they were
            out["guided"] = self.guided
        if self.add_special_tokens:
            out["add_special_tokens"] = True
        return out

    @property
    def guides_schema(self) -> bool:
        return self.guided == "json_schema"

    def _payload(self, req: Request) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        attached = req.image is None
        for m in req.messages:
            if m["role"] == "user" and not attached:
                assert req.image is not None
                messages.append(
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": data_url(req.image)}},
                            {"type": "text", "text": m["content"]},
                        ],
                    }
                )
                attached = True
            else:
                messages.append({"role": m["role"], "content": m["content"]})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.top_p != 1.0:
            body["top_p"] = self.top_p
        if req.seed is not None:
            body["seed"] = req.seed
        if req.schema is not None and self.guided == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": req.schema, "strict": True},
            }
        elif (req.schema is not None and self.guided == "json_object") or self.json_mode:
            body["response_format"] = {"type": "json_object"}
        if self.add_special_tokens:
            body["add_special_tokens"] = True
        return body

    def complete(self, req: Request) -> Completion:
        """One request with retries; raises BackendError."""
        body = self._payload(req)
        last = "no attempt"
        kind = "http_error"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                r = self._post(body)
            except httpx.TimeoutException as exc:
                last, kind = f"timed out ({exc or type(exc).__name__})", "timeout"
                continue
            except httpx.TransportError as exc:
                last, kind = f"connection failed: {exc}", "http_error"
                continue
            if r.status_code == 429 or r.status_code >= 500:
                last, kind = f"HTTP {r.status_code}", "http_error"
                continue
            if r.status_code >= 400:
                raise BackendError(f"HTTP {r.status_code} from {self.url}: {r.text[:200]}", "http_error")
            try:
                data = r.json()
                choice = data["choices"][0]
                message = choice["message"]
            except (ValueError, KeyError, IndexError, TypeError):
                raise BackendError(f"not a chat completion from {self.url}: {r.text[:200]}", "http_error") from None
            if message.get("refusal"):
                raise BackendError(f"refused: {message['refusal']}", "refusal")
            if choice.get("finish_reason") == "content_filter":
                raise BackendError("refused: content filter", "refusal")
            usage = data.get("usage")
            usage = usage if isinstance(usage, dict) else {}  # optional in compatible servers
            reason = choice.get("finish_reason")
            return Completion(
                message.get("content") or "",
                prompt_tokens=_count(usage.get("prompt_tokens")),
                completion_tokens=_count(usage.get("completion_tokens")),
                finish_reason=None if reason is None else str(reason),
            )
        raise BackendError(f"{self.url}: gave up after {self.retries + 1} attempts: {last}", kind)

    def _post(self, body: dict[str, Any]) -> _Reply:
        """POST with a deadline for the whole response: httpx's timeout bounds each read, so a server that
        trickles a byte a second would otherwise hold a request for as long as it likes."""
        deadline = time.monotonic() + self.timeout
        client = self._lend()
        try:
            with client.stream("POST", f"{self.url}/chat/completions", json=body) as r:
                chunks = []
                for chunk in r.iter_bytes():  # decoded (gzip etc.) as it arrives
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout(f"no complete response within {self.timeout:g} s")
        finally:
            self._idle.put(client)
        return _Reply(r.status_code, b"".join(chunks).decode(r.encoding or "utf-8", errors="replace"))

    def _lend(self) -> httpx.Client:
        """An idle client; else a new one while fewer than `concurrency` exist; else the next one given back."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._clients) < self.concurrency:
                client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    headers=self._headers,
                    limits=httpx.Limits(max_connections=1),
                    verify=self._tls,
                )
                self._clients.append(client)
                return client
        return self._idle.get()

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion | BackendError]]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self.complete, r): r for r in requests}
            for fut in as_completed(futures):
                req = futures[fut]
                try:
                    yield req, fut.result()
                except BackendError as exc:
                    yield req, exc

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.close()


def _count(value: Any) -> int | None:
    """A token count from `usage`, or None where the server sent none (or something that is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
