"""Distortions: a clean rendered page → a scanned, photographed or aged one, exactly recorded.

    rng = ecgspec.draw.stream(spec_hash, record_id, variant)
    p = plan(program.get("distort", "scanned"), rng)     # which steps fire, every value drawn
    # the renderer applies p.scene while drawing the page, then:
    result = apply_raster(page, p.raster, px_per_mm=dpi / 25.4, background=paper_rgb)
    result.img, result.transform, result.records, result.max_warp_px

Modules: plan (drawing), registry (keyword → implementation, the Canvas), fields (smooth
random fields, gains, displacements), geometry / paper / crumple / sensor / annotations (the step
families; marks: what the annotations share), apply.

Annotations that write the record's id or words of its report read them from the item's facts:

    with item_facts(record=record.id, report=record.meta.get("report")):
        result = apply_raster(...)
"""

from ...ir import STEPS as _STEPS
from . import annotations, crumple  # noqa: F401  (each module registers its steps)
from .apply import Result, apply_raster, map_points
from .draw import Applied, Plan, draw_params, plan
from .marks import ItemFacts, item_facts
from .registry import RASTER, Canvas, raster

# Steps the renderer applies while it draws (planned here, applied there).
SCENE_OPS: frozenset[str] = frozenset(k for k, s in _STEPS.items() if s.stage == "scene")

__all__ = [
    "RASTER",
    "SCENE_OPS",
    "Applied",
    "Canvas",
    "ItemFacts",
    "Plan",
    "Result",
    "apply_raster",
    "draw_params",
    "item_facts",
    "map_points",
    "plan",
    "raster",
]
