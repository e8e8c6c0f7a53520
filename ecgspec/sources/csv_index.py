"""A generic source: an index CSV whose columns say where each record is and what it is.

`key` names the id column, `file` the column with each record's file under the root: a WFDB
record (a `.hea` beside it), a NumPy `.npy` array (samples × leads, in the order of `leads`),
or a CSV with a header row of lead names. `patient`, `codes` and `report` name optional
columns; `sample_rate` and `scale` say what .npy and .csv files do not.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..leads import canonical_lead
from ..records import Record, RecordError, read_wfdb
from .base import Entry, RecordRef, SourceReader
from .paths import inner_path
from .ptbxl import number
from .tables import Table, in_key_order

_SEP = re.compile(r"[,;\s]+")
MAX_SIGNAL_BYTES = 256 * 1024 * 1024


def read_array(path: Path, leads: tuple[str, ...], fs: float, scale: float) -> Record:
    """A .npy (samples × leads, or leads × samples) or a .csv with lead-name headers, in mV."""
    if not path.is_file():
        raise RecordError(path, "file not found (the index names it)")
    if path.stat().st_size > MAX_SIGNAL_BYTES:
        raise RecordError(path, "the signal file is larger than 256 MiB")
    signals: dict[str, np.ndarray] = {}
    if path.suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)  # never unpickle: the file is someone else's data
        except (ValueError, EOFError):
            raise RecordError(path, "not a NumPy array file (or a truncated one)") from None
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.number):
            raise RecordError(path, f"expected a 2-D numeric array, got {x.dtype} {x.shape}")
        if x.shape[1] != len(leads) and x.shape[0] == len(leads):
            x = x.T
        if x.shape[1] != len(leads):
            raise RecordError(path, f"the array has {x.shape[1]} columns for {len(leads)} leads ({', '.join(leads)})")
        signals = {lead: x[:, j].astype(np.float64) * scale for j, lead in enumerate(leads)}
    elif path.suffix in (".csv", ".tsv", ".txt"):
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            header = next(reader, [])
            names = [canonical_lead(h) for h in header]
            cols: list[list[float]] = [[] for _ in header]
            for line, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise RecordError(path, f"line {line} has {len(row)} cells, the header {len(header)}")
                for j, v in enumerate(row):
                    try:
                        cols[j].append(float(v))
                    except ValueError:
                        raise RecordError(path, f"line {line}, column {j + 1}: not a number") from None
        signals = {n: np.asarray(c) * scale for n, c in zip(names, cols, strict=True) if n is not None}
    else:
        raise RecordError(path, f"unknown signal file type '{path.suffix}' (expected a WFDB record, .npy or .csv)")
    return Record(id=path.stem, fs=fs, signals=signals, meta={}, source=str(path))


class TableReader(SourceReader):
    adapter = "table"

    def setup(self) -> None:
        self.table = Table(self.index_path())
        for field_ in ("key", "file", "patient", "codes", "report"):
            col = getattr(self.decl, field_)
            if col is not None and self.table.column(col) is None:
                raise self.error(
                    field_,
                    f"source '{self.name}': {self.table.path} has no column '{col}'",
                    f"its columns are {', '.join(self.table.header)}",
                )
        self.key_col = self.table.column(self.decl.key) if self.decl.key else self.table.column(self.decl.file)

    def entries(self) -> Iterator[Entry]:
        file_col = self.table.column(self.decl.file)
        used = {
            self.key_col,
            file_col,
            *(self.table.column(c) for c in (self.decl.patient, self.decl.codes, self.decl.report) if c),
        }
        for key, row in in_key_order(self.table, lambda r: r.get(self.key_col), self.skipped):
            where = f"{self.table.path}:{row.line}"
            if not key:
                self.skip(f"line {row.line}", where, "the row has no key")
                continue
            path = inner_path(self.root, row.get(file_col))
            if path is None:
                self.skip(key, where, f"{file_col} is not a file inside the root")
                continue
            if self.decl.require_files and not (path.is_file() or path.with_suffix(".hea").is_file()):
                continue
            codes = {c: 100.0 for c in _SEP.split(row.get(self.decl.codes)) if c} if self.decl.codes else {}
            meta: dict[str, Any] = {}
            for col, v in row.cells.items():
                if col not in used and v.strip():
                    n = number(v)
                    meta[col] = n if n is not None else v.strip()
            patient = row.get(self.decl.patient) or None if self.decl.patient else None
            yield Entry(
                key=key,
                path=str(path),
                patient=patient,
                codes=codes,
                report=row.get(self.decl.report) or None if self.decl.report else None,
                meta=meta,
                fields=row.cells,
            )

    def load(self, ref: RecordRef) -> Record:
        path = Path(ref.path or "")
        if (
            path.suffix in ("", ".hea", ".dat", ".mat")
            or path.with_suffix(".hea").is_file()
            and path.suffix not in (".npy", ".csv", ".tsv")
        ):
            return read_wfdb(path, leads=self.leads, within=self.confined.roots)
        if self.decl.sample_rate is None:
            raise RecordError(path, "a .npy or .csv record needs the source's `sample_rate`")
        return read_array(self.confine(path), self.leads, self.decl.sample_rate, self.decl.scale or 1.0)
