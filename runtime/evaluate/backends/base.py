"""One interface for every inference backend: chat requests in, texts out, as they complete.

A request is a conversation (user and assistant messages, plain text) and an optional image;
the backend attaches the image to the first user message in its own way (an `image_url` data
URL over HTTP, pixel values for transformers). Questions never contain `<image>`. A request may
also carry a JSON schema its reply must match (guided decoding, where the backend offers it) and
a sampling seed. Replies are `Completion`s: plain strings that also carry token counts.
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
    # A JSON schema the reply must match: guided decoding where the backend offers it (the caller still
    # validates, since not every backend can enforce it).
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    # A per-request sampling seed: a retry at temperature > 0 asks with another seed to get another reply,
    # and a rerun with the same seeds is reproducible where the backend honours them.
    seed: int | None = field(default=None, compare=False, hash=False)


class Completion(str):
    """A reply's text that also carries what the backend reported about it (None where it reported nothing).

    A `str` subclass, so every caller that stores, compares, slices or serialises replies keeps working;
    derived strings (`.strip()`, slices) are plain `str` and drop the counts.
    """

    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None

    def __new__(
        cls,
        text: str = "",
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        finish_reason: str | None = None,
    ) -> Completion:
        self = super().__new__(cls, text)
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.finish_reason = finish_reason
        return self


class Backend(ABC):
    name: str = ""
    model: str = ""

    def __init__(self, *, max_tokens: int = 512, temperature: float = 0.0, top_p: float = 1.0):
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p

    @property
    def settings(self) -> dict[str, Any]:
        """Generation settings that change a response: part of every cache key."""
        out: dict[str, Any] = {"backend": self.name, "max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.top_p != 1.0:  # only when set, so that the cache keys of earlier runs stay valid
            out["top_p"] = self.top_p
        return out

    @property
    def guides_schema(self) -> bool:
        """Whether a request's JSON schema is enforced while decoding (else it only travels with the request, and
        the reply is validated afterwards like any other); none by default."""
        return False

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[Request, Completion | BackendError]]:
        """Yield (request, reply or the error) for every request, in completion order."""

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
