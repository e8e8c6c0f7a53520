"""What checking produces: the IR declarations, and where each of their values came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..errors import Pos
from ..ir.base import Decl

Key = tuple[str, str]


@dataclass(frozen=True)
class Origin:
    """Where a resolved value came from, for `explain`."""

    how: Literal["set", "inherited", "default", "header"]
    pos: Pos | None = None
    via: str | None = None  # "paper standard", "let seed", "-D seed=3"

    def describe(self) -> str:
        if self.how == "default":
            return "default"
        where = f" at {self.pos}" if self.pos else ""
        if self.how == "inherited":
            return f"inherited from {self.via}{where}"
        extra = f" via {self.via}" if self.via else ""
        return f"{'header' if self.how == 'header' else 'set'}{where}{extra}"


@dataclass
class Checked:
    """The result of checking a scope: IR declarations and what `explain` needs about them."""

    decls: dict[Key, Decl] = field(default_factory=dict)
    origins: dict[Key, dict[str, Origin]] = field(default_factory=dict)
    deps: dict[Key, set[Key]] = field(default_factory=dict)
    used_lets: set[str] = field(default_factory=set)
