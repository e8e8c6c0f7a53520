"""PTB-XL: ptbxl_database.csv (one row per ECG) and WFDB records in records100/ or records500/.

Each row gives the ecg_id (the key, written as the 5-digit number of its file name), the
patient, demographics, the free-text report, SCP codes with likelihoods (0–100), the heart axis
and `strat_fold` (1–10, patient-level stratified folds: its authors recommend 1–8 train, 9
validation, 10 test). Labels come from a `labels` declaration, typically scp_statements.csv's
diagnostic_class (NORM, MI, STTC, CD, HYP) or diagnostic_subclass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

from ..records import Record, read_wfdb
from .base import Entry, RecordRef, SourceReader
from .paths import inner_path
from .tables import Table, in_key_order

# scp_codes is a Python dict literal, "{'NORM': 100.0, 'SR': 0.0}": read as data, never evaluated.
_SCP_DICT = re.compile(r"^\{\s*(.*?)\s*\}$", re.DOTALL)
_SCP_ITEM = re.compile(r"^'([^']+)'\s*:\s*(-?\d+(?:\.\d*)?)$")
_SEX = {"0": "Male", "0.0": "Male", "1": "Female", "1.0": "Female"}


def parse_scp_codes(text: str) -> dict[str, float] | None:
    """ "{'NORM': 100.0, 'SR': 0.0}" → {'NORM': 100.0, 'SR': 0.0}; None when it is not such a dict."""
    m = _SCP_DICT.match(text.strip())
    if m is None:
        return None
    out: dict[str, float] = {}
    body = m.group(1)
    if not body:
        return out
    for item in body.split(","):
        im = _SCP_ITEM.match(item.strip())
        if im is None:
            return None
        out[im.group(1)] = float(im.group(2))
    return out


def number(text: str) -> int | float | None:
    try:
        f = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() else f


def record_key(text: str) -> str | None:
    n = number(text)
    return f"{n:05d}" if isinstance(n, int) and n >= 0 else None


class PtbXlReader(SourceReader):
    adapter = "ptbxl"
    default_index = "ptbxl_database.csv"

    def setup(self) -> None:
        self.table = Table(self.index_path())
        for col in ("ecg_id", "scp_codes", self._file_column()):
            if col not in self.table.header:
                raise self.error(
                    "index" if self.decl.index else "root",
                    f"source '{self.name}': {self.table.path} has no column '{col}'; "
                    "is it PTB-XL's ptbxl_database.csv?",
                )

    def _file_column(self) -> str:
        return "filename_hr" if self.decl.resolution == "high" else "filename_lr"

    def _record_path(self, rel: str) -> Path | None:
        path = inner_path(self.root, rel)
        if path is None:
            return None
        if not path.with_suffix(".hea").is_file():
            # A partial copy may keep records100/ flat (the shipped samples do).
            flat = self.root / Path(rel).parts[0] / path.name if Path(rel).parts else path
            if flat.with_suffix(".hea").is_file():
                return flat
        return path

    def entries(self) -> Iterator[Entry]:
        file_col = self._file_column()
        patient_col = self.decl.patient or "patient_id"
        for raw, row in in_key_order(self.table, lambda r: r.get("ecg_id"), self.skipped):
            key = record_key(raw)
            where = f"{self.table.path}:{row.line}"
            if key is None:
                self.skip(f"line {row.line}", where, "ecg_id is not a record number")
                continue
            codes = parse_scp_codes(row.get("scp_codes"))
            if codes is None:
                self.skip(key, where, "scp_codes is not a dict of code → likelihood")
                continue
            rel = row.get(file_col)
            path = self._record_path(rel)
            if path is None:
                self.skip(key, where, f"{file_col} is not a path inside the database")
                continue
            if self.decl.require_files and not path.with_suffix(".hea").is_file():
                continue
            patient = number(row.get(patient_col))
            meta: dict[str, object] = {"ecg_id": int(key)}
            age = number(row.get("age"))
            if age is not None:
                meta["age"] = age
            sex = _SEX.get(row.get("sex"))
            if sex:
                meta["sex"] = sex
            for col, name in (
                ("recording_date", "date"),
                ("heart_axis", "heart_axis"),
                ("device", "device"),
                ("site", "site"),
            ):
                if row.get(col):
                    meta[name] = number(row.get(col)) if col == "site" else row.get(col)
            for col in ("height", "weight"):
                if (v := number(row.get(col))) is not None:
                    meta[col] = v
            yield Entry(
                key=key,
                path=str(path),
                patient=str(patient) if patient is not None else (row.get(patient_col) or None),
                codes=codes,
                report=row.get("report") or None,
                meta=meta,
                fields=row.cells,
            )

    def load(self, ref: RecordRef) -> Record:
        return read_wfdb(ref.path or "", leads=self.leads, within=self.confined.roots)
