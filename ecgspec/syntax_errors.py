"""The wording of syntax errors: a table of rules, condition → message, hint and code.

The parser (ecgspec/parser.py) turns a lark exception into a `SyntaxContext`: what went
wrong (a character the lexer could not read, a token the parser did not expect, the end of
the file, nesting too deep), the terminals the parser would have taken instead, the source
line, the token before, the brackets still open. `match` walks `RULES` in order and the first
rule whose kind and condition hold words the error; each kind ends in a generic rule.

Messages and hints are `str.format` templates over the context's fields and properties
(`{shown}`, `{words}`, `{closer}`, ...); a literal brace is written twice. Every rule is
pinned by a broken-spec golden or a small case in tests/test_syntax_errors.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import did_you_mean
from .units import UNITS

Kind = Literal["depth", "char", "eof", "token"]
# Where the diagnostic points: the failing token or character; the rest of the line from the
# character; the innermost open bracket or brace; the innermost open bracket; the token before;
# the end of the file.
At = Literal["token", "char", "rest_of_line", "opener", "bracket", "prev", "end", "first_word"]

MAX_NESTING = 32
KEYWORDS = ("IMPORT", "LET", "CHOICE")  # reserved: never a name
VALUE_STARTS = frozenset({"NUMBER", "STRING", "LONG_STRING", "COLOUR", "NAME", "LSQB", "CHOICE"})
CLOSERS = {"{": "}", "[": "]", "(": ")"}

# What each terminal is called in an error message.
TOKEN_WORDS: dict[str, str] = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "LONG_STRING": "a string",
    "COLOUR": "a colour",
    "IMPORT": "'import'",
    "LET": "'let'",
    "CHOICE": "'choice'",
    "EQ": "'='",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COLON": "':'",
    "PIPE": "'|'",
    "DOT": "'.'",
    "RANGE": "'..'",
    "SEMI": "';'",
    "_NL": "the end of the line",
    "$END": "the end of the file",
}

_DECL_LINE = re.compile(r'[A-Za-z_]\w*\s+("[^"]*"|[A-Za-z_]\w*)(\s+[A-Za-z_]\w*\s+("[^"]*"|[A-Za-z_]\w*))*\s*\{')
_COLOUR_BEFORE = re.compile(r"\s#([0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


def expected_words(expected: frozenset[str]) -> str:
    """`{NUMBER, STRING, NAME, LSQB, EQ}` → "a value or '='"."""
    names = set(expected) - {"WS", "COMMENT", "LONG_STRING"}
    words: list[str] = []
    if {"NUMBER", "STRING", "NAME", "LSQB"} <= names:
        words.append("a value")
        names -= VALUE_STARTS
    for n in sorted(names, key=lambda n: (n.startswith("_") or n == "$END", n)):
        w = TOKEN_WORDS.get(n)
        if w and w not in words:
            words.append(w)
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# Units as people write them, where the spelling is not near the language's own (`sec` is far from `s`).
UNIT_SPELLINGS: dict[str, str] = {
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "msec": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "mm/sec": "mm/s",
    "mm/second": "mm/s",
    "mm/mv": "mm/mV",
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "hz": "Hz",
    "hertz": "Hz",
    "bpm": "bpm",
    "beats/min": "bpm",
    "/min": "bpm",
    "degrees": "deg",
    "degree": "deg",
    "°": "deg",
    "inch": "in",
    "inches": "in",
    "pixels": "px",
    "pixel": "px",
    "percent": "%",
}


@dataclass(frozen=True)
class Tok:
    """A token as the rules see it (lark's Token, without lark)."""

    type: str
    text: str
    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 2


@dataclass(frozen=True)
class SyntaxContext:
    """Everything a rule may look at. `line_text` is the source line of the failure."""

    kind: Kind
    expected: frozenset[str] = frozenset()  # what the parser would take here
    allowed: frozenset[str] = frozenset()  # what the lexer would read here (characters only)
    token: Tok | None = None  # the unexpected token (token and eof kinds; the deep one for depth)
    prev: Tok | None = None  # the token before it, while the parser has not reduced it
    char: str = ""  # the unreadable character (char kind)
    line: int = 1
    column: int = 1
    line_text: str = ""
    lines: tuple[str, ...] = ()
    open_brackets: tuple[Tok, ...] = ()  # '(' and '[' still open, innermost last
    open_braces: tuple[Tok, ...] = ()
    max_nesting: int = MAX_NESTING

    # ---- derived fields, for conditions and templates
    @property
    def type(self) -> str:
        return self.token.type if self.token else ""

    @property
    def text(self) -> str:
        return self.token.text if self.token else ""

    @property
    def words(self) -> str:
        return expected_words(self.expected)

    @property
    def shown(self) -> str:
        return "end of the line" if self.type == "_NL" else repr(self.text)

    @property
    def before(self) -> str:
        """The source line before the failing character or token."""
        return self.line_text[: max(self.column - 1, 0)]

    @property
    def bracket(self) -> Tok | None:
        return self.open_brackets[-1] if self.open_brackets else None

    @property
    def opener(self) -> Tok | None:
        """The innermost open bracket, else the innermost open brace."""
        return (self.open_brackets or self.open_braces or (None,))[-1]

    @property
    def closer(self) -> str:
        return CLOSERS.get(self.opener.text, "") if self.opener else ""

    @property
    def bracket_closer(self) -> str:
        return CLOSERS.get(self.bracket.text, "") if self.bracket else ""

    @property
    def decl_after_opener(self) -> int | None:
        """The first line after the opener that starts, at column 1, what looks like a declaration."""
        if self.opener is None:
            return None
        for i in range(self.opener.line, len(self.lines)):
            if _DECL_LINE.match(self.lines[i]):
                return i + 1
        return None

    @property
    def decl_head(self) -> str:
        n = self.decl_after_opener
        return self.lines[n - 1].strip().rstrip("{").strip() if n else ""

    @property
    def dashed_name(self) -> str:
        rest = re.match(r"[\w-]*", self.line_text[self.column - 1 :])
        word = re.search(r"[A-Za-z_][\w-]*$", self.before + (rest.group(0) if rest else ""))
        return word.group(0) if word else "name-with-dash"

    @property
    def underscored_name(self) -> str:
        return self.dashed_name.replace("-", "_")

    @property
    def first_word(self) -> str:
        m = re.match(r"\s*([A-Za-z_]\w*)", self.line_text)
        return m.group(1) if m else ""

    @property
    def keyword_guess(self) -> str:
        return _misspelt_keyword(self) or ""

    @property
    def keyword_guess_article(self) -> str:
        return "an" if self.keyword_guess == "import" else "a"

    @property
    def unit_text(self) -> str:
        """The whole unit as written (`mm/sec`, not the `mm` the lexer stopped at)."""
        rest = re.match(r"[A-Za-zµμ%/]+", self.line_text[max(self.column - 1, 0) :])
        return rest.group(0) if rest else self.text

    @property
    def unit_guess(self) -> str:
        written = self.unit_text
        spelled = UNIT_SPELLINGS.get(written) or UNIT_SPELLINGS.get(written.lower())
        guess = f"did you mean '{spelled}'?" if spelled else did_you_mean(written, UNITS)
        if guess == f"did you mean '{written}'?":  # a known unit that the characters after it spoil
            guess = None
        return guess + " " if guess else ""

    @property
    def units(self) -> str:
        return ", ".join(sorted(UNITS, key=str.lower))


def _misspelt_keyword(ctx: SyntaxContext) -> str | None:
    """`improt "x.ecg"` or `lte x = 3`: a line shaped like an import or a `let` whose first word is a
    near miss of the keyword (read as a declaration of that kind, it fails later and elsewhere)."""
    m = re.match(r"\s*([A-Za-z_]\w*)\s+(\"|[A-Za-z_]\w*\s*=)", ctx.line_text)
    if m is None or m.group(1) in ("import", "let"):
        return None
    keyword = "import" if m.group(2) == '"' else "let"
    return keyword if did_you_mean(m.group(1), [keyword]) else None


def _prev_is(ctx: SyntaxContext, kind: str) -> bool:
    return ctx.prev is not None and ctx.prev.type == kind


@dataclass(frozen=True)
class Rule:
    """When `when` holds for an error of `kind`: say `message`, hint `hint`, point `at`.
    With `hint_if`, the hint is left out when that field of the context is empty."""

    name: str
    kind: Kind
    when: Callable[[SyntaxContext], bool]
    hint: str | None
    message: str = "unexpected {shown}"
    code: str = "syntax"
    at: At = "token"
    hint_if: str | None = None
    doc: str = field(default="", compare=False)

    def render(self, ctx: SyntaxContext) -> tuple[str, str | None]:
        fields = _Fields(ctx)
        hint = self.hint
        if hint is not None and self.hint_if is not None and not fields[self.hint_if]:
            hint = None
        return self.message.format_map(fields), hint.format_map(fields) if hint is not None else None


class _Fields(dict[str, Any]):
    """A template's names, looked up on the context as they are needed."""

    def __init__(self, ctx: SyntaxContext):
        super().__init__()
        self.ctx = ctx

    def __missing__(self, key: str) -> Any:
        return getattr(self.ctx, key)


def _always(ctx: SyntaxContext) -> bool:
    return True


_CHAR = "unexpected character {char!r}"

RULES: tuple[Rule, ...] = (
    # ---- nesting
    Rule(
        "too-deep",
        "depth",
        _always,
        "flatten the lists or blocks",
        message="nesting deeper than {max_nesting} levels",
        code="syntax-depth",
    ),
    # ---- a character the lexer cannot read
    Rule(
        "single-quotes",
        "char",
        lambda c: c.char == "'",
        'strings are written in double quotes: "like this"',
        message=_CHAR,
        code="syntax-char",
        at="char",
    ),
    Rule(
        "unclosed-string",
        "char",
        lambda c: c.char == '"',
        'close it on the same line; write text over several lines in """triple quotes"""',
        message="this string is never closed",
        code="syntax-char",
        at="rest_of_line",
    ),
    Rule(
        "dash-in-name",
        "char",
        lambda c: c.char == "-" and c.column > 1 and (c.before[-1:].isalnum() or c.before[-1:] == "_"),
        "names cannot contain '-': write `{underscored_name}`, or quote it: \"{dashed_name}\"",
        message=_CHAR,
        code="syntax-char",
        at="char",
    ),
    Rule(
        "sign-apart",
        "char",
        lambda c: c.char == "-" and "NUMBER" in c.allowed,
        "write the sign against the digits: -3 deg",
        message=_CHAR,
        code="syntax-char",
        at="char",
    ),
    Rule(
        "unit-with-spaces",
        "char",
        lambda c: c.char == "/" and re.search(r"\d\s*(mm|mV)\s*$", c.before) is not None,
        "units are written without spaces inside them: `mm/s`, `mm/mV`",
        message=_CHAR,
        code="syntax-char",
        at="char",
    ),
    Rule(
        "char", "char", _always, "expected {words} here", message=_CHAR, code="syntax-char", at="char", hint_if="words"
    ),
    # ---- the end of the file, too early
    Rule(
        "brace-never-closed",
        "eof",
        lambda c: c.opener is not None and c.opener.text == "{" and c.decl_after_opener is not None,
        "is a '}}' missing before `{decl_head}` at line {decl_after_opener}?",
        message="'{opener.text}' is never closed",
        code="syntax-eof",
        at="opener",
    ),
    Rule(
        "never-closed",
        "eof",
        lambda c: c.opener is not None,
        "the file ends before its matching '{closer}'",
        message="'{opener.text}' is never closed",
        code="syntax-eof",
        at="opener",
    ),
    Rule(
        "eof",
        "eof",
        _always,
        "expected {words}",
        message="unexpected end of file",
        code="syntax-eof",
        at="end",
        hint_if="words",
    ),
    # ---- a token the parser does not take here
    Rule(
        "bracket-before-setting",
        "token",
        lambda c: (
            c.bracket is not None
            and c.line > c.bracket.line
            and re.match(r"\s*[A-Za-z_]\w*\s*=", c.line_text) is not None
        ),
        "add '{bracket_closer}' at the end of line {bracket.line}",
        message="'{bracket.text}' is never closed",
        code="syntax-bracket",
        at="bracket",
        doc="a `key =` line while a bracket is open: the bracket above was never closed",
    ),
    Rule(
        "choice-reserved",
        "token",
        lambda c: _prev_is(c, "CHOICE"),
        "if you meant a task or paper named choice, rename it",
        message="'choice' is a reserved word: `choice[…]` starts a weighted choice",
        code="syntax-reserved",
        at="prev",
    ),
    Rule(
        "reserved-word",
        "token",
        lambda c: c.type in KEYWORDS and "NAME" in c.expected,
        "choose another name, such as '{text}_'",
        message="'{text}' is a reserved word and cannot be used as a name here",
        code="syntax-reserved",
    ),
    Rule(
        "unknown-unit",
        "token",
        lambda c: c.type == "NAME" and c.prev is not None and c.prev.type == "NUMBER" and c.prev.end_line == c.line,
        "{unit_guess}units are {units}",
        message="unknown unit '{unit_text}'",
        code="syntax-unit",
    ),
    Rule(
        "bracket-not-closed",
        "token",
        lambda c: c.type in ("RBRACE", "_NL", "LBRACE", "$END") and c.bracket is not None,
        "the '{bracket.text}' at line {bracket.line}, column {bracket.column} is not closed: add '{bracket_closer}'",
        code="syntax-bracket",
    ),
    Rule(
        "stray-brace",
        "token",
        lambda c: c.type == "RBRACE" and not c.open_braces,
        "remove it, or look for a missing '{{' above",
        message="unexpected '}}' with no open block",
        code="syntax-brace",
    ),
    Rule(
        "misspelt-keyword",
        "token",
        lambda c: _misspelt_keyword(c) is not None,
        "did you mean '{keyword_guess}'?",
        message="'{first_word}' is not a keyword: this line looks like {keyword_guess_article} `{keyword_guess}`",
        code="syntax-keyword",
        at="first_word",
    ),
    Rule(
        "missing-value",
        "token",
        lambda c: c.type == "_NL" and c.expected <= {"EQ", "LPAR", "RANGE", "DOT"} | VALUE_STARTS,
        "a value is missing at the end of the line",
    ),
    Rule(
        "decl-without-name",
        "token",
        lambda c: c.type == "LBRACE" and "NAME" in c.expected and _prev_is(c, "NAME"),
        "a declaration is written `KIND NAME {{ ... }}`, for example `paper standard {{ ... }}`",
    ),
    Rule(
        "colour-not-comment",
        "token",
        lambda c: c.type == "COLOUR" or _COLOUR_BEFORE.search(c.before) is not None,
        "a '#' followed by 3, 6 or 8 hex digits is a colour; a comment needs a space after '#'",
    ),
    Rule(
        "decimal-comma",
        "token",
        lambda c: (
            c.type == "COMMA"
            and c.bracket is None
            and _prev_is(c, "NUMBER")
            and re.match(r"\d", c.line_text[c.column :]) is not None
        ),
        "decimal numbers are written with a point: `{prev.text}.…`, e.g. `2.5 s`",
    ),
    Rule(
        "list-without-brackets",
        "token",
        lambda c: c.type == "COMMA" and c.bracket is None,
        "a list is written in square brackets: `[I, II, III]`",
    ),
    Rule("double-equals", "token", lambda c: c.type == "EQ" and _prev_is(c, "EQ"), "write one '='"),
    Rule("token", "token", _always, "expected {words}", hint_if="words"),
)


def match(ctx: SyntaxContext) -> Rule:
    """The first rule of `ctx.kind` whose condition holds (each kind ends in a catch-all)."""
    return next(r for r in RULES if r.kind == ctx.kind and r.when(ctx))
