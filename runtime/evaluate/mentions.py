"""Where a response mentions a phrase, and whether it asserts it: the matching machinery of extraction.

Phrases match with their variants (plurals, hyphen/space/slash, a few spellings that mean the same,
noun-first forms); ECG leads are read as leads ("V1-V3", "inferior leads"); a response is cut into
clauses so that negation (NegEx-style cues before or after a finding, within a clause) and hedges
("cannot exclude", "if") are scoped. `runtime.evaluate.extract` documents the rules as a reader sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

EDGE_L = r"(?<![A-Za-z0-9_\-])"
EDGE_R = r"(?![A-Za-z0-9_\-])"


@lru_cache(maxsize=4096)
def word_pattern(text: str, case_sensitive: bool) -> re.Pattern[str]:
    """A regex that finds `text` as a whole word; inner whitespace matches any run of whitespace."""
    body = r"\s+".join(re.escape(part) for part in text.split())
    return re.compile(EDGE_L + body + EDGE_R, 0 if case_sensitive else re.IGNORECASE)


# ---- phrases and their variants --------------------------------------------------------------------

# Spellings of one word that mean the same; token-level, any case.
_SPELLINGS: tuple[frozenset[str], ...] = (
    frozenset({"first", "1st", "1°"}),
    frozenset({"second", "2nd", "2°"}),
    frozenset({"third", "3rd", "3°"}),
    frozenset({"av", "a-v", "atrioventricular", "atrio-ventricular"}),
    frozenset({"ischemic", "ischaemic"}),
    frozenset({"ischemia", "ischaemia"}),
    frozenset({"ecg", "ekg", "electrocardiogram"}),
    frozenset({"complex", "contraction", "beat"}),
    frozenset({"drift", "wander"}),
)
_SEP = r"[\s\-/]+"


def _plural(word: str) -> str:
    """`word` as a regex that also takes its plural or singular form."""
    w, low = re.escape(word), word.lower()
    if low.endswith("ies") and len(low) > 4:
        return re.escape(word[:-3]) + "(?:y|ies)"
    if re.search(r"(?:x|s|z|ch|sh)es$", low):
        return re.escape(word[:-2]) + "(?:es)?"
    if low.endswith("s") and not low.endswith("ss"):
        return re.escape(word[:-1]) + "s?"
    if re.search(r"[^aeiou]y$", low):
        return re.escape(word[:-1]) + "(?:y|ies)"
    if re.search(r"(?:x|s|z|ch|sh)$", low):
        return w + "(?:es)?"
    return w + "s?"


def _singular(word: str) -> str:
    low = word.lower()
    if low.endswith("ies") and len(low) > 4:
        return low[:-3] + "y"
    if re.search(r"(?:x|s|z|ch|sh)es$", low):
        return low[:-2]
    return low[:-1] if low.endswith("s") and not re.search(r"(?:ss|us|is)$", low) else low


def _word(word: str) -> str:
    """One word of a phrase as a regex: its spellings, hyphenation and number."""
    same = next((s for s in _SPELLINGS if _singular(word) in s or word.lower() in s), None)
    if same is not None:
        alts = sorted(same, key=lambda s: (-len(s), s))
        return "(?:" + "|".join(_plural(a) if a.isalpha() else re.escape(a) for a in alts) + ")"
    pieces = word.split("-")
    if len(pieces) > 1 and all(pieces):  # "A-fib": also "A fib", "Afib"
        return r"[\s\-]?".join([*(re.escape(p) for p in pieces[:-1]), _word(pieces[-1])])
    if re.fullmatch(r"non[a-z]{3,}", word, re.IGNORECASE):  # "nonspecific" ~ "non-specific"
        return re.escape(word[:3]) + r"[\s\-]?" + _word(word[3:])
    if word.isalpha() and len(word) >= 3 and not re.search(r"(?:us|is|ss)$", word, re.IGNORECASE):
        return _plural(word)
    return re.escape(word)


# Adjectives that also stand after their noun: "normal ECG" ~ "the ECG is normal", "inverted T
# waves" ~ "T waves are inverted", "prolonged QT" ~ "QT is prolonged".
_PREDICATIVE = {
    "normal",
    "abnormal",
    "inverted",
    "prolonged",
    "depressed",
    "elevated",
    "long",
    "low",
    "enlarged",
    "sinus",
}
_COPULA = r"(?:\s+(?:is|are|was|were|appears?|seems?|looks?)(?:\s+to\s+be)?)\s+"


def phrase_regex(phrase: str) -> str:
    """The regex body of a synonym or an option text with its variants (no edges, no flags)."""
    words = [w for w in re.split(r"[\s/]+", phrase.strip()) if w]
    body = _SEP.join(_word(w) for w in words)
    if len(words) >= 2 and words[0].lower() in _PREDICATIVE:
        body += "|" + _SEP.join(_word(w) for w in words[1:]) + _COPULA + re.escape(words[0])
    return body


def code_case_sensitive(code: str, synonyms: Iterable[str] = ()) -> bool:
    """Whether a class code matches only in its written case: codes of one or two characters, unless
    the code itself is declared among its synonyms (the module docstring gives the reason)."""
    return len(code) <= 2 and code.lower() not in {s.lower() for s in synonyms}


def _code_regex(code: str) -> str:
    # A code takes a lower-case plural "s" ("PVCs", "PACs") but no other variant.
    body = re.escape(code)
    return body + "(?-i:s)?" if code[-1:].isalpha() else body


@lru_cache(maxsize=1024)
def class_patterns(code: str, synonyms: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """The patterns that name a class: its code (in the case rule's case) and its synonyms (any case)."""
    flags = 0 if code_case_sensitive(code, synonyms) else re.IGNORECASE
    out = [re.compile(EDGE_L + _code_regex(code) + EDGE_R, flags)]
    alts = sorted({phrase_regex(s) for s in synonyms if s.strip() and s.lower() != code.lower()}, key=len)
    if alts:
        out.append(re.compile(EDGE_L + "(?:" + "|".join(f"(?:{a})" for a in reversed(alts)) + ")" + EDGE_R, re.I))
    return tuple(out)


# ECG terms that are no class but hold a short code's letters: they occupy their words, so that "ST"
# (sinus tachycardia) is not read in "ST depression". A class phrase of the same length wins.
_NOT_A_CLASS = re.compile(
    EDGE_L + r"(?:ST(?:[\s\-/]*(?:T\b|segments?|depressions?|elevations?|changes?|abnormalit(?:y|ies)|waves?|"
    r"deviations?|intervals?))|PR[\s\-]*(?:intervals?|segments?)|QT[\s\-]*(?:intervals?|c\b))" + EDGE_R,
    re.IGNORECASE,
)


# ---- leads (ECG-QA options such as "lead V1") -------------------------------------------------------

_LEAD_TOKEN = r"(?:III|II|I|[aA][vV][rRlLfF]|AV[RLF]|[vV][1-6])"
_LEAD_RUN = re.compile(
    rf"(?:\b(?P<lead>leads?)\s+)?(?<![A-Za-z0-9_\-]){_LEAD_TOKEN}(?![A-Za-z0-9_])"
    rf"(?:\s*(?:,|/|&|\band\b|\bor\b)\s*(?:leads?\s+)?{_LEAD_TOKEN}(?![A-Za-z0-9_]))*",
    re.IGNORECASE,
)
_LEAD_ONE = re.compile(rf"(?<![A-Za-z0-9_]){_LEAD_TOKEN}(?![A-Za-z0-9_])")
_LEAD_RANGE = re.compile(
    r"(?<![A-Za-z0-9])[vV]([1-6])\s*(?:-|–|—|to|through|thru)\s*[vV]?([1-6])(?![0-9])", re.IGNORECASE
)
# Lead groups by their usual names; "anterior" is left out (V1-V4 to some readers, V3-V4 to others).
_LEAD_GROUPS = (
    (re.compile(r"\binferior\s+leads?\b", re.IGNORECASE), "II, III and aVF"),
    (re.compile(r"\bhigh[\s\-]+lateral\s+leads?\b", re.IGNORECASE), "I and aVL"),
    (re.compile(r"\b(?<!high )(?<!high-)lateral\s+leads?\b", re.IGNORECASE), "I, aVL, V5 and V6"),
    (re.compile(r"\bseptal\s+leads?\b", re.IGNORECASE), "V1 and V2"),
    (re.compile(r"\bprecordial\s+leads?\b|\bchest\s+leads\b", re.IGNORECASE), "V1, V2, V3, V4, V5 and V6"),
    (re.compile(r"\blimb\s+leads\b", re.IGNORECASE), "I, II, III, aVR, aVL and aVF"),
)


_LEADS_FOLLOW = re.compile(rf"[\s(:,]*{_LEAD_TOKEN}(?![A-Za-z0-9_])")


def lead_name(text: str) -> str | None:
    """The canonical lead an option or a token names ("lead v1" → "V1", "AVF" → "aVF"), else None."""
    core = re.sub(r"^\s*leads?\s+", "", text.strip(), flags=re.IGNORECASE)
    if re.fullmatch(r"I{1,3}", core):
        return core
    if re.fullmatch(r"a?v[rlf]", core, re.IGNORECASE) and len(core) == 3:
        return "aV" + core[2].upper()
    if re.fullmatch(r"v[1-6]", core, re.IGNORECASE):
        return core.upper()
    return None


def expand_leads(text: str) -> str:
    """Lead ranges and named groups written out as lists: "V1-V3" → "V1, V2 and V3"."""

    def span(m: re.Match[str]) -> str:
        a, b = int(m.group(1)), int(m.group(2))
        if not a < b:
            return m.group()
        names = [f"V{i}" for i in range(a, b + 1)]
        return ", ".join(names[:-1]) + " and " + names[-1]

    text = _LEAD_RANGE.sub(span, text)
    for pattern, leads in _LEAD_GROUPS:
        out, at = [], 0
        for m in pattern.finditer(text):
            # "the precordial leads V2-V4" names its own leads
            named = m.group() if _LEADS_FOLLOW.match(text, m.end()) else f"{m.group()} ({leads})"
            out += [text[at : m.start()], named]
            at = m.end()
        text = "".join([*out, text[at:]])
    return text


def lead_mentions(text: str, wanted: Mapping[str, str]) -> list[tuple[int, int, str]]:
    """Mentions of the leads in `wanted` (canonical lead → option). A bare "I" counts only in a list
    of leads or after "lead" (else it is the pronoun)."""
    out = []
    for run in _LEAD_RUN.finditer(text):
        tokens = list(_LEAD_ONE.finditer(run.group()))
        listed = bool(run.group("lead")) or len(tokens) > 1
        for tok in tokens:
            name = lead_name(tok.group())
            if name is None or name not in wanted or (name == "I" and not listed):
                continue
            out.append((run.start() + tok.start(), run.start() + tok.end(), wanted[name]))
    return out


# ---- clauses, negation, hedges ---------------------------------------------------------------------

_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|vs|approx|cf|etc|incl|resp)\.", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?;](?=[\s*_)\]\"']|$)|\n")
_TERMINATION = re.compile(
    r"\b(?:but|however|although|though|whereas|while|yet|except|apart\s+from|aside\s+from|other\s+than|"
    r"besides|which|(?<!consistent\s)(?<!compatible\s)(?<!keeping\s)with|instead)\b|"
    r"\b(?:findings?|impressions?|interpretation|conclusions?|diagnos[ie]s|summary|assessment|results?|"
    r"answer|rhythm)\s*[:：]",
    re.IGNORECASE,
)
_NEGATION_CUES = (
    r"no|not|none(?:\s+of)?|never|neither|nor|without|w/o|absen(?:t|ce\s+of)|lack(?:s|ing)?(?:\s+of)?|"
    r"free\s+of|negative\s+for|no\s+evidence\s+of|no\s+signs?\s+of|rul(?:e|es|ed|ing)\s+out|r/o|"
    r"exclud(?:e|es|ed|ing)|den(?:y|ies|ied)|rather\s+than|instead\s+of|inconsistent\s+with|unlikely|"
    r"cannot|can\s+not|could\s+not|\w+n't"
)
# What after a cue undoes it: "not only", "no doubt", "cannot exclude" stays a negation (a hedge that
# does not commit reads as one), so only these.
_PSEUDO = re.compile(r"\s*(?:only|just|necessarily|doubt|question|longer|change[sd]?\s+(?:from|since))\b", re.I)
# A bare "No," or "No it is…" answers the question; it does not negate what follows.
_ANSWER_WORDS = re.compile(r"[,:;]|\b(?:it|it's|this|that|is|are|was|were|shows?|has|have|there)\b", re.I)
_NEG_WINDOW = 6  # words between a cue and what it negates (NegEx uses 5)
_NEG_AFTER = re.compile(
    r"(?:[\s*_)\]]*[:=\-–—][\s*_]*(?:no|none|absent|negative|not\s+present|not\s+seen|false|n)\b)|"
    r"(?:(?:\W+[\w'/-]+){0,4}?\W+(?:(?:is|are|was|were|has\s+been|have\s+been|appears?|seems?|remains?)\s+)?"
    r"(?:absent|not\s+(?:present|seen|evident|identified|observed|noted|visible|apparent|shown|demonstrated|"
    r"detected|found|supported|likely|excluded|ruled\s+out)|ruled\s+out|excluded|unlikely|less\s+likely|"
    r"(?:cannot|can\s+not|can't)\s+be\s+(?:excluded|ruled\s+out)))\b",
    re.IGNORECASE,
)
_HEDGE_TO_CLAUSE_END = re.compile(r"\b(?:if|whether|such\s+as|for\s+example|for\s+instance|e\.g\.)", re.I)
_HEDGE_TO_SENTENCE_END = re.compile(
    r"\b(?:the\s+)?(?:options?|choices?|candidates?|possible\s+(?:answers|labels))\s*(?:are|is|include|[:：])",
    re.IGNORECASE,
)
_LIST_SEP = re.compile(
    r"[\s*_]*(?:[,/&]|\band/or\b|\band\b|\bor\b|\bnor\b)?[\s*_]*"
    r"(?:(?:and|or|nor)\b\s*)?(?:(?!(?:no|not|none|is|are|was|were|it|this|with|without|but)\b)[\w-]+\s+){0,2}?",
    re.IGNORECASE,
)
_CONNECTOR = re.compile(r"\b(?:and|or|nor)\b|&", re.IGNORECASE)


@lru_cache(maxsize=256)
def _cue_pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    declared = "|".join(phrase_regex(c) for c in sorted(extra, key=len, reverse=True) if c.strip())
    cues = f"{declared}|{_NEGATION_CUES}" if declared else _NEGATION_CUES
    return re.compile(rf"(?<![\w-])(?:{cues})(?![\w])", re.IGNORECASE)


class _Clauses:
    """A text's sentence and clause boundaries, and the spans that assert nothing."""

    def __init__(self, text: str) -> None:
        self.text = text
        masked = {m.end() - 1 for m in _ABBREVIATION.finditer(text)}
        ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.start() not in masked]
        self.sentences = list(zip([0, *ends], [*ends, len(text)], strict=True))
        stops = [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text) if m.start() not in masked]
        stops += [(m.start(), m.end()) for m in _TERMINATION.finditer(text)]
        stops.sort()
        self.stop_starts = [s for s, _ in stops]
        self.stop_ends = [e for _, e in stops]
        self.hedges: list[tuple[int, int]] = []
        for a, b in self.sentences:
            seg = text[a:b]
            if seg.rstrip(" \t\n*_\"')").endswith("?"):
                self.hedges.append((a, b))
                continue
            self.hedges += [(a + m.start(), b) for m in _HEDGE_TO_SENTENCE_END.finditer(seg)]
            self.hedges += [(a + m.start(), self.right(a + m.end())) for m in _HEDGE_TO_CLAUSE_END.finditer(seg)]

    def left(self, pos: int) -> int:
        """Where the clause holding `pos` starts."""
        ends = [e for e in self.stop_ends if e <= pos]
        return ends[-1] if ends else 0

    def right(self, pos: int) -> int:
        """Where the clause holding `pos` ends."""
        starts = [s for s in self.stop_starts if s >= pos]
        return starts[0] if starts else len(self.text)

    def hedged(self, pos: int) -> bool:
        return any(a <= pos < b for a, b in self.hedges)


def _negated_before(c: _Clauses, start: int, cues: re.Pattern[str]) -> bool:
    window = c.text[c.left(start) : start]
    if re.search(r"(?<![\w-])non[\s-]?$", window, re.IGNORECASE):  # "non-ST elevation", not "non-specific ST-T"
        return True
    for m in reversed(list(cues.finditer(window))):
        between = window[m.end() :]
        if len(re.findall(r"[\w']+", between)) > _NEG_WINDOW:
            return False
        if _PSEUDO.match(window, m.end()):
            continue
        if re.search(r"[,:;]", between) or (m.group().lower() in ("no", "none") and _ANSWER_WORDS.search(between)):
            continue
        return True
    return False


def _negated_after(c: _Clauses, end: int, stop: int) -> str:
    """ "post" for a cue after the mention, "post1" when its verb is singular ("… and AF is absent"
    denies AF alone, not the list before it), "" for none."""
    m = _NEG_AFTER.match(c.text, end, min(c.right(end), stop))
    if not m:
        return ""
    return "post1" if re.search(r"\b(?:is|was|has\s+been)\b", m.group(), re.IGNORECASE) else "post"


@dataclass(frozen=True)
class Mention:
    """A class or option named in a response, and whether the response asserts it."""

    key: str
    start: int
    end: int
    negated: bool
    hedged: bool

    @property
    def asserted(self) -> bool:
        return not (self.negated or self.hedged)


def mentions(
    text: str, found: Iterable[tuple[int, int, str]], negation: Sequence[str] = (), blockers: bool = True
) -> list[Mention]:
    """Resolve overlapping matches (longest first; a key of "" is a non-class term that only occupies
    its words) and mark each kept one negated or hedged."""
    cands = [(s, e, k) for s, e, k in found if e > s]
    if blockers:
        cands += [(m.start(), m.end(), "") for m in _NOT_A_CLASS.finditer(text)]
    cands.sort(key=lambda x: (-(x[1] - x[0]), x[2] == "", x[0]))
    spans: list[tuple[int, int, str]] = []
    for s, e, k in cands:
        if not any(s < e2 and s2 < e for s2, e2, _ in spans):
            spans.append((s, e, k))
    spans = sorted(x for x in spans if x[2])
    c = _Clauses(text)
    cues = _cue_pattern(tuple(negation))
    kinds = [
        "pre"
        if _negated_before(c, s, cues)
        else _negated_after(c, e, spans[i + 1][0] if i + 1 < len(spans) else len(text))
        for i, (s, e, _) in enumerate(spans)
    ]
    i = 0
    while i < len(spans):  # a cue before a list's first item, or after its last, negates them all
        j, joined = i, False
        while j + 1 < len(spans) and _LIST_SEP.fullmatch(sep := text[spans[j][1] : spans[j + 1][0]]):
            joined |= bool(_CONNECTOR.search(sep))
            j += 1
        if joined and (kinds[i] == "pre" or kinds[j] == "post"):
            kinds[i : j + 1] = [k or "list" for k in kinds[i : j + 1]]
        i = j + 1
    return [Mention(k, s, e, bool(kind), c.hedged(s)) for (s, e, k), kind in zip(spans, kinds, strict=True)]
