"""Randomness, written in the spec and drawn here: one seeded stream per item.

Every item (a record and a variant of it) gets its own generator, seeded from the spec's
content hash and the item's key, so that what an item draws does not depend on the order,
the number of workers or the sharding of a build.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .ir.base import Choice, LogNormal, Normal, Span, Uniform


def stream(spec_hash: str, *key: object) -> np.random.Generator:
    """The random stream of one item: a PCG64 seeded from sha256(spec hash, key parts)."""
    digest = hashlib.sha256("\x1f".join([spec_hash, *map(str, key)]).encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def draw(value: Any, rng: np.random.Generator) -> Any:
    """One value of a setting: itself when fixed, a draw when it is a distribution."""
    if isinstance(value, Uniform):
        return float(rng.uniform(value.lo, value.hi))
    if isinstance(value, Normal):
        x = float(rng.normal(value.mu, value.sigma))
        if value.lo is not None:
            x = max(x, value.lo)
        if value.hi is not None:
            x = min(x, value.hi)
        return x
    if isinstance(value, LogNormal):
        return float(rng.lognormal(value.mu, value.sigma))
    if isinstance(value, Span):
        if value.integer:
            return int(rng.integers(int(value.lo), int(value.hi) + 1))
        return float(rng.uniform(value.lo, value.hi))
    if isinstance(value, Choice):
        return value.options[int(rng.choice(len(value.options), p=np.asarray(value.weights)))]
    return value


def fires(p: float, rng: np.random.Generator) -> bool:
    """Whether a step with probability `p` fires. Always consumes one draw, so that the
    streams of later steps do not shift when a probability changes from 0 to 1."""
    return bool(rng.random() < p)
