"""Importing the released ECGBench files into a plan.

A released file is JSON (a list, or JSON lines) or Parquet with `id`, `image` (a path, or in
Parquet an image struct with `bytes`) and `conversations`: `{from: human|gpt, value}` pairs, or
for ECG Arena `{question, answer}` pairs. Quirks handled here, each for a reason:

* `ptb_report_generation_test.json` (and the report file `eval_report.py` reads) names the list
  `conversation`, with `from: user|assistant`: both spellings are read;

* a `value` stored as a list of single characters (how ECG-QA's conversations come out of the
  Parquet release) is joined back into its string; a list of longer strings is a list of answers;
* `<image>` is removed from questions: backends attach the image themselves;
* multiple-choice targets are the first character of the reference (what the released scorer
  compares); options are read from the question's `A. …` / `(A) …` lines, and a question without
  a line for each of the task's letters is an error (the option texts are what `option_text`
  extraction matches; letters alone would silently disable it);
* ECG-QA's options are the comma-separated text after `Options:` in the question;
* multi-label references are read with the correct-mode rules (whole words, the labels'
  synonyms in any case: "Myocardial infarction" is MI; negated mentions, by the built-in cues and
  the task's own `negation`, are not labels), except that a reference that is exactly one of the
  task's `answers` (NORM, ABNORMAL) is that class;
* item ids are unique in a plan: a repeated id is an error naming both places.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ecgspec.artifacts.plan_schema import LETTERS, ArtifactError, Item, Plan, Task, Turn

from . import compat
from .extract import find_labels

# "A. text" / "(A) text" at a line start or after a space, up to the next option or the line end
_OPTION_LINE = re.compile(r"(?m)(?:^|(?<=\s))\(?([A-Z])[.)]\s+(.+?)\s*(?=\s\(?[A-Z][.)]\s|$)")


def read_released(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such released file")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ArtifactError(f"{path}: reading Parquet needs pyarrow (pip install 'ecgspec[eval]')") from None
        return list(pq.read_table(path).to_pylist())
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ArtifactError(f"{path}:{n}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ArtifactError(f"{path}: expected a list of items with id, image, conversations")
    return data


def _text(value: Any) -> str | list[str]:
    if isinstance(value, list):
        if all(isinstance(x, str) and len(x) <= 1 for x in value):
            return "".join(value)
        return [str(x) for x in value]
    return "" if value is None else str(value)


def _question(value: Any) -> str:
    q = _text(value)
    q = ", ".join(q) if isinstance(q, list) else q
    return re.sub(r"\s*<image>\s*", " ", q).strip()


def conversation_turns(convs: Any, where: str) -> list[tuple[str, str | list[str] | None]]:
    if not isinstance(convs, list) or not convs:
        raise ArtifactError(f"{where}: `conversations` (or `conversation`) is a non-empty list")
    turns: list[tuple[str, str | list[str] | None]] = []
    if all(isinstance(c, dict) and "question" in c for c in convs):  # ECG Arena
        return [(_question(c["question"]), _text(c.get("answer"))) for c in convs]
    pending: str | None = None
    for c in convs:
        if not isinstance(c, dict) or "value" not in c:
            raise ArtifactError(f"{where}: a conversation entry needs `from` and `value`")
        if c.get("from") in ("human", "user"):
            if pending is not None:
                turns.append((pending, None))
            pending = _question(c["value"])
        else:
            if pending is None:
                raise ArtifactError(f"{where}: an answer before any question")
            turns.append((pending, _text(c["value"])))
            pending = None
    if pending is not None:
        turns.append((pending, None))
    return turns


def _image(rec: dict[str, Any], task_id: str, item_id: str, src_dir: Path, plan_dir: Path) -> str | None:
    img = rec.get("image")
    if isinstance(img, dict) and img.get("bytes"):
        name = Path(str(rec.get("image_path") or img.get("path") or f"{item_id}.png")).name
        dest = plan_dir / "images" / task_id / re.sub(r"[^\w.\-]", "_", name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            tmp = dest.with_suffix(dest.suffix + ".tmp")
            tmp.write_bytes(img["bytes"])
            os.replace(tmp, dest)
        return dest.relative_to(plan_dir).as_posix()
    rel = img if isinstance(img, str) else rec.get("image_path")
    if not isinstance(rel, str):
        return None
    for cand in (src_dir / "images" / rel, src_dir / rel):
        if cand.exists():
            return Path(os.path.relpath(cand, plan_dir)).as_posix()
    return Path(os.path.relpath(src_dir / "images" / rel, plan_dir)).as_posix()


def _options(question: str, n: int, where: str) -> tuple[str, ...]:
    found: dict[str, str] = {}
    for m in _OPTION_LINE.finditer(question):
        found.setdefault(m.group(1), m.group(2))
    letters = LETTERS[:n]
    lacking = [x for x in letters if x not in found]
    if lacking:
        seen = f"found {', '.join(sorted(found))}" if found else "found none"
        raise ArtifactError(
            f"{where}: the question has no option line for {', '.join(lacking)} (the task has {n} options, "
            f"'A. text' or '(A) text'; {seen}): {question[:80]!r}"
        )
    return tuple(found[x] for x in letters)


def import_items(
    shell: dict[str, Any], records: list[dict[str, Any]], *, src: Path, plan_dir: Path, n_options: int = 4
) -> list[Item]:
    form = shell["form"]
    answers = tuple(shell["extract"].answers)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for k, rec in enumerate(records):
        where = f"{src}: item {k + 1}"
        item_id = rec.get("id", rec.get("No"))
        if item_id is None:
            raise ArtifactError(f"{where}: no `id`")
        item_id = str(item_id)
        if item_id in seen:
            raise ArtifactError(
                f"{where}: id '{item_id}' is also the id of item {seen[item_id]} of the same file; "
                "item ids are unique in a plan"
            )
        seen[item_id] = k + 1
        convs = rec["conversations"] if "conversations" in rec else rec.get("conversation")
        turns = conversation_turns(convs, f"{where} (id {item_id})")
        ref = turns[-1][1]
        ref_text = ", ".join(ref) if isinstance(ref, list) else (ref or "")
        target: Any = None
        options: tuple[str, ...] | None = None
        if form == "multi_label":
            target = (
                (ref_text.strip(),)
                if ref_text.strip() in answers
                else tuple(
                    find_labels(
                        ref_text,
                        shell["labels"],
                        shell.get("synonyms") or {},
                        negation=shell["extract"].negation,  # the task's own cues, as its answers are read
                    )
                )
            )
        elif form == "multiple_choice":
            options = _options(turns[0][0], n_options, f"{where} (id {item_id})")
            target = ref_text.strip()[:1]
            if target not in LETTERS[: len(options)]:
                raise ArtifactError(
                    f"{where} (id {item_id}): reference {ref_text[:40]!r} does not start with "
                    f"an option letter {LETTERS[0]}-{LETTERS[len(options) - 1]}"
                )
        elif form == "select_all":
            options = tuple(c.rstrip(".").strip() for c in compat.ecgqa_candidates(turns[0][0], None) if c.strip())
            target = tuple(ref) if isinstance(ref, list) else tuple(x.strip() for x in ref_text.split(",") if x.strip())
        elif form == "report":
            target = ref_text
        turn_models = [Turn(question=q, answer=", ".join(a) if isinstance(a, list) else a) for q, a in turns]
        items.append(
            Item(
                id=item_id,
                image=_image(rec, shell["id"], item_id, src.parent, plan_dir),
                turns=tuple(turn_models),
                target=target,
                options=options or None,
            )
        )
    return items


def released_plan(
    program: Any, suite: Any, *, released_dir: Path | None, plan_path: Path, only: set[str] | None = None
) -> Plan:
    """A plan of every suite task that names a released `items` file, read from released_dir
    (by the file's name) or from the path as written."""
    from ecgspec.artifacts.suite_tasks import plan_header, task_shell

    tasks: list[Task] = []
    seen: dict[str, str] = {}  # item id → where it was first read
    for t in suite.tasks:
        if t.items is None or (only and t.id not in only):
            continue
        src = (released_dir / Path(t.items).name) if released_dir else Path(t.items)
        if not src.exists() and src.with_suffix(".parquet").exists():
            src = src.with_suffix(".parquet")
        shell = task_shell(program, t)
        items = import_items(shell, read_released(src), src=src, plan_dir=plan_path.parent, n_options=t.options)
        for k, it in enumerate(items):
            if it.id in seen:
                raise ArtifactError(
                    f"{src}: item {k + 1}: id '{it.id}' is also the id of {seen[it.id]}; item ids are unique in a plan"
                )
            seen[it.id] = f"item {k + 1} of {src} (task {t.id})"
        try:
            tasks.append(Task(**shell, items=tuple(items)))
        except ValidationError as exc:
            raise ArtifactError(f"{src}: task {t.id}: {_first_error(exc)}") from None
    return Plan(**plan_header(program, suite), origin="released", tasks=tuple(tasks))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return str(err.get("ctx", {}).get("error") or err["msg"])
