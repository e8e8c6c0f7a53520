"""CSV/TSV exports: one record per file, one column per lead, one row per sample."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from ...leads import canonical_lead
from ...records import RecordError
from .common import FormatReader


class CsvReader(FormatReader):
    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        fmt = self.fmt
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f, delimiter=fmt.delimiter)
            header = next(reader, []) if fmt.header else []
            if fmt.columns:
                missing = [c for c in fmt.columns if fmt.header and c not in header]
                if missing:
                    raise RecordError(
                        path, f"has no column {', '.join(missing)} (its header has {len(header)} columns)"
                    )
                idx = [header.index(c) for c in fmt.columns] if fmt.header else list(range(len(fmt.columns)))
                names = [canonical_lead(c) or c for c in fmt.columns]
            else:
                idx = [j for j, h in enumerate(header) if canonical_lead(h)]
                names = [canonical_lead(header[j]) or "" for j in idx]
                if not idx:
                    raise RecordError(path, f"no column of the header ({len(header)} columns) is a lead name")
            cols: list[list[float]] = [[] for _ in idx]
            width = len(header) if fmt.header else None
            for line, row in enumerate(reader, start=2 if fmt.header else 1):
                if not row:
                    continue
                if width is not None and len(row) != width:
                    raise RecordError(path, f"line {line} has {len(row)} cells, the header {width}")
                for c, j in enumerate(idx):
                    try:
                        cols[c].append(float(row[j]))
                    except (ValueError, IndexError):
                        what = "is not a number" if j < len(row) else "is missing"
                        raise RecordError(path, f"line {line}, column {names[c]}: the sample {what}") from None
        unit = fmt.scale if fmt.scale is not None else 1.0
        return (
            {n: np.asarray(c, dtype=np.float64) * unit for n, c in zip(names, cols, strict=True)},
            float(fmt.fs or 0),
            {},
        )
