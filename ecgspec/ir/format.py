"""`format NAME from ADAPTER`: a hospital export format, declared rather than coded.

The adapter (xml, csv, json, dicom) is the code; the declaration says where the leads, the
samples, the scale and the metadata are. A new hospital format is a new block, not new Python.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .base import Decl, Ident, Problem, Unit, XmlPath

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
    leads: Annotated[str, XmlPath()] | None = Field(
        None, description="path to each lead's element (xml/json); `a/b/@attr` reads an attribute"
    )
    lead_name: Annotated[str, XmlPath()] | None = Field(None, description="path, within a lead element, to its name")
    lead_prefix: str | None = Field(None, description="text before each lead name, removed (HL7 aECG: MDC_ECG_LEAD_)")
    data: Annotated[str, XmlPath()] | None = Field(None, description="path, within a lead element, to its samples")
    encoding: Literal["base64_int16", "base64_int16_be", "base64_int32", "base64_float32", "text", "xli"] = Field(
        "text", description="how samples are written (the codecs of ecgspec.sources.formats.codecs; xli: Philips)"
    )
    scale: Annotated[float, Unit("voltage")] | None = Field(
        None, gt=0, description="voltage of one unit; with `scale_path`, of one unit of the number found there"
    )
    scale_path: Annotated[str, XmlPath()] | None = Field(
        None, description="path, within a lead element, to the per-lead scale"
    )
    fs: Annotated[float, Unit("frequency")] | None = Field(None, gt=0, description="sampling rate")
    fs_path: Annotated[str, XmlPath()] | None = Field(
        None, description="path to the sampling rate (Hz), when it is in the file"
    )
    interval_path: Annotated[str, XmlPath()] | None = Field(
        None, description="path to the sampling interval in seconds, when the file gives that instead (HL7 aECG)"
    )
    namespaces: dict[str, str] = Field(default_factory=dict, description="XML namespace prefixes")
    delimiter: str = Field(",", description="column separator (csv)")
    columns: tuple[Annotated[str, Ident()], ...] = Field(
        (), description="lead columns (csv), in order; default: every column whose header is a lead name"
    )
    header: bool = Field(True, description="the first row names the columns (csv)")
    derive: bool | dict[str, str] = Field(
        False,
        description="compute III, aVR, aVL, aVF from I and II when the file lacks them (GE MUSE stores 8 leads); "
        'or formulas over other leads: `[III: "II - I", aVR: "-(I + II)/2"]` (+ - * / // and parentheses)',
    )
    meta: dict[str, str] = Field(default_factory=dict, description="metadata field → path in the file")
    # ---- issue 15, part two: typed metadata, DICOM groups, CSV preambles, JSON lead keys ----
    meta_types: dict[str, Literal["number", "text"]] = Field(
        default_factory=dict,
        description="metadata field → `number` or `text`; a field not named here stays the text of the file "
        "(a patient id '0000989' keeps its zeros)",
    )
    group: int | Annotated[str, Ident()] | None = Field(
        None,
        description='DICOM waveform multiplex group: its MultiplexGroupLabel (`"RHYTHM"`, any case) or its '
        "index from 0; default: the group labelled RHYTHM, else the longest",
    )
    skip: int = Field(0, ge=0, description="lines before the header row (csv): a vendor's preamble")
    rate_pattern: str | None = Field(
        None,
        description="regex with one group, searched in the skipped lines (csv), whose match is the sampling "
        'rate in Hz: `"Sampling Rate \\\\(Hz\\\\): (\\\\d+)"`',
    )
    gain_pattern: str | None = Field(
        None,
        description="regex with one group, searched in the skipped lines (csv), whose match is the gain: stored "
        "units per `scale` (per mV without one); samples are divided by it",
    )
    leads_as_keys: bool = Field(
        False,
        description='the object at `leads` has one key per lead (json): `{"I": [...], "II": [...]}`; '
        "`data`, if set, is the path to the samples within each value",
    )
    doc_scale_path: str | None = Field(
        None, description="path, from the document root, to one scale for every lead (json), times `scale`"
    )

    # ---- issue 15, part two: the XML family (units, offsets, invalid samples, packed leads) ----
    scale_unit_path: Annotated[str, XmlPath()] | None = Field(
        None,
        description="path to the unit of the number at `scale_path` (`uV`, `nV`, `mV`, `MICROVOLTS`…), "
        "anywhere in the document; `scale` is then used only when the file has no unit there",
    )
    offset: Annotated[float, Unit("voltage")] | None = Field(
        None, description="voltage added to every sample after scaling (a constant baseline)"
    )
    offset_path: Annotated[str, XmlPath()] | None = Field(
        None,
        description="path to a per-lead offset (HL7 `origin`); in the unit at `offset_unit_path`, "
        "else in stored units (counts, scaled like the samples)",
    )
    offset_unit_path: Annotated[str, XmlPath()] | None = Field(
        None, description="path to the unit of the number at `offset_path` (HL7 `value/origin/@unit`)"
    )
    invalid: float | None = Field(
        None,
        description="stored value that marks a missing sample (`32767`); such samples become NaN and are "
        "filled in or refused by the record's missing-sample rule",
    )
    length_path: Annotated[str, XmlPath()] | None = Field(
        None,
        description="path to each lead's expected number of samples (MUSE `LeadSampleCountTotal`); a lead "
        "of another length is refused",
    )
    lead_names_path: Annotated[str, XmlPath()] | None = Field(
        None,
        description="path, within one element holding every lead, to their space-separated names "
        "(Philips `@leadlabels`); the leads are then packed in that element's samples",
    )
    packing: Literal["concatenated", "interleaved"] = Field(
        "concatenated",
        description="with `lead_names_path`: leads one after another, or sample by sample (ignored by "
        "codecs that store leads apart, such as xli)",
    )
    residual: bool = Field(
        False,
        description="the file stores the `derive` leads as residuals (Philips): each lead is its formula "
        "minus the stored value, computed on the stored integers before scaling",
    )

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if self.adapter in ("xml", "json") and not (self.leads and (self.data or self.leads_as_keys)):
            out.append(("adapter", f"a {self.adapter} format needs `leads` and `data` paths", None))
        if (
            self.fs is None
            and self.fs_path is None
            and self.interval_path is None
            and self.rate_pattern is None
            and self.adapter != "dicom"
        ):
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
        out.extend(self._part_two_problems())
        out.extend(self._xml_family_problems())
        return out

    def _part_two_problems(self) -> list[Problem]:
        """Issue 15's settings: each belongs to one adapter; patterns compile and have one group."""
        out: list[Problem] = []
        own = {
            "group": "dicom",
            "skip": "csv",
            "rate_pattern": "csv",
            "gain_pattern": "csv",
            "leads_as_keys": "json",
            "doc_scale_path": "json",
        }
        for name, adapter in own.items():
            if name in self.model_fields_set and self.adapter != adapter:
                out.append((name, f"`{name}` is a setting of {adapter} formats, not of {self.adapter}", None))
        if self.leads_as_keys and self.lead_name:
            out.append(("lead_name", "with `leads_as_keys` the keys are the lead names; `lead_name` is not read", None))
        if isinstance(self.group, int) and self.group < 0:
            out.append(("group", "a waveform group's index counts from 0", 'or name it: `group = "RHYTHM"`'))
        patterns: list[tuple[str, str | None, Any]] = [
            (f, getattr(self, f), None) for f in ("rate_pattern", "gain_pattern")
        ]
        if self.adapter == "csv":  # a csv format's `meta` values are patterns over the skipped lines
            patterns += [("meta", p, ("value", p)) for p in self.meta.values()]
        for name, pattern, where in patterns:
            if pattern is None:
                continue
            try:
                groups = re.compile(pattern).groups
            except re.error as exc:
                out.append((name, f"the pattern does not compile: {exc.msg} at {exc.pos}", None, where))
                continue
            if groups != 1:
                out.append(
                    (
                        name,
                        f"the pattern has {groups} groups; it needs one, around the value",
                        "for example `(\\d+)`",
                        where,
                    )
                )
        if (self.rate_pattern or self.gain_pattern or (self.adapter == "csv" and self.meta)) and not self.skip:
            out.append(
                ("skip", "patterns are searched in the lines before the header, and `skip` is 0", "set `skip = N`")
            )
        if self.adapter != "dicom":  # DICOM's fields are its own attributes
            for key in self.meta_types:
                if key not in self.meta:
                    out.append(("meta_types", f"'{key}' is not a `meta` field", None, ("key", key)))
        return out

    def _xml_family_problems(self) -> list[Problem]:
        """XML paths parse (the subset of ecgspec.xpath); `derive` formulas parse and
        name leads; the XML-family settings belong to xml formats."""
        from ..leads import canonical_lead
        from ..xpath import PathError, check_path, formula_leads, parse_formula

        out: list[Problem] = []
        mine = ("scale_unit_path", "offset_path", "offset_unit_path", "length_path", "lead_names_path", "packing")
        for name in mine:
            if name in self.model_fields_set and self.adapter != "xml":
                out.append((name, f"`{name}` is a setting of xml formats, not of {self.adapter}", None))
        if self.adapter == "xml":
            for name, info in type(self).model_fields.items():
                value = getattr(self, name)
                if isinstance(value, str) and any(isinstance(m, XmlPath) for m in _markers(info.annotation)):
                    why = check_path(value, elements=name == "leads")
                    if why is not None:
                        out.append((name, f"malformed path: {why}", _PATH_HINT))
            for key, value in self.meta.items():
                why = check_path(value)
                if why is not None:
                    out.append(("meta", f"`{key}`: malformed path: {why}", _PATH_HINT, ("value", value)))
            if self.encoding == "xli" and not self.lead_names_path:
                out.append(("encoding", "xli stores every lead in one element: set `lead_names_path`", None))
        if isinstance(self.derive, dict):
            known: set[str] = set()
            for lead, formula in self.derive.items():
                canonical = canonical_lead(lead)
                if canonical is None:
                    out.append(("derive", f"'{lead}' is not a lead name", None, ("key", lead)))
                    continue
                try:
                    tree = parse_formula(formula)
                except PathError as exc:
                    out.append(
                        ("derive", f"{lead}: malformed formula: {exc.describe(formula)}", None, ("value", formula))
                    )
                    continue
                for used in formula_leads(tree):
                    if canonical_lead(used) is None:
                        out.append(("derive", f"{lead}: '{used}' is not a lead name", None, ("value", formula)))
                known.add(canonical)
        elif self.residual:
            out.append(("residual", '`residual` needs `derive` formulas: [III: "II - I", …]', None))
        return out


_PATH_HINT = "paths are child steps a/b, @attr, text(), .., //, [name='v'], [@a='v'], [n]"


def _markers(annotation: Any) -> list[Any]:
    """The markers in a field's type, through `X | None` and `Annotated`."""
    import typing

    out: list[Any] = []
    for arg in (annotation, *typing.get_args(annotation)):
        out.extend(getattr(arg, "__metadata__", ()))
    return out
