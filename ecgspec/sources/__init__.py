"""Record sources: databases, hospital formats and label vocabularies, declared in specs.

    reader = open_source(program, "ptbxl", data_roots=["/data"])
    for ref in reader.refs(split="test"):      # index only, in key order
        record = reader.read(ref)              # Record in mV; RecordError if broken
    reader.skipped                             # rows left out while listing, with reasons

One module per adapter (ptbxl, mimic, code15, cinc, ecgqa, table, wfdb_folder, synth,
formats/xml, formats/csv, formats/json, formats/dicom); `base.register()` adds one.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import RecordRef, SourceReader, adapters, open_source, register
    from .errors import RecordError, Skipped, SourceError
    from .labels import LabelSet, label_set

# Loaded on first use: `ecgspec check` registers the `sources` command at start-up and must not
# pay for numpy and the readers then.
_HOME = {
    "RecordRef": "base",
    "SourceReader": "base",
    "adapters": "base",
    "open_source": "base",
    "register": "base",
    "RecordError": "errors",
    "Skipped": "errors",
    "SourceError": "errors",
    "LabelSet": "labels",
    "label_set": "labels",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LabelSet",
    "RecordError",
    "RecordRef",
    "Skipped",
    "SourceError",
    "SourceReader",
    "adapters",
    "label_set",
    "open_source",
    "register",
]
