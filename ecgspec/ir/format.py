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
    leads: str | None = Field(
        None, description="path to each lead's element (xml/json); `a/b/@attr` reads an attribute"
    )
    lead_name: str | None = Field(None, description="path, within a lead element, to its name")
    lead_prefix: str | None = Field(None, description="text before each lead name, removed (HL7 aECG: MDC_ECG_LEAD_)")
    data: str | None = Field(None, description="path, within a lead element, to its samples")
    encoding: Literal["base64_int16", "base64_int16_be", "base64_float32", "text"] = Field(
        "text", description="how samples are written"
    )
    scale: Annotated[float, Unit("voltage")] | None = Field(
        None, gt=0, description="voltage of one unit; with `scale_path`, of one unit of the number found there"
    )
    scale_path: str | None = Field(None, description="path, within a lead element, to the per-lead scale")
    fs: Annotated[float, Unit("frequency")] | None = Field(None, gt=0, description="sampling rate")
    fs_path: str | None = Field(None, description="path to the sampling rate (Hz), when it is in the file")
    interval_path: str | None = Field(
        None, description="path to the sampling interval in seconds, when the file gives that instead (HL7 aECG)"
    )
    namespaces: dict[str, str] = Field(default_factory=dict, description="XML namespace prefixes")
    delimiter: str = Field(",", description="column separator (csv)")
    columns: tuple[Annotated[str, Ident()], ...] = Field(
        (), description="lead columns (csv), in order; default: every column whose header is a lead name"
    )
    header: bool = Field(True, description="the first row names the columns (csv)")
    derive: bool = Field(
        False, description="compute III, aVR, aVL, aVF from I and II when the file lacks them (GE MUSE stores 8 leads)"
    )
    meta: dict[str, str] = Field(default_factory=dict, description="metadata field → path in the file")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.adapter in ("xml", "json") and not (self.leads and self.data):
            out.append(("adapter", f"a {self.adapter} format needs `leads` and `data` paths", None))
        if self.fs is None and self.fs_path is None and self.interval_path is None and self.adapter != "dicom":
            out.append(("fs", "the sampling rate is unknown", 'set `fs = 500 Hz` or `fs_path = "…"`'))
        if self.adapter == "csv" and not self.header and not self.columns:
            out.append(
                (
                    "columns",
                    "a csv format without a header row needs `columns`, the leads in order",
                    "for example `columns = [I, II, III]`",
                )
            )
        if len(self.delimiter) != 1:
            out.append(("delimiter", "the delimiter is one character", 'for example `delimiter = ";"` or `"\\t"`'))
        return out
