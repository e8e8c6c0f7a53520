"""Checks of an LLM-written answer against the record's facts, without an LLM.

A generator writes fluent answers that may name a finding the record does not have, deny one it
has, or state a rate or an interval far from the measured one; a judge model misses some of these.
A small set of rules does not: labels are found through the vocabulary's descriptions and synonyms
(`LabelMatcher`), each mention marked negated (NegEx-style cues, Chapman et al. 2001) or hedged (a
differential, a question, an option list: not an assertion), and numbers are read only where they
are stated as the heart rate or as an interval. What a record does not know is never contradicted.
The rules lean one way on purpose: what they cannot read as an assertion they skip, so a missed
contradiction is likelier than a false one (a false one throws away a good answer).

Also here: whether an answer quotes the report (`quotes`), and the topics of a turn (`fact_topics`,
`question_topics`), so that a conversation never asks the same fact twice.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..ir.task import FACTS, LEAD_GROUPS


@dataclass(frozen=True)
class Mention:
    """A vocabulary label found in a text, and whether the text asserts it.

    `negated`: the text says the finding is absent ("no atrial fibrillation", "ST elevation is
    absent"). `hedged`: the text names it without asserting it (a differential, a question, an
    option of a list, a possibility), so it is neither a claim nor a denial."""

    label: str
    start: int
    end: int
    negated: bool
    hedged: bool


# ---- an answer cut into sentences and clauses, with the spans that assert nothing -----------------

_WORDS = re.compile(r"[\w']+")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|vs|approx|cf|ca|resp|incl)\.", re.I)
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n")
# Where a negation's or a hedge's scope ends: punctuation, brackets, and contrastive conjunctions.
_CLAUSE_STOP = re.compile(
    r"[.!?;:](?=\s|$)|[,()\[\]\n]|\b(?:but|however|although|though|whereas|while|yet|except|which)\b", re.I
)
# Cues whose scope is the whole sentence (a differential names its options anywhere in it).
_HEDGE_SENTENCE = re.compile(
    r"\b(?:differentials?|distinguish\w*|differentiat\w*|consider\w*|mimic\w*|versus|vs)\b", re.I
)
# … from the cue to the end of the sentence (a condition, an example list).
_HEDGE_TO_END = re.compile(r"\b(?:if|whether|unless|such\s+as|for\s+(?:example|instance)|in\s+case)\b|\be\.g\.", re.I)
_NORMAL_IS = (
    r"normal\s+(?:resting\s+)?(?:adult\s+)?(?:heart\s+rate|rate|PR(?:\s+interval)?|QRS(?:\s+(?:duration|width))?|"
    r"QTc?(?:\s+interval)?|axis|values?)\s+(?:is|are|ranges?|lies|should|falls?)"
)
# … from the cue to the end of its clause (an alternative, a possibility, a reference range).
_HEDGE_FORWARD = re.compile(
    r"\b(?:rather\s+than|instead\s+of|unlike|(?:to\s+)?rule\s+out|possibl[ey]|probabl[ey]|suspect(?:ed)?|"
    r"suspicious\s+(?:for|of)|concern(?:ing)?\s+for|may|might|could|questionable|"
    r"(?:cannot|can't|could\s+not|not)\s+(?:be\s+|been\s+)?(?:exclude[sd]?|ruled?\s+out)|"
    r"(?:normal|reference)\s+range|range|upper\s+limit|lower\s+limit|" + _NORMAL_IS + r")\b",
    re.I,
)
# … from the start of its clause to the cue ("atrial flutter is unlikely").
_HEDGE_BACKWARD = re.compile(
    r"\b(?:unlikely|less\s+likely|(?:is|are|was|were)\s+(?:possible|suspected|questionable)|"
    r"(?:cannot|can't)\s+be\s+(?:excluded|ruled\s+out)|not\s+(?:be\s+)?excluded)\b",
    re.I,
)
# … its whole clause: a definition, a generality or a counterfactual, not a statement about this record.
_HEDGE_CLAUSE = re.compile(
    r"\b(?:defined|definition|typically|usually|generally|normally|classically|characteri[sz]ed\s+by|"
    r"refers?\s+to|causes?\s+of|hallmark|would|instead|expected|difficult|hard\s+to|criteria|similar|resembl\w*|"
    r"look\w*\s+like|can\s+(?:look|appear)|"
    r"help\w*\s+(?:to\s+)?(?:identify|diagnose|detect)|(?:cannot|can't)\s+be\s+(?:diagnosed|assessed|interpreted))\b",
    re.I,
)
_REFERENCE = re.compile(r"\([^()]*\b(?:normal|range|ref(?:erence)?|ULN|upper\s+limit)\b[^()]*\)", re.I)
# An option marker: "A." / "(A)" / "A)" at the start of a line, "(A)" or " A)" within one.
_MARKER = re.compile(r"(?m)^[ \t]*\(?([A-Za-z])[.):](?=[ \t])|\(([A-Za-z])\)|(?<=[\s:])([A-Za-z])\)(?=\s)")
_ITEM_END = re.compile(r"\n|[.!?;](?=\s|$)")


def _options(text: str) -> list[tuple[int, int]]:
    """The items of every option list: runs of two or more markers lettered a, b, c … in order.
    A single marker ("B. 72 bpm") is an answer, not a list, and so is one that repeats a letter
    after the list ("(A) … (B) … (C) … The answer is (B)")."""
    marks = sorted((m.start(), m.end(), next(g for g in m.groups() if g).lower()) for m in _MARKER.finditer(text))
    runs: list[list[tuple[int, int, str]]] = []
    for mark in marks:
        if runs and ord(mark[2]) == ord(runs[-1][-1][2]) + 1:
            runs[-1].append(mark)
        elif mark[2] == "a":
            runs.append([mark])
    out: list[tuple[int, int]] = []
    for run in (r for r in runs if len(r) >= 2):
        for (start, end, _), after in zip(run, [*run[1:], None], strict=True):
            if after is not None:
                out.append((start, after[0]))
            else:
                stop = _ITEM_END.search(text, end)
                out.append((start, stop.start() if stop else len(text)))
    return out


class _Text:
    """An answer with its clause boundaries and the spans that are not assertions (hedges)."""

    def __init__(self, text: str) -> None:
        self.text = text.replace("\u2019", "'").replace("\u2018", "'")
        masked = {m.end() - 1 for m in _ABBREVIATION.finditer(self.text)}
        bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(self.text) if m.start() not in masked), len(text)]
        self.sentences = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
        stops = [(m.start(), m.end()) for m in _CLAUSE_STOP.finditer(self.text) if m.start() not in masked]
        self._stop_starts = [s for s, _ in stops]
        self._stop_ends = [e for _, e in stops]
        self.hedges = self._hedges() + _options(self.text)

    def left(self, pos: int) -> int:
        """Where the clause holding `pos` starts."""
        i = bisect.bisect_right(self._stop_ends, pos) - 1
        return self._stop_ends[i] if i >= 0 else 0

    def right(self, pos: int) -> int:
        """Where the clause holding `pos` ends."""
        i = bisect.bisect_left(self._stop_starts, pos)
        return self._stop_starts[i] if i < len(self._stop_starts) else len(self.text)

    def hedged(self, pos: int) -> bool:
        return any(a <= pos < b for a, b in self.hedges)

    def _hedges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for a, b in self.sentences:
            seg = self.text[a:b]
            if seg.rstrip().endswith("?") or _HEDGE_SENTENCE.search(seg):
                out.append((a, b))
                continue
            out += [(a + m.start(), b) for m in _HEDGE_TO_END.finditer(seg)]
            out += [(a + m.start(), self.right(a + m.end())) for m in _HEDGE_FORWARD.finditer(seg)]
            out += [(self.left(a + m.start()), a + m.end()) for m in _HEDGE_BACKWARD.finditer(seg)]
            out += [(self.left(a + m.start()), self.right(a + m.end())) for m in _HEDGE_CLAUSE.finditer(seg)]
            out += [(a + m.start(), a + m.end()) for m in _REFERENCE.finditer(seg)]
        return out


# ---- negation --------------------------------------------------------------------------------------

_NEG_PRE = re.compile(
    r"\b(?:no|none|not|never|neither|nor|without|w/o|absence\s+of|lack(?:s|ing)?(?:\s+of)?|free\s+of|"
    r"negative\s+for|rules\s+out|ruling\s+out|excludes|cannot\s+be|can't\s+be|\w+n't)\b",
    re.I,
)
# What follows a cue that makes it no negation ("not only", "cannot be excluded": a hedge).
_PSEUDO = re.compile(r"\s+(?:only|just|necessarily|exclude[sd]?|(?:be\s+|been\s+)?(?:excluded|ruled?\s+out))\b", re.I)
# "No, it is sinus rhythm": a bare "no" answers the question; it does not negate what follows.
_NO_BLOCK = re.compile(r"\b(?:it|it's|this|that|is|are|was|were|shows?|has|have)\b", re.I)
_NEG_POST = re.compile(
    r"(?:\W+[\w'-]+){0,4}?\W+(?:(?:is|are|was|were|has\s+been|have\s+been|appears?|seems?)\s+)?"
    r"(?:absent|not\s+(?:present|seen|evident|identified|observed|noted|visible|apparent|shown|demonstrated|"
    r"detected|found)|ruled\s+out|excluded)\b",
    re.I,
)
_NEG_WINDOW = 6  # words between a cue and what it negates (NegEx uses 5)


def _negation(t: _Text, start: int, end: int, stop: int | None = None) -> str:
    """How [start, end) is negated: "pre" (a cue before it), "post" (after it), or "" (not).
    `stop`: where the post-cue search ends (the next mention: its own cue is its own)."""
    lo = t.left(start)
    window = t.text[lo:start]
    if re.search(r"\bnon[-\s]?$", window, re.I):
        return "pre"
    for m in reversed(list(_NEG_PRE.finditer(window))):
        between = window[m.end() :]
        if len(_WORDS.findall(between)) > _NEG_WINDOW:
            break
        if _PSEUDO.match(window, m.end()) or (m.group().lower() in ("no", "none") and _NO_BLOCK.search(between)):
            continue
        return "pre"
    post = _NEG_POST.match(t.text, end, t.right(end) if stop is None else min(t.right(end), stop))
    return (
        "post" if post and not re.search(r"\b(?:not|cannot|can't)\s+(?:be\s+)?(?:excluded|ruled)", post.group()) else ""
    )


# ---- labels ----------------------------------------------------------------------------------------

# Spellings of one word that mean the same (token-level: "1st degree AV block" is "first degree …").
_SPELLINGS = [
    {"first", "1st"},
    {"second", "2nd"},
    {"third", "3rd"},
    {"av", "atrioventricular", "a-v"},
    {"ischemic", "ischaemic"},
    {"ecg", "ekg"},
]
# Mentions joined only by commas and or/and/nor (plus up to two words) form a list, which one cue negates.
_LIST_SEP = re.compile(
    r"\s*[,/]?\s*(?:(?:and/or|or|and|nor)\b\s*(?:(?!(?:no|not|none|is|are|was|were|it|this|with|without|but)\b)"
    r"[\w-]+\s+){0,2})?",
    re.I,
)
_CONNECTOR = re.compile(r"\b(?:or|and|nor)\b", re.I)


def _phrase(phrase: str) -> str:
    """A regex for a description or synonym: words separated by spaces or hyphens, common spelling
    variants, and an optional plural."""
    words = [w for w in re.split(r"[\s\-]+", phrase.strip()) if w]
    parts = []
    for i, w in enumerate(words):
        same = next((s for s in _SPELLINGS if w.lower() in s), {w})
        alt = "|".join(re.escape(s) for s in sorted(same, key=lambda s: (-len(s), s)))
        if i == len(words) - 1 and w.isalpha() and len(w) >= 3 and len(same) == 1:
            if w.endswith("s") and not w.endswith("ss"):
                alt = re.escape(w[:-1]) + "s?"
            else:
                alt = re.escape(w[:-1]) + "(?:y|ies)" if re.search(r"[^aeiou]y$", w, re.I) else alt + "s?"
        parts.append(f"(?:{alt})")
    return r"[\s\-]+".join(parts)


class LabelMatcher:
    """Finds vocabulary labels in free text: each label's description and synonyms (case-insensitive,
    word-bounded, longest match first, non-overlapping), and its code when the code is >= 3
    characters (case-sensitive, word-bounded: short codes such as "SR" or "MI" are ordinary words
    too often). Longest first, so "incomplete right bundle branch block" is IRBBB and not CRBBB too.
    Built once per vocabulary; `mentions` is cheap enough for every answer of a corpus."""

    def __init__(
        self, vocabulary: Sequence[str], descriptions: Mapping[str, str], synonyms: Mapping[str, Sequence[str]]
    ) -> None:
        self.vocabulary = tuple(vocabulary)
        self.descriptions = {label: descriptions.get(label) or label for label in self.vocabulary}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        for label in self.vocabulary:
            phrases = [descriptions.get(label) or "", *synonyms.get(label, ())]
            alts = sorted({_phrase(p) for p in phrases if p.strip()}, key=lambda p: (-len(p), p))
            if alts:
                self._patterns.append((re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.I), label))
            if len(label) >= 3:
                self._patterns.append((re.compile(r"(?<!\w)" + re.escape(label) + r"(?!\w)"), label))

    def mentions(self, text: str) -> list[Mention]:
        """The labels `text` names, in order of position, each with its negation and hedging."""
        return self._find(_Text(text))

    def _find(self, t: _Text) -> list[Mention]:
        found = sorted(
            (-(m.end() - m.start()), m.start(), order, m.end(), label)
            for order, (pattern, label) in enumerate(self._patterns)
            for m in pattern.finditer(t.text)
        )
        spans: list[tuple[int, int, str]] = []
        for _, start, _, end, label in found:
            if not any(start < e and s < end for s, e, _ in spans):
                spans.append((start, end, label))
        spans.sort()
        kinds = [
            _negation(t, s, e, spans[i + 1][0] if i + 1 < len(spans) else None) for i, (s, e, _) in enumerate(spans)
        ]
        i = 0
        while i < len(spans):  # a cue before a list's first item, or after its last, negates them all
            j, joined = i, False
            while j + 1 < len(spans) and _LIST_SEP.fullmatch(sep := t.text[spans[j][1] : spans[j + 1][0]]):
                joined |= bool(_CONNECTOR.search(sep))
                j += 1
            if joined and (kinds[i] == "pre" or kinds[j] == "post"):
                kinds[i : j + 1] = [k or "list" for k in kinds[i : j + 1]]
            i = j + 1
        return [Mention(label, s, e, bool(k), t.hedged(s)) for (s, e, label), k in zip(spans, kinds, strict=True)]


# ---- contradictions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordFacts:
    """What the grounding compares with; None / missing key = not known for this record (never a
    contradiction: a fact the build could not establish cannot be contradicted).

    `intervals`: "pr" | "qrs" | "qt" | "qtc" (Bazett) -> ms. `rate_class` and `axis` take the
    values of ecgspec.ir.task.FACTS["record.rate"] and ["record.axis"]."""

    labels: frozenset[str] | None = None
    heart_rate: float | None = None
    rate_class: str | None = None
    intervals: Mapping[str, float] = field(default_factory=dict)
    axis: str | None = None


@dataclass(frozen=True)
class Contradiction:
    """One statement of the answer that the record's facts contradict.

    `kind`: "label_absent" | "label_negated" | "rate" | "rate_class" | "interval" | "axis"."""

    kind: str
    detail: str


_N = r"(\d+(?:\.\d+)?)"
_DASH = r"\s*(?:-|\u2013|\u2014|to)\s*"
_RATE_UNIT = r"(?:bpm|b\.p\.m\.?|beats?\s*(?:per|/|a)\s*min(?:ute)?s?|/\s*min(?:ute)?s?|per\s+min(?:ute)?)"
_RATE_NUMBER = re.compile(rf"(?:\bbetween\s+{_N}\s+and\s+|\b{_N}{_DASH})?\b{_N}\s*{_RATE_UNIT}(?!\w)", re.I)
_RATE_WORDS = re.compile(
    rf"\b(?:(?:heart|ventricular|pulse)\s+rate|HR|rate)\b(?:\s*(?:is|was|of|at|about|around|approximately|approx\.?|"
    rf"roughly|nearly|estimated|measured|measures|calculated|appears|seems|to\s+be|[:=~(]))*\s*{_N}(?:{_DASH}{_N})?"
    rf"(?!\d|\.\d|\s*(?:[%\u00b0/]|:\s*\d|(?:ms|s|secs?|mm|mv|hz|deg|x|times|squares|boxes|small|large)\b))",
    re.I,
)
# The nearest of these before a number says whose rate it is: the atria's (or the paper's) is not the heart rate.
_RATE_OWNER = re.compile(
    r"\b(?:(?P<other>atrial\s+rate|atrial\s+activity|flutter\s+waves?|f[-\s]waves?|p[-\s]waves?|sampling|"
    r"respiratory|paper)|(?P<heart>ventricular|heart|HR|pulse|QRS))\b",
    re.I,
)
_COMPARISON = re.compile(
    r"(?:[<>\u2264\u2265]=?|\b(?:less|more|greater|fewer|longer|shorter|faster|slower)\s+than|\bover|\bunder|\babove|"
    r"\bbelow|\bexceed\w*|\bat\s+(?:least|most)|\bup\s+to)\s*(?:about|approximately|~)?\s*$",
    re.I,
)
_NUMBER_NEGATED = re.compile(r"\b(?:not|no|never)\s+(?:[\w']+\s+)?$", re.I)
_INTERVAL_NAME = (
    r"(?:(?P<qtc>QTc[BH]?|corrected\s+QT)|(?P<qtcf>QTc[F])|(?P<qt>QT)|(?P<pr>P-?R)(?!\s*segment)|"
    r"(?P<qrs>QRS)(?!\s*(?:axis|voltage|amplitude)))"
)
_INTERVAL_UNIT = r"(?P<unit>ms|msec|milliseconds?|s|secs?|seconds?)"
_INTERVAL = re.compile(
    rf"\b{_INTERVAL_NAME}\b(?:\s*(?:intervals?|duration|width|complex(?:es)?|is|was|of|at|about|around|approximately|"
    rf"approx\.?|roughly|measures?|measured|measuring|appears|seems|remains|prolonged|normal|borderline|short|long|"
    rf"narrow|wide|slightly|mildly|markedly|[:=~(]))*\s*(?P<lo>\d+(?:\.\d+)?)(?!\d|\.\d)"
    rf"(?:{_DASH}(?P<hi>\d+(?:\.\d+)?)(?!\d|\.\d))?(?:\s*{_INTERVAL_UNIT}\b)?"
    rf"(?!\s*(?:[%\u00b0/]|(?:mm|mv|bpm|beats?|hz|deg|leads?)\b))",
    re.I,
)
_INTERVAL_BEFORE = re.compile(
    rf"\b(?P<lo>\d+(?:\.\d+)?)\s*-?\s*{_INTERVAL_UNIT}\s+(?:long\s+|prolonged\s+)?{_INTERVAL_NAME}\b", re.I
)
_QT_QTC = re.compile(
    rf"\bQT\s*/\s*QTcB?\b(?:\s*(?:intervals?|is|are|of|[:=]))*\s*(?P<qt>\d+(?:\.\d+)?)\s*/\s*(?P<qtc>\d+(?:\.\d+)?)"
    rf"\s*{_INTERVAL_UNIT}?\b",
    re.I,
)
_RATE_CLASS = (
    (re.compile(r"\btachycardi(?:a|as|c)\b", re.I), "tachycardia"),
    (re.compile(r"\bbradycardi(?:a|as|c)\b", re.I), "bradycardia"),
    (
        re.compile(
            r"\bnormal\s+(?:(?:heart|ventricular|resting)\s+)?rate\b|\bnormocardi(?:a|c)\b|"
            r"\b(?:heart\s+|ventricular\s+)?rate\s+(?:(?:is|was|appears|remains|seems)\s+)?(?:within\s+)?normal\b",
            re.I,
        ),
        "normal rate",
    ),
)
_SIDE = r"\b{0}(?:ward)?[-\s]+axis(?:\s+deviation)?\b|\baxis\s+(?:is\s+)?(?:deviated|shifted)\s+to\s+the\s+{0}\b"
_EXTREME = (
    r"\bextreme\s+(?:right\s+|left\s+)?axis(?:\s+deviation)?\b|\bnorth[-\s]?west\s+axis\b|\bno[-\s]man'?s[-\s]land\b"
)
_NORMAL_AXIS = (
    r"\bnormal\s+(?:(?:QRS|frontal|frontal[-\s]plane|electrical|cardiac)\s+)?axis\b|\bno\s+axis\s+deviation\b|"
    r"\baxis\s+(?:(?:is|appears|remains|seems)\s+)?(?:within\s+)?normal\b"
)
_AXIS_PATTERNS = tuple(  # in this order: "extreme right axis" is not a right axis deviation
    (re.compile(p, re.I), value)
    for p, value in (
        (_EXTREME, "extreme axis deviation"),
        (_SIDE.format("left"), "left axis deviation"),
        (_SIDE.format("right"), "right axis deviation"),
        (_NORMAL_AXIS, "normal axis"),
    )
)


def _read(t: _Text, start: int, number: int) -> bool:
    """Whether a number at `number` (its statement beginning at `start`) states a value of this
    record: not hedged, not in an option list, not a bound ("above 100 bpm"), not negated."""
    if t.hedged(start) or t.hedged(number):
        return False
    before = t.text[t.left(number) : number]
    return not (_COMPARISON.search(before) or _NUMBER_NEGATED.search(before))


def _outside(value: float, lo: float, hi: float, tolerance: float) -> bool:
    """Whether `value` lies further than `tolerance` from the stated value or range [lo, hi]."""
    lo, hi = min(lo, hi), max(lo, hi)
    return value < lo - tolerance or value > hi + tolerance


def _stated(lo: float, hi: float, unit: str) -> str:
    return f"{lo:g} {unit}" if lo == hi else f"{lo:g}-{hi:g} {unit}"


def _rates(t: _Text) -> list[tuple[float, float]]:
    """The heart rates the answer states: (low, high), equal for a single number."""
    out: list[tuple[float, float]] = []
    seen: set[int] = set()
    for m in [*_RATE_NUMBER.finditer(t.text), *_RATE_WORDS.finditer(t.text)]:
        values = [float(g) for g in m.groups() if g is not None]
        first = min(m.start(i) for i in range(1, len(m.groups()) + 1) if m.group(i) is not None)
        if first in seen or not _read(t, m.start(), first):
            continue
        seen.add(first)
        owners = list(_RATE_OWNER.finditer(t.text, t.left(first), first))
        if owners and owners[-1].group("other"):
            continue
        out.append((values[0], values[-1]))
    return out


def _ms(value: str, unit: str | None) -> float | None:
    """A stated interval in ms: a unit of seconds multiplies by 1000; without a unit, a decimal
    below 2 is seconds and a number from 40 up is ms (anything else is not read)."""
    v = float(value)
    if unit:
        return v * 1000 if unit.lower().startswith("s") else v
    if "." in value and v < 2:
        return v * 1000
    return v if v >= 40 else None


def _intervals(t: _Text) -> list[tuple[str, float, float]]:
    """The intervals the answer states: (name, low ms, high ms). QTcF is not read: the record's
    QTc is Bazett's, which differs from Fridericia's by tens of ms at fast rates."""
    out: list[tuple[str, float, float]] = []
    taken: list[tuple[int, int]] = []
    for m in _QT_QTC.finditer(t.text):
        taken.append(m.span())
        for name in ("qt", "qtc"):
            v = _ms(m.group(name), m.group("unit"))
            if v is not None and _read(t, m.start(), m.start(name)):
                out.append((name, v, v))
    for m in [*_INTERVAL.finditer(t.text), *_INTERVAL_BEFORE.finditer(t.text)]:
        if any(m.start() < e and s < m.end() for s, e in taken):
            continue
        taken.append(m.span())
        name = next(n for n in ("qtc", "qtcf", "qt", "pr", "qrs") if m.group(n))
        groups = m.groupdict()
        lo, hi = _ms(m.group("lo"), m.group("unit")), _ms(groups.get("hi") or m.group("lo"), m.group("unit"))
        if name != "qtcf" and lo is not None and hi is not None and _read(t, m.start(), m.start("lo")):
            out.append((name, lo, hi))
    return out


def contradictions(
    answer: str, facts: RecordFacts, matcher: LabelMatcher | None, *, rate_tolerance: float, interval_tolerance: float
) -> list[Contradiction]:
    """What in `answer` the record's facts contradict, each once, in the order labels, rate, rate
    class, intervals, axis. `rate_tolerance` is in bpm, `interval_tolerance` in ms. Hedged and
    negated statements assert nothing, so only a negated label the record has contradicts it."""
    t = _Text(answer)
    out: list[Contradiction] = []

    def add(kind: str, detail: str) -> None:
        if (c := Contradiction(kind, detail)) not in out:
            out.append(c)

    mentions = matcher._find(t) if matcher is not None else []
    for m in mentions:
        if m.hedged or facts.labels is None or matcher is None:
            continue
        what = matcher.descriptions.get(m.label, m.label)
        if not m.negated and m.label not in facts.labels:
            add("label_absent", f"states {what}, which the record does not have")
        elif m.negated and m.label in facts.labels:
            add("label_negated", f"denies {what}, which the record has")
    if facts.heart_rate is not None:
        for lo, hi in _rates(t):
            if _outside(facts.heart_rate, lo, hi, rate_tolerance):
                add(
                    "rate", f"states a heart rate of {_stated(lo, hi, 'bpm')}; the record's is {facts.heart_rate:g} bpm"
                )
    if facts.rate_class is not None:
        for pattern, value in _RATE_CLASS:
            for w in pattern.finditer(t.text):
                inside = next((m for m in mentions if m.start <= w.start() < m.end), None)
                # Within a label's name ("sinus tachycardia") the label speaks: consistent with the
                # record when it has the label, and already a label contradiction when it has not.
                if inside is not None and (inside.hedged or inside.negated or facts.labels is not None):
                    continue
                if value != facts.rate_class and not t.hedged(w.start()) and not _negation(t, w.start(), w.end()):
                    add("rate_class", f"states {w.group().lower()}; the record's rate class is {facts.rate_class}")
    for name, lo, hi in _intervals(t):
        true = facts.intervals.get(name)
        if true is not None and _outside(true, lo, hi, interval_tolerance):
            label = {"pr": "PR interval", "qrs": "QRS duration", "qt": "QT interval", "qtc": "QTc"}[name]
            add("interval", f"states a {label} of {_stated(lo, hi, 'ms')}; the record's is {true:g} ms")
    if facts.axis is not None:
        taken: list[tuple[int, int]] = []
        for pattern, value in _AXIS_PATTERNS:
            for a in pattern.finditer(t.text):
                if any(a.start() < e and s < a.end() for s, e in taken):
                    continue
                taken.append(a.span())
                if value != facts.axis and not t.hedged(a.start()) and not _negation(t, a.start(), a.end()):
                    add("axis", f"states {value}; the record has {facts.axis}")
    return out


# ---- quoting the report ----------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text).lower())


def quotes(answer: str, report: str | None, words: int) -> bool:
    """Whether `answer` repeats `words` or more consecutive words of `report` (lower-cased,
    punctuation stripped, whitespace normalised): an answer should read the ECG, not copy the
    report it was written from. `words` 0, or no report, is never a quote."""
    if words <= 0 or not report:
        return False
    ref, ans = _words(report), _words(answer)
    grams = {tuple(ref[i : i + words]) for i in range(len(ref) - words + 1)}
    return any(tuple(ans[i : i + words]) in grams for i in range(len(ans) - words + 1))


# ---- topics: a conversation never asks the same fact twice -----------------------------------------

_GROUPS = tuple(LEAD_GROUPS)
_SITES = ("st", *(f"st_{g}" for g in _GROUPS), "t", *(f"t_{g}" for g in _GROUPS))
TOPICS: tuple[str, ...] = ("rate", "pr", "qrs", "qt", "axis", "regularity", "rhythm", *_SITES, "age", "sex", "report")
# Facts that ask the same thing share a topic: the PR interval and whether it is prolonged, say.
FACT_TOPICS: dict[str, str] = {
    **dict.fromkeys(("record.heart_rate", "record.rate"), "rate"),
    **dict.fromkeys(("record.pr", "record.av_block"), "pr"),
    **dict.fromkeys(("record.qrs", "record.wide_qrs"), "qrs"),
    **dict.fromkeys(("record.qt", "record.qtc", "record.long_qtc"), "qt"),
    **{f"record.{name}": name for name in ("axis", "regularity", "age", "sex", "report")},
    **{f"record.st_{g}": f"st_{g}" for g in _GROUPS},
    **{f"record.t_inversion_{g}": f"t_{g}" for g in _GROUPS},
}


def fact_topics(fact: str, labels: str | None = None) -> frozenset[str]:
    """A templated turn's topics: FACT_TOPICS[fact], or for `record.labels` the vocabulary's
    ("labels:" + its name: two vocabularies ask different questions)."""
    if fact == "record.labels":
        if not labels:
            raise ValueError("record.labels has topics only with its vocabulary's name")
        return frozenset({"labels:" + labels})
    if fact not in FACT_TOPICS:
        raise ValueError(f"unknown fact {fact!r}; facts: {', '.join(FACTS)}")
    return frozenset({FACT_TOPICS[fact]})


_QUESTION_TOPICS = tuple(
    (re.compile(p, f), topics)
    for p, f, topics in (
        (r"\b(?:heart\s+rate|rate|bpm|beats\s+per\s+minute|HR|pulse)\b|\btachy\w*|\bbrady\w*", re.I, ("rate",)),
        (r"\bP-?R\b(?!\s*segment)|\b(?:AV|atrioventricular|heart)\s+block\b|\bfirst[-\s]degree\b", re.I, ("pr",)),
        (r"\bQRS\b(?!\s*axis)|\b(?:wide|narrow|broad)[-\s]complex\b", re.I, ("qrs",)),
        (r"\bQTc?[BF]?\b|\bcorrected\s+QT\b|\blong\s+QT\b", re.I, ("qt",)),
        (r"\baxis\b", re.I, ("axis",)),
        (r"\brhythm\w*\b", re.I, ("rhythm",)),
        (r"\b(?:ir)?regular(?:ity|ly)?\b", re.I, ("rhythm", "regularity")),
        (r"\b(?:report|interpret\w*|summar\w*)\b", re.I, ("report",)),
        (r"\bage\b|\bhow\s+old\b", re.I, ("age",)),
        (r"\b(?:sex|gender)\b", re.I, ("sex",)),
    )
)
_ST = re.compile(r"\bST\b|\bst[-\s]+(?:segments?|elevation|depression|changes?)\b|\bSTEMI\b", re.I)
_T_WAVE = re.compile(r"\bT[-\s]?waves?\b|\binverted\s+T\b|\bT[-\s]inversion\b", re.I)
_GROUP_WORDS = {
    "anterior": re.compile(r"\b(?:(?i:anterior|antero\w*|septal)|V[1-4])\b"),
    "inferior": re.compile(r"\b(?:(?i:inferior|infero\w*)|II|III|aVF)\b"),
    "lateral": re.compile(r"\b(?:(?i:\w*lateral)|(?i:leads?)\s+I|aVL|V[56])\b"),
}


def question_topics(question: str, matcher: LabelMatcher | None) -> frozenset[str]:
    """The facts an LLM-written question asks about, from its words; none when nothing matches.

    An ST or T-wave question about a lead group ("in the inferior leads", "V1-V4") has that
    group's topic (as the templated fact does); one about no group asks of all of them, so it has
    "st" (or "t") and every group's topic. A label the question names is "label:CODE"."""
    topics = {topic for pattern, names in _QUESTION_TOPICS if pattern.search(question) for topic in names}
    groups = [g for g in _GROUPS if g in _GROUP_WORDS and _GROUP_WORDS[g].search(question)]
    for pattern, prefix in ((_ST, "st"), (_T_WAVE, "t")):
        if pattern.search(question):
            topics |= {f"{prefix}_{g}" for g in groups} if groups else {prefix, *(f"{prefix}_{g}" for g in _GROUPS)}
    if matcher is not None:
        topics |= {"label:" + m.label for m in matcher.mentions(question)}
    return frozenset(topics)
