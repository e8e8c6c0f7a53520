"""Measurements on the signal that a printout header shows when the record's metadata lacks them.

Machines print the ventricular rate; records rarely carry it. It is measured here with numpy
alone (no scipy in the core), in the spirit of Pan–Tompkins: a band-limited slope energy summed
over all leads (so one flat or noisy lead cannot hide the beats), a moving-window integral,
peaks at least 250 ms apart (up to 240 bpm) above a fraction of the typical beat's energy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .record import Record

_WORK_FS = 250.0  # the detector's working rate: QRS energy lies below 40 Hz


@dataclass(frozen=True)
class Rhythm:
    """R-peak times in seconds, and the rate and RR interval derived from them (None if < 2 beats)."""

    peaks: np.ndarray
    heart_rate: float | None  # beats per minute, from the mean RR
    rr: float | None  # mean RR interval, seconds


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average along the last axis, same length (edges use a shorter window)."""
    if n <= 1:
        return x
    c = np.cumsum(np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n // 2 + 1, n - n // 2 - 1)], mode="edge"), axis=-1)
    return (c[..., n:] - c[..., :-n]) / n


def detect_r_peaks(signals: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices (at `fs`) of QRS complexes in `signals` (leads × samples, mV)."""
    x = np.atleast_2d(np.asarray(signals, dtype=np.float64))
    # Bring the signal to about 250 Hz by block averaging: cheap, and a low-pass in itself.
    k = max(1, int(round(fs / _WORK_FS)))
    n = x.shape[1] // k
    if n < 8:
        return np.empty(0, dtype=np.int64)
    x = x[:, : n * k].reshape(x.shape[0], n, k).mean(axis=2)
    fw = fs / k
    # Low-pass (~25 ms average), slope over ~16 ms: the QRS is where the slope is steep.
    x = _moving_average(x, max(1, int(round(0.025 * fw))))
    lag = max(1, int(round(0.008 * fw)))
    d = np.zeros_like(x)
    d[:, lag:-lag] = x[:, 2 * lag :] - x[:, : -2 * lag]
    # Each lead normalised by its typical large slope, so leads weigh alike; then summed.
    scale = np.percentile(np.abs(d), 99, axis=1, keepdims=True)
    scale[scale <= 1e-9] = np.inf  # a flat lead contributes nothing
    energy = ((d / scale) ** 2).sum(axis=0)
    env = _moving_average(energy, max(1, int(round(0.1 * fw))))

    dist = max(1, int(round(0.25 * fw)))
    padded = np.pad(env, dist, mode="constant", constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * dist + 1).max(axis=1)
    cand = np.flatnonzero((env >= local_max) & (env > 0))
    if len(cand) == 0:
        return np.empty(0, dtype=np.int64)
    heights = env[cand]
    threshold = 0.3 * np.percentile(heights, 90)
    cand = cand[heights >= threshold]
    # Plateaus give neighbours of equal height: keep the first of any pair closer than `dist`.
    keep = [int(cand[0])]
    for c in cand[1:]:
        if c - keep[-1] >= dist:
            keep.append(int(c))
    return np.asarray(keep, dtype=np.int64) * k + k // 2


def measure_rhythm(record: Record) -> Rhythm:
    """R peaks, heart rate and RR interval of a record, from all of its leads."""
    if not record.signals:
        return Rhythm(np.empty(0), None, None)
    stack = np.stack(list(record.signals.values()))
    idx = detect_r_peaks(stack, record.fs)
    peaks = idx / record.fs
    if len(peaks) < 2:
        return Rhythm(peaks, None, None)
    # The ventricular rate as machines report it: beats over time (the mean RR), not the median
    # RR, which ignores ectopic beats (a sinus rhythm at 97 bpm with PACs beats at 107 bpm).
    rr = float(np.mean(np.diff(peaks)))
    return Rhythm(peaks, 60.0 / rr, rr)
