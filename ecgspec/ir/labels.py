"""`labels`: a vocabulary and the mapping from a database's codes to it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import DataPath, Decl, Ident, Problem


class Labels(Decl):
    """Names that tasks and suites use (NORM, MI, AF …) and how source codes map onto them."""

    kind: ClassVar[str] = "labels"

    vocabulary: tuple[Annotated[str, Ident()], ...] = Field(
        (), description="the label names, in order (default: the table's labels, in the order they appear)"
    )
    map: dict[str, tuple[Annotated[str, Ident()], ...]] = Field(
        default_factory=dict, description="source code → labels"
    )
    table: Annotated[str, DataPath()] | tuple[Annotated[str, DataPath()], ...] | None = Field(
        None, description="CSV file(s) holding the mapping"
    )
    key: Annotated[str, Ident()] | None = Field(
        None, description='the table\'s code column (a column without a header name: its position, `"#1"`)'
    )
    value: Annotated[str, Ident()] | None = Field(None, description="the table's label column")
    min_likelihood: float = Field(
        0.0,
        ge=0,
        le=100,
        description="codes below this likelihood (PTB-XL: 0–100) "
        "do not count; 0 keeps all, as PTB-XL's own example does",
    )
    unknown: Literal["skip", "ignore"] = Field(
        "skip", description="a record with a code outside the mapping: skipped and reported, or the code ignored"
    )
    synonyms: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="label → words that mean it")
    descriptions: dict[str, str] = Field(default_factory=dict, description="label → its meaning in words")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        vocab = set(self.vocabulary)
        for field in () if not vocab else ("map", "synonyms", "descriptions"):
            mapping = getattr(self, field)
            targets = [t for v in mapping.values() for t in v] if field == "map" else list(mapping)
            unknown = sorted({t for t in targets if t not in vocab}, key=targets.index)
            if unknown:
                out.append(
                    (
                        field,
                        f"`{field}` names labels outside the vocabulary: {', '.join(unknown)}",
                        f"add {', '.join(unknown)} to `vocabulary`, or fix the spelling",
                        ("value" if field == "map" else "key", unknown[0]),
                    )
                )
        if self.table is not None and not (self.key and self.value):
            out.append(("table", "a label table needs `key` and `value` columns", None))
        if not self.vocabulary and self.table is None:
            out.append(
                (
                    "vocabulary",
                    "labels need a `vocabulary`, or a `table` to take it from",
                    "for example `vocabulary = [NORM, MI, STTC, CD, HYP]`",
                )
            )
        return out
