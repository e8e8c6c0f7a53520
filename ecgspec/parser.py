"""Text → syntax tree (ecgspec.syntax), with located, worded syntax errors.

A syntax error does not stop the file: the broken top-level declaration is blanked out
(line numbers kept) and the rest is parsed again, so one run reports every broken
declaration of a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import syntax as s
from .errors import Diagnostics, Pos, did_you_mean
from .units import UNITS

MAX_NESTING = 32
MAX_ERRORS_PER_FILE = 25

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
_KEYWORDS = {"import": "IMPORT", "let": "LET", "choice": "CHOICE"}  # reserved: never a name
_VALUE_STARTS = {"NUMBER", "STRING", "LONG_STRING", "COLOUR", "NAME", "LSQB", "CHOICE"}
_PUNCT = {"EQ", "LBRACE", "RBRACE", "LPAR", "RPAR", "LSQB", "RSQB", "COMMA", "COLON", "PIPE", "DOT", "RANGE", "SEMI"}
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_NUMBER_RE = re.compile(r"([+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[ \t]*(.*)")
_CLOSERS = {"{": "}", "[": "]", "(": ")"}


class _TooDeep(Exception):
    def __init__(self, token: Token):
        self.token = token


class BracketNewlines:
    """Post-lexer: newlines inside () and [] do not end a statement; nesting is bounded.

    It also remembers which brackets and braces are open, so that an error can point at
    the one that was never closed.
    """

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open_braces: list[Token] = []
        self.open_brackets: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open_braces = []
        self.open_brackets = []
        for tok in stream:
            if tok.type == "NAME" and str(tok) in _KEYWORDS:
                # The contextual lexer reads a keyword as a name where the parser state does not
                # expect the keyword; make it a keyword everywhere, so a reserved word is an error
                # wherever it stands, not only where LALR's merged lookaheads happen to expect it.
                tok = Token.new_borrow_pos(_KEYWORDS[str(tok)], str(tok), tok)
            kind = tok.type
            if kind in ("LPAR", "LSQB"):
                self.open_brackets.append(tok)
            elif kind in ("RPAR", "RSQB"):
                if self.open_brackets:
                    self.open_brackets.pop()
            elif kind == "LBRACE":
                self.open_braces.append(tok)
            elif kind == "RBRACE" and self.open_braces and not self.open_brackets:
                self.open_braces.pop()
            elif kind == "_NL" and self.open_brackets:
                continue
            if len(self.open_brackets) + len(self.open_braces) > MAX_NESTING:
                raise _TooDeep(tok)
            yield tok


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def _accepted(state: Any) -> set[str] | None:
    """The terminals the parser would really take next (lark's `expected` also lists what
    the lexer merely allows, such as newlines inside brackets)."""
    if state is None:
        return None
    try:
        from copy import copy

        conf = copy(state.parse_conf)
        conf.callbacks = {}
        out = set()
        for term in conf.parse_table.states[state.position]:
            if not term.isupper() and term != "$END":
                continue
            trial = state.copy(deepcopy_values=False)
            trial.parse_conf = conf
            try:
                trial.feed_token(Token(term, ""), is_end=term == "$END")
            except Exception:
                continue
            out.add(term)
        return out
    except Exception:
        return None


def _tok_pos(path: str, tok: Token) -> Pos:
    line = tok.line or 1
    col = tok.column or 1
    return Pos(path, line, col, tok.end_line or line, tok.end_column or col + max(len(str(tok)), 1))


# A transformer rule's children. Named here: inside _Build, `list` is the rule of that name.
Children = list[Any]
Tokens = list[Token]


class _Build(Transformer[Token, Any]):
    """lark tree → ecgspec.syntax nodes, run while parsing. Punctuation is dropped here."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _pos_of(self, child: Any) -> Pos | None:
        if isinstance(child, Token):
            return _tok_pos(self.path, child) if child.line is not None else None
        if isinstance(child, tuple):
            return self._span(list(child)) if child else None
        return getattr(child, "pos", None)

    def _span(self, children: Children) -> Pos:
        """From the start of the first child to the end of the last (tokens and nodes alike)."""
        first = next((p for c in children if (p := self._pos_of(c)) is not None), None)
        last = next((p for c in reversed(children) if (p := self._pos_of(c)) is not None), None)
        if first is None or last is None:
            return Pos.point(self.path)
        return first.to(last)

    def _word(self, tok: Token) -> s.Word:
        return s.Word(str(tok), _tok_pos(self.path, tok))

    @staticmethod
    def _drop_punct(children: Children) -> list[Any]:
        return [c for c in children if not (isinstance(c, Token) and c.type in _PUNCT)]

    # ---- values
    def number(self, children: Tokens) -> s.Number:
        tok = children[0]
        m = _NUMBER_RE.fullmatch(str(tok))
        assert m is not None  # the NUMBER terminal guarantees the shape
        unit = m.group(2) or None
        if unit == "μV":  # Greek mu and the micro sign are the same unit
            unit = "µV"
        return s.Number(float(m.group(1)), unit, m.group(1), _tok_pos(self.path, tok))

    def string(self, children: Tokens) -> s.String:
        tok = children[0]
        long = tok.type == "LONG_STRING"
        body = str(tok)[3:-3] if long else str(tok)[1:-1]
        return s.String(_unescape(body), long, _tok_pos(self.path, tok))

    def colour(self, children: Tokens) -> s.Colour:
        return s.Colour(str(children[0]), _tok_pos(self.path, children[0]))

    def ref(self, children: Tokens) -> s.Ref:
        names = tuple(str(c) for c in children if c.type == "NAME")
        return s.Ref(names, self._span(children))

    def range(self, children: Children) -> s.Range:
        lo, hi = children[0], children[2]
        return s.Range(self.number([lo]), self.number([hi]), self._span(children))

    def item(self, children: Children) -> s.Item:
        parts = self._drop_punct(children)
        return s.Item(parts[0], parts[1] if len(parts) > 1 else None, self._span(children))

    def row(self, children: Children) -> tuple[s.Item, ...]:
        return tuple(self._drop_punct(children))

    def list(self, children: Children) -> s.ListValue:
        rows = tuple(c for c in children if isinstance(c, tuple))
        return s.ListValue(rows, self._span(children))

    def choice(self, children: Children) -> s.Choice:
        return s.Choice(children[-1], self._span(children))

    def call(self, children: Children) -> s.Call:
        parts = self._drop_punct(children)
        return s.Call(self._word(parts[0]), tuple(parts[1:]), self._span(children))

    def kwarg(self, children: Children) -> s.KwArg:
        key, value = self._drop_punct(children)
        return s.KwArg(self._word(key), value, self._span(children))

    # ---- structure
    def setting(self, children: Children) -> s.Setting:
        key, value = self._drop_punct(children)
        return s.Setting(self._word(key), value, self._span(children))

    def statement(self, children: Children) -> s.Statement:
        parts = self._drop_punct(children)
        head = self._word(parts[0])
        block = next((p for p in parts if isinstance(p, s.Block)), None)
        terms = tuple(p for p in parts[1:] if not isinstance(p, s.Block))
        # `one of { ... }` reads as English; it is one statement head.
        if head.text == "one" and terms and isinstance(terms[0], s.Ref) and terms[0].dotted == "of":
            head = s.Word("one of", head.pos.to(terms[0].pos))
            terms = terms[1:]
        return s.Statement(head, terms, block, self._span(children))

    def block(self, children: Children) -> s.Block:
        entries = tuple(c for c in children if isinstance(c, (s.Setting, s.Statement)))
        return s.Block(entries, self._span(children))

    def header(self, children: Tokens) -> s.Header:
        word, value = children
        val: s.Word | s.String
        if value.type == "STRING":
            val = s.String(_unescape(str(value)[1:-1]), False, _tok_pos(self.path, value))
        else:
            val = self._word(value)
        return s.Header(self._word(word), val, self._span(children))

    def decl(self, children: Children) -> s.Decl:
        kind, name = children[0], children[1]
        headers = tuple(c for c in children if isinstance(c, s.Header))
        quoted = name.type == "STRING"
        word = s.Word(_unescape(str(name)[1:-1]) if quoted else str(name), _tok_pos(self.path, name))
        return s.Decl(self._word(kind), word, quoted, headers, children[-1], self._span(children))

    def import_(self, children: Tokens) -> s.Import:
        tok = children[1]
        path = s.String(_unescape(str(tok)[1:-1]), False, _tok_pos(self.path, tok))
        return s.Import(path, self._span(children))

    def let(self, children: Children) -> s.Let:
        parts = self._drop_punct(children)
        return s.Let(self._word(parts[1]), parts[2], self._span(children))

    def start(self, children: Children) -> tuple[Any, ...]:
        return tuple(c for c in children if not isinstance(c, Token))

    def value_only(self, children: Children) -> Any:
        return children[0]


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return resources.files("ecgspec").joinpath("grammar.lark").read_text(encoding="utf-8")


class _Frontend:
    """One lark frontend per process: building the LALR tables is the slow part."""

    def __init__(self) -> None:
        self.comments: list[Token] = []
        self.post = BracketNewlines()
        self.builder = _Build("<spec>")
        self.lark = Lark(
            grammar_text(),
            parser="lalr",
            lexer="contextual",
            start=["start", "value_only"],
            propagate_positions=False,
            maybe_placeholders=False,
            postlex=self.post,
            transformer=self.builder,  # built while parsing: no recursion over deep trees
            lexer_callbacks={"COMMENT": self.comments.append, "_NL": self._line_comments},
        )

    def _line_comments(self, tok: Token) -> Token:
        """Whole-line comments travel inside newline tokens; set them aside as comments."""
        text = str(tok)
        if "#" in text:
            for m in re.finditer(r"#[^\n]*", text):
                before = text[: m.start()]
                line = (tok.line or 1) + before.count("\n")
                col = m.start() - before.rfind("\n") if "\n" in before else (tok.column or 1) + m.start()
                self.comments.append(
                    Token("COMMENT", m.group(0), line=line, column=col, end_line=line, end_column=col + len(m.group(0)))
                )
        return tok

    def parse(self, text: str, path: str, start: str) -> Any:
        self.comments.clear()
        self.builder.path = path
        return self.lark.parse(text, start=start)


@lru_cache(maxsize=1)
def _frontend() -> _Frontend:
    return _Frontend()


def parse_module(text: str, path: str, diags: Diagnostics) -> s.Module:
    """Parse one file. Syntax errors go to `diags`; the declarations that parsed are kept."""
    front = _frontend()
    lines = text.split("\n")
    errors = 0
    while True:
        try:
            items = front.parse("\n".join(lines), path, "start")
        except (UnexpectedInput, _TooDeep) as exc:
            line = _report_syntax_error(exc, path, lines, front.post, diags)
            errors += 1
            if errors >= MAX_ERRORS_PER_FILE or not _blank_declaration(lines, line):
                return s.Module(path, (), (), text)
            continue
        comments = tuple(
            sorted(
                (s.Comment(str(c), _tok_pos(path, c)) for c in front.comments), key=lambda c: (c.pos.line, c.pos.col)
            )
        )
        return s.Module(path, items, comments, text)


def parse_value(text: str, origin: str, diags: Diagnostics) -> s.Value | None:
    """Parse a lone value, as given to `-D name=value`."""
    front = _frontend()
    try:
        return front.parse(text, origin, "value_only")
    except (UnexpectedInput, _TooDeep) as exc:
        _report_syntax_error(exc, origin, text.split("\n"), front.post, diags)
        return None


# ---- syntax errors --------------------------------------------------------------------------


def _expected_words(expected: set[str]) -> str:
    names = set(expected) - {"WS", "COMMENT", "LONG_STRING"}
    words: list[str] = []
    if {"NUMBER", "STRING", "NAME", "LSQB"} <= names:
        words.append("a value")
        names -= _VALUE_STARTS
    for n in sorted(names, key=lambda n: (n.startswith("_") or n == "$END", n)):
        w = TOKEN_WORDS.get(n)
        if w and w not in words:
            words.append(w)
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _report_syntax_error(
    exc: UnexpectedInput | _TooDeep, path: str, lines: list[str], post: BracketNewlines, diags: Diagnostics
) -> int:
    """Turn a lark exception into one located diagnostic; return its line."""
    if isinstance(exc, _TooDeep):
        pos = _tok_pos(path, exc.token)
        diags.error(
            pos, f"nesting deeper than {MAX_NESTING} levels", "flatten the lists or blocks", code="syntax-depth"
        )
        return pos.line

    if isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        char = text[col - 1] if 0 < col <= len(text) else "?"
        pos = Pos(path, line, col, line, col + 1)
        accepted = _accepted(getattr(exc, "state", None))
        words = _expected_words(accepted if accepted is not None else set(exc.allowed))
        message = f"unexpected character {char!r}"
        hint: str | None
        if char == "'":
            hint = 'strings are written in double quotes: "like this"'
        elif char == '"':
            message = "this string is never closed"
            pos = Pos(path, line, col, line, max(len(text), col) + 1)
            hint = 'close it on the same line; write text over several lines in """triple quotes"""'
        elif char == "-" and col > 1 and (text[col - 2].isalnum() or text[col - 2] == "_"):
            rest = re.match(r"[\w-]*", text[col - 1 :])
            word = re.search(r"[A-Za-z_][\w-]*$", text[: col - 1] + (rest.group(0) if rest else ""))
            shown = word.group(0) if word else "name-with-dash"
            hint = f"names cannot contain '-': write `{shown.replace('-', '_')}`, or quote it: \"{shown}\""
        elif char == "-" and "NUMBER" in exc.allowed:
            hint = "write the sign against the digits: -3 deg"
        elif char == "/" and re.search(r"\d\s*(mm|mV)\s*$", text[: col - 1]):
            hint = "units are written without spaces inside them: `mm/s`, `mm/mV`"
        else:
            hint = f"expected {words} here" if words else None
        diags.error(pos, message, hint, code="syntax-char")
        return line

    assert isinstance(exc, (UnexpectedToken, UnexpectedEOF))
    tok: Token = exc.token
    accepted = _accepted(getattr(exc, "state", None))
    expected = accepted if accepted is not None else set(exc.expected)
    words = _expected_words(expected)
    if tok.type == "$END":
        open_ = post.open_brackets or post.open_braces
        opener = open_[-1] if open_ else None
        if opener is not None:
            hint = f"the file ends before its matching '{_CLOSERS[str(opener)]}'"
            decl_line = _declaration_after(lines, opener.line or 1)
            if str(opener) == "{" and decl_line is not None:
                hint = (
                    f"is a '}}' missing before `{lines[decl_line - 1].strip().rstrip('{').strip()}` "
                    f"at line {decl_line}?"
                )
            diags.error(_tok_pos(path, opener), f"'{opener}' is never closed", hint, code="syntax-eof")
            return opener.line or 1
        last = max(len(lines), 1)
        col = len(lines[-1]) + 1 if lines else 1
        diags.error(
            Pos(path, last, col, last, col + 1),
            "unexpected end of file",
            f"expected {words}" if words else None,
            code="syntax-eof",
        )
        return last

    pos = _tok_pos(path, tok)
    shown = "end of the line" if tok.type == "_NL" else repr(str(tok))
    message = f"unexpected {shown}"
    hint = f"expected {words}" if words else None
    prev = _previous_token(exc)
    code = "syntax"
    if tok.type == "_NL":
        pos = Pos(path, pos.line, pos.col, pos.line, pos.col + 1)
    if (
        post.open_brackets
        and (tok.line or 0) > (post.open_brackets[-1].line or 0)
        and re.match(r"\s*[A-Za-z_]\w*\s*=", lines[(tok.line or 1) - 1] if tok.line else "")
    ):
        # A `key =` line while a bracket is open: the bracket above was never closed.
        opener = post.open_brackets[-1]
        diags.error(
            _tok_pos(path, opener),
            f"'{opener}' is never closed",
            f"add '{_CLOSERS[str(opener)]}' at the end of line {opener.line}",
            code="syntax-bracket",
        )
        return opener.line or 1
    if prev is not None and prev.type == "CHOICE":
        message = "'choice' is a reserved word: `choice[…]` starts a weighted choice"
        pos = _tok_pos(path, prev)
        hint = "if you meant a task or paper named choice, rename it"
        code = "syntax-reserved"
    elif tok.type in ("IMPORT", "LET", "CHOICE") and "NAME" in expected:
        message = f"'{tok}' is a reserved word and cannot be used as a name here"
        hint = f"choose another name, such as '{tok}_'"
        code = "syntax-reserved"
    elif tok.type == "NAME" and prev is not None and prev.type == "NUMBER" and prev.end_line == tok.line:
        message = f"unknown unit '{tok}'"
        guess = did_you_mean(str(tok), UNITS)
        hint = (guess + " " if guess else "") + "units are " + ", ".join(sorted(UNITS, key=str.lower))
        code = "syntax-unit"
    elif tok.type in ("RBRACE", "_NL", "LBRACE", "$END") and post.open_brackets:
        opener = post.open_brackets[-1]
        hint = (
            f"the '{opener}' at line {opener.line}, column {opener.column} is not closed: add '{_CLOSERS[str(opener)]}'"
        )
        code = "syntax-bracket"
    elif tok.type == "RBRACE" and not post.open_braces:
        message = "unexpected '}' with no open block"
        hint = "remove it, or look for a missing '{' above"
        code = "syntax-brace"
    elif tok.type == "_NL" and "EQ" in expected and prev is not None and prev.type == "LET":
        hint = "a constant is written `let name = value`"
    elif tok.type == "_NL" and expected <= {"EQ"} | _VALUE_STARTS | {"LPAR", "RANGE", "DOT"}:
        hint = "a value is missing at the end of the line"
    elif tok.type == "LBRACE" and "NAME" in expected | {"STRING"} and prev is not None and prev.type == "NAME":
        hint = "a declaration is written `KIND NAME { ... }`, for example `paper standard { ... }`"
    elif tok.type == "COLOUR" or re.search(
        r"\s#([0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b",
        lines[(tok.line or 1) - 1][: max((tok.column or 1) - 1, 0)],
    ):
        hint = "a '#' followed by 3, 6 or 8 hex digits is a colour; a comment needs a space after '#'"
    elif tok.type == "COMMA" and not post.open_brackets:
        if (
            prev is not None
            and prev.type == "NUMBER"
            and re.match(r"\d", lines[(tok.line or 1) - 1][tok.column or 0 :])
        ):
            hint = f"decimal numbers are written with a point: `{prev}.…`, e.g. `2.5 s`"
        else:
            hint = "a list is written in square brackets: `[I, II, III]`"
    elif tok.type == "EQ" and prev is not None and prev.type == "EQ":
        hint = "write one '='"
    diags.error(pos, message, hint, code=code)
    return pos.line


def _previous_token(exc: UnexpectedInput) -> Token | None:
    history = getattr(exc, "token_history", None)
    if history:
        return history[-1]
    state = getattr(exc, "state", None)
    stack = getattr(state, "value_stack", None) or []
    if stack and isinstance(stack[-1], Token):
        return stack[-1]
    if stack and isinstance(stack[-1], s.Number):
        n = stack[-1]
        return Token("NUMBER", n.text, line=n.pos.line, end_line=n.pos.end_line)
    return None


_TOP_START = re.compile(r"[A-Za-z_\"]")
_DECL_LINE = re.compile(r'[A-Za-z_]\w*\s+("[^"]*"|[A-Za-z_]\w*)(\s+[A-Za-z_]\w*\s+("[^"]*"|[A-Za-z_]\w*))*\s*\{')


def _declaration_after(lines: list[str], line: int) -> int | None:
    """The first line after `line` that starts, at column 1, what looks like a declaration."""
    for i in range(line, len(lines)):
        if _DECL_LINE.match(lines[i]):
            return i + 1
    return None


def _blank_declaration(lines: list[str], error_line: int) -> bool:
    """Blank the top-level item around `error_line` so that the rest of the file parses."""
    n = len(lines)
    if not n:
        return False
    idx = min(max(error_line - 1, 0), n - 1)
    start = idx
    while start > 0 and not _TOP_START.match(lines[start]):
        start -= 1
    end = idx + 1
    while end < n and not _TOP_START.match(lines[end]):
        end += 1
    changed = any(lines[i].strip() for i in range(start, end))
    for i in range(start, end):
        lines[i] = ""
    return changed
