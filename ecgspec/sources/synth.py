"""Synthetic records, for scale tests only: never for correctness.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) of a heart vector, projected on each
lead's axis, with the written heart rate and additive noise. The leads are only roughly
consistent with one another (as with neurokit2's multi-lead simulator), so every ref and
record is marked `synthetic`, and artifacts carry the mark. Generation is seeded per record
from (synth declaration hash, seed, key): the same record comes out however it is reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..draw import draw, stream
from ..records import Record
from .base import Entry, RecordRef, SourceReader

# Lead axes: limb leads in the frontal plane (degrees, Cabrera), chest leads in the horizontal.
_FRONTAL = {"I": 0, "II": 60, "III": 120, "aVR": -150, "aVL": -30, "aVF": 90}
_HORIZONTAL = {"V1": 115, "V2": 90, "V3": 70, "V4": 50, "V5": 25, "V6": 0}
# (centre in fractions of the RR interval, width s, amplitude mV, frontal deg, horizontal deg)
_WAVES = (
    (-0.20, 0.025, 0.15, 55, 40),
    (-0.03, 0.010, -0.12, 120, 110),
    (0.0, 0.012, 1.2, 60, 30),
    (0.03, 0.012, -0.35, -90, 150),
    (0.28, 0.060, 0.30, 45, 30),
)


def _gain(lead: str, frontal: float, horizontal: float) -> float:
    if lead in _FRONTAL:
        return math.cos(math.radians(frontal - _FRONTAL[lead]))
    return math.cos(math.radians(horizontal - _HORIZONTAL.get(lead, 45)))


class SynthReader(SourceReader):
    adapter = "synth"
    synthetic = True

    def setup(self) -> None:
        self.width = max(5, len(str(self.decl.count - 1)))
        self.hash = self.program.hash_of("synth", self.name)

    def entries(self) -> Iterator[Entry]:
        for i in range(self.decl.count):
            key = f"synth-{i:0{self.width}d}"
            yield Entry(
                key=key,
                path=f"synth:{self.name}/{key}",
                patient=key,
                meta={"synthetic": True},
                fields={"key": key},
                locator=i,
            )

    def load(self, ref: RecordRef) -> Record:
        d = self.decl
        rng = stream(self.hash, d.seed, ref.key)
        rate_hz = float(draw(d.heart_rate, rng))
        noise = float(draw(d.noise, rng))
        n = round(d.duration * d.fs)
        t = np.arange(n) / d.fs
        rr = 1.0 / max(rate_hz, 0.2)
        beats = np.arange(rng.uniform(0.1, rr), d.duration + rr, rr)
        signals: dict[str, np.ndarray] = {}
        for lead in d.leads:
            x = np.zeros(n)
            for centre, width, amp, frontal, horizontal in _WAVES:
                g = amp * _gain(lead, frontal, horizontal)
                for b in beats:
                    c = b + centre * rr if centre < 0 else b + centre * min(rr, 1.0)
                    lo, hi = np.searchsorted(t, (c - 5 * width, c + 5 * width))
                    x[lo:hi] += g * np.exp(-0.5 * ((t[lo:hi] - c) / width) ** 2)
            if noise > 0:
                x += rng.normal(0.0, noise, n)
            signals[lead] = x
        return Record(
            id=ref.key,
            fs=float(d.fs),
            signals=signals,
            meta={"heart_rate": round(rate_hz * 60.0, 1), "synthetic": True},
            source=ref.path or "",
        )
