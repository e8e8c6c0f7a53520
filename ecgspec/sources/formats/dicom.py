"""DICOM 12-lead ECG waveforms (pydicom, the optional `dicom` extra).

A file's WaveformSequence holds multiplex groups: the rhythm strip, often the median beats
(1.2 s), sometimes more. The format's `group` names the one to read: by MultiplexGroupLabel
(`group = "RHYTHM"`, any case) or by index (`group = 0`); by default the group labelled RHYTHM,
else the longest. Each group holds interleaved integer samples, each channel's sensitivity
(with its unit: uV, mV), correction factor and baseline (an offset in the sensitivity's unit,
added after scaling, as DICOM PS3.3 C.10.9 and pydicom have it), and its lead name in
ChannelSourceSequence's CodeMeaning ("Lead I", "Lead aVR"). Patient id, age and sex come
from the dataset's own attributes; age is a number, the others stay text.

The group each file gives is counted while listing; `reader.notes` says which was read
(label, index, duration) and in how many files, for `ecgspec sources`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...records import RecordError
from ..base import Entry
from .common import FormatReader, lead_of, normalise_meta

_UNITS = {"uv": 1e-3, "µv": 1e-3, "mv": 1.0, "v": 1e3}
_HEADER_TAGS = ["PatientID", "PatientAge", "PatientSex", "AcquisitionDateTime", "WaveformSequence"]
MAX_NOTES = 8


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise RecordError("<dicom>", "reading DICOM needs pydicom: pip install 'ecgspec[dicom]'") from None
    return pydicom


def _label(mx: Any) -> str:
    return str(getattr(mx, "MultiplexGroupLabel", "") or "").strip()


def _duration(mx: Any) -> float:
    try:
        return int(mx.NumberOfWaveformSamples) / float(mx.SamplingFrequency)
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return 0.0


def choose_group(path: Path, groups: list[Any], wanted: str | int | None) -> int:
    """The index of the multiplex group to read: by label, by index, or RHYTHM else the longest."""
    if not groups:
        raise RecordError(path, "no readable ECG waveform (the WaveformSequence is empty)")
    labels = [_label(mx) for mx in groups]
    shown = ", ".join(
        f"{i}: {lab or '(no label)'} {_duration(mx):.1f} s"
        for i, (lab, mx) in enumerate(zip(labels, groups, strict=True))
    )
    if isinstance(wanted, int):
        if not 0 <= wanted < len(groups):
            raise RecordError(path, f"has no waveform group {wanted} ({len(groups)} groups: {shown})")
        return wanted
    if isinstance(wanted, str):
        for i, lab in enumerate(labels):
            if lab.lower() == wanted.strip().lower():
                return i
        raise RecordError(path, f"has no waveform group labelled {wanted[:32]} (groups {shown})")
    for i, lab in enumerate(labels):
        if lab.lower() == "rhythm":
            return i
    durations = [_duration(mx) for mx in groups]
    return durations.index(max(durations))


class DicomReader(FormatReader):
    def setup(self) -> None:
        super().setup()
        self._groups: Counter[tuple[str, int, int, float]] = Counter()

    def entries(self) -> Iterator[Entry]:
        self._groups.clear()  # counted afresh on each listing, as `skipped` is
        yield from super().entries()

    @property
    def notes(self) -> list[str]:
        """Which waveform group the listed files give: label, index, duration, how many files."""
        how = f'group = "{self.fmt.group}"' if isinstance(self.fmt.group, str) else f"group = {self.fmt.group}"
        if self.fmt.group is None:
            how = "RHYTHM, else the longest"
        out = []
        for (label, index, count, seconds), files in self._groups.most_common(MAX_NOTES):
            out.append(
                f"waveform group {label or '(no label)'} (index {index} of {count}, {seconds:.1f} s) "
                f"in {files} file{'s' if files != 1 else ''} ({how})"
            )
        if len(self._groups) > MAX_NOTES:
            out.append(f"… and {len(self._groups) - MAX_NOTES} other waveform groups")
        return out

    def _ds(self, path: Path, header_only: bool) -> Any:
        pydicom = _pydicom()
        self.check_size(path)
        try:
            if header_only:  # the samples stay on disk: read the multiplex headers only
                return pydicom.dcmread(str(path), specific_tags=_HEADER_TAGS, defer_size=1024)
            return pydicom.dcmread(str(path))
        except Exception as exc:  # pydicom's message may quote the file: only its kind is kept
            raise RecordError(path, f"not a readable DICOM file ({type(exc).__name__})") from None

    def _groups_of(self, path: Path, ds: Any) -> list[Any]:
        try:
            return list(ds.WaveformSequence)
        except (AttributeError, TypeError) as exc:
            raise RecordError(path, f"no readable ECG waveform (WaveformSequence: {type(exc).__name__})") from None

    def metadata(self, path: Path) -> dict[str, Any]:
        ds = self._ds(path, header_only=True)
        groups = self._groups_of(path, ds)
        i = choose_group(path, groups, self.fmt.group)
        self._groups[(_label(groups[i]), i, len(groups), round(_duration(groups[i]), 1))] += 1
        return self._meta(ds)

    @staticmethod
    def _meta(ds: Any) -> dict[str, Any]:
        age = str(getattr(ds, "PatientAge", "") or "")
        return normalise_meta(
            {
                "patient": str(getattr(ds, "PatientID", "") or "") or None,
                "age": age.rstrip("Y").lstrip("0") or None if age.endswith("Y") else None,
                "sex": str(getattr(ds, "PatientSex", "") or "") or None,
                "date": str(getattr(ds, "AcquisitionDateTime", "") or "") or None,
            },
            {"age": "number"},
        )

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        ds = self._ds(path, header_only=False)
        groups = self._groups_of(path, ds)
        mx = groups[choose_group(path, groups, self.fmt.group)]
        try:
            n_ch = int(mx.NumberOfWaveformChannels)
            n = int(mx.NumberOfWaveformSamples)
            fs = float(mx.SamplingFrequency)
            bits = int(mx.WaveformBitsAllocated)
            kind = str(mx.WaveformSampleInterpretation)
            raw = bytes(mx.WaveformData)
            chans = list(mx.ChannelDefinitionSequence)
        except (AttributeError, IndexError, ValueError, TypeError) as exc:
            raise RecordError(path, f"no readable ECG waveform (WaveformSequence: {type(exc).__name__})") from None
        dtype = {("SS", 16): "<i2", ("SL", 32): "<i4", ("US", 16): "<u2"}.get((kind, bits))
        if dtype is None:
            raise RecordError(path, f"samples are {kind[:8]} {bits}-bit, which ecgspec does not read")
        size = n * n_ch * np.dtype(dtype).itemsize
        # WaveformData is padded to an even length: a 1-byte excess is padding, anything else is not.
        if len(raw) not in (size, size + 1) or len(chans) != n_ch:
            raise RecordError(path, f"the waveform holds {len(raw)} bytes for {n_ch} channels × {n} samples")
        data = np.frombuffer(raw[:size], dtype=dtype).reshape(n, n_ch).astype(np.float64)
        signals: dict[str, np.ndarray] = {}
        for j, ch in enumerate(chans):
            try:
                name = str(ch.ChannelSourceSequence[0].CodeMeaning)
            except (AttributeError, IndexError):
                continue
            lead = lead_of(name, self.fmt.lead_prefix)
            if lead is None:
                continue
            try:
                sens = float(getattr(ch, "ChannelSensitivity", 1.0) or 1.0)
                corr = float(getattr(ch, "ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
                base = float(getattr(ch, "ChannelBaseline", 0.0) or 0.0)
            except (TypeError, ValueError):
                raise RecordError(path, f"lead {lead}: its sensitivity or baseline is not a number") from None
            try:
                unit = str(ch.ChannelSensitivityUnitsSequence[0].CodeValue).lower()
            except (AttributeError, IndexError):
                unit = "uv"
            if unit not in _UNITS:
                raise RecordError(path, f"lead {lead} is in '{unit[:16]}', which is not a voltage")
            if lead in signals:
                raise RecordError(path, f"lead {lead} appears twice in the waveform group")
            signals[lead] = (data[:, j] * sens * corr + base) * _UNITS[unit]
        return signals, fs, self._meta(ds)
