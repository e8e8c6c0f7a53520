"""JSON exports: paths of keys (`waveform/leads`), lead objects with a name and samples."""

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
        leads = at(doc, fmt.leads or "")
        if isinstance(leads, dict):
            leads = [{"@key": k, **(v if isinstance(v, dict) else {"@value": v})} for k, v in leads.items()]
        if not isinstance(leads, list) or not leads:
            raise RecordError(path, f"no list of leads at {fmt.leads}")
        signals: dict[str, np.ndarray] = {}
        for item in leads:
            if not isinstance(item, dict):
                raise RecordError(path, f"a lead at {fmt.leads} is {type(item).__name__}, not an object")
            lead = lead_of(str(at(item, fmt.lead_name or "") or ""), fmt.lead_prefix)
            if lead is None:
                continue
            data = at(item, fmt.data or "")
            if isinstance(data, list):
                try:
                    x = np.array([float("nan") if v is None else float(v) for v in data], dtype=np.float64)
                except (TypeError, ValueError):
                    raise RecordError(path, f"lead {lead}: the samples are not all numbers") from None
            elif isinstance(data, str):
                x = decode(path, lead, data, fmt.encoding)
            else:
                raise RecordError(path, f"lead {lead} has no samples at {fmt.data}")
            unit = fmt.scale if fmt.scale is not None else 1.0
            if fmt.scale_path:
                factor = at(item, fmt.scale_path)
                if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not factor > 0:
                    raise RecordError(path, f"lead {lead}: the scale at {fmt.scale_path} is not a positive number")
                unit *= float(factor)
            signals[lead] = x * unit
        return signals, float(fs or 0), meta


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None
