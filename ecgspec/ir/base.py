"""Foundations of the IR: the base classes, the value markers and the distributions.

An IR class is a declaration: its fields *are* the settings of a block, and the markers in
their `Annotated` types tell the checker what may be written there (a speed in mm/s, a
reference to a paper, a lead name, a Jinja template). The checker, `explain`, the formatter's
docs and the language reference all read these classes; nothing else lists settings.

All numbers are stored in canonical units (ecgspec.units): mm, s, Hz, mm/s, mm/mV, mV, deg,
dpi, px, and fractions for percentages.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field


class Node(BaseModel):
    """Frozen, strict IR node with a content hash that ignores formatting and comments."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def canonical_json(self) -> str:
        return json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


# ---- markers: what may be written for a field ------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A quantity of one dimension (ecgspec.units.DIMENSIONS), stored in canonical units.
    `prefer` is the unit that hints suggest, when it is not the canonical one (`bpm`)."""

    dimension: str
    prefer: str | None = None


@dataclass(frozen=True)
class Probability:
    """A probability or share: `0.3` or `30%`, between 0 and 1."""


@dataclass(frozen=True)
class RefTo:
    """The name of a declaration of the given kind(s)."""

    kinds: tuple[str, ...]

    def __init__(self, *kinds: str):
        object.__setattr__(self, "kinds", kinds)


@dataclass(frozen=True)
class Lead:
    """An ECG lead name in any usual spelling (AVR, avr, aVR), stored canonically."""


@dataclass(frozen=True)
class Colour:
    """`#rgb`, `#rrggbb`, `#rrggbbaa` or a CSS colour name, stored as `#rrggbb[aa]`."""


@dataclass(frozen=True)
class Ident:
    """A free identifier: a column name, a label, a split name. A string is accepted too."""


@dataclass(frozen=True)
class Template:
    """A Jinja template string, checked for syntax when the spec is checked."""


@dataclass(frozen=True)
class TemplateFile:
    """A template file, relative to the templates root; must not leave it."""


@dataclass(frozen=True)
class DataPath:
    """A path to data (a database root, an index file). Not read by the checker."""


@dataclass(frozen=True)
class XmlPath:
    """A path into an export file. In an xml format it is an XPath subset (child steps, `@attr`,
    `text()`, `..`, `//`, `[name='v']`, `[@a='v']`, `[n]`), parsed when the spec is checked
    (ecgspec.xpath); other adapters read it as their own key path."""


@dataclass(frozen=True)
class Expr:
    """A dotted name evaluated per record, such as `record.rhythm`."""


@dataclass(frozen=True)
class Folds:
    """A split part: fold numbers (`1..8`, `[9]`, `10`) or a share (`80%`)."""


# ---- distributions: randomness is written, never implied --------------------------------------


class Uniform(Node):
    """`uniform(a, b)`: any value between a and b, evenly."""

    dist: Literal["uniform"] = "uniform"
    lo: float
    hi: float


class Normal(Node):
    """`normal(mu, sigma)`: a normal draw, optionally clipped to `lo..hi`."""

    dist: Literal["normal"] = "normal"
    mu: float
    sigma: float = Field(ge=0)
    lo: float | None = None
    hi: float | None = None


class LogNormal(Node):
    """`lognormal(mu, sigma)`: exp of a normal draw; mu and sigma on the log scale."""

    dist: Literal["lognormal"] = "lognormal"
    mu: float
    sigma: float = Field(ge=0)


class Span(Node):
    """`a..b`: for a whole-number setting each integer from a to b alike, else uniform on [a, b]."""

    dist: Literal["range"] = "range"
    lo: float
    hi: float
    integer: bool


class Choice(Node):
    """`choice[a: 0.6, b: 0.4]`: one option per item, by weight (weights sum to 1)."""

    dist: Literal["choice"] = "choice"
    options: tuple[Any, ...]
    weights: tuple[float, ...]


Distribution = Uniform | Normal | LogNormal | Span | Choice
DISTRIBUTIONS: tuple[type[Node], ...] = (Uniform, Normal, LogNormal, Span, Choice)

# Common field shapes.
LeadName = Annotated[str, Lead()]
LeadMatrix = tuple[tuple[LeadName, ...], ...]
ColourHex = Annotated[str, Colour()]


# (field, message, hint) or (field, message, hint, where): `where` points into the written value
# of the field, e.g. ("row", 1), ("item", 0, 2), ("value", "AF"); see ecgspec.check.construct.locate.
Problem = tuple[Any, ...]


class Statement(Node):
    """A step written in a block (`rotate uniform(-3 deg, 3 deg) p = 0.5`).

    `positional` names the parameters that may be given without their name, in order.
    A statement that takes a block (`task NAME { ... }`) fills its own fields from it.
    """

    keyword: ClassVar[str] = ""
    positional: ClassVar[tuple[str, ...]] = ()
    statements: ClassVar[dict[str, type[Statement]]] = {}
    takes_block: ClassVar[bool] = False
    open_block: ClassVar[str | None] = None  # a dict field that takes any `key = value` of the block


class Decl(Node):
    """A top-level declaration: `KIND NAME [extends BASE] [from ADAPTER] { ... }`."""

    kind: ClassVar[str] = ""
    statements: ClassVar[dict[str, type[Statement]]] = {}
    headers: ClassVar[dict[str, str]] = {"extends": "the declaration this one inherits from"}
    open_block: ClassVar[str | None] = None
    # Settings that say where or how fast something runs, not what it makes (a server's URL, its
    # concurrency): left out of the content hash, so pointing a build at another server redoes nothing.
    volatile: ClassVar[frozenset[str]] = frozenset()

    name: str

    def canonical_json(self) -> str:
        if not self.volatile:
            return super().canonical_json()
        data = self.model_dump(mode="json", by_alias=True, exclude=set(self.volatile))
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def problems(self) -> list[Problem]:
        """Checks across fields, run once every field is valid on its own."""
        return []


_T = TypeVar("_T")
# The type of a setting that may be fixed or drawn per item: `Varying[T]` is T or a distribution of it.
Varying = Union[_T, Uniform, Normal, LogNormal, Span, Choice]  # noqa: UP007 (a generic alias: `|` cannot take a TypeVar here)


Prob = Annotated[float, Probability()]
