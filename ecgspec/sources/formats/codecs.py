"""How samples are written in an export: a registry of codecs that a format names (`encoding = …`).

A codec turns the text found at a format's `data` path into numbers in the file's own units
(counts, before scale and offset): one array, or one array per lead for a codec that stores
leads apart (Philips XLI: one compressed chunk per lead). A wrong or corrupt payload is a
`CodecError` with words, which the reader reports as a skipped record.

Philips XLI is decoded by the `sierraecg` package (pip install 'ecgspec[philips]'), imported
when an XLI file is first read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Decoded = np.ndarray | list[np.ndarray]


class CodecError(ValueError):
    """Samples that cannot be decoded; the message says why, never the payload."""


@dataclass(frozen=True)
class Codec:
    name: str
    decode: Callable[[str], Decoded]
    description: str
    per_lead: bool = False  # decodes to one array per lead (the leads of one element)


_SPLIT_NUMBERS = re.compile(r"[\s,;]+")


def _text(text: str) -> np.ndarray:
    parts = [p for p in _SPLIT_NUMBERS.split(text.strip()) if p]
    try:
        return np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(i for i, p in enumerate(parts) if not _is_number(p))
        raise CodecError(f"sample {bad + 1} is not a number") from None


def _is_number(p: str) -> bool:
    try:
        float(p)
        return True
    except ValueError:
        return False


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("the samples are not valid base64") from None


def _binary(dtype: str) -> Callable[[str], Decoded]:
    def decode(text: str) -> Decoded:
        raw = _b64(text)
        size = np.dtype(dtype).itemsize
        if len(raw) % size:
            raise CodecError(f"{len(raw)} bytes is not a whole number of {size}-byte samples")
        return np.frombuffer(raw, dtype=dtype).astype(np.float64)

    return decode


def _xli(text: str) -> Decoded:
    raw = _b64(text)
    # Walk the chunk headers first (size: int32 LE, then 2 bytes, then the first sample's delta
    # base: int16 LE): a corrupt size would send the decoder backwards or past the end.
    offset, chunks = 0, 0
    while offset < len(raw):
        if offset + 8 > len(raw):
            raise CodecError(f"the XLI data ends inside the header of chunk {chunks + 1}")
        size = int.from_bytes(raw[offset : offset + 4], "little", signed=True)
        if size <= 0 or offset + 8 + size > len(raw):
            raise CodecError(f"XLI chunk {chunks + 1} claims {size} bytes, which the data does not hold")
        offset += 8 + size
        chunks += 1
    if not chunks:
        raise CodecError("the XLI data holds no chunks")
    try:
        from sierraecg.xli import xli_decode
    except ImportError:
        raise CodecError("Philips XLI needs the sierraecg package: pip install 'ecgspec[philips]'") from None
    try:
        leads = xli_decode(raw, [])
    except Exception as exc:  # a corrupt LZW stream fails inside sierraecg in many ways
        raise CodecError(f"the XLI data is corrupt ({type(exc).__name__})") from None
    return [np.asarray(x, dtype=np.float64) for x in leads]


CODECS: dict[str, Codec] = {
    c.name: c
    for c in (
        Codec("text", _text, "numbers as text, separated by spaces, commas or semicolons"),
        Codec("base64_int16", _binary("<i2"), "base64 of little-endian 16-bit integers"),
        Codec("base64_int16_be", _binary(">i2"), "base64 of big-endian 16-bit integers"),
        Codec("base64_int32", _binary("<i4"), "base64 of little-endian 32-bit integers"),
        Codec("base64_float32", _binary("<f4"), "base64 of little-endian 32-bit floats"),
        Codec("xli", _xli, "Philips XLI: base64 of one LZW-compressed delta chunk per lead", per_lead=True),
    )
}


def decode(encoding: str, text: str) -> Decoded:
    """The numbers written in `text` by the named codec; CodecError when they cannot be read."""
    codec = CODECS.get(encoding)
    if codec is None:
        raise CodecError(f"unknown encoding '{encoding}'; known: " + ", ".join(CODECS))
    return codec.decode(text)
