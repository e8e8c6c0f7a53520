"""XML exports (GE MUSE, HL7 aECG, Philips …) read through paths written in a `format`.

Paths are ElementTree paths (`Waveform[WaveformType='Rhythm']/LeadData`), with a final
`@name` step for an attribute. Namespaces are ignored unless the format declares prefixes
(`namespaces = [v3: "urn:hl7-org:v3"]`), so most paths need none. Files are parsed with
defusedxml: a document that declares entities (the billion-laughs bomb) or reaches for
external files is refused with a message, never expanded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import numpy as np

from ...records import RecordError
from .common import FormatReader, decode, lead_of, normalise_meta


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
    """Elements (or attribute values, for a final `@name`) at a path under node."""
    elems, _, attr = path.partition("@")
    elems = elems.rstrip("/") or "."
    found = node.findall(elems, ns or None)
    if attr:
        return [v for e in found if (v := e.get(attr)) is not None]
    return list(found)


def text_at(node: Element, path: str, ns: dict[str, str]) -> str | None:
    got = select(node, path, ns)
    if not got:
        return None
    first = got[0]
    return first if isinstance(first, str) else (first.text or "")


class XmlReader(FormatReader):
    def _doc(self, path: Path) -> Element:
        self.check_size(path)
        return parse(path, bool(self.fmt.namespaces))

    def metadata(self, path: Path) -> dict[str, Any]:
        doc = self._doc(path)
        return normalise_meta({k: text_at(doc, p, self.fmt.namespaces) for k, p in self.fmt.meta.items()})

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        fmt = self.fmt
        ns = fmt.namespaces
        doc = self._doc(path)
        meta = normalise_meta({k: text_at(doc, p, ns) for k, p in fmt.meta.items()})
        fs = fmt.fs
        if fmt.fs_path:
            raw = text_at(doc, fmt.fs_path, ns)
            try:
                fs = float(raw) if raw is not None else None
            except ValueError:
                raise RecordError(path, f"the sampling rate at {fmt.fs_path} is not a number") from None
            if fs is None:
                raise RecordError(path, f"no sampling rate at {fmt.fs_path}")
        elif fmt.interval_path:
            raw = text_at(doc, fmt.interval_path, ns)
            try:
                interval = float(raw) if raw is not None else 0.0
            except ValueError:
                interval = 0.0
            if not interval > 0:
                raise RecordError(path, f"the sampling interval at {fmt.interval_path} is not a positive number")
            fs = 1.0 / interval
        signals: dict[str, np.ndarray] = {}
        elements = [e for e in select(doc, fmt.leads or "", ns) if not isinstance(e, str)]
        if not elements:
            raise RecordError(path, f"no lead elements at {fmt.leads}")
        for el in elements:
            name = text_at(el, fmt.lead_name, ns) if fmt.lead_name else None
            lead = lead_of(name or "", fmt.lead_prefix)
            if lead is None:
                continue  # not a lead: HL7's time sequence, a marker channel
            data = text_at(el, fmt.data or "", ns)
            if data is None:
                raise RecordError(path, f"lead {lead} has no samples at {fmt.data}")
            x = decode(path, lead, data, fmt.encoding)
            unit = fmt.scale if fmt.scale is not None else 1.0
            if fmt.scale_path:
                raw = text_at(el, fmt.scale_path, ns)
                try:
                    factor = float(raw) if raw is not None else float("nan")
                except ValueError:
                    factor = float("nan")
                if not np.isfinite(factor) or factor <= 0:
                    raise RecordError(path, f"lead {lead}: the scale at {fmt.scale_path} is not a positive number")
                unit *= factor
            if lead in signals:
                raise RecordError(path, f"lead {lead} appears twice")
            signals[lead] = x * unit
        return signals, float(fs or 0), meta
