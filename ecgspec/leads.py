"""Lead names: one canonical spelling per lead, whatever a file or a spec writes."""

from __future__ import annotations

STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
EXTRA = ("V3R", "V4R", "V5R", "V7", "V8", "V9", "X", "Y", "Z")
CHEST = frozenset(("V1", "V2", "V3", "V4", "V5", "V6", "V3R", "V4R", "V5R", "V7", "V8", "V9"))

_BY_KEY = {name.lower(): name for name in (*STANDARD_12, *EXTRA)}
_ALIASES = {"vx": "X", "vy": "Y", "vz": "Z", "mlii": "II", "avr": "aVR", "avl": "aVL", "avf": "aVF"}


def canonical_lead(name: str) -> str | None:
    """'AVR', 'avr', 'aVR', '-aVR'? → 'aVR'; None for a name that is not a lead."""
    key = name.strip().lower().replace("lead", "").replace(" ", "").replace("_", "")
    return _ALIASES.get(key) or _BY_KEY.get(key)


def known_leads() -> tuple[str, ...]:
    return (*STANDARD_12, *EXTRA)
