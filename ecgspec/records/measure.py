"""R peaks and the heart rate a printout header shows when the record's metadata lacks them.

Machines print the ventricular rate; records rarely carry it. `measure_rhythm` finds the beats
with NeuroKit2 (imported on first use: it is slow to import) as a consensus over the leads:
each usable lead is cleaned (`nk.ecg_clean`) and searched (`nk.ecg_peaks`, method "neurokit"),
and a beat is kept where at least a third of those leads found a peak within 100 ms (an aberrant
ectopic beat may show in the chest leads alone) and the leads' summed slope confirms a QRS; its time is
the median of theirs. One flat or noisy lead cannot hide or invent beats.

`detect_r_peaks` is the earlier hand-written numpy detector (Pan–Tompkins-like slope energy
summed over leads), kept for comparison: bench/measure.py measures both against known beat
times and real records; the NeuroKit2 consensus won there (see the decision in that file).
"""

from __future__ import annotations

import warnings
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


_CLUSTER_S = 0.100  # peaks of different leads closer than this are one beat


def _nk_lead_peaks(x: np.ndarray, fs: float) -> np.ndarray | None:
    """NeuroKit2's R peaks on one lead (sample indices), or None where it cannot search it."""
    import neurokit2 as nk

    # NeuroKit2 misses beats in the first and last half second (its filters and moving averages
    # settle there): the lead is searched mirrored out by one second at both ends.
    pad = min(len(x) - 1, int(fs))
    padded = np.pad(x, pad, mode="reflect")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=nk.misc.NeuroKitWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        try:
            clean = nk.ecg_clean(padded, sampling_rate=fs, method="neurokit")
            _, info = nk.ecg_peaks(clean, sampling_rate=fs, method="neurokit")
        except (ValueError, IndexError, ZeroDivisionError, np.linalg.LinAlgError):
            return None
    peaks = np.asarray(info.get("ECG_R_Peaks", []), dtype=np.int64) - pad
    return peaks[(peaks >= 0) & (peaks < len(x))]


def detect_r_peaks_nk(signals: np.ndarray, fs: float) -> np.ndarray:
    """Sample indices of the beats in `signals` (leads × samples, mV): NeuroKit2 on each usable
    lead (finite, at least 0.1 mV peak to peak), then the beats at least half of them agree on."""
    x = np.atleast_2d(np.asarray(signals, dtype=np.float64))
    if x.shape[1] < int(2 * fs):
        return np.empty(0, dtype=np.int64)
    found: list[np.ndarray] = []
    for lead in x:
        if not np.all(np.isfinite(lead)) or float(np.ptp(lead)) < 0.1:
            continue
        peaks = _nk_lead_peaks(lead, fs)
        if peaks is not None:
            found.append(peaks)
    if not found:
        return np.empty(0, dtype=np.int64)
    need = max(1, -(-len(found) // 3))
    times = np.concatenate(found)
    owner = np.concatenate([np.full(len(p), i) for i, p in enumerate(found)])
    order = np.argsort(times, kind="stable")
    times, owner = times[order], owner[order]
    width = _CLUSTER_S * fs
    clusters: list[tuple[np.ndarray, np.ndarray]] = []
    start = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] - times[start] > width:
            if i - start >= need:
                clusters.append((times[start:i], owner[start:i]))
            start = i
    # Each beat at the peak of the lead that took part in the most beats, where it did (one lead
    # gives the same fiducial point on every beat, so RR intervals do not jitter between leads);
    # elsewhere the median of the leads' peaks.
    ref = -1
    if clusters:
        ref = int(np.argmax(np.bincount(np.concatenate([o for _, o in clusters]), minlength=len(found))))
    beats = [int(t[o == ref][0]) if np.any(o == ref) else int(np.median(t)) for t, o in clusters]
    # Two kept clusters closer than 200 ms (a split beat) become one.
    merged: list[int] = []
    for b in beats:
        if merged and b - merged[-1] < 0.2 * fs:
            continue
        merged.append(b)
    return _aligned(x, _confirmed(x, np.asarray(merged, dtype=np.int64), fs), fs)


def _aligned(x: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """The beats moved (by up to 100 ms) to where their 12-lead QRS best matches the median beat's,
    so every beat carries the same fiducial point: where a lead has two near-equal peaks, the
    per-lead peak jumps between them from beat to beat and the RR intervals would jitter."""
    w, reach = int(0.08 * fs), int(0.10 * fs)
    n = x.shape[1]
    inner = [i for i, b in enumerate(beats) if b - w - reach >= 0 and b + w + reach < n]
    if len(inner) < 3 or reach < 1:
        return beats
    centred = x - np.median(x, axis=1, keepdims=True)
    template = np.median(np.stack([centred[:, beats[i] - w : beats[i] + w] for i in inner]), axis=0)
    out = beats.copy()
    for i in inner:
        b = beats[i]
        scores = [float(np.sum(centred[:, b + k - w : b + k + w] * template)) for k in range(-reach, reach + 1)]
        out[i] = b + int(np.argmax(scores)) - reach
    return out


def _confirmed(x: np.ndarray, beats: np.ndarray, fs: float) -> np.ndarray:
    """The beats with a QRS-like slope: where the leads' summed slope (each lead scaled by its
    typical large slope) within 60 ms reaches 30% of the median beat's. NeuroKit2 finds peaks in
    quiet stretches at the record's ends, where nothing else is."""
    if len(beats) < 3:
        return beats
    d = np.abs(np.gradient(x, axis=1))
    scale = np.percentile(d, 99, axis=1, keepdims=True)
    scale[scale <= 1e-12] = np.inf
    energy = (d / scale).sum(axis=0)
    w = max(1, int(0.06 * fs))
    strength = np.array([energy[max(0, b - w) : b + w + 1].max() for b in beats])
    return beats[strength >= 0.3 * np.median(strength)]


def measure_rhythm(record: Record) -> Rhythm:
    """R peaks, heart rate and RR interval of a record, from all of its leads (NeuroKit2 consensus)."""
    if not record.signals:
        return Rhythm(np.empty(0), None, None)
    stack = np.stack(list(record.signals.values()))
    idx = detect_r_peaks_nk(stack, record.fs)
    peaks = idx / record.fs
    if len(peaks) < 2:
        return Rhythm(peaks, None, None)
    # The ventricular rate as machines report it: beats over time (the mean RR), not the median
    # RR, which ignores ectopic beats (a sinus rhythm at 97 bpm with PACs beats at 107 bpm).
    rr = float(np.mean(np.diff(peaks)))
    return Rhythm(peaks, 60.0 / rr, rr)
