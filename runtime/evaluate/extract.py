"""Answer extraction, correct mode: what a free-text response asserts, read as a careful clinician
reads it, by the rules a task declares (`Task.extract`).

One reader serves every task form: it finds the classes (multi_label), the options (select_all,
and multiple choice's `option_text` rule) that a response names, then keeps only those it asserts.

What counts as naming a class
    A class is named by its code or by any of its declared `synonyms` (`labels … { synonyms = … }`),
    as whole words: neither side may touch a letter, digit, `_` or `-`, so "NORM" is not inside
    "ABNORMAL", "AF" not inside "AFL", "ST" not inside "STTC" or "ST-elevation", "CD" not inside
    "CD-ROM". Synonyms match in any case. Codes of three or more characters match in any case too
    ("sttc", "lbbb", "Norm"); a code of one or two characters keeps its written case ("MI", "CD",
    "SB", "ST": "mi", "cd", "1st degree" and "st." are English), unless the code itself is declared
    among its synonyms, which is how a suite says the lower-case form is safe ("AF": "af", "Af").
    The labelled set tests/evaluate/extraction_set.jsonl is the evidence for this rule: every code
    of three or more letters in the shipped vocabularies (HYP, STD, TAB, PACE …) read in any case
    gave no false reading there, while "st" and "mi" did.
    A phrase also matches its usual variants: space, hyphen or slash between words ("ST-T",
    "ST/T", "ST T"), a hyphen inside a word or none ("A-fib", "A fib", "Afib"), the plural or
    singular of its last word ("PVCs", "complexes", "abnormalities"), and the spellings of one word
    that mean the same (first/1st/1°, AV/A-V/atrioventricular, ischemic/ischaemic, ECG/EKG,
    complex/contraction/beat).
    Where matches overlap the longest wins ("incomplete right bundle branch block" is not "right
    bundle branch block" too), and a few ECG terms that are no class occupy their words so that a
    short code inside them is not read ("ST" in "ST depression", "ST segment", "ST-T").

What counts as asserting it
    The text after the last `Answer:` line (also "Final answer:", "The answer is:"), when there is
    one: the reasoning before it names classes it goes on to reject. Within that, a mention is not
    asserted when it is
    - negated (NegEx, Chapman et al. 2001): a cue before it in the same clause, at most six words
      away ("no", "not", "without", "no evidence of", "negative for", "absence of", "rule out",
      "free of", "denies", "doesn't" …, and the task's own `negation` cues), or after it
      ("… is absent", "… not seen", "… ruled out", "MI: no"); a cue before a list ("no MI, STTC or
      HYP") or after it ("MI and CD are absent") covers the whole list when the list has an
      "and"/"or"/"nor". The scope ends at a sentence or clause boundary (". ; ? ! newline") and at
      a termination cue ("but", "however", "although", "except", "with", "Findings:", "Diagnosis:" …).
      "not only", "no doubt" are no negation; a bare "No," answers the question and negates nothing.
    - a hedge that does not commit: "cannot exclude", "cannot be ruled out", "unlikely", "less
      likely", "rule out" read as negations; so is anything in a sentence that asks a question (an
      echo of the prompt), or after "options:"/"the choices are" (a list of what could be chosen),
      or after "if"/"such as"/"e.g." in its clause. A qualified assertion ("possible LVH", "probable
      inferior MI", "consistent with LBBB", "suggestive of …") is an assertion: it is the answer
      the model gives, as a reader of machine ECG statements reads "possible" and "probable".

Whole-answer classes (`Extract.answers`, e.g. NORM / ABNORMAL for CODE-15%) are the answer only
when no label is asserted: "Abnormal ECG: sinus tachycardia" names ST, not ABNORMAL and ST.

Options (select_all, and multiple choice's `option_text`) are read the same way, with the option
text as the phrase; an option written "lead V1" is also named by "V1" in a list of leads ("leads
V1, V2 and aVL", "V1-V3" read as V1, V2, V3, "the inferior leads" as II, III and aVF; a bare "I"
is a lead only in such a list or after "lead"). An option "yes" or "no" is the answer only where
it stands as one (the start of the answer, or followed by punctuation): the "no" of "no evidence
of" is a negation, not the option. When a multiple-choice option is the code or a synonym of a
task class, the class's other synonyms name it too.

Multiple choice tries the task's rules in order (`Extract.rules`); the first that yields exactly
one letter wins, and a rule that finds two different letters yields nothing (an ambiguous answer
is not silently read as its first letter):

    bare_letter   the whole response is one letter: "B", "(b)", "Option B.", "**B**", "B)"
    answer_is     "Answer: B", "the answer is (B)", "correct option is **B**", "I choose B" (the last
                  one counts); else "option B" / "choice B", the last one not rejected ("option D
                  is incorrect", "not option D")
    letter_paren  "(B)" somewhere in the text
    letter_dot    a line that starts "B." or "B)"
    option_text   exactly one option's text is asserted (the reading above)

Nothing extracted → the declared fallback: `random` draws a letter from a stream seeded with
(plan seed, item id), so the draw does not depend on order or workers, and the item is counted
as a fallback in the results; `none` scores it wrong.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ecgspec.artifacts.plan_schema import LETTERS, Extract, Task

from .mentions import (
    EDGE_L,
    EDGE_R,
    class_patterns,
    code_case_sensitive,
    expand_leads,
    lead_mentions,
    lead_name,
    mentions,
    phrase_regex,
)

# ---- the answer part -------------------------------------------------------------------------------

_ANSWER_HEAD = re.compile(
    r"\b(?:final\s+)?answers?(?:\s+(?:is|are|would\s+be))?\s*[:：]|^[ \t]*#{1,6}[ \t]*(?:final\s+)?answers?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def final_answer(text: str) -> str:
    """The part after the last `Answer:` (any case; also "Final answer:", "The answer is:", a
    "## Answer" heading), or the whole text when there is none or nothing follows it."""
    heads = list(_ANSWER_HEAD.finditer(text))
    if heads and text[heads[-1].end() :].strip(" \t\n*_#"):
        return text[heads[-1].end() :]
    return text


# ---- labels ----------------------------------------------------------------------------------------


def find_labels(
    text: str,
    classes: Sequence[str],
    synonyms: Mapping[str, Sequence[str]],
    *,
    negation: Sequence[str] = (),
    answers: Sequence[str] = (),
) -> list[str]:
    """The classes a response asserts, in the task's order. `answers` (whole-answer classes, in
    `classes` or not) count only when no other class is asserted."""
    text = final_answer(text)
    order = list(dict.fromkeys([*classes, *answers]))
    listed = _code_list(text, order)
    if listed is not None:
        return [c for c in listed if c not in answers] or listed
    found = []
    for label in order:
        for pattern in class_patterns(label, tuple(synonyms.get(label, ()))):
            found += [(m.start(), m.end(), label) for m in pattern.finditer(text)]
    asserted = {m.key for m in mentions(text, found, negation) if m.asserted}
    named = [c for c in order if c in asserted]
    return [c for c in named if c not in answers] or named


def _code_list(text: str, classes: Sequence[str]) -> list[str] | None:
    """An answer that is nothing but class codes ("mi, cd", "Sttc; hyp."): the codes it lists, in any
    case (with no prose around them a short code cannot be an English word); None for anything else."""
    tokens = [t for t in re.split(r"(?:[\s,;/&.*_]|\band\b)+", text.strip(), flags=re.IGNORECASE) if t]
    codes = {c.lower(): c for c in classes}
    if not tokens or len(tokens) > len(codes) or any(t.lower() not in codes for t in tokens):
        return None
    named = {codes[t.lower()] for t in tokens}
    return [c for c in classes if c in named]


# ---- options ---------------------------------------------------------------------------------------

_POLAR = {"yes", "no"}
# An answer that only denies a finding: "there is no …", "shows no …", "no evidence of …".
_DENIAL = re.compile(
    r"\b(?:there\s+(?:is|are|was|were)\s+no|(?:shows?|has|have|with|demonstrates?)\s+no|no\s+(?:evidence|signs?)\s+of)\b",
    re.IGNORECASE,
)


def _polar_answer(text: str, start: int, end: int) -> bool:
    """Whether a "yes"/"no" at [start, end) stands as the answer: at the start of the text or of a
    sentence, or followed by punctuation or the end."""
    before = text[:start].rstrip(" \t*_\"'(")
    after = text[end:].lstrip(" \t*_\"')")
    return not before or before[-1] in ".!?:\n" or not after or after[0] in ".,;!\n"


def option_matches(
    text: str, options: Sequence[str], synonyms: Mapping[str, Sequence[str]] | None = None
) -> list[tuple[int, int, str]]:
    """Where each option is named: its text with variants, a lead option by the lead's name in a list
    of leads, and (with `synonyms`) a class's other names where the option is the class."""
    leads = {name: opt for opt in options if (name := lead_name(opt)) is not None}
    out = lead_mentions(text, leads)
    for opt in options:
        if opt in leads.values():
            continue
        phrases = {opt, *_shorter(opt)}
        for code, syns in (synonyms or {}).items():
            names = {code.lower(), *(s.lower() for s in syns)}
            if opt.strip().lower() in names:
                phrases |= {*syns}
                if not code_case_sensitive(code, syns) or code == opt.strip():
                    phrases.add(code)
        body = "|".join(sorted({phrase_regex(p) for p in phrases if p.strip()}, key=len, reverse=True))
        if not body:
            continue
        hits = list(re.finditer(EDGE_L + f"(?:{body})" + EDGE_R, text, re.IGNORECASE))
        initials = _initialism(opt)
        if initials:
            hits += re.finditer(EDGE_L + re.escape(initials) + "(?-i:s)?" + EDGE_R, text)
        for m in hits:
            if opt.strip().lower() in _POLAR and not _polar_answer(text, m.start(), m.end()):
                continue
            out.append((m.start(), m.end(), opt))
    return out


_GENERIC_TAIL = re.compile(r"[\s\-]+(?:syndrome|pattern|disease)$", re.IGNORECASE)


def _shorter(option: str) -> list[str]:
    """An option's text without a generic last word: "Wolff-Parkinson-White syndrome" is named by
    "Wolff-Parkinson-White" too."""
    short = _GENERIC_TAIL.sub("", option.strip())
    return [short] if short != option.strip() and short else []


def _initialism(option: str) -> str | None:
    """The capitals an option of three or more words is abbreviated to ("premature ventricular
    contractions" → PVC, "left bundle branch block" → LBBB), matched in capitals only."""
    words = [w for w in re.split(r"[\s\-]+", _GENERIC_TAIL.sub("", option.strip())) if w]
    if len(words) < 3 or not all(w[0].isalpha() for w in words):
        return None
    return "".join(w[0] for w in words).upper()


def find_options(
    text: str,
    options: Sequence[str],
    *,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    negation: Sequence[str] = (),
) -> list[str]:
    """The options a response asserts, in the options' order. An option found only inside a longer
    option's match ("sinus rhythm" inside "sinus rhythm with PACs") does not count."""
    text = expand_leads(final_answer(text))
    found = option_matches(text, options, synonyms)
    kept = {m.key for m in mentions(text, found, negation, blockers=False) if m.asserted}
    if not kept and _DENIAL.search(text):
        # "There is no ST elevation in any lead" answers "none"; "There are no signs of LVH", "no".
        by_text = {o.strip().lower(): o for o in options}
        kept = {next((by_text[w] for w in ("none", "no") if w in by_text), "")} - {""}
    return [o for o in options if o in kept]


# ---- multiple choice -------------------------------------------------------------------------------


def _one(letters: Iterable[str]) -> str | None:
    distinct = set(letters)
    return distinct.pop() if len(distinct) == 1 else None


_REJECTED_AFTER = re.compile(
    r"\s*(?:\([^()]*\)|[:\-–][^.;\n]*?)?\s*(?:is|are|seems?|appears?|would\s+be)?\s*"
    r"(?:incorrect|wrong|not\b|unlikely|less\s+likely|excluded|ruled\s+out|eliminated|can\s+be\s+(?:excluded|ruled))",
    re.IGNORECASE,
)
_REJECTED_BEFORE = re.compile(r"\b(?:not|rather\s+than|instead\s+of|exclude|eliminate|rule\s+out|than)\s*$", re.I)


def _answer_letters(text: str, cls: str) -> list[str]:
    """Letters named as the answer ("Answer: B", "correct option is B", "I choose B"), in order; else
    letters named as an option ("option B") and not rejected."""
    letter = rf"[\s*_]*\(?[\s*_]*({cls})[\s*_]*\)?(?![A-Za-z0-9])"
    strong = re.compile(
        r"(?i:\banswers?(?:\s+(?:is|would\s+be))?|\b(?:correct|best|right)\s+(?:option|choice|answer)"
        r"(?:\s+(?:is|would\s+be))?|\bI\s+(?:would\s+)?(?:choose|select|pick|go\s+with)(?:\s+option)?)"
        r"\s*[:\-]?" + letter
    )
    weak = re.compile(r"(?i:\b(?:option|choice))\s*[:\-]?" + letter)

    def kept(pattern: re.Pattern[str], check: bool) -> list[str]:
        hits = []
        for m in pattern.finditer(text):
            # "Answer: A normal ECG" is the article, not option A.
            if m.group(1) == "A" and re.match(r"\s+[a-z]", text[m.end() :]):
                continue
            if check and (_REJECTED_AFTER.match(text, m.end()) or _REJECTED_BEFORE.search(text[: m.start()])):
                continue
            hits.append(m.group(1))
        return hits

    return kept(strong, False) or kept(weak, True)


def mcq_rule(
    rule: str,
    text: str,
    letters: str,
    options: Sequence[str],
    *,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    negation: Sequence[str] = (),
) -> str | None:
    """One letter-extraction rule; None when it finds nothing or finds different letters."""
    cls = f"[{letters}]"
    if rule == "bare_letter":
        m = re.fullmatch(rf"\W*(?:(?i:option|choice)\s+)?\(?({cls})\)?\W*", text.strip(), re.IGNORECASE)
        return m.group(1).upper() if m and m.group(1).upper() in letters else None
    if rule == "answer_is":
        hits = _answer_letters(text, cls)
        return hits[-1] if hits else None
    if rule == "letter_paren":
        return _one(re.findall(rf"\(({cls})\)", text))
    if rule == "letter_dot":
        return _one(re.findall(rf"(?m)^[\s*_#]*({cls})[.)](?:\s|$|\*)", text))
    if rule == "option_text":
        named = find_options(text, options, synonyms=synonyms, negation=negation)
        return letters[list(options).index(named[0])] if len(named) == 1 else None
    raise ValueError(f"unknown extraction rule {rule!r}")


def extract_letter(
    text: str,
    options: Sequence[str],
    rules: Sequence[str],
    *,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    negation: Sequence[str] = (),
) -> str | None:
    letters = LETTERS[: len(options)]
    for rule in rules:
        got = mcq_rule(rule, text, letters, options, synonyms=synonyms, negation=negation)
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
        found = find_labels(text, [*task.labels, *ex.answers], task.synonyms, negation=ex.negation, answers=ex.answers)
        return Extracted(tuple(found), fallback=not found)
    if task.form == "select_all":
        found = find_options(text, options or (), synonyms=task.synonyms, negation=ex.negation)
        return Extracted(tuple(found), fallback=not found)
    if task.form == "multiple_choice":
        opts = list(options or ())
        letter = extract_letter(text, opts, ex.rules, synonyms=task.synonyms, negation=ex.negation)
        if letter is not None:
            return Extracted(letter)
        if ex.fallback == "random":
            return Extracted(fallback_letter(seed, item_id, len(opts)), fallback=True)
        return Extracted(None, fallback=True)
    return Extracted(text)
