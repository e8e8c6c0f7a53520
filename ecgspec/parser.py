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
from . import syntax_errors as se
from .errors import Diagnostics, Pos

MAX_NESTING = se.MAX_NESTING
MAX_ERRORS_PER_FILE = 25

_KEYWORDS = {"import": "IMPORT", "let": "LET", "choice": "CHOICE"}  # reserved: never a name
_PUNCT = {"EQ", "LBRACE", "RBRACE", "LPAR", "RPAR", "LSQB", "RSQB", "COMMA", "COLON", "PIPE", "DOT", "RANGE", "SEMI"}
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_NUMBER_RE = re.compile(r"([+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[ \t]*(.*)")
_NOTHING = object()  # BracketNewlines.built before the parser has reduced anything


class _TooDeep(Exception):
    def __init__(self, token: Token):
        self.token = token


class BracketNewlines:
    """Post-lexer: newlines inside () and [] do not end a statement; nesting is bounded.

    It also remembers which brackets and braces are open, so that an error can point at
    the one that was never closed, and the last two tokens it handed on with what the parser
    built after the last one arrived (see `_Watched`), so that an error can name the token
    before it.
    """

    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open_braces: list[Token] = []
        self.open_brackets: list[Token] = []
        self.recent: list[Token] = []
        self.built: object = _NOTHING

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.open_braces = []
        self.open_brackets = []
        self.recent = []
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
            self.recent = [*self.recent[-1:], tok]
            self.built = _NOTHING
            yield tok


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


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

    def value(self, children: Children) -> Any:
        return children[0]

    def value_only(self, children: Children) -> Any:
        return children[0]


class _Watched(Transformer[Token, Any]):
    """The builder as lark calls it on each reduction: what it builds is also noted on the
    post-lexer, so that a syntax error can tell whether the token before it still stands on
    its own (lark's value stack is not public API)."""

    def __init__(self, builder: _Build, post: BracketNewlines):
        super().__init__()
        self._builder = builder
        self._post = post

    def _note(self, built: Any) -> Any:
        self._post.built = built
        return built

    def __default__(self, data: Any, children: Children, meta: Any) -> Any:
        return self._note(self._builder.__default__(data, children, meta))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # lark asks for every rule; only the builder's own are wrapped
            raise AttributeError(name)
        method = getattr(self._builder, name)
        return lambda children: self._note(method(children))


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
            transformer=_Watched(self.builder, self.post),  # built while parsing: no recursion over deep trees
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
# The wording lives in ecgspec/syntax_errors.py; here the lark exception becomes its context.


def _tok(tok: Token) -> se.Tok:
    pos = _tok_pos("", tok)
    return se.Tok(tok.type, str(tok), pos.line, pos.col, pos.end_line, pos.end_col)


def _syntax_context(exc: UnexpectedInput | _TooDeep, lines: list[str], post: BracketNewlines) -> se.SyntaxContext:
    """What went wrong, in the terms of the rules table, from lark's public exception API."""
    common: dict[str, Any] = {
        "lines": tuple(lines),
        "open_brackets": tuple(_tok(t) for t in post.open_brackets),
        "open_braces": tuple(_tok(t) for t in post.open_braces),
    }
    if isinstance(exc, _TooDeep):
        return se.SyntaxContext("depth", token=_tok(exc.token), **common)
    if isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        parser = getattr(exc, "interactive_parser", None)  # lark sets it on errors met while parsing
        accepted = parser.accepts() if parser is not None else None
        return se.SyntaxContext(
            "char",
            expected=frozenset(accepted if accepted is not None else exc.allowed),
            allowed=frozenset(exc.allowed or ()),
            char=text[col - 1] if 0 < col <= len(text) else "?",
            line=line,
            column=col,
            line_text=text,
            **common,
        )
    assert isinstance(exc, (UnexpectedToken, UnexpectedEOF))
    tok: Token = exc.token
    # What the parser would really take next (`expected` also lists what the lexer merely
    # allows, such as newlines inside brackets).
    accepted = exc.accepts if isinstance(exc, UnexpectedToken) else None
    prev = _previous_token(exc, post)
    line = tok.line or 1
    return se.SyntaxContext(
        "eof" if tok.type == "$END" else "token",
        expected=frozenset(accepted if accepted is not None else exc.expected),
        token=_tok(tok),
        prev=_tok(prev) if prev is not None else None,
        line=line,
        column=tok.column or 1,
        line_text=lines[line - 1] if 0 < line <= len(lines) else "",
        **common,
    )


def _report_syntax_error(
    exc: UnexpectedInput | _TooDeep, path: str, lines: list[str], post: BracketNewlines, diags: Diagnostics
) -> int:
    """Turn a lark exception into one located diagnostic, worded by the rules table; return its line."""
    ctx = _syntax_context(exc, lines, post)
    rule = se.match(ctx)
    message, hint = rule.render(ctx)
    pos = _error_pos(rule.at, ctx, path)
    diags.error(pos, message, hint, code=rule.code)
    return pos.line


def _error_pos(at: se.At, ctx: se.SyntaxContext, path: str) -> Pos:
    """Where a rule's diagnostic points (see syntax_errors.At)."""
    if at == "char":
        return Pos(path, ctx.line, ctx.column, ctx.line, ctx.column + 1)
    if at == "rest_of_line":
        return Pos(path, ctx.line, ctx.column, ctx.line, max(len(ctx.line_text), ctx.column) + 1)
    if at == "first_word":
        start = len(ctx.line_text) - len(ctx.line_text.lstrip()) + 1
        return Pos(path, ctx.line, start, ctx.line, start + len(ctx.first_word))
    if at == "end":
        last = max(len(ctx.lines), 1)
        col = len(ctx.lines[-1]) + 1 if ctx.lines else 1
        return Pos(path, last, col, last, col + 1)
    t = {"opener": ctx.opener, "bracket": ctx.bracket, "prev": ctx.prev, "token": ctx.token}[at]
    assert t is not None, f"rule points at its {at}, which this error lacks"
    if t.type == "_NL" and at == "token":
        return Pos(path, t.line, t.column, t.line, t.column + 1)
    return Pos(path, t.line, t.column, t.end_line, t.end_column)


def _previous_token(exc: UnexpectedInput, post: BracketNewlines) -> Token | None:
    """The token before the unexpected one, while it still stands on its own: lark's token
    history when the lexer failed; else the token the parser shifted last, unless the parser
    has since reduced it (to a number: that number; to anything else: none)."""
    history = getattr(exc, "token_history", None)
    if history:
        return history[-1]
    built = post.built
    if built is _NOTHING:
        return post.recent[-2] if len(post.recent) > 1 else None
    if isinstance(built, s.Number):
        return Token("NUMBER", built.text, line=built.pos.line, end_line=built.pos.end_line)
    return None


_TOP_START = re.compile(r"[A-Za-z_\"]")


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
