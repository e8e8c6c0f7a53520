"""LLM-as-judge for report and open tasks: the suite's rubric, a pinned judge model, strict parsing.

The rubric is a Jinja template (templates/judge/*.j2, carried into the plan as text) rendered
with the criteria, each turn's question, reference and response. The judge must answer one JSON
object with a 0-10 score per criterion (`{"rhythm": {"score": 7, "explanation": "…"}, …}`; a
bare number per criterion is accepted too; criterion names match ignoring case, spaces and `_`).

Anything else is a failure, sorted by kind and never turned into a number:
  timeout            the endpoint did not answer in time (after retries)
  http_error         the endpoint failed (after retries) or answered something that is not a completion
  refusal            the judge declined (a `refusal` field, a content filter, or "I can't…" with no JSON)
  malformed_json     no parseable JSON object in the answer
  missing_criterion  a declared criterion has no score
  out_of_range       a score that is not a number in 0-10
An item's score is the mean of its criteria ×10; a task's, the mean over judged items.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from .backends.base import Backend, BackendError, Request
from .cache import ResponseCache, cache_key

_REFUSAL = re.compile(
    r"(?i)\b(i\s*(?:'m| am)\s+(?:sorry|unable)|i\s+can(?:no|')t|cannot (?:help|assist|comply)"
    r"|as an ai)\b"
)
_env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class Verdict:
    scores: dict[str, float] | None  # criterion → 0-10; None on failure
    failure: str | None = None  # a failure kind (see module docs)
    detail: str = ""

    @property
    def score(self) -> float | None:
        """Mean of the criteria ×10 (0-100)."""
        return None if self.scores is None else 10 * sum(self.scores.values()) / len(self.scores)


def render_prompt(rubric: str, criteria: Sequence[str], turns: Sequence[dict[str, str | None]]) -> str:
    return _env.from_string(rubric).render(criteria=list(criteria), turns=list(turns))


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_verdict(text: str, criteria: Sequence[str]) -> Verdict:
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        if _REFUSAL.search(text):
            return Verdict(None, "refusal", text[:200])
        return Verdict(None, "malformed_json", text[:200])
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        return Verdict(None, "malformed_json", f"{exc.msg}: {text[:200]}")
    if not isinstance(obj, dict):
        return Verdict(None, "malformed_json", "the JSON is not an object")
    by_name = {_norm(k): v for k, v in obj.items()}
    scores: dict[str, float] = {}
    for c in criteria:
        if _norm(c) not in by_name:
            return Verdict(None, "missing_criterion", f"no score for '{c}'")
        v = by_name[_norm(c)]
        if isinstance(v, dict):
            inner = {_norm(k): x for k, x in v.items()}
            if "score" not in inner:
                return Verdict(None, "missing_criterion", f"'{c}' has no score")
            v = inner["score"]
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                return Verdict(None, "out_of_range", f"'{c}' score {v!r} is not a number")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 10:
            return Verdict(None, "out_of_range", f"'{c}' score {v!r} is not a number in 0-10")
        scores[c] = float(v)
    return Verdict(scores)


class Judge:
    """Scores items through a backend (an OpenAI-compatible endpoint), caching verdict texts."""

    def __init__(self, backend: Backend, cache: ResponseCache | None = None, plan_hash: str = ""):
        self.backend = backend
        self.cache = cache
        self.plan_hash = plan_hash

    def judge(self, jobs: Sequence[tuple[str, str, Sequence[str]]]) -> dict[str, Verdict]:
        """jobs: (item id, rendered prompt, criteria) → verdict per item id."""
        verdicts: dict[str, Verdict] = {}
        pending: list[Request] = []
        for item, prompt, criteria in jobs:
            key = cache_key(
                self.plan_hash,
                item,
                -1,
                self.backend.model,
                self.backend.settings,
                extra=hashlib.sha256(prompt.encode()).hexdigest(),
            )
            cached = self.cache.get(key) if self.cache else None
            if cached is not None:
                verdicts[item] = parse_verdict(cached, criteria)
                continue
            pending.append(
                Request(
                    key, ({"role": "user", "content": prompt},), None, meta={"item": item, "criteria": tuple(criteria)}
                )
            )
        for req, out in self.backend.generate(pending):
            item, criteria = req.meta["item"], req.meta["criteria"]
            if isinstance(out, BackendError):
                verdicts[item] = Verdict(None, out.kind, str(out))
                continue
            v = parse_verdict(out, criteria)
            verdicts[item] = v
            if self.cache is not None and v.failure is None:  # failures are asked again on a rerun
                self.cache.put(
                    req.key,
                    plan_hash=self.plan_hash,
                    item=item,
                    turn=-1,
                    model=self.backend.model,
                    settings=self.backend.settings,
                    response=out,
                )
        return verdicts


def judge_settings(judge: Judge) -> dict[str, Any]:
    return {"model": judge.backend.model, **judge.backend.settings}
