"""An LLM extractor: a declared model reads a free-text answer into a letter or a label set (as lmms-eval
does with GPT), for the tasks whose suite names an `extractor`.

Each final-turn response of a multiple_choice, multi_label or select_all task is put in a prompt rendered
from the shipped `std/extract/llm_extract.j2` (a sandboxed Jinja template of the library; the response
is data to it, never template code) and sent with the reply's JSON schema, which the OpenAI-compatible
backend passes as `response_format` (`runtime.evaluate.constrained.schema_for`, where a multiple-choice
answer may also be null: "the response chooses no option"). The reply is validated by
`constrained.parse`. Requests run through the backend's bounded thread pool (`concurrency`).

Failures are counted by kind and never filled in: an item whose extraction failed has no reading at
all, neither the default extractor's nor a random letter:

    timeout        the endpoint did not answer in time (after retries)
    http_error     the endpoint failed, or answered something that is not a chat completion
    refusal        the model declined (a `refusal` field or a content filter)
    invalid_reply  the reply is not a JSON object of the asked shape

Readings go to the response cache (`cache.sqlite`), keyed on the extractor model, its settings and the
prompt and schema sent (so a changed response, question or template is asked again, and an unchanged one
in another plan is not); failures are not cached, so a rerun asks them again. The API key is read from
the environment variable the `llm` declaration names (`api_key_env`), never from the spec.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ecgspec.artifacts.plan_schema import LETTERS, ExtractorModel, Item, Plan, Task
from ecgspec.template_loader import SHIPPED_TEMPLATES

from .backends.base import Backend, BackendError, Request
from .cache import ResponseCache, cache_key
from .constrained import FORMS, is_constrained, parse, schema_for
from .extract import Extracted

# The shipped template library, wherever this install keeps it (package data in a wheel, the
# repository's templates/ in a checkout): ecgspec.template_loader decides, as it does for `std/`.
TEMPLATES: Final = SHIPPED_TEMPLATES
TEMPLATE: Final = TEMPLATES / "extract" / "llm_extract.j2"
# The first part of every extraction cache key: a reading depends on the prompt, not on the plan around it.
_KEY_SPACE: Final = "llm_extract"


class LlmExtractError(Exception):
    """An extractor that cannot be used as declared (no backend, a key not in the environment, no template)."""


@dataclass(frozen=True)
class ExtractionFailure:
    kind: str  # timeout | http_error | refusal | invalid_reply
    detail: str


@dataclass
class ExtractionOutcome:
    """Readings and failures per (item id, turn); an item is in one or the other, or (no response) neither."""

    extracted: dict[tuple[str, int], Extracted] = field(default_factory=dict)
    failures: dict[tuple[str, int], ExtractionFailure] = field(default_factory=dict)
    sent: int = 0
    cached: int = 0

    def counts(self) -> dict[str, int]:
        """Failures by kind."""
        out: dict[str, int] = {}
        for f in self.failures.values():
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def merge(self, other: ExtractionOutcome) -> None:
        self.extracted.update(other.extracted)
        self.failures.update(other.failures)
        self.sent += other.sent
        self.cached += other.cached


@lru_cache(maxsize=8)
def _template(path: Path) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LlmExtractError(f"the LLM extractor's prompt template {path} cannot be read: {exc}") from None
    env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True, undefined=StrictUndefined)
    try:
        return env.from_string(text)
    except TemplateError as exc:
        raise LlmExtractError(f"{path}: not a valid template: {exc}") from None


def render_prompt(task: Task, item: Item, response: str, template: Path = TEMPLATE) -> str:
    """The extraction prompt for one response to `item`'s last turn."""
    opts = item.options or ()
    text = _template(template).render(
        form=task.form,
        question=item.turns[-1].question,
        options=[{"letter": LETTERS[k], "text": text} for k, text in enumerate(opts)],
        labels=[
            {"code": code, "names": list(task.synonyms.get(code, ()))} for code in (*task.labels, *task.extract.answers)
        ],
        response=response,
    )
    return text.strip() + "\n"


def extractor_backend(model: ExtractorModel, environ: Mapping[str, str] | None = None) -> Backend:
    """The backend of a declared extractor; its API key from the environment variable it names."""
    from .backends.base import make_backend

    environ = os.environ if environ is None else environ
    who = f"extractor '{model.name}'"
    if model.backend == "none":
        raise LlmExtractError(f"{who} is declared with backend = none: give it a backend (and a url) to use it")
    try:
        if model.backend == "openai":
            key = environ.get(model.api_key_env) if model.api_key_env else None
            if model.api_key_env and not key:
                raise LlmExtractError(f"{who}: the environment variable {model.api_key_env} (api_key_env) is not set")
            if not model.url:
                raise LlmExtractError(f"{who}: an openai backend needs the server's url")
            return make_backend(
                "openai",
                url=model.url,
                model=model.model,
                api_key=key,
                concurrency=model.concurrency,
                retries=model.retries,
                timeout=model.timeout,
                max_tokens=model.max_tokens,
                temperature=model.temperature,
                guided="json_schema",
            )
        return make_backend(
            model.backend, model=model.model, max_tokens=model.max_tokens, temperature=model.temperature
        )
    except BackendError as exc:
        raise LlmExtractError(f"{who}: {exc}") from None
    except ImportError as exc:
        raise LlmExtractError(f"{who}: the {model.backend} backend needs {exc.name}, which is not installed") from None


def _asked(plan: Plan, tasks: Collection[str] | None) -> list[Task]:
    """The tasks to extract: those named, else those that declare an extractor in use (not `backend = none`);
    closed forms, free text."""
    return [
        t
        for t in plan.tasks
        if (t.id in tasks if tasks is not None else t.extract.llm is not None and t.extract.llm.backend != "none")
        and t.form in FORMS
        and not is_constrained(t)
    ]


def extract_all(
    plan: Plan,
    responses: Mapping[tuple[str, int], str],
    backend: Backend,
    cache: ResponseCache | None = None,
    *,
    tasks: Collection[str] | None = None,
) -> ExtractionOutcome:
    """Read the final-turn responses of `tasks` (default: the tasks that declare an extractor) with `backend`."""
    out = ExtractionOutcome()
    plan_hash = plan.content_hash()
    pending: list[Request] = []
    for task in _asked(plan, tasks):
        for it in task.items:
            turn = len(it.turns) - 1
            text = responses.get((it.id, turn))
            if text is None:
                continue  # missing: scoring counts it; there is nothing to read
            prompt = render_prompt(task, it, text)
            schema = schema_for(task, it, allow_none=True)
            sent = hashlib.sha256(json.dumps([prompt, schema], ensure_ascii=False).encode()).hexdigest()
            key = cache_key(_KEY_SPACE, it.id, turn, backend.model, backend.settings, extra=sent)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                reading = parse(task, it, hit, allow_none=True)
                if reading.problem is None:  # only valid readings are cached; a hand-edited cache is asked again
                    out.extracted[(it.id, turn)] = reading.extracted
                    out.cached += 1
                    continue
            pending.append(
                Request(
                    key,
                    ({"role": "user", "content": prompt},),
                    meta={"task": task, "item": it, "turn": turn},
                    schema=schema,
                )
            )
    for req, reply in backend.generate(pending):
        task, it, turn = req.meta["task"], req.meta["item"], req.meta["turn"]
        where = (it.id, turn)
        if isinstance(reply, BackendError):
            out.failures[where] = ExtractionFailure(reply.kind, str(reply))
            continue
        out.sent += 1
        reading = parse(task, it, reply, allow_none=True)
        if reading.problem is not None:
            cut = " (cut at max_tokens)" if getattr(reply, "finish_reason", None) == "length" else ""
            out.failures[where] = ExtractionFailure("invalid_reply", f"{reading.problem}{cut}: {reply[:200]}")
            continue
        out.extracted[where] = reading.extracted
        if cache is not None:
            cache.put(
                req.key,
                plan_hash=plan_hash,
                item=it.id,
                turn=turn,
                model=backend.model,
                settings=backend.settings,
                response=reply,
            )
    return out


def extract_declared(
    plan: Plan,
    responses: Mapping[tuple[str, int], str],
    cache: ResponseCache | None = None,
    environ: Mapping[str, str] | None = None,
) -> ExtractionOutcome:
    """Every task's declared extractor, one backend per distinct extractor model."""
    groups: dict[ExtractorModel, list[str]] = {}
    for task in _asked(plan, None):
        assert task.extract.llm is not None
        groups.setdefault(task.extract.llm, []).append(task.id)
    out = ExtractionOutcome()
    for model, ids in groups.items():
        backend = extractor_backend(model, environ)
        try:
            out.merge(extract_all(plan, responses, backend, cache, tasks=ids))
        finally:
            backend.close()
    return out
