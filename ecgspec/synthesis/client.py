"""A declared `llm` as the synthesis sees it: requests in, cached or fresh replies out.

The backends are those of `ecgspec eval` (runtime.evaluate.backends: any OpenAI-compatible server,
`vllm serve` included, in-process vllm, transformers), opened only when a request misses the
cache, so a rerun with every reply cached needs neither the server nor the model stack.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ir.llm import Llm
from .cache import Reply, ReplyCache, request_key


class SynthesisError(Exception):
    """A model that cannot be used at all (no backend installed, no key): stops the build, with a hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Ask:
    """One request: the chat messages, the JSON schema the reply must match and a sampling seed."""

    messages: tuple[dict[str, str], ...]
    schema: dict[str, Any] | None
    seed: int
    key: str = ""


@dataclass(frozen=True)
class Failure:
    """A request that failed in transit after the backend's retries: not cached, sent again on a rerun."""

    kind: str
    message: str


@dataclass
class Model:
    llm: Llm
    cache: ReplyCache
    sent: int = 0
    cached: int = 0
    _backend: Any = field(default=None, init=False, repr=False)

    @property
    def settings(self) -> dict[str, Any]:
        """What changes a reply besides the prompt: part of every cache key (the backend is not: the same
        model and settings behind `vllm serve` or in-process are the same model)."""
        s = self.llm
        return {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_tokens, "guided": s.guided}

    def ask(self, messages: Sequence[dict[str, str]], schema: dict[str, Any] | None, seed: int) -> Ask:
        msgs = tuple(dict(m) for m in messages)
        return Ask(msgs, schema, seed, request_key(msgs, self.llm.model, self.settings, schema, seed))

    def _open(self) -> Any:
        if self._backend is not None:
            return self._backend
        s = self.llm
        try:
            from runtime.evaluate.backends.base import make_backend
        except ImportError as exc:  # pragma: no cover - the runtime package ships with ecgspec
            raise SynthesisError(f"llm '{s.name}': the inference backends cannot be imported: {exc}") from None
        common: dict[str, Any] = {"model": s.model, "max_tokens": s.max_tokens, "temperature": s.temperature}
        if s.top_p != 1.0:
            common["top_p"] = s.top_p
        try:
            if s.backend == "openai":
                key = os.environ.get(s.api_key_env) if s.api_key_env else None
                if s.api_key_env and not key:
                    raise SynthesisError(
                        f"llm '{s.name}': the environment variable {s.api_key_env} (api_key_env) is not set",
                        f"export {s.api_key_env}=… before the build, or remove `api_key_env` for a local server",
                    )
                self._backend = make_backend(
                    "openai",
                    url=s.url,
                    api_key=key,
                    concurrency=s.concurrency,
                    retries=s.retries,
                    timeout=s.timeout,
                    guided=s.guided,
                    **common,
                )
            else:
                self._backend = make_backend(s.backend, **common)
        except ImportError as exc:
            extra = {"openai": "eval", "transformers": "train", "vllm": "vllm"}.get(s.backend, "eval")
            raise SynthesisError(
                f"llm '{s.name}': the {s.backend} backend needs a package that is not installed ({exc.name})",
                f"pip install 'ecgspec[{extra}]'",
            ) from None
        except SynthesisError:
            raise
        except Exception as exc:  # a backend that cannot start (no checkpoint at the path …)
            raise SynthesisError(f"llm '{s.name}': the {s.backend} backend cannot start: {exc}") from None
        return self._backend

    def run(self, asks: Sequence[Ask]) -> Iterator[tuple[Ask, Reply | Failure]]:
        """Every ask's reply: from the cache, else sent (the backend's own concurrency), cached as it
        arrives. Cached replies come first, in order; fresh ones in completion order."""
        found = self.cache.get_many([a.key for a in asks])
        waiting: dict[str, list[Ask]] = {}  # one request per distinct prompt, however many ask it
        for a in asks:
            if a.key in found:
                self.cached += 1
                yield a, found[a.key]
            else:
                waiting.setdefault(a.key, []).append(a)
        if not waiting:
            return
        from runtime.evaluate.backends.base import BackendError, Request

        backend = self._open()
        requests = [
            Request(k, same[0].messages, schema=same[0].schema, seed=same[0].seed) for k, same in waiting.items()
        ]
        for req, out in backend.generate(requests):
            self.sent += 1
            reply: Reply | Failure
            if isinstance(out, BackendError):
                if out.kind == "refusal":
                    reply = Reply("refusal", str(out))
                    self.cache.put(req.key, self.llm.model, reply)
                else:
                    reply = Failure(out.kind, str(out))
            else:
                reply = Reply(
                    "ok", str(out), getattr(out, "prompt_tokens", None), getattr(out, "completion_tokens", None)
                )
                self.cache.put(req.key, self.llm.model, reply)
            for a in waiting[req.key]:
                yield a, reply

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
