"""Record sources: databases, hospital formats and label vocabularies, declared in specs.

    reader = open_source(program, "ptbxl", data_roots=["/data"])
    for ref in reader.refs(split="test"):      # index only, in key order
        record = reader.read(ref)              # Record in mV; RecordError if broken
    reader.skipped                             # rows left out while listing, with reasons

One module per adapter (ptbxl, mimic, code15, cinc, ecgqa, table, wfdb_folder, synth,
formats/xml, formats/csv, formats/json, formats/dicom); `base.register()` adds one.
"""

from __future__ import annotations

from .base import RecordRef, SourceReader, adapters, open_source, register
from .errors import RecordError, Skipped, SourceError
from .labels import LabelSet, label_set

__all__ = [
    "LabelSet", "RecordError", "RecordRef", "Skipped", "SourceError", "SourceReader", "adapters", "label_set",
    "open_source", "register",
]
