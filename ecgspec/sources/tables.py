"""Index tables read a row at a time, in key order, with memory that does not hold the rows.

Database indexes are CSV files of up to a million rows (MIMIC-IV-ECG's record_list.csv has
800,035). A reader lists records in key order so that every run, every shard and every worker
sees the same sequence; when an index is already in that order (PTB-XL's is) it is streamed
twice, else the first pass keeps only (key, byte offset) per row in two numpy arrays and the
second seeks to each row in sorted order. Rows themselves are never all in memory.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import Skipped
from .paths import display

# A field larger than this is a broken file, not an ECG report (PTB-XL's longest is < 1 kB).
csv.field_size_limit(min(sys.maxsize, 1 << 20))


class _Lines:
    """Lines of a binary file as text, counting bytes so that each CSV row's offset is known."""

    def __init__(self, f: IO[bytes], line: int = 0):
        self.f = f
        self.pos = f.tell()
        self.line = line
        self.first = self.pos == 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        b = self.f.readline()
        if not b:
            raise StopIteration
        self.pos += len(b)
        self.line += 1
        if self.first:
            self.first = False
            return b.decode("utf-8-sig", errors="replace")
        return b.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Row:
    """One index row: its 1-based line number and its cells by column name."""

    line: int
    cells: dict[str, str]

    def get(self, column: str | None) -> str:
        return (self.cells.get(column) or "").strip() if column else ""


class Table:
    """A CSV index with a header row; `column("#1")` names a column by position."""

    def __init__(self, path: Path, delimiter: str = ","):
        self.path = path
        self.delimiter = delimiter
        with path.open("rb") as f:
            lines = _Lines(f)
            try:
                self.header = [h.strip() for h in next(csv.reader(lines, delimiter=delimiter))]
            except StopIteration:
                self.header = []
            except csv.Error:
                self.header = []
            self.data_start = lines.pos

    def column(self, name: str) -> str | None:
        """The header name of a column given by name or by position (`#1`); None if absent."""
        if name in self.header:
            return name
        if name.startswith("#") and name[1:].isdigit() and 0 < int(name[1:]) <= len(self.header):
            return self.header[int(name[1:]) - 1] or f"#{name[1:]}"
        return None

    def _cells(self, values: list[str]) -> dict[str, str]:
        return {(h or f"#{i + 1}"): v for i, (h, v) in enumerate(zip(self.header, values, strict=False))}

    def rows(self, skipped: list[Skipped] | None = None) -> Iterator[tuple[int, Row]]:
        """(byte offset, row) for every data row, in file order; broken rows go to `skipped`."""
        with self.path.open("rb") as f:
            f.seek(self.data_start)
            lines = _Lines(f, line=1)
            reader = csv.reader(lines, delimiter=self.delimiter)
            while True:
                start, line = lines.pos, lines.line + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if skipped is not None:
                        skipped.append(Skipped(f"line {line}", display(self.path), f"unreadable CSV row: {exc}"))
                    continue
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != len(self.header):
                    if skipped is not None:
                        skipped.append(
                            Skipped(
                                f"line {line}",
                                display(self.path),
                                f"the row has {len(values)} cells, the header {len(self.header)}",
                            )
                        )
                    continue
                yield start, Row(line, self._cells(values))

    def row_at(self, offset: int, line: int = 0) -> Row:
        with self.path.open("rb") as f:
            f.seek(offset)
            values = next(csv.reader(_Lines(f), delimiter=self.delimiter))
        return Row(line, self._cells(values))


def _order(key: str) -> tuple[int, int, str]:
    """Numeric keys in numeric order (exam 9 before exam 10), then the others as text."""
    return (0, int(key), "") if key.isdigit() and len(key) < 19 else (1, 0, key)


def in_key_order(
    table: Table, key_of: Callable[[Row], str | None], skipped: list[Skipped]
) -> Iterator[tuple[str, Row]]:
    """(key, row) for every row with a key, sorted by key; later rows repeating a key are skipped."""
    # Pass 1 only checks the order: an index already sorted (PTB-XL's) costs no memory at all.
    ordered = True
    numeric = True
    last: tuple[int, int, str] | None = None
    for _, row in table.rows(skipped):
        key = key_of(row)
        if key is None:
            continue
        o = _order(key)
        if last is not None and o < last:
            ordered = False
        last = o
        numeric = numeric and o[0] == 0
    if ordered:
        yield from _unique(table, (row for _, row in table.rows(None)), key_of, skipped)
        return
    # Out of order: start again, keeping (key, offset) of every row in compact arrays.
    key_list: list[str] = []
    off = []
    line_no = []
    for offset, row in table.rows(None):
        key = key_of(row)
        if key is None:
            continue
        key_list.append(key)
        off.append(offset)
        line_no.append(row.line)
    if numeric:
        arr: np.ndarray = np.array([int(k) for k in key_list], dtype=np.int64)
    else:
        arr = np.array(key_list, dtype=np.str_)
    del key_list
    offs = np.array(off, dtype=np.int64)
    lns = np.array(line_no, dtype=np.int64)
    del off, line_no
    order = np.argsort(arr, kind="stable")
    yield from _unique(table, (table.row_at(int(offs[i]), int(lns[i])) for i in order), key_of, skipped)


def _unique(
    table: Table, rows: Iterator[Any], key_of: Callable[[Any], str | None], skipped: list[Skipped]
) -> Iterator[tuple[str, Any]]:
    """Rows in key order with their keys; a row repeating the previous key is skipped and reported."""
    previous: str | None = None
    for row in rows:
        key = key_of(row)
        if key is None:
            continue
        if key == previous:
            skipped.append(Skipped(key, display(table.path), f"line {row.line} repeats key {key}"))
            continue
        previous = key
        yield key, row


class Lookup:
    """Rows of a second table found by key (MIMIC's measurements by study_id), one seek per row."""

    def __init__(self, table: Table, key_of: Callable[[Row], str | None]):
        self.table = table
        keys: list[str] = []
        offsets: list[int] = []
        for offset, row in table.rows(None):
            k = key_of(row)
            if k is not None:
                keys.append(k)
                offsets.append(offset)
        self._keys = np.array(keys, dtype=np.str_)
        order = np.argsort(self._keys, kind="stable")
        self._keys = self._keys[order]
        self._offsets = np.array(offsets, dtype=np.int64)[order]

    def get(self, key: str) -> Row | None:
        i = int(np.searchsorted(self._keys, key))
        if i < len(self._keys) and self._keys[i] == key:
            return self.table.row_at(int(self._offsets[i]))
        return None
