"""A declared 12-lead ECG generator with known fiducial points, for testing and benchmarking measures.

Each wave is a sum of lobes with compact support, so its onset and offset are exact times:

- P: one half-sine lobe from P onset, `p_duration` long (starts and ends with a non-zero slope, as
  real P waves leave the baseline visibly);
- QRS: three back-to-back half-sine lobes, q (first 20% of the QRS), R (next 45%) and S (last 35%);
  QRS onset is the start of q, QRS offset (J) the end of S;
- T: a sin² rise to the T peak, then a quarter-cosine descent that ends at T offset with its
  steepest slope, where the tangent method finds the end exactly.

Every wave is a heart vector (x: the patient's left, y: down, z: anterior) times its lobe shape.
The net QRS area vector points at `axis` degrees in the frontal plane (q and S carry equal
perpendicular parts that cancel), as does the net P area (`p_axis`) and the T area (`t_axis`).
Limb leads are projections on 0° (I), 60° (II), 120° (III); the augmented leads follow by the
Goldberger relations (so aVF = √3/2 × the vector's vertical part); V1-V6 project on horizontal
directions. Mild Gaussian noise and a 0.3 Hz baseline wander are added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..leads import STANDARD_12

# Horizontal-plane directions of V1..V6, degrees from the patient's left towards anterior.
_PRECORDIAL = (120.0, 100.0, 80.0, 60.0, 30.0, 0.0)


@dataclass(frozen=True)
class SynthParams:
    heart_rate: float = 60.0  # bpm, constant RR
    pr: float = 0.160  # s, P onset to QRS onset
    qrs: float = 0.100  # s, QRS onset to offset
    qt: float = 0.400  # s, QRS onset to T offset
    axis: float = 60.0  # degrees, frontal QRS axis (net area)
    p_axis: float = 50.0
    t_axis: float = 40.0
    p_duration: float = 0.100  # s
    st: float = 0.0  # mV, ST displacement along the T vector between J and the T onset
    fs: float = 500.0
    duration: float = 10.0
    noise: float = 0.01  # mV, standard deviation of white noise
    wander: float = 0.05  # mV, amplitude of the baseline wander
    seed: int = 0


@dataclass(frozen=True)
class SynthECG:
    fs: float
    signals: dict[str, np.ndarray]  # lead → mV
    r_peaks: np.ndarray  # s, the peak of the R lobe (the beat times a detector should find)
    qrs_onsets: np.ndarray  # s
    params: SynthParams


def _unit(deg: float, z: float = 0.0) -> np.ndarray:
    a = math.radians(deg)
    return np.array([math.cos(a), math.sin(a), z])


def _half_sine(t: np.ndarray, start: float, length: float) -> np.ndarray:
    u = (t - start) / length
    return np.where((u >= 0) & (u <= 1), np.sin(np.pi * np.clip(u, 0, 1)), 0.0)


def _t_wave(t: np.ndarray, start: float, peak: float, end: float) -> np.ndarray:
    rise = np.where((t >= start) & (t < peak), np.sin(0.5 * np.pi * (t - start) / (peak - start)) ** 2, 0.0)
    fall = np.where((t >= peak) & (t <= end), np.cos(0.5 * np.pi * (t - peak) / (end - peak)), 0.0)
    return rise + fall


def synth_ecg(p: SynthParams) -> SynthECG:
    """A 12-lead record (dict of lead → mV) with the fiducial points of `p`."""
    rng = np.random.default_rng(p.seed)
    n = int(round(p.duration * p.fs))
    t = np.arange(n) / p.fs
    rr = 60.0 / p.heart_rate
    u = _unit(p.axis, -0.3)
    perp = _unit(p.axis + 90.0, 0.4)
    vec = np.zeros((3, n))
    onsets = np.arange(p.pr + 0.15, p.duration - p.qt - 0.05, rr)
    r_peaks = []
    for on in onsets:
        dq, dr, ds = 0.2 * p.qrs, 0.45 * p.qrs, 0.35 * p.qrs
        q_lobe = _half_sine(t, on, dq)
        r_lobe = _half_sine(t, on + dq, dr)
        s_lobe = _half_sine(t, on + dq + dr, ds)
        # Areas (lobe amplitude × 2/π × length) chosen so the perpendicular parts of q and S cancel.
        aq, ar = 0.25, 1.4
        as_ = aq * dq / ds
        vec += np.outer(aq * (-u + perp), q_lobe) + np.outer(ar * u, r_lobe) + np.outer(as_ * (-u - perp), s_lobe)
        r_peaks.append(on + dq + dr / 2)
        p_on = on - p.pr
        vec += np.outer(0.15 * _unit(p.p_axis, 0.1), _half_sine(t, p_on, p.p_duration))
        end = on + p.qt
        t_on = on + p.qrs + 0.35 * (p.qt - p.qrs)
        peak = end - 0.35 * (end - t_on)
        tv = 0.35 * _unit(p.t_axis, -0.2)
        vec += np.outer(tv, _t_wave(t, t_on, peak, end))
        if p.st:
            vec += np.outer(p.st * tv / np.linalg.norm(tv[:2]), ((t >= on + p.qrs) & (t < t_on)).astype(float))
    x, y, z = vec
    lead_i = x
    lead_ii = x * math.cos(math.radians(60)) + y * math.sin(math.radians(60))
    lead_iii = lead_ii - lead_i
    leads = {
        "I": lead_i,
        "II": lead_ii,
        "III": lead_iii,
        "aVR": -(lead_i + lead_ii) / 2,
        "aVL": lead_i - lead_ii / 2,
        "aVF": lead_ii - lead_i / 2,
    }
    for name, deg in zip(STANDARD_12[6:], _PRECORDIAL, strict=True):
        a = math.radians(deg)
        leads[name] = x * math.cos(a) + z * math.sin(a) + 0.2 * y
    phase = rng.uniform(0, 2 * np.pi)
    wander = p.wander * np.sin(2 * np.pi * 0.3 * t + phase)
    signals = {name: leads[name] + wander + p.noise * rng.standard_normal(n) for name in STANDARD_12 if name in leads}
    return SynthECG(p.fs, signals, np.asarray(r_peaks), np.asarray(onsets), p)
