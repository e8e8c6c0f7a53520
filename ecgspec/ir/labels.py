"""`labels`: a vocabulary and the mapping from a database's codes to it."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from .base import DataPath, Decl, Ident, Problem


class Labels(Decl):
    """Names that tasks and suites use (NORM, MI, AF …) and how source codes map onto them."""

    kind: ClassVar[str] = "labels"

    vocabulary: tuple[Annotated[str, Ident()], ...] = Field(description="the label names, in order")
    map: dict[str, tuple[Annotated[str, Ident()], ...]] = Field(default_factory=dict, description="source code → labels")
    table: Annotated[str, DataPath()] | None = Field(None, description="a CSV holding the mapping")
    key: Annotated[str, Ident()] | None = Field(None, description="the table's code column")
    value: Annotated[str, Ident()] | None = Field(None, description="the table's label column")
    synonyms: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="label → words that mean it")
    descriptions: dict[str, str] = Field(default_factory=dict, description="label → its meaning in words")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        vocab = set(self.vocabulary)
        for field in ("map", "synonyms", "descriptions"):
            mapping = getattr(self, field)
            targets = [t for v in mapping.values() for t in v] if field == "map" else list(mapping)
            unknown = sorted({t for t in targets if t not in vocab}, key=targets.index)
            if unknown:
                out.append((field, f"`{field}` names labels outside the vocabulary: {', '.join(unknown)}",
                            f"add {', '.join(unknown)} to `vocabulary`, or fix the spelling",
                            ("value" if field == "map" else "key", unknown[0])))
        if self.table is not None and not (self.key and self.value):
            out.append(("table", "a label table needs `key` and `value` columns", None))
        return out
