"""A folder of WFDB records: every `*.hea` under the root (or those matching `records`).

Listing reads only the small header files, for the `# Age`, `# Sex` and `# Dx` comments that
PhysioNet databases write there; `# Dx` codes become the record's codes (each 100.0).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

from ..records import Record, parse_comments, read_wfdb
from ..records.wfdb import read_header_text, record_line
from .base import Entry, RecordRef, SourceReader


def walk_headers(root: Path, pattern: str | None) -> Iterator[Path]:
    """Header files under root in path order, one folder at a time (nothing listed at once
    beyond one folder's names). Links to folders are not followed; a header that is a link is
    listed, and the reader checks where it leads before opening it."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".hea"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), root)
            stem = rel[: -len(".hea")]
            if pattern and not (
                fnmatch.fnmatch(rel, pattern)
                or fnmatch.fnmatch(name, pattern)
                or fnmatch.fnmatch(stem, pattern)
                or fnmatch.fnmatch(os.path.basename(stem), pattern)
            ):
                continue
            yield Path(folder) / name


def header_comments(path: Path) -> list[str]:
    """A header's `#` comments, after checking its record line (and its sampling rate); ValueError
    with a reason that never quotes the file when it is not a WFDB header."""
    text = read_header_text(path)
    record_line(text)
    return [ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("#")]


class WfdbFolderReader(SourceReader):
    adapter = "wfdb"

    def database(self, key: str) -> str | None:
        return None

    def entries(self) -> Iterator[Entry]:
        seen: set[str] = set()  # names only, to keep keys unique across sub-folders
        for hea in walk_headers(self.root, self.decl.records):
            rec = hea.with_suffix("")
            key_name = rec.name
            if key_name in seen:
                self.skip(key_name, hea, f"record name {key_name} appears twice under the root")
                continue
            seen.add(key_name)
            if self.outside(hea):
                self.skip_outside(key_name, hea)
                continue
            try:
                meta = parse_comments(header_comments(hea))
            except OSError as exc:
                self.skip(key_name, hea, f"unreadable header: {exc.strerror or type(exc).__name__}")
                continue
            except ValueError as exc:
                self.skip(key_name, hea, f"unreadable header: {exc}")
                continue
            codes = {str(c): 100.0 for c in meta.pop("dx", []) or []}
            if (db := self.database(key_name)) is not None:
                meta["database"] = db
            yield Entry(key=key_name, path=str(rec), patient=None, codes=codes, meta=meta, fields={"key": key_name})

    def load(self, ref: RecordRef) -> Record:
        return read_wfdb(ref.path or "", leads=self.leads, within=self.confined.roots)
