"""ECG-QA: question/answer JSON files about PTB-XL records.

ECG-QA ships lists of items ({"question", "answer": [...], "question_type", "attribute",
"template_id", "ecg_id": [...]}) in JSON files (train/, valid/, test/, …). Each question is
attached to the first ECG it names; a ref is a PTB-XL record (from the `waveforms` source)
with its questions. The index keeps only (ecg_id, file, position) per question; the files
are read again, a few at a time, while listing.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..records import Record
from .base import Entry, RecordRef, SourceReader, open_source
from .paths import display
from .ptbxl import record_key

MAX_JSON_BYTES = 512 * 1024 * 1024


class EcgQaReader(SourceReader):
    adapter = "ecgqa"

    def setup(self) -> None:
        self.base = open_source(self.program, self.decl.waveforms, self.data_roots)
        self.files: list[Path] = []
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            dirs.sort()
            self.files.extend(
                Path(folder) / f
                for f in sorted(files)
                if f.endswith(".json") and (not self.decl.records or Path(folder, f).match(self.decl.records))
            )
        if not self.files:
            raise self.error("root", f"source '{self.name}': no ECG-QA .json files under {display(self.root)}")
        self._cache: OrderedDict[int, list[Any]] = OrderedDict()

    def _load(self, i: int) -> list[Any] | None:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        path = self.files[i]
        if self.outside(path):
            self.skip_outside(path.name, path)
            return None
        try:
            if path.stat().st_size > MAX_JSON_BYTES:
                raise ValueError("larger than 512 MiB")
            with path.open("rb") as f:
                items = json.load(f)
        except OSError as exc:
            self.skip(path.name, path, f"unreadable ECG-QA file: {exc.strerror or type(exc).__name__}")
            return None
        except json.JSONDecodeError as exc:  # its message names the place, never the text
            self.skip(
                path.name, path, f"unreadable ECG-QA file: malformed JSON at line {exc.lineno}, column {exc.colno}"
            )
            return None
        except (ValueError, RecursionError) as exc:
            reason = str(exc) if str(exc) == "larger than 512 MiB" else "not UTF-8 JSON, or nested too deeply"
            self.skip(path.name, path, f"unreadable ECG-QA file: {reason}")
            return None
        if not isinstance(items, list):
            self.skip(path.name, path, "unreadable ECG-QA file: expected a list of question items")
            return None
        self._cache[i] = items
        if len(self._cache) > 4:
            self._cache.popitem(last=False)
        return items

    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids: list[int] = []
        fidx: list[int] = []
        pos: list[int] = []
        for i, path in enumerate(self.files):
            items = self._load(i)
            for j, item in enumerate(items or ()):
                ecg = item.get("ecg_id") if isinstance(item, dict) else None
                first = ecg[0] if isinstance(ecg, list) and ecg else ecg
                if not isinstance(first, int) or isinstance(first, bool) or first < 0:
                    self.skip(f"item {j}", path, f"question {j} names no PTB-XL ecg_id")
                    continue
                if not isinstance(item.get("question"), str):
                    self.skip(f"item {j}", path, f"question {j} has no question text")
                    continue
                ids.append(first)
                fidx.append(i)
                pos.append(j)
        a = np.array(ids, dtype=np.int64)
        order = np.argsort(a, kind="stable")
        return a[order], np.array(fidx, dtype=np.int32)[order], np.array(pos, dtype=np.int64)[order]

    @staticmethod
    def _item(raw: dict[str, Any]) -> dict[str, Any]:
        answer = raw.get("answer")
        ecg = raw.get("ecg_id")
        return {
            "question": raw.get("question"),
            "answer": [str(a) for a in answer] if isinstance(answer, list) else [str(answer)],
            "question_type": raw.get("question_type"),
            "attributes": list(raw.get("attribute") or raw.get("attributes") or []),
            "template_id": raw.get("template_id"),
            "ecg_ids": list(ecg) if isinstance(ecg, list) else [ecg],
        }

    def entries(self) -> Iterator[Entry]:
        ids, fidx, pos = self._index()
        if len(ids) == 0:
            return
        n = len(ids)
        k = 0
        for e in self.base.entries():  # PTB-XL in key order, merged with the sorted ecg_ids
            ecg_id = int(e.key)
            while k < n and ids[k] < ecg_id:
                key = record_key(str(ids[k])) or str(ids[k])
                self.skip(key, self.files[int(fidx[k])], f"names ecg_id {ids[k]}, which '{self.base.name}' lacks")
                k += 1
            items: list[dict[str, Any]] = []
            while k < n and ids[k] == ecg_id:
                got = self._load(int(fidx[k]))
                if got is not None:
                    items.append(self._item(got[int(pos[k])]))
                k += 1
            if not items:
                continue
            labels = None
            if self.labels is None:
                labels = self.base.labels.map(e.codes) if self.base.labels is not None else ()
            base_ref = RecordRef(
                key=e.key,
                source=self.base.name,
                patient=e.patient,
                codes=e.codes,
                report=e.report,
                meta=e.meta,
                path=e.path,
                locator=e.locator,
            )
            yield Entry(
                key=e.key,
                path=e.path,
                patient=e.patient,
                codes=e.codes,
                report=e.report,
                meta=e.meta,
                fields=e.fields,
                locator=base_ref,
                qa=tuple(items),
                labels=labels,
            )
        self.skipped.extend(self.base.skipped)
        while k < n:
            self.skip(str(ids[k]), self.files[int(fidx[k])], f"names ecg_id {ids[k]}, which '{self.base.name}' lacks")
            k += 1

    def load(self, ref: RecordRef) -> Record:
        return self.base.load(ref.locator)
