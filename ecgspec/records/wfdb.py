"""Reading WFDB records (PhysioNet's header + signal files) into a `Record` in mV.

Header comments (`# Age: 56`) become `meta`; units and ADC gains are undone so that 1.0 is 1 mV.
"""

from __future__ import annotations

import math
import os
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


# Units that a physiological header writes for channels that are not ECG: named in the message
# when met. Any other unit string is the file's own text, and is not repeated.
_OTHER_UNITS = {"mmhg", "kpa", "%", "bpm", "nu", "degc", "c", "l/min", "ml", "ohm", "mg/dl", "s", "ms"}


def _unit_scale(path: Path, lead: str, unit: str) -> float:
    key = unit.strip().lower().replace(" ", "")
    if key not in _TO_MV:
        what = f"'{unit.strip()}', which is" if key in _OTHER_UNITS else "a unit that is"
        raise RecordError(path, f"lead {lead} is in {what} not a voltage (mV, uV or V expected)")
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


# The record line's sampling frequency as WFDB writes it: `500`, `500.0`, `360/1000(0)`. wfdb's own
# parser reads `-500`, `nan` or `1e3` as "no rate" (250 Hz) or as 1 Hz, so the field is read here first.
_FS = re.compile(r"^(?P<fs>\d+\.?\d*|\.\d+)(?:/[-\d.]*)?(?:\(-?[\d.]*\))?$")
MAX_HEADER_BYTES = 1 << 20  # a WFDB header is a few hundred bytes; a larger one is not a header


def record_line(text: str) -> tuple[int, float | None]:
    """(line number, sampling rate) of a header's record line; the rate is None when the line
    gives none (WFDB's default, 250 Hz, applies). ValueError, with a reason that never quotes the
    file, for a header that has no record line or a rate that is not a positive number."""
    for i, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"not a valid WFDB header (line {i} is not a record line)")
        if len(parts) < 3:
            return i, None
        m = _FS.match(parts[2])
        if m is not None:
            fs = float(m.group("fs"))
            if fs > 0:
                return i, fs
            raise ValueError(f"the sampling rate in the header (line {i}) is {fs:g} Hz, not a positive number")
        try:
            value = float(re.split(r"[/(]", parts[2], maxsplit=1)[0])
        except ValueError:
            raise ValueError(f"the sampling rate in the header (line {i}) is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"the sampling rate in the header (line {i}) is {value:g}, not a positive number")
        raise ValueError(
            f"the sampling rate in the header (line {i}) is not written as WFDB writes it (digits, as in 500)"
        )
    raise ValueError("not a valid WFDB header (it has no record line)" if text.strip() else "the header is empty")


def read_header_text(header: Path) -> str:
    """A header file's text, at most 1 MiB; ValueError (never quoting the file) when it is not one."""
    with header.open("rb") as f:
        data = f.read(MAX_HEADER_BYTES + 1)
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError("not a valid WFDB header (it is larger than 1 MiB)")
    if b"\x00" in data:
        raise ValueError("not a valid WFDB header (it is a binary file)")
    return data.decode("utf-8", errors="replace")


def _bad_line(text: str) -> int | None:
    """The first non-comment line of a header that wfdb's own patterns do not accept, if any."""
    try:
        from wfdb.io.header import rx_record, rx_segment, rx_signal
    except ImportError:  # pragma: no cover - a wfdb without these names
        return None
    first = True
    multi = False
    for i, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if first:
            m = rx_record.match(stripped)
            if m is None:
                return i
            multi = bool(m.group("n_seg"))
            first = False
        elif (rx_segment if multi else rx_signal).match(stripped) is None:
            return i
    return None


def _escapes(path: Path, within: tuple[str, ...]) -> bool:
    full = os.path.realpath(os.path.abspath(path))
    return not any(full == r or full.startswith(r.rstrip(os.sep) + os.sep) for r in within)


def _outside(path: Path) -> RecordError:
    return RecordError(path, "is a symbolic link that leads outside the spec root and the data roots; it was not read")


def _signal_files(head: Any, folder: Path) -> list[Path]:
    """Every file a header makes wfdb open: its signal files, or its segments' headers and theirs."""
    files = [folder / f for f in dict.fromkeys(head.file_name or []) if f and not f.startswith("~")]
    for seg in getattr(head, "segments", None) or []:
        if seg is not None:
            files.append(folder / f"{seg.record_name}.hea")
            files += _signal_files(seg, folder)
    return files


def _names(names: list[str]) -> str:
    """A header's channels for a message: the ECG lead names among them, and how many others
    (a name that is not a lead is the file's own text, and is not repeated)."""
    leads = list(dict.fromkeys(c for n in names if (c := canonical_lead(n)) is not None))
    others = len(names) - sum(1 for n in names if canonical_lead(n) is not None)
    text = ", ".join(leads)
    if others:
        text += f"{' and ' if text else ''}{others} other channel{'s' * (others != 1)}"
    return text or "none"


def read_wfdb(
    path: str | Path,
    leads: list[str] | tuple[str, ...] | None = None,
    *,
    within: tuple[str, ...] | list[str] | None = None,
) -> Record:
    """Read a WFDB record (`path` without extension) into a Record in mV.

    `leads`: lead names in any spelling to keep, in that order; by default the standard 12
    that the record has (extra leads such as PTB's Frank leads vx, vy, vz are then left out).
    `within`: folders (real paths, links resolved) that every file read must really lie in; a
    header or signal file that is a link leading out is refused before it is opened.
    Raises RecordError naming the file for anything that goes wrong; a message never quotes the
    content of a file that could not be parsed.
    """
    import wfdb  # imported here: reading is the only stage that needs it

    path = Path(path)
    if path.suffix in (".hea", ".dat", ".mat"):
        path = path.with_suffix("")
    header = path.with_suffix(".hea")
    bounds = tuple(within) if within is not None else None
    if bounds is not None and os.path.lexists(header) and _escapes(header, bounds):
        raise _outside(header)
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
        text = read_header_text(header)
        _, header_fs = record_line(text)
    except OSError as exc:
        raise RecordError(header, f"cannot read the header: {exc.strerror or type(exc).__name__}") from None
    except ValueError as exc:
        raise RecordError(header, str(exc)) from None
    try:
        head = wfdb.rdheader(str(path))
        segments = [s for s in getattr(head, "seg_name", None) or [] if s and s != "~"]
        if segments:  # a multi-segment record: its segments' headers are read next
            for seg in segments:
                if bounds is not None and os.path.lexists(path.parent / f"{seg}.hea"):
                    if _escapes(path.parent / f"{seg}.hea", bounds):
                        raise _outside(path.parent / f"{seg}.hea")
            head = wfdb.rdheader(str(path), rd_segments=True)
    except RecordError:
        raise
    except Exception:
        line = _bad_line(text)
        raise RecordError(header, "not a valid WFDB header" + (f" (line {line})" if line else "")) from None
    if bounds is not None:
        for f in _signal_files(head, path.parent):
            if os.path.lexists(f) and _escapes(f, bounds):
                raise _outside(f)
    try:
        names = list(head.sig_name or [])
        canon = [canonical_lead(n) for n in names]
        keep = want if want is not None else [c for c in STANDARD_12 if c in canon]
        missing = [c for c in keep if c not in canon]
        if want is not None and missing:
            raise RecordError(path, f"has no lead {', '.join(missing)} (it has {_names(names)})")
        if not keep:
            raise RecordError(path, f"has no ECG lead that ecgspec knows (it has {_names(names)})")
        channels = [canon.index(c) for c in keep]  # the first channel of each name wins
        rec = wfdb.rdrecord(str(path), channels=channels, physical=True, return_res=64)
    except RecordError:
        raise
    except FileNotFoundError as exc:
        raise RecordError(exc.filename or path, "file not found (the header names it)") from None
    except MemoryError:
        raise RecordError(path, "the record is too large to read") from None
    except Exception as exc:
        # wfdb's messages may quote the header or the data: only their kind is kept.
        msg = str(exc)
        if isinstance(exc, OSError):
            reason = f"cannot read the signal file: {exc.strerror or type(exc).__name__}"
        elif any(k in msg for k in ("reshape", "buffer", "not loaded correctly", "size")):
            reason = "the signal file is truncated or does not match its header"
        else:
            reason = "cannot read record: the header or the signal file is malformed"
        raise RecordError(path, reason) from None

    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[1] != len(channels):
        raise RecordError(path, "cannot read record: no signal data")
    if rec.sig_len and sig.shape[0] != rec.sig_len:
        raise RecordError(path, f"the signal file holds {sig.shape[0]} samples, the header promises {rec.sig_len}")
    if sig.shape[0] < 2:
        raise RecordError(path, "the record holds fewer than 2 samples")
    fs = float(rec.fs or 0)
    if not fs > 0 or not math.isfinite(fs):
        raise RecordError(path, "the header gives no sampling frequency")
    if header_fs is not None and abs(fs - header_fs) > 1e-9 * header_fs:
        raise RecordError(header, f"the sampling rate reads as {fs:g} Hz, the header says {header_fs:g} Hz")

    signals: dict[str, np.ndarray] = {}
    nan_counts: dict[str, int] = {}
    for j, name in enumerate(keep):
        unit = (rec.units or [""] * len(keep))[j] or ""
        x = np.ascontiguousarray(sig[:, j], dtype=np.float64) * _unit_scale(path, name, unit)
        if np.isinf(x).any():  # NaN is WFDB's "no sample"; infinity is a broken gain or signal
            raise RecordError(path, f"lead {name} has infinite samples (a broken gain or signal file)")
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
