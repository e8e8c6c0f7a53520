"""Signal conditioning of what a page draws: the paper's high-pass, low-pass and mains notch.

Every 12-lead cart filters what it prints and says so in its footer ("0.05–150 Hz ~60 Hz"): a
high-pass against baseline wander (0.05–0.67 Hz), a low-pass against muscle noise (40, 100 or
150 Hz) and a notch at the mains frequency. A paper declares its filter as three settings,
`highpass`, `lowpass` and `notch` (ecgspec.ir.paper); this module applies it to the signals a page
draws, and only to those: measurements and facts read the Record before it is rendered, and the
Record is never changed here (the filtered signals are new arrays).

The filters are zero-phase, as the AHA recommends for diagnostic printing: each is run forwards
and backwards (`scipy.signal.sosfiltfilt`), so a QRS is not delayed and an ST segment is not
distorted by phase. Running a filter twice squares its response, so the Butterworth cut-offs are
designed such that the *whole* filter is 3 dB down at the declared frequency, which is what a
cart's "0.5 Hz" means. The notch is `scipy.signal.iirnotch`, in the same forward-backward pass.

Frequencies are checked against the record when a page is drawn: a record sampled at 100 Hz has
nothing at or above 50 Hz, so a 150 Hz low-pass or a 50 Hz notch is skipped (and `describe` says
so) rather than failing the page; the footer then prints only what was applied.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..ir import Paper
    from ..records import Record

ORDER = 2  # Butterworth order of one pass: gentle, as carts' filters are (forward-backward: 4th order)
NOTCH_Q = 30.0  # quality of the mains notch: about 1.7 Hz wide at 50 Hz, mains drifts by far less
KINDS = ("highpass", "notch", "lowpass")  # the order they are listed in (they commute: all are linear)
# The gain of one pass at the whole filter's -3 dB point: |H|² = 1/√2 after two passes.
_ONE_PASS = (math.sqrt(2.0) - 1.0) ** (1.0 / (2 * ORDER))
_NEAR_NYQUIST = 0.99  # a low-pass designed this close to Nyquist is as far as a digital filter goes


@dataclass(frozen=True)
class FilterPlan:
    """What a paper's filter does to a record sampled at `fs`: the declared frequencies (None:
    not declared), the ones applied, and each one skipped with the reason."""

    fs: float
    highpass: float | None = None
    lowpass: float | None = None
    notch: float | None = None
    applied: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def declared(self) -> bool:
        return any(v is not None for v in (self.highpass, self.lowpass, self.notch))

    def value(self, kind: str) -> float | None:
        """The frequency of an *applied* filter, else None."""
        return getattr(self, kind) if kind in self.applied else None

    @property
    def band(self) -> str:
        """The pass band as printed: '0.5–40 Hz', '0.5 Hz high-pass', '40 Hz low-pass' or ''."""
        hp, lp = self.value("highpass"), self.value("lowpass")
        if hp is not None and lp is not None:
            return f"{hp:g}–{lp:g} Hz"
        if hp is not None:
            return f"{hp:g} Hz high-pass"
        if lp is not None:
            return f"{lp:g} Hz low-pass"
        return ""

    @property
    def text(self) -> str:
        """What a footer prints: the band, then the notch ('0.5–40 Hz ~50 Hz'); '' when nothing
        was applied."""
        notch = self.value("notch")
        return " ".join(p for p in (self.band, f"~{notch:g} Hz" if notch is not None else "") if p)


def plan(paper: Paper, fs: float) -> FilterPlan:
    """Which of the paper's filters a record at `fs` Hz can take: each needs a frequency below
    Nyquist (fs / 2); the others are skipped with a reason."""
    declared = {"highpass": paper.highpass, "lowpass": paper.lowpass, "notch": paper.notch}
    nyquist = fs / 2.0
    applied: list[str] = []
    skipped: list[tuple[str, str]] = []
    for kind in KINDS:
        hz = declared[kind]
        if hz is None:
            continue
        if hz >= nyquist:
            skipped.append(
                (
                    kind,
                    f"{kind} {hz:g} Hz skipped: not below the Nyquist frequency of a record sampled at {fs:g} Hz "
                    f"({nyquist:g} Hz)",
                )
            )
        else:
            applied.append(kind)
    return FilterPlan(fs, paper.highpass, paper.lowpass, paper.notch, tuple(applied), tuple(skipped))


@lru_cache(maxsize=64)
def _sos(fs: float, highpass: float | None, lowpass: float | None, notch: float | None) -> np.ndarray:
    """Second-order sections of the applied filters, in one cascade (one forward-backward pass)."""
    nyquist = fs / 2.0
    from scipy import signal as sps  # here: `check` prints headers (template_values) without filtering

    sections: list[np.ndarray] = []
    if highpass is not None:
        # Lower the one-pass cut-off so that the squared response is 3 dB down at `highpass`.
        sections.append(sps.butter(ORDER, highpass * _ONE_PASS, btype="highpass", output="sos", fs=fs))
    if notch is not None:
        b, a = sps.iirnotch(notch, NOTCH_Q, fs=fs)
        sections.append(sps.tf2sos(b, a))
    if lowpass is not None:
        # Raise it for the low-pass, up to just below Nyquist (a 40 Hz low-pass at 100 Hz).
        cut = min(lowpass / _ONE_PASS, _NEAR_NYQUIST * nyquist)
        sections.append(sps.butter(ORDER, cut, btype="lowpass", output="sos", fs=fs))
    return np.concatenate(sections) if sections else np.empty((0, 6))


def filter_signal(x: np.ndarray, p: FilterPlan) -> np.ndarray:
    """`x` (1-D, or leads × samples) through the plan's applied filters, zero-phase; a new array.
    Returns `x` itself when nothing applies or the signal is too short to filter."""
    sos = _sos(p.fs, p.value("highpass"), p.value("lowpass"), p.value("notch"))
    n = x.shape[-1]
    if len(sos) == 0 or n < 2:
        return x
    # Pad by about one period of the high-pass cut-off, so that the filter has settled before the
    # first drawn sample (scipy pads a few samples only). Mirrored (even), not point-reflected (odd,
    # scipy's default): many stored records start with a few samples of a cart's own settling
    # step, which an odd extension doubles into a step of several mV that a 0.05 Hz high-pass then
    # carries across the first seconds of the page (measured on the CinC samples: the worst 1 s
    # baseline off by up to 2.4 mV with odd, 0.7 mV with even padding).
    pad = 3 * (2 * len(sos) + 1)
    hp = p.value("highpass")
    if hp is not None:
        pad = max(pad, int(round(p.fs / hp)))
    from scipy import signal as sps

    x64 = np.asarray(x, dtype=np.float64)
    return np.asarray(sps.sosfiltfilt(sos, x64, axis=-1, padtype="even", padlen=min(pad, n - 1)))


class DrawnSignals(Mapping[str, np.ndarray]):
    """A record's signals as a page draws them: each lead filtered when first asked for, so a
    layout that shows three leads filters three."""

    def __init__(self, record: Record, p: FilterPlan):
        self._signals = record.signals
        self._plan = p
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, lead: str) -> np.ndarray:
        out = self._done.get(lead)
        if out is None:
            out = self._done[lead] = filter_signal(self._signals[lead], self._plan)
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._signals)

    def __len__(self) -> int:
        return len(self._signals)


def drawn_signals(record: Record, paper: Paper) -> Mapping[str, np.ndarray]:
    """The signals `compose` draws: the record's own when the paper declares no filter."""
    p = plan(paper, record.fs)
    if not p.applied:
        return record.signals
    return DrawnSignals(record, p)


def template_values(paper: Paper, fs: float) -> dict[str, Any]:
    """What header and footer templates see of the filter, under `paper`: `filter` (the printed
    text, '' when none), `band` (the pass band alone) and `highpass`, `lowpass`, `notch` (the
    applied frequencies, None for one declared but skipped), so a style can print its cart's way."""
    p = plan(paper, fs)
    return {
        "filter": p.text,
        "band": p.band,
        "highpass": p.value("highpass"),
        "lowpass": p.value("lowpass"),
        "notch": p.value("notch"),
    }


def describe(paper: Paper, fs: float) -> dict[str, Any] | None:
    """The filter of a page of a record at `fs` Hz, for its sidecar; None when the paper declares
    none. `highpass`, `lowpass`, `notch`: as declared (Hz, None: not declared); `applied` and
    `skipped`: their names; `notes`: why each skipped one was; `text`: what the footer prints."""
    p = plan(paper, fs)
    if not p.declared:
        return None
    return {
        "highpass": p.highpass,
        "lowpass": p.lowpass,
        "notch": p.notch,
        "applied": list(p.applied),
        "skipped": [kind for kind, _ in p.skipped],
        "notes": [why for _, why in p.skipped],
        "text": p.text,
        "method": f"zero-phase (forward-backward): Butterworth order {ORDER} per pass, -3 dB at the declared "
        f"cut-offs; notch Q {NOTCH_Q:g}",
    }
