"""Answer extraction, correct mode: what a free-text response says, by the rules a task declares.

Labels match as whole words: a label is found only where neither side touches a letter, digit,
`_` or `-`, so "NORM" is not inside "ABNORMAL", "ST" is not inside "STTC" or "ST-elevation",
and "AF" is not inside "AFL". Label codes match in their written case (a lower-case "st" in
"1st degree" is not sinus tachycardia); synonyms, which are words, match in any case. When a
response has an `Answer:` line, only the text after the last one counts: the reasoning before
it names labels it goes on to reject.

Multiple choice tries the task's rules in order (`Extract.rules`); the first that yields exactly
one letter wins, and a rule that finds two different letters yields nothing (an ambiguous answer
is not silently read as its first letter):

    bare_letter   the whole response is one letter: "B", "(b)", "Option B.", "B)"
    answer_is     "Answer: B", "the answer is (B)", "correct option is B", "Choice: B" (last one counts)
    letter_paren  "(B)" somewhere in the text
    letter_dot    a line that starts "B." or "B)"
    option_text   exactly one option's text appears (whole words, any case)

Nothing extracted → the declared fallback: `random` draws a letter from a stream seeded with
(plan seed, item id), so the draw does not depend on order or workers, and the item is counted
as a fallback in the results; `none` scores it wrong.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ecgspec.artifacts.plan_schema import LETTERS, Extract, Task

_EDGE_L = r"(?<![A-Za-z0-9_\-])"
_EDGE_R = r"(?![A-Za-z0-9_\-])"


@lru_cache(maxsize=4096)
def word_pattern(text: str, case_sensitive: bool) -> re.Pattern[str]:
    """A regex that finds `text` as a whole word; inner whitespace matches any run of whitespace."""
    body = r"\s+".join(re.escape(part) for part in text.split())
    return re.compile(_EDGE_L + body + _EDGE_R, 0 if case_sensitive else re.IGNORECASE)


def final_answer(text: str) -> str:
    """The part after the last `Answer:` (any case), or the whole text."""
    parts = re.split(r"(?i)\banswer\s*:", text)
    return parts[-1] if len(parts) > 1 else text


def find_labels(text: str, classes: Sequence[str], synonyms: dict[str, tuple[str, ...]]) -> list[str]:
    """The classes a response names, in the task's order."""
    text = final_answer(text)
    found = []
    for label in classes:
        if word_pattern(label, True).search(text) or any(
            word_pattern(s, False).search(text) for s in synonyms.get(label, ())
        ):
            found.append(label)
    return found


def find_options(text: str, options: Sequence[str]) -> list[str]:
    """The options a response names (whole words, any case). An option found only inside a longer
    option's match ("sinus rhythm" inside "sinus rhythm with PACs") does not count."""
    text = final_answer(text)
    spans: list[tuple[int, int, str]] = []
    for opt in options:
        for m in word_pattern(opt, False).finditer(text):
            spans.append((m.start(), m.end(), opt))
    kept = {opt for s, e, opt in spans if not any((s2 <= s and e <= e2) and (e2 - s2) > (e - s) for s2, e2, _ in spans)}
    return [o for o in options if o in kept]


def _one(letters: Iterable[str]) -> str | None:
    distinct = set(letters)
    return distinct.pop() if len(distinct) == 1 else None


def mcq_rule(rule: str, text: str, letters: str, options: Sequence[str]) -> str | None:
    """One letter-extraction rule; None when it finds nothing or finds different letters."""
    cls = f"[{letters}]"
    if rule == "bare_letter":
        m = re.fullmatch(rf"\W*(?:(?i:option|choice)\s+)?\(?({cls})\)?\W*", text.strip(), re.IGNORECASE)
        return m.group(1).upper() if m and m.group(1).upper() in letters else None
    if rule == "answer_is":
        pat = re.compile(rf"(?i:answer|option|choice)(?:\s+(?i:is))?\s*[:\-]?\s*\(?({cls})\)?(?![A-Za-z0-9])")
        # "Answer: A normal ECG" is the article, not option A.
        hits = [
            m.group(1) for m in pat.finditer(text) if not (m.group(1) == "A" and re.match(r"\s+[a-z]", text[m.end() :]))
        ]
        return hits[-1] if hits else None
    if rule == "letter_paren":
        return _one(re.findall(rf"\(({cls})\)", text))
    if rule == "letter_dot":
        return _one(re.findall(rf"(?m)^\s*({cls})[.)](?:\s|$)", text))
    if rule == "option_text":
        named = find_options(text, options)
        return letters[list(options).index(named[0])] if len(named) == 1 else None
    raise ValueError(f"unknown extraction rule {rule!r}")


def extract_letter(text: str, options: Sequence[str], rules: Sequence[str]) -> str | None:
    letters = LETTERS[: len(options)]
    for rule in rules:
        got = mcq_rule(rule, text, letters, options)
        if got is not None:
            return got
    return None


def fallback_letter(seed: int, item_id: str, n_options: int) -> str:
    """A seeded random letter: the same for an item whatever the order items are scored in."""
    return random.Random(f"{seed}:{item_id}").choice(LETTERS[:n_options])


@dataclass(frozen=True)
class Extracted:
    value: tuple[str, ...] | str | None  # labels/options, a letter, or the text itself
    fallback: bool = False  # nothing was extracted (for multiple choice: the fallback answered)


def extract(
    task: Task, item_id: str, options: Sequence[str] | None, text: str, seed: int, rules: Extract | None = None
) -> Extracted:
    """Correct-mode extraction for one response of a task."""
    ex = rules or task.extract
    if task.form == "multi_label":
        found = find_labels(text, [*task.labels, *ex.answers], task.synonyms)
        return Extracted(tuple(found), fallback=not found)
    if task.form == "select_all":
        found = find_options(text, options or ())
        return Extracted(tuple(found), fallback=not found)
    if task.form == "multiple_choice":
        opts = list(options or ())
        letter = extract_letter(text, opts, ex.rules)
        if letter is not None:
            return Extracted(letter)
        if ex.fallback == "random":
            return Extracted(fallback_letter(seed, item_id, len(opts)), fallback=True)
        return Extracted(None, fallback=True)
    return Extracted(text)
