"""`source NAME from ADAPTER`: a database of records, its labels and its splits."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from .base import DataPath, Decl, Folds, Ident, LeadName, Problem, RefTo, Statement, Unit

SOURCE_ADAPTERS = ("wfdb", "ptbxl", "mimic", "code15", "cinc", "ecgqa", "table", "synth")


class Split(Statement):
    """`split by strat_fold { train = 1..8; val = 9; test = 10 }` (declared folds) or
    `split hash patient_id { train = 80%; test = 20% }` (patient-level hashing)."""

    keyword: ClassVar[str] = "split"
    takes_block: ClassVar[bool] = True
    open_block: ClassVar[str | None] = "parts"
    by: Annotated[str, Ident()] | None = Field(None, description="column of declared folds")
    hash: Annotated[str, Ident()] | None = Field(None, description="column hashed into shares (a patient id)")
    parts: dict[str, Annotated[Any, Folds()]] = Field(default_factory=dict, description="split name → folds or share")

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        if (self.by is None) == (self.hash is None):
            out.append(("by", "a split is either `by COLUMN` (folds) or `hash COLUMN` (shares)", None))
        shares = [v for v in self.parts.values() if isinstance(v, float)]
        if self.hash is not None:
            if len(shares) != len(self.parts):
                out.append(("hash", "a hashed split takes shares such as `train = 80%`", None))
            elif abs(sum(shares) - 1.0) > 1e-6:
                out.append(
                    (
                        "hash",
                        f"the shares add up to {sum(shares):.0%}, not 100%",
                        "for example `train = 70%` and `test = 30%`",
                    )
                )
        if self.by is not None and shares:
            out.append(("by", "a split by folds takes fold numbers such as `train = 1..8`", None))
        if self.by is not None and not shares:
            seen: dict[int, str] = {}
            for part, folds in self.parts.items():
                for f in folds:
                    if f in seen:
                        message = f"fold {f} is in both '{seen[f]}' and '{part}': a record would be on two sides"
                        out.append(("parts", message, "give each fold to one part"))
                        return out
                    seen[f] = part
        if not self.parts:
            out.append(("parts", "a split needs at least one part, such as `train = 1..8`", None))
        return out


class Source(Decl):
    """Records from a database: where they are, what they are labelled with, how they split."""

    kind: ClassVar[str] = "source"
    headers: ClassVar[dict[str, str]] = {
        "extends": "the source this one inherits from",
        "from": "the adapter: " + ", ".join(SOURCE_ADAPTERS) + ", or the name of a `format`",
    }
    statements: ClassVar[dict[str, type[Any]]] = {"split": Split}

    adapter: Annotated[str, Ident()] = Field(description="reader (from the `from` header)")
    root: Annotated[str, DataPath()] = Field(description="folder of the database", examples=['"data/ptbxl"'])
    index: Annotated[str, DataPath()] | None = Field(
        None, description="index table under the root (default: the database's own, e.g. ptbxl_database.csv)"
    )
    records: str | None = Field(None, description="glob of record files under the root")
    resolution: Literal["low", "high"] = Field("low", description="PTB-XL records100 (low) or records500 (high)")
    labels: Annotated[str, RefTo("labels")] | None = Field(None, description="label vocabulary")
    leads: tuple[LeadName, ...] | None = Field(None, description="leads to keep (default: the 12 standard)")
    fs: Annotated[float, Unit("frequency")] | None = Field(None, gt=0, description="resample to this rate")
    patient: Annotated[str, Ident()] | None = Field(
        None, description="column (or format `meta` field) holding the patient id"
    )
    limit: int | None = Field(None, ge=1, description="read at most this many records")
    split: tuple[Split, ...] = ()
    # The generic `table` adapter: an index whose columns say where each record is and what it is.
    key: Annotated[str, Ident()] | None = Field(None, description="index column holding the record id (table)")
    file: Annotated[str, Ident()] | None = Field(
        None, description="index column holding the record's file under the root: a WFDB record, .npy or .csv (table)"
    )
    codes: Annotated[str, Ident()] | None = Field(
        None, description="index column holding label codes separated by `,` `;` or spaces (table)"
    )
    report: Annotated[str, Ident()] | None = Field(None, description="index column holding the free-text report")
    sample_rate: Annotated[float, Unit("frequency")] | None = Field(
        None, gt=0, description="sampling rate of signals stored without one (.npy, .csv, CODE-15 HDF5)"
    )
    scale: Annotated[float, Unit("voltage")] | None = Field(
        None, gt=0, description="voltage of one stored unit in .npy/.csv/HDF5 signals (default 1 mV)"
    )
    measurements: Annotated[str, DataPath()] | None = Field(
        None, description="machine measurements table under the root (MIMIC-IV-ECG: machine_measurements.csv)"
    )
    waveforms: Annotated[str, RefTo("source")] | None = Field(
        None, description="the source holding the records that questions refer to (ECG-QA: a PTB-XL source)"
    )
    require_files: bool = Field(
        False, description="list only records whose signal file exists (a partial copy such as the shipped samples)"
    )

    def problems(self) -> list[Problem]:
        out: list[Problem] = []
        names = [n for sp in self.split for n in sp.parts]
        dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if dup is not None:
            out.append(("split", f"split part '{dup}' is declared twice", "name each part once across the splits"))
        if self.adapter == "ecgqa" and self.waveforms is None:
            out.append(
                (
                    "adapter",
                    "an ecgqa source needs `waveforms`, the PTB-XL source its questions refer to",
                    "for example `waveforms = ptbxl`",
                )
            )
        if self.adapter == "table" and self.file is None:
            out.append(
                (
                    "adapter",
                    "a table source needs `file`, the index column naming each record's file",
                    "for example `file = path`",
                )
            )
        return out
