"""`synth`: synthetic records for scale tests. Never for correctness: they are marked as such."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from .base import Decl, LeadName, Unit, Varying

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


class Synth(Decl):
    """A generator of synthetic 12-lead signals."""

    kind: ClassVar[str] = "synth"

    count: int = Field(100, ge=1, description="number of records")
    leads: tuple[LeadName, ...] = Field(STANDARD_LEADS, description="leads generated")
    fs: Annotated[float, Unit("frequency")] = Field(500.0, gt=0, le=10000, description="sampling rate")
    duration: Annotated[float, Unit("time")] = Field(10.0, gt=0, le=600, description="record length")
    heart_rate: Varying[Annotated[float, Unit("frequency", "bpm")]] = Field(
        1.25, description="heart rate (stored in Hz: 60 bpm = 1 Hz)", examples=["uniform(50 bpm, 100 bpm)"]
    )
    noise: Varying[Annotated[float, Unit("voltage")]] = Field(0.01, description="additive noise level")
    seed: int = Field(0, description="seed of the generator")
