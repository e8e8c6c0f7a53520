"""MIMIC-IV-ECG: record_list.csv, machine_measurements.csv and WFDB records under files/.

The key is the study_id, the patient the subject_id. The machine's statements report_0 …
report_17 are joined into one report; its fiducial points (p_onset, qrs_onset, qrs_end, t_end,
in ms from the start of the beat) become intervals: PR = qrs_onset − p_onset, QRS = qrs_end −
qrs_onset, QT = t_end − qrs_onset, QTc by Bazett; the heart rate is 60000 / rr_interval.
MIMIC writes 29999 (and more) where the machine measured nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..records import Record, read_wfdb
from .base import Entry, RecordRef, SourceReader
from .paths import inner_path
from .ptbxl import number
from .tables import Lookup, Row, Table, in_key_order

NOT_MEASURED = 29999


def _value(row: Row, column: str) -> float | None:
    v = number(row.get(column))
    return None if v is None or abs(v) >= NOT_MEASURED else float(v)


def measurements(row: Row) -> dict[str, Any]:
    """Normalised names and units (ms, bpm, deg) from a machine_measurements.csv row."""
    out: dict[str, Any] = {}
    rr = _value(row, "rr_interval")
    if rr and rr > 0:
        out["rr"] = rr
        out["heart_rate"] = round(60000.0 / rr, 1)
    p_on, qrs_on, qrs_end, t_end = (_value(row, c) for c in ("p_onset", "qrs_onset", "qrs_end", "t_end"))
    if p_on is not None and qrs_on is not None and qrs_on > p_on:
        out["pr"] = qrs_on - p_on
    if qrs_on is not None and qrs_end is not None and qrs_end > qrs_on:
        out["qrs"] = qrs_end - qrs_on
    if qrs_on is not None and t_end is not None and t_end > qrs_on:
        out["qt"] = t_end - qrs_on
        if rr:
            out["qtc"] = round(out["qt"] / math.sqrt(rr / 1000.0), 1)
    for axis in ("p_axis", "qrs_axis", "t_axis"):
        v = _value(row, axis)
        if v is not None:
            out[axis] = v
    return out


def report(row: Row) -> str | None:
    parts = [row.get(f"report_{i}") for i in range(18)]
    text = " ".join(p.rstrip(".").strip() + "." for p in parts if p)
    return text or None


class MimicReader(SourceReader):
    adapter = "mimic"
    default_index = "record_list.csv"

    def setup(self) -> None:
        self.table = Table(self.index_path())
        for col in ("study_id", "subject_id", "path"):
            if col not in self.table.header:
                raise self.error(
                    "index" if self.decl.index else "root",
                    f"source '{self.name}': {self.table.path} has no column '{col}'; "
                    "is it MIMIC-IV-ECG's record_list.csv?",
                )
        rel = self.decl.measurements or "machine_measurements.csv"
        path = self.root / rel
        self.lookup: Lookup | None = None
        if self.decl.measurements is not None or path.is_file():
            mtable = Table(
                self.path("measurements" if self.decl.measurements else "root", str(path), must_exist="file")
            )
            self.lookup = Lookup(mtable, lambda r: r.get("study_id") or None)

    def entries(self) -> Iterator[Entry]:
        patient_col = self.decl.patient or "subject_id"
        for key, row in in_key_order(self.table, lambda r: r.get("study_id"), self.skipped):
            where = f"{self.table.path}:{row.line}"
            if not key.isdigit():
                self.skip(f"line {row.line}", where, "study_id is not a number")
                continue
            path = inner_path(self.root, row.get("path"))
            if path is None:
                self.skip(key, where, "path is not a path inside the database")
                continue
            if self.decl.require_files and not path.with_suffix(".hea").is_file():
                continue
            meta: dict[str, Any] = {"study_id": int(key)}
            if row.get("ecg_time"):
                meta["date"] = row.get("ecg_time")
            text = None
            codes: dict[str, float] = {}
            if self.lookup is not None and (m := self.lookup.get(key)) is not None:
                meta.update(measurements(m))
                text = report(m)
                for col in ("cart_id", "bandwidth", "filtering"):
                    if m.get(col):
                        meta[col] = m.get(col)
            yield Entry(
                key=key,
                path=str(path),
                patient=row.get(patient_col) or None,
                codes=codes,
                report=text,
                meta=meta,
                fields=row.cells,
            )

    def load(self, ref: RecordRef) -> Record:
        return read_wfdb(ref.path or "", leads=self.leads, within=self.confined.roots)
