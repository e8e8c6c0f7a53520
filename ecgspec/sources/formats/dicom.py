"""DICOM 12-lead ECG waveforms (pydicom, the optional `dicom` extra).

The first multiplex of the WaveformSequence: interleaved integer samples, each channel's
sensitivity (with its unit: uV, mV), correction factor and baseline, and its lead name in
ChannelSourceSequence's CodeMeaning ("Lead I", "Lead aVR"). Patient id, age and sex come
from the dataset's own attributes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...records import RecordError
from .common import FormatReader, lead_of, normalise_meta

_UNITS = {"uv": 1e-3, "µv": 1e-3, "mv": 1.0, "v": 1e3}


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError:
        raise RecordError("<dicom>", "reading DICOM needs pydicom: pip install 'ecgspec[dicom]'") from None
    return pydicom


class DicomReader(FormatReader):
    def _ds(self, path: Path, header_only: bool) -> Any:
        pydicom = _pydicom()
        self.check_size(path)
        try:
            return pydicom.dcmread(
                str(path),
                stop_before_pixels=False,
                specific_tags=None
                if not header_only
                else ["PatientID", "PatientAge", "PatientSex", "AcquisitionDateTime"],
            )
        except Exception as exc:  # pydicom's message may quote the file: only its kind is kept
            raise RecordError(path, f"not a readable DICOM file ({type(exc).__name__})") from None

    def metadata(self, path: Path) -> dict[str, Any]:
        return self._meta(self._ds(path, header_only=True))

    @staticmethod
    def _meta(ds: Any) -> dict[str, Any]:
        age = str(getattr(ds, "PatientAge", "") or "")
        return normalise_meta(
            {
                "patient": str(getattr(ds, "PatientID", "") or "") or None,
                "age": age.rstrip("Y").lstrip("0") or None if age.endswith("Y") else None,
                "sex": str(getattr(ds, "PatientSex", "") or "") or None,
                "date": str(getattr(ds, "AcquisitionDateTime", "") or "") or None,
            }
        )

    def signals(self, path: Path) -> tuple[dict[str, np.ndarray], float, dict[str, Any]]:
        ds = self._ds(path, header_only=False)
        try:
            mx = ds.WaveformSequence[0]
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
        if len(raw) != n * n_ch * np.dtype(dtype).itemsize or len(chans) != n_ch:
            raise RecordError(path, f"the waveform holds {len(raw)} bytes for {n_ch} channels × {n} samples")
        data = np.frombuffer(raw, dtype=dtype).reshape(n, n_ch).astype(np.float64)
        signals: dict[str, np.ndarray] = {}
        for j, ch in enumerate(chans):
            try:
                name = str(ch.ChannelSourceSequence[0].CodeMeaning)
            except (AttributeError, IndexError):
                continue
            lead = lead_of(name, self.fmt.lead_prefix)
            if lead is None:
                continue
            sens = float(getattr(ch, "ChannelSensitivity", 1.0) or 1.0)
            corr = float(getattr(ch, "ChannelSensitivityCorrectionFactor", 1.0) or 1.0)
            base = float(getattr(ch, "ChannelBaseline", 0.0) or 0.0)
            try:
                unit = str(ch.ChannelSensitivityUnitsSequence[0].CodeValue).lower()
            except (AttributeError, IndexError):
                unit = "uv"
            if unit not in _UNITS:
                raise RecordError(path, f"lead {lead} is in '{unit[:16]}', which is not a voltage")
            signals[lead] = (data[:, j] + base) * sens * corr * _UNITS[unit]
        return signals, fs, self._meta(ds)
