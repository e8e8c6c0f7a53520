"""`layout`: which lead goes where on the page, and which time window each panel shows."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Decl, LeadMatrix, LeadName, Problem, Unit

Time = Annotated[float, Unit("time")]


class Layout(Decl):
    """A lead matrix: rows of panels, each column its own time window (`windows = staggered`,
    as real machines print), plus optional full-length rhythm strips under the grid."""

    kind: ClassVar[str] = "layout"

    leads: LeadMatrix = Field(
        description="lead matrix, rows separated by `|`",
        examples=["[I, aVR, V1, V4 | II, aVL, V2, V5 | III, aVF, V3, V6]"],
    )
    column: Time = Field(2.5, gt=0, le=120, description="duration of each column")
    rhythm: tuple[LeadName, ...] = Field((), description="leads printed as full-length strips")
    rhythm_duration: Time | None = Field(None, gt=0, le=120, description="length of rhythm strips (default: the row's)")
    windows: Literal["staggered", "simultaneous"] = Field(
        "staggered", description="staggered: column k shows [k·column, (k+1)·column); simultaneous: all from 0"
    )
    calibration: Annotated[float, Unit("voltage")] | None = Field(
        1.0, gt=0, le=10, description="height of the calibration pulse; `none` for no pulse"
    )
    separators: bool = Field(True, description="ticks between columns")
    labels: bool = Field(True, description="print lead names")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        widths = [len(r) for r in self.leads]
        common = max(set(widths), key=widths.count)
        for i, w in enumerate(widths):
            if w != common:
                out.append(
                    (
                        "leads",
                        f"row {i + 1} of the lead matrix has {w} leads, the others {common}",
                        "every row needs the same number of leads; the page is a grid",
                        ("row", i),
                    )
                )
        seen: set[str] = set()
        for r, row in enumerate(self.leads):
            for c, lead in enumerate(row):
                if lead in seen:
                    out.append(("leads", f"lead {lead} appears twice in the matrix", None, ("item", r, c)))
                seen.add(lead)
        return out
