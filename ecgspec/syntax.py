"""Syntax tree of a .ecg file: plain declarations, one class per construct, each located.

The parser builds these; the resolver and checker read them; the formatter prints them back.
They hold what was written (numbers keep their text and unit), not what it means: meaning
lives in the IR (ecgspec/ir), which has no positions and no formatting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Pos


@dataclass(frozen=True, slots=True)
class Word:
    """A name as written: a declaration kind, a setting key, a reference."""

    text: str
    pos: Pos


# ---- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    unit: str | None  # as written, normalised spelling (`uV` and `µV` stay distinct here)
    text: str  # digits as written, for the formatter
    pos: Pos


@dataclass(frozen=True, slots=True)
class String:
    value: str
    long: bool  # written with triple quotes
    pos: Pos


@dataclass(frozen=True, slots=True)
class Colour:
    hex: str  # as written, with the leading '#'
    pos: Pos


@dataclass(frozen=True, slots=True)
class Ref:
    """A name in value position (`aged`, `II`, `record.rhythm`, `true`)."""

    parts: tuple[str, ...]
    pos: Pos

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Range:
    lo: Number
    hi: Number
    pos: Pos


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a list: a value, or `key: value` (weights of a choice, pairs of a map)."""

    value: Value
    weight: Value | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class ListValue:
    """`[a, b]`, or a matrix `[a, b | c, d]` when it has more than one row."""

    rows: tuple[tuple[Item, ...], ...]
    pos: Pos

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for row in self.rows for i in row)

    @property
    def is_matrix(self) -> bool:
        return len(self.rows) > 1


@dataclass(frozen=True, slots=True)
class Choice:
    """`choice[a: 0.6, b: 0.4]`: a weighted choice drawn per item."""

    items: ListValue
    pos: Pos


@dataclass(frozen=True, slots=True)
class KwArg:
    key: Word
    value: Value
    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    """`uniform(a, b)`, `normal(mu, sigma)`: a distribution."""

    func: Word
    args: tuple[Value | KwArg, ...]
    pos: Pos


Value = Number | String | Colour | Ref | Range | ListValue | Choice | Call


# ---- structure ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """`key = value`: order does not matter."""

    key: Word
    value: Value
    pos: Pos


@dataclass(frozen=True, slots=True)
class Statement:
    """`head term term ... [{ block }] [kw = v ...]`: a step, kept in written order."""

    head: Word
    terms: tuple[Value | KwArg, ...]
    block: Block | None
    pos: Pos


Entry = Setting | Statement


@dataclass(frozen=True, slots=True)
class Block:
    entries: tuple[Entry, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Header:
    """`extends BASE`, `from ADAPTER`, `version "1.0"` in a declaration's head."""

    word: Word
    value: Word | String
    pos: Pos


@dataclass(frozen=True, slots=True)
class Decl:
    """`KIND NAME [extends BASE] [from ADAPTER] [version "V"] { ... }`."""

    kind: Word
    name: Word  # a string name (`layout "4x3"`) is kept as a Word with quoted=True
    quoted: bool
    headers: tuple[Header, ...]
    body: Block
    pos: Pos

    def header(self, word: str) -> Header | None:
        return next((h for h in self.headers if h.word.text == word), None)


@dataclass(frozen=True, slots=True)
class Import:
    path: String
    pos: Pos


@dataclass(frozen=True, slots=True)
class Let:
    name: Word
    value: Value
    pos: Pos


TopLevel = Import | Let | Decl


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    pos: Pos


@dataclass(frozen=True)
class Module:
    """One parsed file. `comments` are kept apart for the formatter."""

    path: str
    items: tuple[TopLevel, ...]
    comments: tuple[Comment, ...] = field(default=())
    text: str = ""
