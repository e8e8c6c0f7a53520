"""Per-item random streams and draws from written distributions."""

from __future__ import annotations

import numpy as np

from ecgspec.draw import draw, fires, stream
from ecgspec.ir import Choice, Normal, Span, Uniform


def test_a_stream_depends_only_on_the_spec_hash_and_the_item_key() -> None:
    a = stream("abc", "ptbxl/00001", 0).random(4)
    assert np.array_equal(a, stream("abc", "ptbxl/00001", 0).random(4))
    assert not np.array_equal(a, stream("abc", "ptbxl/00001", 1).random(4))
    assert not np.array_equal(a, stream("abd", "ptbxl/00001", 0).random(4))


def test_draws_stay_within_their_distribution() -> None:
    rng = stream("h", 1)
    assert all(-3 <= draw(Uniform(lo=-3, hi=3), rng) <= 3 for _ in range(200))
    ints = {draw(Span(lo=1, hi=3, integer=True), rng) for _ in range(200)}
    assert ints == {1, 2, 3}
    assert all(0 <= draw(Normal(mu=0, sigma=5, lo=0, hi=1), rng) <= 1 for _ in range(200))
    assert draw(42.0, rng) == 42.0


def test_a_weighted_choice_follows_its_weights() -> None:
    rng = stream("h", 2)
    picks = [draw(Choice(options=("a", "b"), weights=(0.8, 0.2)), rng) for _ in range(4000)]
    assert 0.76 < picks.count("a") / len(picks) < 0.84


def test_fires_consumes_one_draw_whatever_p() -> None:
    r1, r2 = stream("h", 3), stream("h", 3)
    fires(0.0, r1)
    fires(1.0, r2)
    assert r1.random() == r2.random()
