"""XML exports (GE MUSE, HL7 aECG, Philips Sierra …) read through paths written in a `format`.

Paths are an XPath subset (ecgspec.xpath), parsed when the spec is checked:
`Waveform[WaveformType='Rhythm']/LeadData`, `code/@code`, `../SampleBase`, `//PatientAge`,
`/RestingECG/...`. A path inside a lead element starts there but may reach the whole document
(`..`, or an absolute path). Namespaces are ignored unless the format declares prefixes
(`namespaces = [v3: "urn:hl7-org:v3"]`), so most paths need none. Files are parsed with
defusedxml: a document that declares entities (the billion-laughs bomb) or reaches for
external files is refused with a message, never expanded.

Per lead, the stored numbers (decoded by the format's codec, ecgspec.sources.formats.codecs)
become millivolts as `x · scale + offset`: the scale is `scale` (or the unit found at
`scale_unit_path`) times the number at `scale_path`; the offset is `offset`, plus the number at
`offset_path` in the unit at `offset_unit_path` (else in stored units). A stored `invalid`
value becomes NaN first; a lead whose length differs from the one at `length_path` is refused.
One element may hold every lead (`lead_names_path`, `packing`), and a cart's residual leads
(`residual = true`) are restored from their `derive` formulas on the stored integers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import numpy as np

from ...leads import canonical_lead
from ...records import RecordError
from ...xpath import Document, PathError, evaluate, parse_formula
from .codecs import CodecError, decode
from .common import FormatReader, lead_of

# A unit written in a file (HL7 `scale/@unit`, MUSE `LeadAmplitudeUnits`) → millivolts per unit.
FILE_UNITS: dict[str, float] = {
    **dict.fromkeys(("nv", "nanovolt", "nanovolts"), 1e-6),
    **dict.fromkeys(("uv", "µv", "μv", "microvolt", "microvolts"), 1e-3),
    **dict.fromkeys(("mv", "millivolt", "millivolts"), 1.0),
    **dict.fromkeys(("v", "volt", "volts"), 1e3),
}


def parse(path: Path, keep_namespaces: bool) -> Element:
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    try:
        root = DET.parse(str(path), forbid_dtd=False, forbid_entities=True, forbid_external=True).getroot()
    except DefusedXmlException as exc:
        raise RecordError(
            path,
            f"refused: the XML declares entities or external references ({type(exc).__name__}); an export "
            "never needs them, and they are how XML bombs work",
        ) from None
    except ParseError as exc:
        # expat's own words ("not well-formed (invalid token)") and the place; never the text.
        line, col = getattr(exc, "position", (0, 0))
        what = str(exc).split(":", 1)[0].strip() if str(exc) else "malformed"
        raise RecordError(path, f"malformed XML at line {line}, column {col + 1} ({what[:60]})") from None
    except (UnicodeError, ValueError, LookupError):
        raise RecordError(path, "malformed XML (not in the encoding it declares)") from None
    if not keep_namespaces:
        for el in root.iter():
            if isinstance(el.tag, str) and el.tag.startswith("{"):
                el.tag = el.tag.split("}", 1)[1]
            if any(k.startswith("{") for k in el.attrib):
                el.attrib = {k.split("}", 1)[-1]: v for k, v in el.attrib.items()}
    return root


def select(node: Element, path: str, ns: dict[str, str]) -> list[str | Element]:
    """Elements (or strings, for a final `@name` or `text()`) at a path under node."""
    return list(Document(node, ns).select(path))


def text_at(node: Element, path: str, ns: dict[str, str]) -> str | None:
    return Document(node, ns).text(path)


class XmlReader(FormatReader):
    def _doc(self, path: Path) -> Document:
        self.check_size(path)
        return Document(parse(path, bool(self.fmt.namespaces)), self.fmt.namespaces)

    def metadata(self, path: Path) -> dict[str, Any]:
        doc = self._doc(path)
        return {k: _text(doc, path, p) for k, p in self.fmt.meta.items()}

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        fmt = self.fmt
        doc = self._doc(path)
        meta = {k: _text(doc, path, p) for k, p in fmt.meta.items()}
        fs = self._rate(doc, path)
        stored, homes = self._stored(doc, path)
        if fmt.residual and isinstance(fmt.derive, dict):
            _restore_residuals(path, stored, fmt.derive)
        signals: dict[str, np.ndarray] = {}
        for lead, x in stored.items():
            scale, offset = self._scale(doc, path, homes[lead], lead)
            signals[lead] = x * scale + offset
        return signals, float(fs or 0), meta

    def _rate(self, doc: Document, path: Path) -> float | None:
        fmt = self.fmt
        if fmt.fs_path:
            raw = _text(doc, path, fmt.fs_path)
            if raw is None:
                raise RecordError(path, f"no sampling rate at {fmt.fs_path}")
            try:
                return float(raw)
            except ValueError:
                raise RecordError(path, f"the sampling rate at {fmt.fs_path} is not a number") from None
        if fmt.interval_path:
            raw = _text(doc, path, fmt.interval_path)
            try:
                interval = float(raw) if raw is not None else 0.0
            except ValueError:
                interval = 0.0
            if not interval > 0:
                raise RecordError(path, f"the sampling interval at {fmt.interval_path} is not a positive number")
            return 1.0 / interval
        return fmt.fs

    def _stored(self, doc: Document, path: Path) -> tuple[dict[str, np.ndarray], dict[str, Element]]:
        """Each lead's stored numbers (before scale and offset), and the element it came from."""
        fmt = self.fmt
        elements = [e for e in _select(doc, path, fmt.leads or "") if not isinstance(e, str)]
        if not elements:
            raise RecordError(path, f"no lead elements at {fmt.leads}")
        stored: dict[str, np.ndarray] = {}
        homes: dict[str, Element] = {}
        for el in elements:
            for name, x in self._leads_of(doc, path, el):
                lead = lead_of(name, fmt.lead_prefix)
                if lead is None:
                    continue  # not a lead: HL7's time sequence, a marker channel
                if lead in stored:
                    raise RecordError(path, f"lead {lead} appears twice")
                self._check_length(doc, path, el, lead, x)
                if fmt.invalid is not None:
                    x = np.where(x == fmt.invalid, np.nan, x)
                stored[lead] = x
                homes[lead] = el
        return stored, homes

    def _leads_of(self, doc: Document, path: Path, el: Element) -> list[tuple[str, np.ndarray]]:
        fmt = self.fmt
        if fmt.lead_names_path:
            names = (_text(doc, path, fmt.lead_names_path, el) or "").split()
            if not names:
                raise RecordError(path, f"no lead names at {fmt.lead_names_path}")
            got = self._decode(doc, path, el, "the packed leads")
            if isinstance(got, list):
                if len(got) < len(names):
                    raise RecordError(
                        path, f"{len(names)} leads are named but the data holds {len(got)}: the file is cut short"
                    )
                return list(zip(names, got[: len(names)], strict=True))
            n = len(names)
            if got.size % n:
                raise RecordError(
                    path, f"{got.size} samples cannot be {n} leads of equal length: the file is cut short"
                )
            table = got.reshape(n, -1) if fmt.packing == "concatenated" else got.reshape(-1, n).T
            return list(zip(names, table, strict=True))
        name = _text(doc, path, fmt.lead_name, el) if fmt.lead_name else None
        if lead_of(name or "", fmt.lead_prefix) is None:
            return []
        got = self._decode(doc, path, el, f"lead {name}")
        if isinstance(got, list):
            if len(got) != 1:
                raise RecordError(path, f"lead {name}: the data holds {len(got)} leads; set `lead_names_path`")
            got = got[0]
        return [(name or "", got)]

    def _decode(self, doc: Document, path: Path, el: Element, what: str) -> np.ndarray | list[np.ndarray]:
        data = _text(doc, path, self.fmt.data or "", el)
        if data is None:
            raise RecordError(path, f"{what} has no samples at {self.fmt.data}")
        try:
            return decode(self.fmt.encoding, data)
        except CodecError as exc:
            raise RecordError(path, f"{what}: {exc}") from None

    def _check_length(self, doc: Document, path: Path, el: Element, lead: str, x: np.ndarray) -> None:
        at = self.fmt.length_path
        if not at:
            return
        raw = _text(doc, path, at, el)
        try:
            want = int(float(raw)) if raw is not None else -1
        except ValueError:
            want = -1
        if want < 0:
            raise RecordError(path, f"lead {lead}: no sample count at {at}")
        if x.size != want:
            how = "cut short" if x.size < want else "longer than it says"
            raise RecordError(path, f"lead {lead} has {x.size} samples where the file says {want}: {how}")

    def _scale(self, doc: Document, path: Path, el: Element, lead: str) -> tuple[float, float]:
        """Millivolts per stored unit, and the offset in millivolts, of one lead."""
        fmt = self.fmt
        unit = fmt.scale if fmt.scale is not None else 1.0
        if fmt.scale_unit_path:
            found = _unit(doc, path, el, fmt.scale_unit_path, lead)
            if found is None and fmt.scale is None:
                raise RecordError(path, f"lead {lead}: no unit at {fmt.scale_unit_path}")
            unit = found if found is not None else unit
        scale = unit
        if fmt.scale_path:
            factor = _number(doc, path, el, fmt.scale_path)
            if factor is None or not np.isfinite(factor) or factor <= 0:
                raise RecordError(path, f"lead {lead}: the scale at {fmt.scale_path} is not a positive number")
            scale = unit * factor
        offset = fmt.offset or 0.0
        if fmt.offset_path:
            value = _number(doc, path, el, fmt.offset_path)
            if value is None or not np.isfinite(value):
                raise RecordError(path, f"lead {lead}: the offset at {fmt.offset_path} is not a number")
            if fmt.offset_unit_path:
                ounit = _unit(doc, path, el, fmt.offset_unit_path, lead)
                if ounit is None:
                    raise RecordError(path, f"lead {lead}: no unit at {fmt.offset_unit_path}")
                offset += value * ounit
            else:
                offset += value * scale
        return scale, offset


def _select(doc: Document, path: Path, at: str, node: Element | None = None) -> list[Element | str]:
    try:
        return doc.select(at, node)
    except PathError as exc:  # checked with the spec; a format built by hand may still hold one
        raise RecordError(path, f"malformed path in the format: {exc.describe(at)}") from None


def _text(doc: Document, path: Path, at: str, node: Element | None = None) -> str | None:
    got = _select(doc, path, at, node)
    if not got:
        return None
    first = got[0]
    return first if isinstance(first, str) else (first.text or "")


def _number(doc: Document, path: Path, el: Element, at: str) -> float | None:
    raw = _text(doc, path, at, el)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _unit(doc: Document, path: Path, el: Element, at: str, lead: str) -> float | None:
    raw = _text(doc, path, at, el)
    if raw is None or not raw.strip():
        return None
    factor = FILE_UNITS.get(raw.strip().lower())
    if factor is None:
        known = "uV, nV, mV, V, MICROVOLTS"
        raise RecordError(path, f"lead {lead}: unknown unit '{raw.strip()[:20]}' at {at} (known: {known})")
    return factor


def _restore_residuals(path: Path, stored: dict[str, np.ndarray], derive: dict[str, str]) -> None:
    """Philips stores III, aVR, aVL, aVF as residuals: each lead is its formula minus the stored value,
    in the stored integers and in the order written (aVL's formula reads the restored III)."""
    for name, formula in derive.items():
        lead = canonical_lead(name) or name
        if lead not in stored:
            continue

        def value(other: str, lead: str = lead) -> np.ndarray:
            key = canonical_lead(other) or other
            if key not in stored:
                raise RecordError(path, f"lead {lead}'s formula reads lead {other}, which the file does not hold")
            return stored[key]

        total = evaluate(parse_formula(formula), value)
        stored[lead] = np.asarray(total - stored[lead], dtype=np.float64)
