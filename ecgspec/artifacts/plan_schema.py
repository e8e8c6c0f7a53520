"""`plans/NAME.json`: an evaluation plan, the one file a benchmark run needs.

The compiler (`ecgspec build`) writes it from a `suite` declaration; `runtime.evaluate.released`
writes it from the released ECGBench files. Everything that consumes a plan (the evaluator, the
scorer, the lmms-eval exporter) reads it through `load_plan`, which turns a malformed file into
one clear message naming the file and the place, never a traceback.

    Plan  {schema, suite, version, suite_hash, spec_hash, scoring, judge, bootstrap, seed, origin, tasks}
    Task  {id, form, labels, synonyms, answers, metrics, rubric, criteria, extract, options, items}
    Item  {id, image, turns: [{question, answer}], target, options, record, patient}

Questions never contain `<image>`: a backend attaches the image to the first turn itself.
Image paths are relative to the folder holding the plan file.
"""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA: Final = "ecgspec.plan/1"
Form = Literal["multi_label", "multiple_choice", "select_all", "report", "open"]
Metric = Literal["auc", "f1", "hamming", "accuracy", "exact_match", "judge"]
# Letter-extraction rules for multiple choice, tried in the order the task lists them
# (runtime.evaluate.extract documents each one).
McqRule = Literal["bare_letter", "answer_is", "letter_paren", "letter_dot", "option_text"]
LETTERS = string.ascii_uppercase


class ArtifactError(Exception):
    """A plan, results or predictions file that cannot be used; the message names file and place."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Turn(_Model):
    """One question of a conversation, and the reference answer where there is one."""

    question: str = Field(min_length=1)
    answer: str | None = None


class Extract(_Model):
    """How an answer is read out of a free-text response (declared in the suite)."""

    rules: tuple[McqRule, ...] = Field(
        ("bare_letter", "answer_is", "letter_paren", "letter_dot", "option_text"),
        description="multiple-choice letter rules, tried in order",
    )
    fallback: Literal["random", "none"] = Field(
        "random", description="when nothing is extracted: a seeded random option (counted), or none (scored wrong)"
    )
    answers: tuple[str, ...] = Field(
        (), description="whole-answer classes besides the labels, e.g. NORM / ABNORMAL for CODE-15%"
    )
    mode: Literal["free", "constrained"] = Field(
        "free",
        description="free: read the answer out of free text; constrained: the backend is asked for a structured "
        "answer (guided choice / JSON schema) and that is scored directly",
    )
    negation: tuple[str, ...] = Field(
        (), description="negation cues besides the built-in ones ('no', 'without', 'rule out', …)"
    )
    llm: ExtractorModel | None = Field(
        None, description="a model that reads a free-text answer into labels or a letter (optional)"
    )


class ExtractorModel(_Model):
    """The model of an LLM extractor, as the suite's `extractor` (an `llm` declaration) names it."""

    name: str = Field(description="the `llm` declaration's name")
    backend: Literal["openai", "vllm", "transformers", "none"] = "none"
    model: str
    url: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 256
    timeout: float = 300.0
    retries: int = 4
    concurrency: int = 16


class Item(_Model):
    id: str = Field(min_length=1, description="unique in the plan")
    image: str | None = Field(None, description="path relative to the plan file's folder")
    turns: tuple[Turn, ...] = Field(min_length=1)
    target: tuple[str, ...] | str | None = Field(
        None,
        description="multi_label/select_all: true labels or option texts; multiple_choice: the letter; "
        "report/open: the reference text",
    )
    options: tuple[str, ...] | None = None
    record: str | None = None
    patient: str | None = None


Extract.model_rebuild()


class Task(_Model):
    id: str = Field(min_length=1)
    form: Form
    labels: tuple[str, ...] = ()
    synonyms: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    metrics: tuple[Metric, ...] = ("accuracy",)
    rubric: str | None = Field(None, description="the judge rubric: a Jinja template's text")
    criteria: tuple[str, ...] = Field((), description="judged criteria, each scored 0-10")
    extract: Extract = Field(default_factory=Extract)
    items: tuple[Item, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        classes = set(self.labels) | set(self.extract.answers)
        for it in self.items:
            where = f"item '{it.id}'"
            if self.form == "multi_label":
                if not isinstance(it.target, tuple):
                    raise ValueError(f"{where}: a multi_label target is a list of labels")
                unknown = [t for t in it.target if t not in classes]
                if unknown:
                    raise ValueError(
                        f"{where}: target names {', '.join(unknown)}, not among the task's labels "
                        f"({', '.join(sorted(classes))})"
                    )
            elif self.form == "multiple_choice":
                if not it.options or len(it.options) < 2:
                    raise ValueError(f"{where}: a multiple_choice item needs at least 2 options")
                if not (isinstance(it.target, str) and it.target in LETTERS[: len(it.options)]):
                    raise ValueError(
                        f"{where}: target must be one of the letters "
                        f"{', '.join(LETTERS[: len(it.options)])}, got {it.target!r}"
                    )
            elif self.form == "select_all":
                if not isinstance(it.target, tuple):
                    raise ValueError(f"{where}: a select_all target is a list of option texts")
            elif self.form in ("report", "open") and isinstance(it.target, tuple):
                raise ValueError(f"{where}: a {self.form} target is a reference text")
        if "judge" in self.metrics and (not self.rubric or not self.criteria):
            raise ValueError("a judged task needs `rubric` and `criteria`")
        unknown = sorted(set(self.synonyms) - classes)
        if unknown:
            raise ValueError(f"synonyms for unknown labels: {', '.join(unknown)}")
        return self


class Plan(_Model):
    schema_: Literal["ecgspec.plan/1"] = Field(SCHEMA, alias="schema")
    suite: str
    version: str
    suite_hash: str
    spec_hash: str
    scoring: Literal["default", "pulse_compat"] = "default"
    judge: str | None = Field(None, description="judge model, pinned by name")
    bootstrap: int = Field(1000, ge=0)
    seed: int = 0
    origin: Literal["compiled", "released"] = "compiled"
    tasks: tuple[Task, ...]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _unique(self) -> Plan:
        seen: dict[str, str] = {}
        for t in self.tasks:
            for it in t.items:
                if it.id in seen:
                    raise ValueError(
                        f"item id '{it.id}' appears in task '{seen[it.id]}' and task '{t.id}'; "
                        "item ids are unique in a plan"
                    )
                seen[it.id] = t.id
        ids = [t.id for t in self.tasks]
        if len(set(ids)) != len(ids):
            raise ValueError("task ids are unique in a plan")
        return self

    def canonical_json(self) -> str:
        return json.dumps(
            self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )

    def content_hash(self) -> str:
        """The plan hash: what the response cache and every result are keyed on."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)

    def write(self, path: str | Path) -> Path:
        """Write atomically (tmp + os.replace)."""
        from .results import write_text_atomic

        path = Path(path)
        write_text_atomic(
            path, json.dumps(self.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False) + "\n"
        )
        return path


def _loc(loc: tuple[Any, ...], data: Any) -> str:
    """`tasks[0].items[3].target`, with the task and item ids where the data has them."""
    out, node = "", data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            if isinstance(node, list) and part < len(node):
                node = node[part]
                if isinstance(node, dict) and "id" in node:
                    out += f"(id={node['id']!r})"
            else:
                node = None
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def validation_message(path: str | Path, exc: ValidationError, data: Any) -> str:
    lines = [f"{path}: not a valid {SCHEMA} file ({exc.error_count()} problem(s))"]
    for err in exc.errors()[:10]:
        where = _loc(tuple(err["loc"]), data) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  at {where}: {msg}")
    return "\n".join(lines)


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; raise ArtifactError with a located message on bad input."""
    data = read_json(path)
    if isinstance(data, dict) and data.get("schema") not in (None, SCHEMA):
        raise ArtifactError(f"{path}: schema {data.get('schema')!r} is not {SCHEMA!r}")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise ArtifactError(validation_message(path, exc, data)) from None
