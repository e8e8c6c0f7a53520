"""CSV/TSV exports: one record per file, one column per lead, one row per sample.

A vendor's file may open with lines before the header (`skip = N`): a preamble such as
`Sampling Rate (Hz): 500` and `Gain (digit/millivolt): 2048`. `rate_pattern` and `gain_pattern`
are regexes with one group, searched line by line in those lines: the first match gives the
sampling rate (Hz) and the gain (stored units per `scale`, per mV without one; samples are
divided by it). A csv format's `meta` values are such patterns too (`patient: "Patient ID: (\\S+)"`),
so the patient is read from the preamble without reading the samples.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...leads import canonical_lead
from ...records import RecordError
from .common import FormatReader

MAX_PREAMBLE_LINE = 4096  # characters of a preamble line that patterns see


class CsvReader(FormatReader):
    def _preamble(self, path: Path, f: Any) -> list[str]:
        lines = []
        for i in range(self.fmt.skip):
            line = f.readline()
            if not line:
                raise RecordError(path, f"ends at line {i + 1}, before the {self.fmt.skip} lines to skip")
            lines.append(line.rstrip("\r\n")[:MAX_PREAMBLE_LINE])
        return lines

    @staticmethod
    def _find(pattern: str, lines: list[str]) -> str | None:
        rx = re.compile(pattern)
        for line in lines:
            m = rx.search(line)
            if m is not None and m.group(1) is not None:
                return m.group(1).strip()
        return None

    def _number(self, path: Path, what: str, pattern: str, lines: list[str]) -> float | None:
        text = self._find(pattern, lines)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value <= 0:
            raise RecordError(path, f"the {what} in the preamble is '{text[:20]}', not a positive number")
        return value

    def _meta(self, lines: list[str]) -> dict[str, Any]:
        return {k: self._find(p, lines) for k, p in self.fmt.meta.items()}

    def metadata(self, path: Path) -> dict[str, Any]:
        if not self.fmt.meta:
            return {}
        self.check_size(path)
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            return self._meta(self._preamble(path, f))

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        fmt = self.fmt
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            preamble = self._preamble(path, f)
            fs = fmt.fs
            if fmt.rate_pattern:
                fs = self._number(path, "sampling rate", fmt.rate_pattern, preamble) or fs
                if fs is None:
                    raise RecordError(path, f"no line of the first {fmt.skip} gives the sampling rate (rate_pattern)")
            gain = 1.0
            if fmt.gain_pattern:
                found = self._number(path, "gain", fmt.gain_pattern, preamble)
                if found is None:
                    raise RecordError(path, f"no line of the first {fmt.skip} gives the gain (gain_pattern)")
                gain = found
            first = fmt.skip + 1  # the line number of the first row the csv reader sees
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
                    raise RecordError(
                        path, f"no column of the header (line {first}, {len(header)} columns) is a lead name"
                    )
            cols: list[list[float]] = [[] for _ in idx]
            width = len(header) if fmt.header else None
            for line, row in enumerate(reader, start=first + 1 if fmt.header else first):
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
            {n: np.asarray(c, dtype=np.float64) * unit / gain for n, c in zip(names, cols, strict=True)},
            float(fs or 0),
            self._meta(preamble),
        )
