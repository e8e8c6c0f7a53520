"""JSON exports: paths of keys (`waveform/leads`), lead objects with a name and samples.

Leads come as a list of objects (`"leads": [{"name": "I", "samples": [...]}]`, with `lead_name`
and `data` paths within each) or, with `leads_as_keys = true`, as one object whose keys are the
lead names (`"leads": {"I": [...], "II": [...]}`; `data`, when set, is the path to the samples
within each value). Scale: `scale` times the per-lead number at `scale_path` times the one
number for the whole record at `doc_scale_path` (from the document root).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...records import RecordError
from .common import FormatReader, decode, lead_of, normalise_meta


def at(node: Any, path: str) -> Any:
    for step in [s for s in path.split("/") if s]:
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


class JsonReader(FormatReader):
    def _doc(self, path: Path) -> Any:
        self.check_size(path)
        try:
            with path.open("rb") as f:
                return json.load(f)
        except json.JSONDecodeError as exc:  # the place, never the text
            raise RecordError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}") from None
        except (ValueError, RecursionError):
            raise RecordError(path, "malformed JSON (not UTF-8, or nested too deeply)") from None

    def metadata(self, path: Path) -> dict[str, Any]:
        doc = self._doc(path)
        return normalise_meta({k: _scalar(at(doc, p)) for k, p in self.fmt.meta.items()})

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        fmt = self.fmt
        doc = self._doc(path)
        meta = normalise_meta({k: _scalar(at(doc, p)) for k, p in fmt.meta.items()})
        fs: Any = fmt.fs
        if fmt.fs_path:
            fs = at(doc, fmt.fs_path)
            if not isinstance(fs, (int, float)) or isinstance(fs, bool):
                raise RecordError(path, f"the sampling rate at {fmt.fs_path} is not a number")
        doc_unit = 1.0
        if fmt.doc_scale_path:
            factor = at(doc, fmt.doc_scale_path)
            if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not 0 < factor < float("inf"):
                raise RecordError(path, f"the scale at {fmt.doc_scale_path} is not a positive number")
            doc_unit = float(factor)
        found = at(doc, fmt.leads or "")
        items: list[tuple[str, Any]] = []
        if fmt.leads_as_keys:
            if not isinstance(found, dict) or not found:
                raise RecordError(path, f"no object of leads at {fmt.leads} (leads_as_keys: one key per lead)")
            items = [(str(k), v) for k, v in found.items()]
        else:
            if isinstance(found, dict):
                raise RecordError(
                    path, f"the leads at {fmt.leads} are an object, not a list: is `leads_as_keys = true` meant?"
                )
            if not isinstance(found, list) or not found:
                raise RecordError(path, f"no list of leads at {fmt.leads}")
            for item in found:
                if not isinstance(item, dict):
                    raise RecordError(path, f"a lead at {fmt.leads} is {type(item).__name__}, not an object")
                items.append((str(at(item, fmt.lead_name or "") or ""), item))
        signals: dict[str, np.ndarray] = {}
        for name, item in items:
            lead = lead_of(name, fmt.lead_prefix)
            if lead is None:
                continue
            if fmt.data:
                data = at(item, fmt.data) if isinstance(item, dict) else None
            else:  # leads_as_keys without `data`: the value is the samples
                data = item
            if isinstance(data, list):
                try:
                    x = np.array([float("nan") if v is None else float(v) for v in data], dtype=np.float64)
                except (TypeError, ValueError):
                    raise RecordError(path, f"lead {lead}: the samples are not all numbers") from None
            elif isinstance(data, str):
                x = decode(path, lead, data, fmt.encoding)
            else:
                raise RecordError(path, f"lead {lead} has no samples at {fmt.data}")
            unit = (fmt.scale if fmt.scale is not None else 1.0) * doc_unit
            if fmt.scale_path:
                factor = at(item, fmt.scale_path) if isinstance(item, dict) else None
                if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not factor > 0:
                    raise RecordError(path, f"lead {lead}: the scale at {fmt.scale_path} is not a positive number")
                unit *= float(factor)
            if lead in signals:
                raise RecordError(path, f"lead {lead} appears twice")
            signals[lead] = x * unit
        return signals, float(fs or 0), meta


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None
