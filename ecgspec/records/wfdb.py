"""Reading WFDB records (PhysioNet's header + signal files) into a `Record` in mV.

Header comments (`# Age: 56`) become `meta`; units and ADC gains are undone so that 1.0 is 1 mV.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..leads import STANDARD_12, canonical_lead
from .errors import RecordError
from .record import Record, fill_nan

# Scale from a WFDB unit string to mV. WFDB writes what the digitiser wrote: `mV`, `mv` (the
# CinC 2021 MAT files), `uV`, `µV`… An empty unit is WFDB's default, millivolts.
_TO_MV: dict[str, float] = {
    "": 1.0,
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "µv": 1e-3,
    "μv": 1e-3,
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
    "nv": 1e-6,
}

# Header comments worth a name of their own; other `# Key: value` comments keep their own key.
_META_KEYS = {"ecg_date": "date", "recording_date": "date", "gender": "sex"}
_COMMENT = re.compile(r"^\s*([A-Za-z][\w ()/.\-]*?)\s*:\s*(.*?)\s*$")


def _unit_scale(path: Path, lead: str, unit: str) -> float:
    key = unit.strip().lower().replace(" ", "")
    if key not in _TO_MV:
        raise RecordError(path, f"lead {lead} is in '{unit}', which is not a voltage (mV, uV or V expected)")
    return _TO_MV[key]


def _number(text: str) -> int | float | str | None:
    t = text.strip()
    if t.lower() in ("", "nan", "unknown", "n/a", "na", "none"):
        return None
    try:
        f = float(t)
    except ValueError:
        return t
    if not math.isfinite(f):
        return None
    return int(f) if f.is_integer() else f


def parse_comments(comments: list[str]) -> dict[str, Any]:
    """`# Age: 56`, `# Sex: Female`, `# Dx: 164889003,59118001` → {'age': 56, 'sex': 'Female',
    'dx': ['164889003', '59118001']}. Keys are lower-case with `_` for spaces; unknowns kept."""
    meta: dict[str, Any] = {}
    for line in comments:
        m = _COMMENT.match(line)
        if not m:
            continue
        key = re.sub(r"[^\w]+", "_", m.group(1).strip().lower()).strip("_")
        key = _META_KEYS.get(key, key)
        raw = m.group(2)
        value: Any
        if key == "age":
            value = _number(raw)
        elif key == "sex":
            s = raw.strip().lower()
            value = {"f": "Female", "female": "Female", "m": "Male", "male": "Male"}.get(s, raw.strip() or None)
        elif key == "dx":
            value = [c.strip() for c in raw.split(",") if c.strip()]
        else:
            value = _number(raw)
        if key and key not in meta and value is not None:
            meta[key] = value
    return meta


def read_wfdb(path: str | Path, leads: list[str] | tuple[str, ...] | None = None) -> Record:
    """Read a WFDB record (`path` without extension) into a Record in mV.

    `leads`: lead names in any spelling to keep, in that order; by default the standard 12
    that the record has (extra leads such as PTB's Frank leads vx, vy, vz are then left out).
    Raises RecordError naming the file for anything that goes wrong.
    """
    import wfdb  # imported here: reading is the only stage that needs it

    path = Path(path)
    if path.suffix in (".hea", ".dat", ".mat"):
        path = path.with_suffix("")
    header = path.with_suffix(".hea")
    if not header.is_file():
        raise RecordError(header, "no such record header")
    want: list[str] | None = None
    if leads is not None:
        want = []
        for name in leads:
            c = canonical_lead(name)
            if c is None:
                raise RecordError(path, f"'{name}' is not a lead name")
            want.append(c)
    try:
        head = wfdb.rdheader(str(path))
        names = list(head.sig_name or [])
        canon = [canonical_lead(n) for n in names]
        keep = want if want is not None else [c for c in STANDARD_12 if c in canon]
        missing = [c for c in keep if c not in canon]
        if want is not None and missing:
            raise RecordError(path, f"has no lead {', '.join(missing)} (it has {', '.join(names)})")
        if not keep:
            raise RecordError(path, f"has no ECG lead that ecgspec knows (channels: {', '.join(names) or 'none'})")
        channels = [canon.index(c) for c in keep]  # the first channel of each name wins
        rec = wfdb.rdrecord(str(path), channels=channels, physical=True, return_res=64)
    except RecordError:
        raise
    except FileNotFoundError as exc:
        raise RecordError(exc.filename or path, "file not found (the header names it)") from None
    except Exception as exc:
        msg = str(exc).strip() or type(exc).__name__
        if any(k in msg for k in ("reshape", "buffer", "not loaded correctly", "size")):
            msg = f"the signal file is truncated or does not match its header ({msg})"
        raise RecordError(path, f"cannot read record: {msg}") from None

    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[1] != len(channels):
        raise RecordError(path, "cannot read record: no signal data")
    if rec.sig_len and sig.shape[0] != rec.sig_len:
        raise RecordError(path, f"the signal file holds {sig.shape[0]} samples, the header promises {rec.sig_len}")
    if sig.shape[0] < 2:
        raise RecordError(path, "the record holds fewer than 2 samples")
    fs = float(rec.fs or 0)
    if not fs > 0:
        raise RecordError(path, "the header gives no sampling frequency")

    signals: dict[str, np.ndarray] = {}
    nan_counts: dict[str, int] = {}
    for j, name in enumerate(keep):
        unit = (rec.units or [""] * len(keep))[j] or ""
        x = np.ascontiguousarray(sig[:, j], dtype=np.float64) * _unit_scale(path, name, unit)
        x, n_nan = fill_nan(x)
        if n_nan:
            nan_counts[name] = n_nan
        signals[name] = x

    meta = parse_comments(list(rec.comments or []))
    if "date" not in meta and rec.base_date is not None:
        meta["date"] = rec.base_date.isoformat()
    if rec.base_time is not None:
        meta.setdefault("time", rec.base_time.strftime("%H:%M:%S"))
    meta["nan_samples"] = nan_counts
    meta["channels"] = names
    return Record(id=rec.record_name or path.name, fs=fs, signals=signals, meta=meta, source=str(path))
