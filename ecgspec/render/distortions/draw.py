"""Planning a `distort` pipeline for one item: which steps fire, with which drawn values.

Planning is pure bookkeeping: it reads the IR and a random stream and returns a `Plan`, a list
of `Applied` steps with every parameter drawn. The renderer applies the scene steps while it
draws; `apply.apply_raster` applies the raster ones. A plan is JSON-able (`Plan.to_json`), so
the sidecar can hold it and any item can be replayed from it alone.

What the random stream guarantees
---------------------------------
Every *top-level* step of the pipeline takes exactly two draws from the item's stream, whatever
happens: one in `fires(p)` and one 64-bit sub-seed. Everything else about the step -- which child
of a `one of` runs, its parameters (however many draws their distributions take), the seed of
its noise -- comes from the step's own sub-stream, made from that sub-seed. Hence:

- editing one step (its `p`, its distributions, the children of a `one of`, turning it on or
  off with p = 0 / p = 1) never changes what any other step draws;
- a step that does not fire still takes its two draws, so the steps after it are unchanged;
- inserting, removing or reordering steps shifts the sub-streams of the steps after the edit
  (sub-streams are taken in order), and leaves those before it unchanged.

The same pipeline and the same stream state always give the same plan.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ...draw import draw, fires
from ...ir import Distort
from ...ir.distort import OneOfStep, Step

Stage = Literal["scene", "raster"]

# Seeds stay below 2**53 so that a sidecar read by JavaScript (doubles) keeps them exact.
SEED_BOUND = 2**53


@dataclass(frozen=True, slots=True)
class Applied:
    """One step that fired, with every parameter drawn: what the appliers receive."""

    op: str  # the step's keyword
    stage: Stage
    params: dict[str, Any]  # JSON-able: numbers, strings, None
    seed: int  # seeds the step's own noise, so that it is reproducible whatever the image size

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "stage": self.stage, "params": dict(self.params), "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Applied:
        return cls(op=data["op"], stage=data["stage"], params=dict(data["params"]), seed=int(data["seed"]))


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps that fired for one item, in pipeline order."""

    steps: tuple[Applied, ...] = field(default_factory=tuple)

    @property
    def scene(self) -> list[Applied]:
        """Scene-time steps (grid, trace, labels, header, padding, chart): the renderer's."""
        return [s for s in self.steps if s.stage == "scene"]

    @property
    def raster(self) -> list[Applied]:
        """Pixel steps, in order: `apply_raster`'s."""
        return [s for s in self.steps if s.stage == "raster"]

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.steps]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Plan:
        return cls(tuple(Applied.from_json(d) for d in data))

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Plan:
        """The plan a sidecar's `distortions` records ({op, params, seed}) describe: applying it
        to the same record, layout and paper gives the same image. Extra keys in `params`
        (what a step derived: a rotation's centre, a crop's box) are ignored by the appliers."""
        from ...ir import STEPS

        return cls(
            tuple(
                Applied(
                    op=d["op"],
                    stage=STEPS[d["op"]].stage,  # type: ignore[arg-type]
                    params=dict(d["params"]),
                    seed=int(d["seed"]),
                )
                for d in records
            )
        )


def _is_whole_number(step_cls: type[Step], name: str) -> bool:
    """Whether a parameter is declared as `varying(int)`: a draw from a continuous distribution
    (`uniform(1, 3)`) is then rounded, as the spec's author means a count."""
    annotation = step_cls.model_fields[name].annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(annotation)
        return bool(args) and args[0] is int
    return annotation is int


def _json_value(value: Any) -> Any:
    """Numbers as plain Python numbers (a Choice may hold numpy scalars), the rest as is."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def draw_params(step: Step, rng: np.random.Generator) -> dict[str, Any]:
    """Every parameter of a step (all fields but `p`), drawn in declaration order."""
    params: dict[str, Any] = {}
    for name in type(step).model_fields:
        if name == "p":
            continue
        value = _json_value(draw(getattr(step, name), rng))
        if _is_whole_number(type(step), name) and isinstance(value, float):
            value = round(value)
        params[name] = value
    return params


def _pick(children: tuple[Step, ...], rng: np.random.Generator) -> Step | None:
    """One child of a `one of`, by the children's `p` as weights (one draw). None when every
    weight is 0: a `one of` whose steps all have p = 0 runs nothing."""
    weights = np.array([c.p for c in children], dtype=np.float64)
    total = float(weights.sum())
    u = rng.random()  # drawn even when there is nothing to pick, to keep the sub-stream's shape
    if not children or total <= 0:
        return None
    index = int(np.searchsorted(np.cumsum(weights) / total, u, side="right"))
    return children[min(index, len(children) - 1)]


def plan(pipeline: Distort, rng: np.random.Generator) -> Plan:
    """The steps of `pipeline` that fire for one item, with their parameters drawn from `rng`
    (the item's stream, see ecgspec.draw.stream). Consumes exactly two draws of `rng` per
    top-level step; see the module's docstring for what that guarantees."""
    applied: list[Applied] = []
    for step in pipeline.steps:
        fired = fires(step.p, rng)
        sub = np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63, dtype=np.int64))))
        if not fired:
            continue
        seed = int(sub.integers(0, SEED_BOUND, dtype=np.int64))
        chosen = _pick(step.steps, sub) if isinstance(step, OneOfStep) else step
        if chosen is None:
            continue
        # A group picks one of its simple steps, whose stage is scene or raster.
        applied.append(
            Applied(
                op=chosen.keyword,
                stage=chosen.stage,  # type: ignore[arg-type]
                params=draw_params(chosen, sub),
                seed=seed,
            )
        )
    return Plan(tuple(applied))
