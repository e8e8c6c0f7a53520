"""One interface for every inference backend: chat requests in, texts out, as they complete.

A request is a conversation (user and assistant messages, plain text) and an optional image;
the backend attaches the image to the first user message in its own way (an `image_url` data
URL over HTTP, pixel values for transformers). Questions never contain `<image>`.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from an endpoint made safe for a terminal: escape sequences and control characters removed
    (a server's error page must not be able to move the cursor, recolour or retitle the terminal)."""
    return _CONTROL.sub("", _ANSI.sub("", text))


class BackendError(Exception):
    """A request that failed for good (after retries). `kind` sorts failures for reports. The message is
    made printable: it may quote what a server sent."""

    def __init__(self, message: str, kind: str = "http_error"):
        super().__init__(printable(message))
        self.kind = kind  # "timeout" | "http_error" | "refusal"


@dataclass(frozen=True)
class Request:
    key: str  # the cache key; also how a caller matches results to requests
    messages: tuple[dict[str, str], ...]  # {"role": "user"|"assistant"|"system", "content": str}
    image: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class Backend(ABC):
    name: str = ""
    model: str = ""

    def __init__(self, *, max_tokens: int = 512, temperature: float = 0.0):
        self.max_tokens = max_tokens
        self.temperature = temperature

    @property
    def settings(self) -> dict[str, Any]:
        """Generation settings that change a response: part of every cache key."""
        return {"backend": self.name, "max_tokens": self.max_tokens, "temperature": self.temperature}

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, str | BackendError]]:
        """Yield (request, text or the error) for every request, in completion order."""

    def close(self) -> None:  # noqa: B027 - a hook: most backends hold nothing to release
        """Release connections or engines; nothing by default."""


def data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def make_backend(kind: str, **opts: Any) -> Backend:
    """`openai` (any OpenAI-compatible endpoint), `transformers`, or `vllm` (in-process, GPU)."""
    if kind == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(**opts)
    if kind == "transformers":
        from .transformers import TransformersBackend

        return TransformersBackend(**opts)
    if kind == "vllm":
        from .vllm import VLLMBackend

        return VLLMBackend(**opts)
    raise ValueError(f"unknown backend {kind!r}: expected openai, transformers or vllm")
