"""`llm`: a language model behind an inference backend, the generator or the judge of synthesis.

A spec names the model and how it is reached; the machine it runs on is the build's business,
so a shared spec writes the endpoint as a constant (`url = llm_url`) that `-D` points at the
local server. `backend = none` (the default) declares the model without using it: the `instruct`
tasks that need it are then not asked, and the build says so.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Decl, Ident, Problem, Unit

BACKENDS = ("openai", "vllm", "transformers", "none")


class Llm(Decl):
    """A model and its generation settings; every setting that changes a reply keys the reply cache."""

    kind: ClassVar[str] = "llm"
    # What reaches the model and how hard it is driven changes no reply: the model and its sampling do.
    volatile: ClassVar[frozenset[str]] = frozenset(
        {
            "backend",
            "url",
            "api_key_env",
            "concurrency",
            "retries",
            "timeout",
            "throughput",
            "prefill",
            "gpus",
            "tokenizer",
        }
    )

    backend: Literal["openai", "vllm", "transformers", "none"] = Field(
        "none",
        description="openai (any OpenAI-compatible server, `vllm serve` included), vllm (in-process, GPU), "
        "transformers (local, CPU or GPU), or none (declared, not used)",
    )
    model: str = Field(
        description="the served model's name (openai), or a local checkpoint folder (vllm, transformers)",
        examples=['"meta-llama/Meta-Llama-3-70B-Instruct"'],
    )
    url: str | None = Field(None, description="the server's base URL (openai), e.g. http://127.0.0.1:8000/v1")
    api_key_env: Annotated[str, Ident()] | None = Field(
        None, description="the environment variable that holds the API key (never the key itself)"
    )
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling")
    max_tokens: int = Field(1024, ge=1, le=65536, description="most tokens a reply may have")
    guided: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description="how JSON replies are requested: a schema (vllm structured outputs, OpenAI `response_format`), "
        "any JSON object, or by the prompt alone; replies are validated in every case",
    )
    concurrency: int = Field(16, ge=1, le=4096, description="requests in flight at once (openai)")
    retries: int = Field(4, ge=0, le=20, description="retries of a request that failed in transit (openai)")
    timeout: Annotated[float, Unit("time")] = Field(300.0, gt=0, le=86400, description="per request (openai)")
    throughput: float = Field(
        1000.0, gt=0, description="generated tokens per second of the whole server: for `ecgspec plan` estimates"
    )
    prefill: float = Field(10000.0, gt=0, description="prompt tokens per second of the whole server (estimates)")
    gpus: int = Field(1, ge=1, le=4096, description="GPUs the server uses: GPU-hours are wall hours times this")
    tokenizer: str | None = Field(
        None,
        description="a local tokenizer folder, for exact token counts in `ecgspec plan` (else ~4 characters a token)",
    )

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.backend == "openai" and not self.url:
            out.append(
                ("url", "an openai backend needs the server's `url`", 'for example url = "http://127.0.0.1:8000/v1"')
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            out.append(("url", f"'{self.url}' is not an http(s) URL", 'for example url = "http://127.0.0.1:8000/v1"'))
        return out
