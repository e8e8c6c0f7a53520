"""`format NAME from ADAPTER`: a hospital export format, declared rather than coded.

The adapter (xml, csv, json, dicom) is the code; the declaration says where the leads, the
samples, the scale and the metadata are. A new hospital format is a new block, not new Python.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Decl, Ident, Problem, Unit

FORMAT_ADAPTERS = ("xml", "csv", "json", "dicom")


class Format(Decl):
    """Where a record's leads, samples, scale and metadata sit in an export file."""

    kind: ClassVar[str] = "format"
    headers: ClassVar[dict[str, str]] = {
        "extends": "the format this one inherits from",
        "from": "the adapter that reads the file: " + ", ".join(FORMAT_ADAPTERS),
    }

    adapter: Literal["xml", "csv", "json", "dicom"] = Field(description="reader (from the `from` header)")
    files: str = Field("*", description="glob of the export files under a source's root")
    leads: str | None = Field(None, description="path to each lead's element (xml/json)")
    lead_name: str | None = Field(None, description="path, within a lead element, to its name")
    data: str | None = Field(None, description="path, within a lead element, to its samples")
    encoding: Literal["base64_int16", "base64_int16_be", "base64_float32", "text"] = Field(
        "text", description="how samples are written"
    )
    scale: Annotated[float, Unit("voltage")] | None = Field(None, gt=0, description="voltage of one unit")
    scale_path: str | None = Field(None, description="path to the per-lead scale, when it is in the file")
    fs: Annotated[float, Unit("frequency")] | None = Field(None, gt=0, description="sampling rate")
    fs_path: str | None = Field(None, description="path to the sampling rate, when it is in the file")
    namespaces: dict[str, str] = Field(default_factory=dict, description="XML namespace prefixes")
    delimiter: str = Field(",", description="column separator (csv)")
    columns: tuple[Annotated[str, Ident()], ...] = Field((), description="lead columns (csv), in order")
    meta: dict[str, str] = Field(default_factory=dict, description="metadata field → path in the file")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.adapter in ("xml", "json") and not (self.leads and self.data):
            out.append(("adapter", f"a {self.adapter} format needs `leads` and `data` paths", None))
        if self.fs is None and self.fs_path is None and self.adapter != "dicom":
            out.append(("fs", "the sampling rate is unknown", "set `fs = 500 Hz` or `fs_path = \"…\"`"))
        return out
