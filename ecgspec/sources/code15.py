"""CODE-15%: exams.csv and tracings in exams_part*.hdf5.

Each HDF5 part holds `exam_id` (N) and `tracings` (N × 4096 × 12): 10 s (or 7 s) at 400 Hz,
zero-padded on both sides to 4096 samples, leads DI, DII, DIII, aVR, aVL, aVF, V1–V6. exams.csv
gives per exam the patient, age, sex (is_male), six abnormality columns (1dAVb, RBBB, LBBB, SB,
ST, AF), normal_ecg, and the HDF5 file (trace_file). Reading opens the one file and slices one
row: memory does not grow with the number of exams.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from ..leads import STANDARD_12
from ..records import Record, RecordError
from .base import Entry, RecordRef, SourceReader
from .paths import inner_path
from .ptbxl import number
from .tables import Table, in_key_order

LABEL_COLUMNS = ("1dAVb", "RBBB", "LBBB", "SB", "ST", "AF")
TRUE = {"true", "1", "1.0", "yes"}
FALSE = {"false", "0", "0.0", "no", ""}


@lru_cache(maxsize=32)
def _exam_rows(path: str, mtime: float) -> tuple[np.ndarray, np.ndarray]:
    """exam ids of one HDF5 part, sorted, with their rows (one small array per file)."""
    import h5py

    with h5py.File(path, "r") as f:
        ids = np.asarray(f["exam_id"][:], dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    return ids[order], order


def strip_padding(x: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Samples × leads without the rows of zeros that pad both ends."""
    nonzero = np.flatnonzero(np.any(x != 0, axis=1))
    if nonzero.size == 0:
        return x[:0], 0, len(x)
    lo, hi = int(nonzero[0]), int(nonzero[-1]) + 1
    return x[lo:hi], lo, len(x) - hi


class Code15Reader(SourceReader):
    adapter = "code15"
    default_index = "exams.csv"

    def setup(self) -> None:
        self.table = Table(self.index_path())
        for col in ("exam_id", "trace_file"):
            if col not in self.table.header:
                raise self.error(
                    "index" if self.decl.index else "root",
                    f"source '{self.name}': {self.table.path} has no column '{col}'; is it CODE-15%'s exams.csv?",
                )

    def entries(self) -> Iterator[Entry]:
        patient_col = self.decl.patient or "patient_id"
        for key, row in in_key_order(self.table, lambda r: r.get("exam_id"), self.skipped):
            where = f"{self.table.path}:{row.line}"
            if not key.isdigit():
                self.skip(f"line {row.line}", where, "exam_id is not a number")
                continue
            path = inner_path(self.root, row.get("trace_file"))
            if path is None:
                self.skip(key, where, "trace_file is not a file inside the database")
                continue
            if self.decl.records and not path.match(self.decl.records):
                continue
            if self.decl.require_files and not path.is_file():
                continue
            codes: dict[str, float] = {}
            bad = None
            for col in (*LABEL_COLUMNS, "normal_ecg"):
                v = row.get(col).lower()
                if v in TRUE:
                    codes[col] = 100.0
                elif v not in FALSE:
                    bad = f"column {col} is neither True nor False"
            if bad:
                self.skip(key, where, bad)
                continue
            meta: dict[str, Any] = {"exam_id": int(key)}
            if (age := number(row.get("age"))) is not None:
                meta["age"] = age
            male = row.get("is_male").lower()
            if male in TRUE or male in FALSE - {""}:
                meta["sex"] = "Male" if male in TRUE else "Female"
            meta["normal_ecg"] = "normal_ecg" in codes
            patient = number(row.get(patient_col))
            yield Entry(
                key=key,
                path=str(path),
                patient=str(patient) if patient is not None else None,
                codes=codes,
                meta=meta,
                fields=row.cells,
                locator=int(key),
            )

    def load(self, ref: RecordRef) -> Record:
        import h5py

        path = self.confine(ref.path or "")
        if not path.is_file():
            raise RecordError(path, "file not found (exams.csv names it)")
        try:
            ids, rows = _exam_rows(str(path), path.stat().st_mtime)
        except (OSError, KeyError, ValueError, TypeError):
            raise RecordError(path, "not a readable CODE-15% HDF5 part (with an exam_id dataset)") from None
        i = int(np.searchsorted(ids, ref.locator))
        if i >= len(ids) or ids[i] != ref.locator:
            raise RecordError(path, f"holds no exam {ref.key}")
        try:
            with h5py.File(path, "r") as f:
                tr = f["tracings"]
                if tr.ndim != 3 or tr.shape[2] != 12:
                    raise RecordError(path, f"tracings has shape {tr.shape}, expected N × samples × 12")
                x = np.asarray(tr[int(rows[i])], dtype=np.float64)  # one exam: a 4096 × 12 slice
        except RecordError:
            raise
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise RecordError(path, f"cannot read tracings of exam {ref.key} ({type(exc).__name__})") from None
        x, lead_pad, trail_pad = strip_padding(x)
        if len(x) < 2:
            raise RecordError(path, f"exam {ref.key} is all zeros")
        scale = self.decl.scale or 1.0
        fs = self.decl.sample_rate or 400.0
        signals = {lead: x[:, j] * scale for j, lead in enumerate(STANDARD_12)}
        return Record(id=ref.key, fs=fs, signals=signals, meta={"padding": [lead_pad, trail_pad]}, source=str(path))
