"""Measurements from the signal: rate, intervals, axes, ST levels and T polarity of a record.

The beats are the record's R peaks (`record.rhythm`: a NeuroKit2 consensus over the leads,
ecgspec.records.measure), so the printed header, the facts and these measures count the same
beats. Each beat is then delineated across all of its leads at once, as 12-lead machines do:

- baseline: the flattest 10 ms of the PR segment (least spatial velocity in the 80 ms before the
  QRS) of each beat, joined linearly from beat to beat and subtracted from every lead, so every
  level below is "against the PR baseline" and baseline wander cancels;
- QRS onset and offset: where the spatial velocity (root sum of squared slopes over the leads,
  low-passed at 80 Hz) rises above / falls below 10% of its peak in that QRS (dips under 20 ms before the peak and 40 ms after it
  bridged, so a notch between R and S does not end the QRS);
- T offset: the tangent method (the steepest descent after the T peak, extended to the baseline)
  on the three leads with the largest T wave, their median; P onset likewise on the three leads
  with the largest P wave, with the steepest rise before the P peak.

NeuroKit2's own delineation (`nk.ecg_delineate`, dwt/peak/cwt) was measured on the declared
generator (ecgspec.measurements.synthetic) with errors of 50-100 ms on PR, QRS and QT, because
it delineates one lead and assumes an upright QRS; it is therefore not used for the intervals.

Intervals are medians over the beats; `quality` is the share of beats on which the interval was
found and plausible (PR 60-400 ms, QRS 40-250 ms, QT 200-700 ms), `spread` its interquartile
range. Axes come from the net areas in I and aVF (aVF scaled by √3/2: an augmented lead sees the
frontal vector shortened) over the delineated P, QRS and T windows. T polarity is read on
the median T window of each lead: flat when both its highest and lowest point lie within
`FLAT_T_MV` of the baseline, biphasic when the smaller side reaches 30% of the larger (and
`FLAT_T_MV`). A measure that cannot be made is NOT_MEASURED; nothing here raises on a bad signal.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from .types import NOT_MEASURED, Measure, Measurements, Polarity

FLAT_T_MV = 0.05  # a T wave whose extremes stay within this of the baseline is flat
ST_AFTER_J_S = 0.060
_CACHE: OrderedDict[tuple[str, str, float, str], Measurements] = OrderedDict()
_CACHE_SIZE = 256
_WORK_FS = 500.0
_EDGE = 0.10  # QRS edges: where the spatial velocity crosses 10% of its peak over the quiet level
_PLAUSIBLE = {"pr": (60.0, 400.0), "qrs": (40.0, 250.0), "qt": (200.0, 700.0)}


def _signature(record: Any) -> tuple[str, str, float, str]:
    h = hashlib.blake2b(digest_size=16)
    for name, x in record.signals.items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    return (str(record.id), str(getattr(record, "source", "")), float(record.fs), h.hexdigest())


def measure_signal(record: Any) -> Measurements:
    """Every measure of `record` from its signal; computed once per record content and process."""
    key = _signature(record)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    result = _measure(record)
    _CACHE[key] = result
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def _method() -> str:
    import neurokit2 as nk

    return f"neurokit2 {nk.__version__} (R-peak consensus over leads; multi-lead delineation, tangent T end)"


def _lowpass(x: np.ndarray, fs: float, cut: float) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, min(cut, 0.45 * fs) / (fs / 2), output="sos")
    return np.asarray(sosfiltfilt(sos, x, axis=-1))


def _measure_of(values: list[float], beats: int) -> Measure:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    if len(v) == 0 or beats == 0:
        return NOT_MEASURED
    q1, q3 = np.percentile(v, [25, 75])
    return Measure(float(np.median(v)), len(v) / beats, float(q3 - q1))


def _angle_measure(angles: list[float], beats: int) -> Measure:
    a = np.asarray([x for x in angles if math.isfinite(x)], dtype=float)
    if len(a) == 0 or beats == 0:
        return NOT_MEASURED
    mean = math.degrees(math.atan2(np.mean(np.sin(np.radians(a))), np.mean(np.cos(np.radians(a)))))
    d = (a - mean + 180.0) % 360.0 - 180.0  # each beat's angle as a difference from the circular mean
    q1, med, q3 = np.percentile(d, [25, 50, 75])
    value = (mean + med + 180.0) % 360.0 - 180.0
    return Measure(float(value), len(a) / beats, float(q3 - q1))


def _crossing(v: np.ndarray, thr: float, peak: int, lo: int, hi: int, gap: int, forward: bool) -> float | None:
    """Where v, above `thr` at `peak`, last falls below it going forward (or backward) from `peak`
    within [lo, hi), bridging dips shorter than `gap`; a fractional sample index."""
    step = 1 if forward else -1
    i, last_above = peak, peak
    while lo <= i + step < hi:
        i += step
        if v[i] >= thr:
            last_above = i
        elif abs(i - last_above) > gap:
            break
    else:
        return None
    j = last_above + step  # first sample below, next to the last above
    if not lo <= j < hi:
        return None
    a, b = v[last_above], v[j]
    frac = (a - thr) / (a - b) if a != b else 0.0
    return last_above + step * frac


def _tangent_end(x: np.ndarray, peak: int, stop: int, fs: float, rise: bool) -> float | None:
    """Where the tangent at the steepest slope between `peak` and `stop` (after the peak, or before
    it when `rise`) meets the baseline (0): the tangent method for T end and P onset."""
    lo, hi = (stop, peak) if rise else (peak, stop)
    if hi - lo < 3:
        return None
    seg = x[lo:hi]
    d = np.gradient(seg) * fs
    sign = np.sign(x[peak])
    # T end: the steepest return towards the baseline; P onset: the steepest departure from it.
    slope = d * sign if rise else -d * sign
    k = int(np.argmax(slope))
    if slope[k] <= 0:
        return None
    t = (lo + k) - (seg[k] / d[k]) * fs
    return float(t)


def _measure(record: Any) -> Measurements:
    method = _method()
    fs = float(record.fs)
    if not record.signals or fs <= 0:
        return Measurements(method)
    names = list(record.signals)
    raw = np.stack([np.asarray(record.signals[n], dtype=np.float64) for n in names])
    ok = np.all(np.isfinite(raw), axis=1) & (np.ptp(np.nan_to_num(raw), axis=1) >= 0.05)
    peaks = np.round(np.asarray(record.rhythm.peaks, dtype=float) * fs).astype(int)
    if not ok.any() or len(peaks) < 2:
        return Measurements(method, beats=len(peaks))
    rr = np.diff(peaks) / fs
    hr = Measure(float(60.0 / np.mean(rr)), float(np.mean((rr > 0.2) & (rr < 3.0))), _iqr(60.0 / rr))
    rr_var = Measure(float(np.std(rr) / np.mean(rr)), hr.quality) if len(rr) >= 2 else NOT_MEASURED
    up = math.ceil(_WORK_FS / fs)
    if up > 1:  # low rates (PTB-XL's 100 Hz) are delineated at ≥ 500 Hz, where a slope is not 20 ms wide
        # Cubic interpolation, not a sinc (resample_poly): its ringing starts the QRS ~10 ms early.
        from scipy.interpolate import CubicSpline

        t = np.arange(raw.shape[1])
        fine = np.arange((raw.shape[1] - 1) * up + 1) / up
        raw = CubicSpline(t, np.where(np.isfinite(raw), raw, 0.0), axis=1)(fine)
        fs, peaks = fs * up, peaks * up
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        beats = _delineate(raw, ok, peaks, fs)
    if beats is None:
        return Measurements(method, heart_rate=hr, rr_variation=rr_var, beats=len(peaks))
    x, per_beat = beats
    n = len(per_beat)
    ms = 1000.0 / fs

    def interval(name: str, a: str, b: str) -> list[float]:
        lo, hi = _PLAUSIBLE[name]
        out = []
        for beat in per_beat:
            if beat.get(a) is not None and beat.get(b) is not None:
                v = (beat[b] - beat[a]) * ms
                if lo <= v <= hi:
                    out.append(v)
        return out

    pr = _measure_of(interval("pr", "p_on", "qrs_on"), n)
    qrs = _measure_of(interval("qrs", "qrs_on", "qrs_off"), n)
    qt_values, bazett, fridericia = [], [], []
    for beat in per_beat:
        if beat.get("qrs_on") is None or beat.get("t_off") is None:
            continue
        qt = (beat["t_off"] - beat["qrs_on"]) * ms
        if _PLAUSIBLE["qt"][0] <= qt <= _PLAUSIBLE["qt"][1]:
            qt_values.append(qt)
            bazett.append(qt / math.sqrt(beat["rr"]))
            fridericia.append(qt / beat["rr"] ** (1 / 3))
    axes = {w: [_axis(x, names, beat, w, fs) for beat in per_beat] for w in ("p", "qrs", "t")}
    st, polarity = _st_and_t(x, names, ok, per_beat, fs)
    return Measurements(
        method=method,
        heart_rate=hr,
        rr_variation=rr_var,
        pr=pr,
        qrs=qrs,
        qt=_measure_of(qt_values, n),
        qtc_bazett=_measure_of(bazett, n),
        qtc_fridericia=_measure_of(fridericia, n),
        p_axis=_angle_measure([a for a in axes["p"] if a is not None], n),
        qrs_axis=_angle_measure([a for a in axes["qrs"] if a is not None], n),
        t_axis=_angle_measure([a for a in axes["t"] if a is not None], n),
        st_level=st,
        t_polarity=polarity,
        beats=n,
    )


def _iqr(v: np.ndarray) -> float:
    q1, q3 = np.percentile(v, [25, 75])
    return float(q3 - q1)


def _delineate(
    raw: np.ndarray, ok: np.ndarray, peaks: np.ndarray, fs: float
) -> tuple[np.ndarray, list[dict[str, float]]] | None:
    """The baseline-corrected leads and, per beat, its fiducial points (fractional samples) and RR."""
    n = raw.shape[1]
    if n < int(0.5 * fs):
        return None
    clean = np.where(np.isfinite(raw), raw, 0.0)
    filt = _lowpass(clean, fs, 40.0)  # levels, P and T: waves below 40 Hz
    # The QRS edges from a lighter low-pass: a 40 Hz one smears them by about 5 ms.
    slope = np.gradient(_lowpass(clean, fs, 80.0), axis=1) * fs
    vel = np.sqrt((slope[ok] ** 2).sum(axis=0))
    s = lambda sec: int(round(sec * fs))  # noqa: E731
    gap = max(1, s(0.040))
    beats: list[dict[str, float]] = []
    for k, r in enumerate(peaks):
        lo, hi = max(0, r - s(0.20)), min(n, r + s(0.20))
        if hi - lo < s(0.1):
            continue
        core = slice(max(lo, r - s(0.08)), min(hi, r + s(0.08)))
        top = core.start + int(np.argmax(vel[core]))
        # The quiet level: the median velocity in the 250 ms before the QRS (P wave and PR segment).
        quiet = float(np.percentile(vel[max(0, r - s(0.25)) : max(1, r - s(0.05))], 50)) if r > s(0.1) else 0.0
        thr = quiet + _EDGE * (vel[top] - quiet)
        on = _crossing(vel, thr, top, lo, hi, gap // 2, forward=False)
        off = _crossing(vel, thr, top, lo, hi, gap, forward=True)
        rr_prev = (r - peaks[k - 1]) / fs if k > 0 else (peaks[k + 1] - r) / fs
        beat: dict[str, float] = {"r": float(r), "rr": float(rr_prev)}
        if on is not None:
            beat["qrs_on"] = on
            # The PR segment: the flattest 10 ms in the 40 ms before the QRS (after the P wave).
            w = max(1, s(0.005))
            a = max(0, int(on) - s(0.04) - w)
            b = int(on) - max(1, s(0.004)) + w
            if b - a > 2 * w + 1:
                sm = np.convolve(vel[a:b], np.ones(2 * w + 1) / (2 * w + 1), mode="valid")
                beat["base"] = float(a + w + int(np.argmin(sm)))
        if off is not None:
            beat["qrs_off"] = off
        beats.append(beat)
    knots = [b for b in beats if "base" in b]
    if not knots:
        return None
    # The PR-baseline of each beat, joined linearly, subtracted from every lead.
    w = max(1, s(0.005))
    t = np.arange(n)
    x = np.empty_like(filt)
    kt = np.asarray([b["base"] for b in knots])
    for i in range(len(filt)):
        kv = np.asarray([filt[i, max(0, int(c) - w) : int(c) + w + 1].mean() for c in kt])
        x[i] = filt[i] - np.interp(t, kt, kv)
    for k, beat in enumerate(beats):
        nxt = beats[k + 1]["r"] if k + 1 < len(beats) else None
        prev_end = beats[k - 1].get("t_off") if k > 0 else None
        _t_end(x, ok, beat, nxt, fs)
        _p_onset(x, ok, beat, prev_end, fs)
    return x, beats


def _top_leads(x: np.ndarray, ok: np.ndarray, a: int, b: int, count: int = 3) -> list[tuple[int, int]]:
    """(lead, sample of its largest |deflection| in [a, b)) for the `count` usable leads with the largest wave."""
    if b - a < 3:
        return []
    seg = np.abs(x[:, a:b])
    amp = np.where(ok, seg.max(axis=1), -1.0)
    order = [int(i) for i in np.argsort(-amp)[:count] if amp[i] > 0.02]
    return [(i, a + int(np.argmax(seg[i]))) for i in order]


def _t_end(x: np.ndarray, ok: np.ndarray, beat: dict[str, float], nxt: float | None, fs: float) -> None:
    if "qrs_off" not in beat or "qrs_on" not in beat:
        return
    n = x.shape[1]
    j = int(beat["qrs_off"])
    a = j + int(0.06 * fs)
    # The T wave lies before the next beat's P: up to 70% of the way to the next R, at most 600 ms.
    b = min(n, int(beat["qrs_on"] + 0.62 * fs), int(beat["r"] + 0.7 * (nxt - beat["r"])) if nxt else n)
    ends = []
    for lead, peak in _top_leads(x, ok, a, b):
        end = _tangent_end(x[lead], peak, min(n, peak + int(0.25 * fs)), fs, rise=False)
        if end is not None and peak < end < peak + 0.3 * fs:
            ends.append(end)
    if ends:
        beat["t_off"] = float(np.median(ends))
        beat["t_win"] = float(a)


def _p_onset(x: np.ndarray, ok: np.ndarray, beat: dict[str, float], prev_end: float | None, fs: float) -> None:
    if "qrs_on" not in beat:
        return
    on = beat["qrs_on"]
    a = max(0, int(on - 0.30 * fs), int(prev_end + 0.02 * fs) if prev_end else 0)
    b = int(on - 0.03 * fs)
    starts = []
    for lead, peak in _top_leads(x, ok, a, b):
        start = _tangent_end(x[lead], peak, max(a, peak - int(0.12 * fs)), fs, rise=True)
        if start is not None and a - 0.02 * fs <= start < peak:
            starts.append(start)
    if starts:
        beat["p_on"] = float(np.median(starts))


def _axis(x: np.ndarray, names: list[str], beat: dict[str, float], wave: str, fs: float) -> float | None:
    """The frontal axis of one wave of one beat from its net areas in I and aVF."""
    if "I" not in names or "aVF" not in names:
        return None
    bounds = {
        "p": (beat.get("p_on"), beat["qrs_on"] - 0.01 * fs if "qrs_on" in beat else None),
        "qrs": (beat.get("qrs_on"), beat.get("qrs_off")),
        "t": (beat.get("qrs_off"), beat.get("t_off")),
    }[wave]
    a, b = bounds
    if a is None or b is None or b - a < 2:
        return None
    lo, hi = int(round(a)), int(round(b))
    i_net = float(x[names.index("I"), lo:hi].sum())
    f_net = float(x[names.index("aVF"), lo:hi].sum()) / (math.sqrt(3) / 2)
    if abs(i_net) + abs(f_net) < 1e-9:
        return None
    return math.degrees(math.atan2(f_net, i_net))


def _st_and_t(
    x: np.ndarray, names: list[str], ok: np.ndarray, beats: list[dict[str, float]], fs: float
) -> tuple[dict[str, Measure], dict[str, Polarity]]:
    n = x.shape[1]
    w = max(1, int(round(0.01 * fs)))
    st: dict[str, Measure] = {}
    polarity: dict[str, Polarity] = {}
    usable = [b for b in beats if "qrs_off" in b]
    for i, name in enumerate(names):
        if not ok[i]:
            continue
        levels = []
        for b in usable:
            c = int(round(b["qrs_off"] + ST_AFTER_J_S * fs))
            if w <= c < n - w:
                levels.append(float(x[i, c - w : c + w + 1].mean()))
        if usable:
            st[name] = _measure_of(levels, len(usable))
        highs, lows = [], []
        for b in beats:
            if "t_off" in b and "t_win" in b:
                lo, hi = int(b["t_win"]), int(round(b["t_off"]))
                if hi - lo >= 3:
                    highs.append(float(x[i, lo:hi].max()))
                    lows.append(float(x[i, lo:hi].min()))
        if highs:
            hi_v, lo_v = max(0.0, float(np.median(highs))), -min(0.0, float(np.median(lows)))
            big, small = max(hi_v, lo_v), min(hi_v, lo_v)
            if big < FLAT_T_MV:
                polarity[name] = "flat"
            elif small >= max(FLAT_T_MV, 0.3 * big):
                polarity[name] = "biphasic"
            else:
                polarity[name] = "positive" if hi_v >= lo_v else "negative"
    return st, polarity
