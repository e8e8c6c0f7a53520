"""What the format readers share: finding the export files, decoding samples, scaling, leads.

A source `from FORMAT` lists every file under its root that matches the format's `files` glob
(or the source's `records`), in path order; a record's key is its path under the root without
the suffix. Metadata fields named in the format's `meta` are read while listing, so that the
source's `patient` and `split hash` can name them.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...ir import Format
from ...leads import canonical_lead
from ...records import Record, RecordError
from ..base import Entry, RecordRef, SourceReader
from ..ptbxl import number

MAX_FILE_BYTES = 64 * 1024 * 1024  # a 12-lead 10 s export is well under 1 MiB
_SPLIT_NUMBERS = re.compile(r"[\s,;]+")
_PAREN = re.compile(r"\(.*?\)")
_SEX = {"m": "Male", "male": "Male", "f": "Female", "female": "Female"}


def lead_of(name: str, prefix: str | None) -> str | None:
    """A file's lead name → canonical ('MDC_ECG_LEAD_AVR' with its prefix, 'Lead I (Einthoven)')."""
    text = name.strip()
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    return canonical_lead(_PAREN.sub("", text))


def decode(path: Path, lead: str, text: str, encoding: str) -> np.ndarray:
    """Samples written as text or base64 → numbers (still in the file's units)."""
    if encoding == "text":
        parts = [p for p in _SPLIT_NUMBERS.split(text.strip()) if p]
        try:
            return np.array([float(p) for p in parts], dtype=np.float64)
        except ValueError:
            bad = next(i for i, p in enumerate(parts) if number(p) is None and p.lower() != "nan")
            raise RecordError(path, f"lead {lead}: sample {bad + 1} is not a number") from None
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(path, f"lead {lead}: the samples are not valid base64") from None
    dtype = {"base64_int16": "<i2", "base64_int16_be": ">i2", "base64_float32": "<f4"}[encoding]
    size = np.dtype(dtype).itemsize
    if len(raw) % size:
        raise RecordError(path, f"lead {lead}: {len(raw)} bytes is not a whole number of {size}-byte samples")
    return np.frombuffer(raw, dtype=dtype).astype(np.float64)


def derive_limb_leads(signals: dict[str, np.ndarray]) -> None:
    """III, aVR, aVL, aVF from I and II (Einthoven and Goldberger), where they are missing."""
    if "I" not in signals or "II" not in signals:
        return
    i, ii = signals["I"], signals["II"]
    derived = {"III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}
    for lead, x in derived.items():
        signals.setdefault(lead, x)
    order = ("I", "II", "III", "aVR", "aVL", "aVF")
    rest = {k: v for k, v in signals.items() if k not in order}
    ordered = {k: signals[k] for k in order if k in signals}
    signals.clear()
    signals.update(ordered)
    signals.update(rest)


def derive_formulas(path: Path, signals: dict[str, np.ndarray], formulas: Mapping[str, str]) -> None:
    """Leads the file lacks, from the format's `derive` formulas over other leads (in mV), in the
    order written; a lead the file holds is kept. Ordered like derive_limb_leads."""
    from ...xpath import evaluate, parse_formula

    for name, formula in formulas.items():
        lead = canonical_lead(name) or name
        if lead in signals:
            continue

        def value(other: str, lead: str = lead) -> np.ndarray:
            key = canonical_lead(other) or other
            if key not in signals:
                raise RecordError(path, f"lead {lead}'s formula reads lead {other}, which the file does not hold")
            return signals[key]

        signals[lead] = np.asarray(evaluate(parse_formula(formula), value), dtype=np.float64)
    order = ("I", "II", "III", "aVR", "aVL", "aVF")
    ordered = {k: signals[k] for k in order if k in signals}
    rest = {k: v for k, v in signals.items() if k not in order}
    signals.clear()
    signals.update(ordered)
    signals.update(rest)


def normalise_meta(raw: dict[str, Any], types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Metadata as the file wrote it: text stays text (a patient id '0000989' keeps its zeros, a
    date stays a date) unless the format declares the field a `number` in `meta_types`; a declared
    number that is not one is left out. `sex` is spelled Male/Female."""
    types = types or {}
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        if k == "sex" and isinstance(v, str):
            out[k] = _SEX.get(v.strip().lower(), v.strip())
            continue
        kind = types.get(k)
        if kind == "number":
            n = None if isinstance(v, bool) else number(v if isinstance(v, str) else str(v))
            if n is not None:
                out[k] = n
        elif kind == "text" or isinstance(v, str):
            out[k] = v.strip() if isinstance(v, str) else str(v)
        else:
            out[k] = v  # a JSON number stays a number
    return out


class FormatReader(SourceReader):
    """A source whose adapter is a declared `format`; subclasses parse one file."""

    def setup(self) -> None:
        fmt = self.program.decls.get(("format", self.decl.adapter))
        assert isinstance(fmt, Format)
        self.fmt: Format = fmt
        self.pattern = self.decl.records or fmt.files

    def files(self) -> Iterator[Path]:
        # Links to folders are not followed; a file that is a link is checked in `entries`.
        for folder, dirs, names in os.walk(self.root, followlinks=False):
            dirs.sort()
            for name in sorted(names):
                rel = os.path.relpath(os.path.join(folder, name), self.root)
                if fnmatch.fnmatch(name, self.pattern) or fnmatch.fnmatch(rel, self.pattern):
                    yield Path(folder) / name

    @property
    def notes(self) -> list[str]:
        """Lines about the last listing for `ecgspec sources` (DICOM: the waveform group read)."""
        return []

    def check_size(self, path: Path) -> None:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RecordError(path, f"the file is {size // 1024 // 1024} MiB, more than an ECG export can be")
        if size == 0:
            raise RecordError(path, "the file is empty")

    def metadata(self, path: Path) -> dict[str, Any]:
        """The `meta` fields of one file (parsing it); RecordError if it cannot be parsed."""
        return {}

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        """Leads in mV, the sampling rate, and metadata."""
        raise NotImplementedError

    def entries(self) -> Iterator[Entry]:
        for path in self.files():
            key = os.path.relpath(path, self.root).replace(os.sep, "/").rsplit(".", 1)[0]
            if self.outside(path):
                self.skip_outside(key, path)
                continue
            try:
                meta = normalise_meta(self.metadata(path), self.fmt.meta_types)
            except RecordError as exc:
                self.skip(key, path, exc.message)
                continue
            except OSError as exc:
                self.skip(key, path, f"cannot read: {exc.strerror or type(exc).__name__}")
                continue
            patient = meta.get(self.decl.patient) if self.decl.patient else None
            yield Entry(
                key=key,
                path=str(path),
                patient=str(patient) if patient is not None else None,
                meta=meta,
                fields={k: str(v) for k, v in meta.items()},
            )

    def load(self, ref: RecordRef) -> Record:
        path = self.confine(ref.path or "")
        if not path.is_file():
            raise RecordError(path, "file not found")
        self.check_size(path)
        signals, fs, meta = self.signals(path)
        meta = normalise_meta(meta, self.fmt.meta_types)  # the declared `meta_types`, whatever the adapter
        if self.fmt.derive is True:
            derive_limb_leads(signals)
        elif isinstance(self.fmt.derive, dict) and not self.fmt.residual:  # residuals: restored by the reader
            derive_formulas(path, signals, self.fmt.derive)
        if not fs or not np.isfinite(fs) or fs <= 0:
            raise RecordError(path, f"the sampling rate is {fs!r}, not a positive number")
        lengths = {k: len(v) for k, v in signals.items()}
        if len(set(lengths.values())) > 1:
            raise RecordError(path, "leads differ in length: " + ", ".join(f"{k} {n}" for k, n in lengths.items()))
        return Record(id=ref.key, fs=float(fs), signals=signals, meta=meta, source=str(path))
