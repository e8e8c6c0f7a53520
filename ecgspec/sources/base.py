"""What every record source shares: refs, the reader base class, and the adapter registry.

A reader does two things. `refs()` lists a source's records from its index alone (no signal
is read), in a stable order, each with its key, patient, split part, labels, raw codes, report
and metadata. `read(ref)` reads one record's signals into an `ecgspec.records.Record`
in mV under canonical lead names. An adapter subclass implements `entries()` (the index) and
`load()` (one record); the base class does splits, labels, limits, lead selection, missing
samples and resampling the same way for every database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..ir import Format, Source
from ..leads import STANDARD_12
from ..program import Program
from ..records import Record, RecordError, check_plausible, fill_nan
from .errors import Skipped, SourceError
from .labels import LabelSet, label_set
from .paths import Confinement, confinement, data_path, display, setting_pos
from .splits import Splitter, splitter_for

# The reason given for a record file that is a symbolic link leading out of the spec root and the
# data roots. It names neither the target nor anything in it.
OUTSIDE = "is a symbolic link that leads outside the spec root and the data roots; it was not read"

# A lead with more missing samples than this is not an ECG lead any more: the record is
# skipped. Fewer are filled in by interpolation and counted in meta["nan_samples"].
MAX_MISSING = 0.10


@dataclass(frozen=True)
class RecordRef:
    """One record of a source, as its index describes it."""

    key: str
    source: str
    patient: str | None = None
    split: str | None = None
    labels: tuple[str, ...] = ()
    codes: dict[str, float] = field(default_factory=dict)
    report: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    synthetic: bool = False
    qa: tuple[dict[str, Any], ...] = ()
    path: str | None = None  # the file read() opens (for messages and provenance)
    locator: Any = None  # adapter-specific: an HDF5 row, a base-source ref …


@dataclass
class Entry:
    """What an adapter knows about a record from its index; the base class makes it a RecordRef."""

    key: str
    path: str | None = None
    patient: str | None = None
    codes: dict[str, float] = field(default_factory=dict)
    report: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)  # index columns, for splits
    locator: Any = None
    qa: tuple[dict[str, Any], ...] = ()
    labels: tuple[str, ...] | None = None  # set by adapters that take labels from another source


class SourceReader:
    """Base of every adapter. Subclasses set `adapter` and implement `entries` and `load`."""

    adapter: ClassVar[str] = ""
    default_index: ClassVar[str | None] = None
    synthetic: ClassVar[bool] = False

    def __init__(self, program: Program, decl: Any, data_roots: Sequence[str | Path] | None = None):
        self.program = program
        self.decl = decl
        self.name: str = decl.name
        self.key: tuple[str, str] = (decl.kind, decl.name)
        self.data_roots = list(data_roots or [])
        self.skipped: list[Skipped] = []
        self.leads: tuple[str, ...] = tuple(getattr(decl, "leads", None) or STANDARD_12)
        self.labels: LabelSet | None = None
        self.root: Path = Path(".")
        # Where this source's files may really lie, links resolved: every record file is checked.
        self.confined: Confinement = confinement(program, self.key, "root", self.data_roots)
        if isinstance(decl, Source):
            self.root = self.path("root", decl.root, must_exist="dir")
            if decl.labels is not None:
                self.labels = label_set(program, decl.labels, self.data_roots)
        self.setup()

    # ---- for adapters ------------------------------------------------------------------------

    def setup(self) -> None:
        """Open what the adapter needs (its index); raise SourceError when it cannot."""

    def entries(self) -> Iterator[Entry]:
        raise NotImplementedError

    def load(self, ref: RecordRef) -> Record:
        raise NotImplementedError

    def path(self, field_: str, value: str, must_exist: str | None = None) -> Path:
        return data_path(self.program, self.key, field_, value, self.data_roots, must_exist=must_exist)

    def index_path(self, default: str | None = None) -> Path:
        """The source's index file: `index`, relative to the root, or the database's default."""
        rel = getattr(self.decl, "index", None) or default or self.default_index
        if rel is None:
            raise SourceError.at(
                self.program.position(self.key),
                f"source '{self.name}' has no `index`",
                f'set `index = "…"`, the table of records under {display(self.root)}',
            )
        field_ = "index" if getattr(self.decl, "index", None) else "root"
        p = self.path(field_, str(self.root / rel), must_exist="file")
        return p

    def error(self, field_: str, message: str, hint: str | None = None) -> SourceError:
        return SourceError.at(setting_pos(self.program, self.key, field_), message, hint)

    def skip(self, key: str, path: str | Path, reason: str) -> None:
        self.skipped.append(Skipped(key, display(path) if isinstance(path, Path) else path, reason))

    def outside(self, path: str | Path) -> bool:
        """Whether a file met in the data is a link that leads outside the allowed folders."""
        return self.confined.link_out(path)

    def skip_outside(self, key: str, path: str | Path) -> None:
        self.skip(key, Path(path), OUTSIDE)

    def confine(self, path: str | Path) -> Path:
        """`path`, or RecordError when it is a link that leads outside the allowed folders (the
        file is never opened, and the message names the link, not what it points at)."""
        if self.outside(path):
            raise RecordError(path, OUTSIDE)
        return Path(path)

    # ---- the contract ------------------------------------------------------------------------

    def split_names(self) -> list[str]:
        return [n for sp in getattr(self.decl, "split", ()) for n in sp.parts]

    def _splitter(self, split: str | None) -> Splitter | None:
        if not isinstance(self.decl, Source):
            if split is not None:
                raise SourceError.at(self.program.position(self.key), f"{self.key[0]} '{self.name}' has no splits")
            return None
        sp = splitter_for(self.decl, split)
        if split is not None and sp is None:
            from ..errors import did_you_mean

            names = self.split_names()
            raise SourceError.at(
                self.program.position(self.key),
                f"source '{self.name}' has no split '{split}'",
                did_you_mean(split, names)
                or (f"its splits are {', '.join(names)}" if names else "it declares no `split`"),
                code="unknown-split",
            )
        return sp

    def refs(self, split: str | None = None) -> Iterator[RecordRef]:
        """The source's records (or one split part's), in key order, from the index alone."""
        self.skipped = []
        splitter = self._splitter(split)
        limit = getattr(self.decl, "limit", None)
        count = 0
        for e in self.entries():
            part = None
            if splitter is not None:
                column = splitter.column
                value = e.fields.get(column)
                if value is None:
                    value = {"patient": e.patient or e.key, "key": e.key}.get(column)
                if value is None:
                    self.skip(e.key, e.path or self.root, f"has no '{column}' to split by")
                    continue
                if splitter.split.hash is not None and not str(value).strip():
                    value = e.key  # no patient id: the record is its own patient
                part = splitter.part(value)
                if split is not None and part != split:
                    continue
            labels: tuple[str, ...] = e.labels or ()
            if self.labels is not None and e.labels is None:
                unknown = self.labels.unknown(e.codes)
                if unknown and self.labels.unknown_policy == "skip":
                    self.skip(
                        e.key,
                        e.path or self.root,
                        f"unknown code{'s' * (len(unknown) > 1)} {', '.join(unknown)} "
                        f"(not in labels '{self.labels.name}')",
                    )
                    continue
                labels = self.labels.map(e.codes)
            yield RecordRef(
                key=e.key,
                source=self.name,
                patient=e.patient,
                split=part,
                labels=labels,
                codes=dict(e.codes),
                report=e.report,
                meta=dict(e.meta),
                synthetic=self.synthetic,
                qa=e.qa,
                path=e.path,
                locator=e.locator,
            )
            count += 1
            if limit is not None and count >= limit:
                return

    def read(self, ref: RecordRef) -> Record:
        """One record's signals in mV; RecordError (naming the file) for anything broken."""
        where = ref.path or str(self.root)
        try:
            rec = self.load(ref)
            rec = self._finish(rec, ref, where)
        except RecordError:
            raise
        except MemoryError:
            raise RecordError(where, "the record is too large to read") from None
        except OSError as exc:
            raise RecordError(where, f"cannot read record {ref.key}: {exc.strerror or type(exc).__name__}") from None
        except Exception as exc:
            # A library's message may quote the file it failed on: only the kind of failure is kept.
            raise RecordError(
                where, f"cannot read record {ref.key}: the file is malformed ({type(exc).__name__})"
            ) from None
        return rec

    def _finish(self, rec: Record, ref: RecordRef, where: str) -> Record:
        missing = [lead for lead in self.leads if lead not in rec.signals]
        if missing:
            raise RecordError(where, f"has no lead {', '.join(missing)} (it has {', '.join(rec.signals) or 'none'})")
        n = rec.n_samples
        if n < 2:
            raise RecordError(where, "the record holds fewer than 2 samples")
        nan = dict(rec.meta.get("nan_samples") or {})
        signals: dict[str, np.ndarray] = {}
        for lead in self.leads:
            x = np.asarray(rec.signals[lead], dtype=np.float64)
            if x.shape != (n,):
                raise RecordError(where, f"lead {lead} has {x.size} samples, the others {n}")
            if np.isinf(x).any():  # NaN is a missing sample; infinity is a broken file
                raise RecordError(where, f"implausible record: lead {lead} has infinite samples")
            bad = int((~np.isfinite(x)).sum())
            if bad:
                x, _ = fill_nan(x)
                nan[lead] = nan.get(lead, 0) + bad
            if nan.get(lead, 0) > MAX_MISSING * n:
                raise RecordError(where, f"lead {lead} is {nan[lead] / n:.0%} missing samples (NaN)")
            signals[lead] = x
        fs = rec.fs
        check_plausible(signals, fs, where)  # every record of every reader, before it is drawn
        target = getattr(self.decl, "fs", None)
        if target and abs(target - fs) > 1e-9:
            signals = {k: _resample(v, fs, target) for k, v in signals.items()}
            fs = float(target)
        meta = dict(rec.meta)
        for k, v in ref.meta.items():
            meta.setdefault(k, v)
        meta["nan_samples"] = {k: v for k, v in nan.items() if k in signals}
        meta["synthetic"] = ref.synthetic
        return Record(id=ref.key, fs=fs, signals=signals, meta=meta, source=f"{self.name}:{ref.key}")


def _resample(x: np.ndarray, fs: float, target: float) -> np.ndarray:
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(target / fs).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator)


# ---- the registry: adapter name → reader class ----------------------------------------------

_REGISTRY: dict[str, str] = {
    # module:class, imported on first use so that `ecgspec check` never loads h5py or pydicom;
    # a leading dot means a module of this package
    "ptbxl": ".ptbxl:PtbXlReader",
    "mimic": ".mimic:MimicReader",
    "code15": ".code15:Code15Reader",
    "cinc": ".cinc:CincReader",
    "ecgqa": ".ecgqa:EcgQaReader",
    "table": ".csv_index:TableReader",
    "wfdb": ".wfdb_folder:WfdbFolderReader",
    "synth": ".synth:SynthReader",
    # `format` adapters: a source `from FORMAT` is read by its format's adapter
    "xml": ".formats.xml:XmlReader",
    "csv": ".formats.csv:CsvReader",
    "json": ".formats.json:JsonReader",
    "dicom": ".formats.dicom:DicomReader",
}


def register(adapter: str, target: str) -> None:
    """Add an adapter: `register("edf", "mypkg.edf:EdfReader")` (a dotted module path is absolute)."""
    _REGISTRY[adapter] = target


def reader_class(adapter: str) -> type[SourceReader]:
    from importlib import import_module

    module, _, cls = _REGISTRY[adapter].partition(":")
    mod = import_module(module, __package__)  # ".ptbxl" is one of ours; "mypkg.edf" anyone's
    return getattr(mod, cls)


def adapters() -> list[str]:
    return sorted(_REGISTRY)


def open_source(program: Program, name: str, data_roots: Sequence[str | Path] | None = None) -> SourceReader:
    """A reader for the `source` or `synth` declaration `name` of a checked program."""
    decl = program.decls.get(("source", name)) or program.decls.get(("synth", name))
    if decl is None:
        from ..errors import did_you_mean

        names = [n for (k, n) in program.decls if k in ("source", "synth")]
        raise KeyError(
            f"no source or synth named '{name}'"
            + (f"; {did_you_mean(name, names)}" if did_you_mean(name, names) else "")
        )
    if decl.kind == "synth":
        return reader_class("synth")(program, decl, data_roots)
    assert isinstance(decl, Source)
    adapter = decl.adapter
    if adapter in _REGISTRY and adapter not in ("xml", "csv", "json", "dicom"):
        return reader_class(adapter)(program, decl, data_roots)
    fmt = program.decls.get(("format", adapter))
    if fmt is None:
        raise SourceError.at(
            setting_pos(program, ("source", name), "adapter"),
            f"source '{name}': unknown adapter '{adapter}'",
            "adapters are " + ", ".join(adapters()),
        )
    assert isinstance(fmt, Format)
    return reader_class(fmt.adapter)(program, decl, data_roots)
