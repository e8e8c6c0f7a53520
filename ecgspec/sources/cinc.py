"""PhysioNet/CinC Challenge 2020/2021 records: WFDB headers with MAT v4 signals.

The challenge repackaged seven databases with one naming scheme; the prefix of a record's name
says where it came from. `# Dx` holds SNOMED-CT codes, which a `labels` declaration maps to the
challenge's abbreviations through its dx_mapping_scored.csv / dx_mapping_unscored.csv tables
(shipped in data/mappings/). No patient ids are published, so each record is its own patient.
"""

from __future__ import annotations

from .wfdb_folder import WfdbFolderReader

# Longest prefix first: "HR" before a one-letter prefix.
DATABASES: tuple[tuple[str, str], ...] = (
    ("HR", "PTB-XL"),
    ("JS", "Chapman-Shaoxing/Ningbo"),
    ("A", "CPSC 2018"),
    ("Q", "CPSC 2018 extra"),
    ("I", "St Petersburg INCART"),
    ("S", "PTB"),
    ("E", "Georgia 12-lead (G12EC)"),
)


class CincReader(WfdbFolderReader):
    adapter = "cinc"

    def database(self, key: str) -> str | None:
        for prefix, name in DATABASES:
            if key.startswith(prefix) and key[len(prefix) :].isdigit():
                return name
        return None
