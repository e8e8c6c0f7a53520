"""A corpus's render mix: which layout, paper and distortion pipeline an item is drawn with.

The PULSE recipe mixes clean and distorted renders about 1:1; a corpus declares the mix
(`layout = choice[…]`, `paper = …`, `distort = …`, `distorted = 50%`) and each item draws its
own from its stream, so the mix is the same whatever the order or sharding of a build.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..draw import draw, fires
from ..ir import Corpus


@dataclass(frozen=True)
class RenderChoice:
    layout: str
    paper: str
    distort: str | None  # None: a clean render


def draw_render(corpus: Corpus, rng: np.random.Generator) -> RenderChoice:
    """One item's render. Always takes the same draws, whether or not the item is distorted,
    so that changing `distorted` does not move the layouts and papers other items get."""
    layout = draw(corpus.layout, rng)
    paper = draw(corpus.paper, rng)
    distorted = fires(corpus.distorted, rng)
    pipeline = draw(corpus.distort, rng) if corpus.distort is not None else None
    return RenderChoice(str(layout), str(paper), str(pipeline) if distorted and pipeline is not None else None)
