"""Records: the ECG type that sources produce and the renderer draws, its WFDB reader and its
error. Below both `sources/` and `render/`, so that neither reaches into the other for them.

    record.py   Record (leads in mV under canonical names, plus meta); fill_nan
    wfdb.py     read_wfdb, parse_comments
    measure.py  R peaks and heart rate measured on the signal
    plausibility.py  whether leads can be an ECG at all (amplitude, finite samples, rate)
    errors.py   RecordError
"""

from importlib import import_module
from typing import Any

from .errors import RecordError

# numpy and wfdb load on first use, so that `ecgspec check`, which imports the source
# adapters' errors, starts without them.
_LAZY = {
    "Record": "record",
    "fill_nan": "record",
    "parse_comments": "wfdb",
    "read_wfdb": "wfdb",
    "check_plausible": "plausibility",
    "implausible": "plausibility",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Record", "RecordError", "check_plausible", "fill_nan", "implausible", "parse_comments", "read_wfdb"]
