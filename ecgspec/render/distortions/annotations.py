"""Annotation raster steps: handwriting, stamp, qr, marker.

What people and machines add to a printout after it is printed: a clinician's note in pen, a
rubber stamp with a date, a QR code, a marker loop around a complex or a highlighter stroke.
Each is drawn in its own frame, placed (`place clear`: on blank paper; `over`: anywhere, over
the traces too) and inked as a multiply (`marks.ink`), so a trace under a mark stays at least
as dark as it was. Each step's record holds `marks`: per mark, what was drawn and its `quad` and
`box` in final-image pixels (see marks.py).

Letters are Hershey vector fonts (lettering.py): a script face for handwriting, sans faces for
stamps. A hand's irregularity goes into the strokes: letters of uneven size on a wandering
baseline, a slant, a smooth wobble of the pen, and pressure that thins and thickens the line.

Every value a step draws is drawn whatever the declared parameters (a `choice` of text, a
`shape any`), so that the record, which holds what was resolved, replays to the same bytes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
import segno

from . import lettering
from .marks import (
    SS,
    ascii_text,
    choose_centre,
    crop_to_ink,
    current_facts,
    downsample,
    half_extent,
    ink,
    ink_texture,
    mark_record,
    report_words,
)
from .registry import Canvas, clamp, hex_rgb, raster, rgb_hex

NOTES = (
    "Seen",
    "NAD",
    "Reviewed",
    "cf. old ECG",
    "?AF",
    "repeat ECG",
    "OK",
    "Dr. M",
    "SR",
    "query LVH",
    "copy to notes",
)
STAMPS = ("RECEIVED", "COPY", "REVIEWED", "SCANNED", "FILED", "CONFIDENTIAL")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
PEN_MM = 0.3  # a ballpoint's line
QR_QUIET = 3  # modules of blank around a code (the standard's 4 is for codes beside other print)
QR_INK = (17, 17, 17)  # toner black
LINE_CHARS = 24  # a note wraps at this many characters a line


def _text_choice(params: Mapping[str, Any], defaults: tuple[str, ...], u: float) -> str:
    """The declared (or drawn) text, else one of `defaults` picked by `u`."""
    text = params.get("text")
    return ascii_text(str(text)) if text else defaults[min(int(u * len(defaults)), len(defaults) - 1)]


def _frame(strokes: list[np.ndarray], pad: float) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Strokes moved so that their bounds start at `pad`, and the (height, width) that holds them
    with `pad` on every side."""
    if not strokes:
        return [], (1, 1)
    points = np.vstack(strokes)
    lo, hi = points.min(axis=0), points.max(axis=0)
    moved = [s - lo + pad for s in strokes]
    size = np.ceil(hi - lo + 2 * pad).astype(int)
    return moved, (int(size[1]), int(size[0]))


# ---- handwriting ---------------------------------------------------------------------------------


def _waves(rng: np.random.Generator, amplitude: float, wavelengths: tuple[float, float]) -> np.ndarray:
    """Three random plane waves (amplitude each, wavelength within `wavelengths`): (3, 4) rows
    of kx, ky, phase, amplitude, for `_wave_at`."""
    angle = rng.uniform(0.0, 2 * math.pi, 3)
    k = 2 * math.pi / rng.uniform(*wavelengths, 3)
    return np.c_[k * np.cos(angle), k * np.sin(angle), rng.uniform(0.0, 2 * math.pi, 3), np.full(3, amplitude)]


def _wave_at(waves: np.ndarray, points: np.ndarray) -> np.ndarray:
    phase = points @ waves[:, :2].T + waves[:, 2]
    return np.asarray(np.sin(phase) @ waves[:, 3])


def _handwrite(text: str, cap_px: float, pen_px: float, rng: np.random.Generator) -> np.ndarray:
    """Opacity (float32, page scale) of `text` written by hand with capitals `cap_px` high:
    lines of at most LINE_CHARS characters in one of two script hands, each letter of its own
    size (±5%) and height (±3% of a capital) on a rising or falling baseline, slanted a little
    more or less than the face, the pen wobbling by about 3% of a capital, its line 0.6–1.3 ×
    the pen's width with the pressure."""
    hand = lettering.HANDS[min(int(rng.random() * len(lettering.HANDS)), len(lettering.HANDS) - 1)]
    lines = textwrap.wrap(text, LINE_CHARS) or [text]
    pitch = lettering.CAP * float(rng.uniform(1.9, 2.3))
    slant = math.tan(math.radians(float(rng.uniform(-4.0, 10.0))))
    strokes: list[np.ndarray] = []
    for j, line in enumerate(lines):
        z = rng.normal(0.0, 1.0, (3, len(line)))
        drift = float(rng.normal(0.0, 0.03))
        indent = float(rng.uniform(0.0, 0.4)) * lettering.CAP
        for stroke in lettering.layout(
            line, hand, sizes=1 + 0.05 * z[0], rises=0.6 * z[1], gaps=0.5 * z[2], space=0.55
        ):
            s = lettering.smooth(stroke)
            s[:, 1] += j * pitch - drift * s[:, 0]
            s[:, 0] += indent - slant * s[:, 1]
            strokes.append(s)
    wobble_x = _waves(rng, 0.35, (12.0, 45.0))
    wobble_y = _waves(rng, 0.35, (12.0, 45.0))
    press = _waves(rng, 0.2, (8.0, 30.0))
    scale = cap_px * SS / lettering.CAP
    pen = pen_px * SS
    drawn, widths = [], []
    for s in strokes:
        moved = s + np.c_[_wave_at(wobble_x, s), _wave_at(wobble_y, s)]
        mid = (moved[:-1] + moved[1:]) / 2 if len(moved) > 1 else moved
        # Thinner where the pen lands and lifts, heavier where the pressure wave is high.
        t = np.linspace(0.0, 1.0, len(mid))
        ends = np.clip(np.minimum(t, 1.0 - t) * 6.0 + 0.55, 0.55, 1.0) if len(mid) > 2 else np.ones(len(mid))
        widths.append(pen * np.clip(1.0 + _wave_at(press, mid), 0.6, 1.3) * ends)
        drawn.append(moved * scale)
    placed, (h, w) = _frame(drawn, 2 * pen + 2 * SS)
    mask = np.zeros((h, w), np.uint8)
    lettering.draw(mask, placed, widths)
    alpha = downsample(mask)
    # Ballpoint ink is uneven: heavier where the pen pressed, lighter where it skated.
    cells = alpha.shape[1] / cap_px / 1.5
    alpha *= np.clip(0.85 + 0.15 * ink_texture(rng, alpha.shape, cells, 12.0), 0.5, 1.0)
    alpha *= float(rng.uniform(0.85, 0.97))
    return crop_to_ink(np.clip(alpha, 0.0, 1.0))


@raster("handwriting")
def handwriting(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A note in pen: the declared text, or words of the record's report (`source report`,
    `words` of them from a random place), or the record's id (`source record`); where the item's
    facts do not say, the declared text, else one of a few common notes (NOTES). `size` is the
    height of a capital; the line of writing is turned by `angle`. The record's `from` says where
    the text came from (`text`, `report` or `record`); a replayed record writes its `text` as it
    is, so a page is remade from its sidecar without the item's facts."""
    size = clamp(params["size"], 1.0, 40.0)
    angle = float(params.get("angle", 0.0))
    colour = hex_rgb(params["color"])
    place = params.get("place", "clear")
    words = int(clamp(params.get("words", 3), 1, 60))
    u_text, u_words = rng.random(2)
    facts = current_facts()
    source = params.get("source", "text")
    origin = params.get("from")
    if origin is not None:  # a record replayed: its text as drawn, whatever the facts now
        text = str(params["text"])
    elif source == "report" and facts.report and report_words(facts.report, words, u_words):
        text, origin = report_words(facts.report, words, u_words), "report"
    elif source == "record" and facts.record:
        text, origin = ascii_text(facts.record), "record"
    else:
        text, origin = _text_choice(params, NOTES, u_text), "text"
    mm = canvas.px_per_mm
    alpha = _handwrite(text or "?", size * mm, PEN_MM * mm, rng)
    centre = choose_centre(canvas, rng, half_extent(alpha.shape[1], alpha.shape[0], angle), place)
    quad = ink(canvas, alpha, colour, angle, centre)
    mark = mark_record(canvas, quad, kind="note", text=text)
    return {
        "text": text,
        "source": source,
        "from": origin,
        "words": words,
        "size": size,
        "angle": angle,
        "color": params["color"],
        "place": place,
        "marks": [mark],
    }


# ---- stamp -----------------------------------------------------------------------------------------


def _set(
    text: str, face: str, cap: float, fit: float, centre: tuple[float, float], turn: float = 0.0
) -> list[np.ndarray]:
    """`text` in `face` with capitals `cap` px high (narrowed to `fit` px wide if wider), centred
    on `centre` (the middle of its capitals), turned clockwise by `turn` radians."""
    scale = cap / lettering.CAP
    scale = min(scale, fit / max(lettering.width(text, face), 1e-6))
    strokes = lettering.layout(text, face)
    mid = np.array([lettering.width(text, face) / 2, -lettering.CAP / 2])
    c, s = math.cos(turn), math.sin(turn)
    rot = np.array([[c, -s], [s, c]])  # clockwise as seen, y down
    return [((st - mid) * scale) @ rot.T + np.asarray(centre) for st in strokes]


def _box_stamp(text: str, date: str, side: float, line: float) -> np.ndarray:
    """A rectangular stamp `side` px wide (supersampled): a double border, the word, the date."""
    w, h = side, side * (0.42 if date else 0.3)
    pad = 3 * line
    mask = np.zeros((round(h + 2 * pad), round(w + 2 * pad)), np.uint8)
    cv2.rectangle(mask, (round(pad), round(pad)), (round(pad + w), round(pad + h)), 255, round(line * 2.4), cv2.LINE_AA)
    inset = line * 4.5
    inner = ((round(pad + inset), round(pad + inset)), (round(pad + w - inset), round(pad + h - inset)))
    cv2.rectangle(mask, *inner, 255, max(1, round(line)), cv2.LINE_AA)
    cap = h * (0.3 if date else 0.4)
    word = _set(text, lettering.BOLD_SANS, cap, w * 0.8, (pad + w / 2, pad + h * (0.38 if date else 0.5)))
    lettering.draw(mask, word, cap * 0.12)
    if date:
        dcap = h * 0.15
        lettering.draw(mask, _set(date, lettering.SANS, dcap, w * 0.7, (pad + w / 2, pad + h * 0.74)), dcap * 0.12)
    return mask


def _round_stamp(text: str, date: str, side: float, line: float) -> np.ndarray:
    """A round stamp `side` px across (supersampled): two rings, the word around the top of the
    band between them, the date (or a star) across the middle."""
    r = side / 2
    pad = 3 * line
    n = round(side + 2 * pad)
    c = n / 2
    mask = np.zeros((n, n), np.uint8)
    centre = (round(c), round(c))
    cv2.circle(mask, centre, round(r - line * 1.2), 255, round(line * 2.4), cv2.LINE_AA)
    inner = r * 0.66
    cv2.circle(mask, centre, round(inner), 255, max(1, round(line)), cv2.LINE_AA)
    band = (r - line * 2.4 + inner) / 2  # radius of the middle of the band
    cap = (r - line * 2.4 - inner) * 0.62
    face = lettering.BOLD_SANS
    advances = [lettering.width(ch, face) * cap / lettering.CAP * 1.15 for ch in text]
    span = min(sum(advances) / band, math.radians(260))  # radians of arc the word takes
    squeeze = span / max(sum(advances) / band, 1e-6)
    phi = -span / 2  # from the top, clockwise
    strokes: list[np.ndarray] = []
    for ch, adv in zip(text, advances, strict=True):
        step = adv / band * squeeze
        mid = phi + step / 2
        at = (c + band * math.sin(mid), c - band * math.cos(mid))
        strokes += _set(ch, face, cap * squeeze**0.5, adv * 2, at, mid)
        phi += step
    lettering.draw(mask, strokes, cap * 0.12)
    if date:
        dcap = inner * 0.26
        lettering.draw(mask, _set(date, lettering.SANS, dcap, inner * 1.6, (c, c)), dcap * 0.13)
    else:
        star = _set("*", lettering.SANS, inner * 0.5, inner, (c, c))
        lettering.draw(mask, star, line * 1.5)
    return mask


@raster("stamp")
def stamp(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A rubber stamp: the declared word (else one of STAMPS) in a box or a ring `size` mm
    across, with a date drawn from the seed (1995–2024) when `date on`, turned by `angle`. Its
    ink is uneven: patchy where the pad was dry (`fade`: 0 solid, 1 mostly gone) and lighter
    toward one side, where the stamp was pressed less."""
    size = clamp(params["size"], 5.0, 200.0)
    angle = float(params.get("angle", 0.0))
    fade = clamp(params.get("fade", 0.3), 0.0, 1.0)
    colour = hex_rgb(params["color"])
    place = params.get("place", "over")
    u = rng.random(6)
    text = _text_choice(params, STAMPS, float(u[0])).upper()
    shape = params.get("shape", "any")
    if shape not in ("box", "round"):
        shape = "box" if u[1] < 0.5 else "round"
    date = ""
    if params.get("date", "on") == "on":
        date = f"{1 + int(u[2] * 28):02d} {MONTHS[int(u[3] * 12)]} {1995 + int(u[4] * 30)}"
    mm = canvas.px_per_mm
    line = 0.35 * mm * SS
    mask = (_box_stamp if shape == "box" else _round_stamp)(text, date, size * mm * SS, line)
    alpha = downsample(mask)
    # Patchy ink and a pressure gradient along a random direction.
    texture = ink_texture(rng, alpha.shape, 3.0, max(4.0, size / 0.8))
    ys, xs = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]].astype(np.float32)
    lean = float(u[5]) * 2 * math.pi
    ramp = (xs * math.cos(lean) + ys * math.sin(lean)) / max(alpha.shape)
    ramp -= ramp.min()
    density = np.clip(1.0 - fade * (0.75 + 0.55 * texture) - 0.35 * fade * ramp, 0.0, 1.0)
    alpha = crop_to_ink(alpha * density * float(rng.uniform(0.75, 0.95)))
    centre = choose_centre(canvas, rng, half_extent(alpha.shape[1], alpha.shape[0], angle), place)
    quad = ink(canvas, alpha, colour, angle, centre)
    mark = mark_record(canvas, quad, kind="stamp", text=text, shape=shape, date=date)
    return {
        "text": text,
        "shape": shape,
        "date": params.get("date", "on"),
        "size": size,
        "angle": angle,
        "fade": fade,
        "color": params["color"],
        "place": place,
        "marks": [mark],
    }


# ---- qr ---------------------------------------------------------------------------------------------


def qr_alpha(text: str, side: float) -> tuple[np.ndarray, Any]:
    """Opacity of a QR code (segno, error correction M) of `text`, `side` px wide with a quiet
    zone of QR_QUIET modules, and the segno symbol."""
    code = segno.make_qr(text, error="m", boost_error=False)
    modules = np.asarray(code.matrix, dtype=np.uint8)
    grid = np.pad(modules, QR_QUIET) * 255
    n = max(1, round(side * SS))
    mask = cv2.resize(grid, (n, n), interpolation=cv2.INTER_NEAREST)
    return downsample(mask), code


@raster("qr")
def qr(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A QR code of the declared text, or of the record's id (`source record`; where the item's
    facts do not say, the text, else "ECG"), `size` mm wide with its quiet zone, turned by
    `angle`. Printed with the page (its square blank of grid, as a printer that prints a code
    leaves it) or on a `label` (a sticker) of that colour. The record's `from` says where the
    text came from (`text` or `record`); a replayed record encodes its `text` as it is."""
    size = clamp(params["size"], 3.0, 200.0)
    angle = float(params.get("angle", 0.0))
    place = params.get("place", "clear")
    label = params.get("label")
    facts = current_facts()
    source = params.get("source", "text")
    origin = params.get("from")
    if origin is not None:  # a record replayed: its text as encoded, whatever the facts now
        text = str(params["text"])
    elif source == "record" and facts.record:
        text, origin = facts.record, "record"
    else:
        text, origin = str(params.get("text") or "ECG"), "text"
    alpha, code = qr_alpha(text, size * canvas.px_per_mm)
    centre = choose_centre(canvas, rng, half_extent(alpha.shape[1], alpha.shape[0], angle), place)
    # Printed with the page, the code's square is paper (the printer leaves the grid out there);
    # a label is a sticker of its own colour.
    card = hex_rgb(label) if label else canvas.background
    quad = ink(canvas, alpha, QR_INK, angle, centre, label=card)
    side = code.symbol_size(border=0)[0]
    mark = mark_record(canvas, quad, kind="qr", text=text, version=code.version, modules=side, quiet=QR_QUIET)
    return {
        "text": text,
        "source": source,
        "from": origin,
        "size": size,
        "angle": angle,
        "label": label,
        "place": place,
        "module_mm": round(size / (side + 2 * QR_QUIET), 4),
        "marks": [mark],
    }


# ---- marker -----------------------------------------------------------------------------------------


def _stroke_mask(shape: str, size: float, width: float, rng: np.random.Generator) -> np.ndarray:
    """A stroke, supersampled: an open loop of 1.05–1.3 turns around an ellipse `size` px wide
    (a hand circling something), or a line `size` px long with a slight bow."""
    w = max(1, round(width))
    if shape == "circle":
        a = size / 2 * float(rng.uniform(0.85, 1.1))
        b = a * float(rng.uniform(0.55, 0.95))
        turns = float(rng.uniform(1.05, 1.3))
        start = float(rng.uniform(0.0, 2 * math.pi))
        theta = start + np.linspace(0.0, 2 * math.pi * turns, 240)
        k = np.arange(1, 4)[:, None]
        wobble = 1.0 + (rng.normal(0.0, 0.03, (3, 1)) * np.cos(k * theta + rng.uniform(0, 2 * math.pi, (3, 1)))).sum(0)
        # Each turn a little wider than the last, as a hand's loops are.
        spread = 1.0 + 0.06 * (theta - start) / (2 * math.pi)
        xs, ys = a * wobble * spread * np.cos(theta), b * wobble * spread * np.sin(theta)
    else:
        length = size * float(rng.uniform(0.8, 1.2))
        t = np.linspace(-0.5, 0.5, 60)
        bow = float(rng.uniform(-0.04, 0.04)) * length
        xs, ys = t * length, bow * (1 - 4 * t * t) + rng.normal(0.0, 0.002 * length) * np.sin(9 * t)
    pad = w + 4
    x0, y0 = xs.min() - pad, ys.min() - pad
    mask = np.zeros((round(ys.max() - y0 + pad), round(xs.max() - x0 + pad)), np.uint8)
    points = np.c_[xs - x0, ys - y0].round().astype(np.int32)
    cv2.polylines(mask, [points], False, 255, w, cv2.LINE_AA)
    return mask


@raster("marker")
def marker(canvas: Canvas, params: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """`count` strokes of a felt-tip marker (1 mm, red, nearly opaque) or a highlighter (5 mm,
    yellow, translucent, streaky): loops `size` mm across or lines `size` mm long (±20%),
    mostly level (lines within ±6°, loops turned up to ±30°)."""
    count = int(clamp(params["count"], 0, 20))
    size = clamp(params["size"], 2.0, 300.0)
    tool = params.get("tool", "marker")
    highlighter = tool == "highlighter"
    width = clamp(params["width"] if params.get("width") is not None else 5.0 if highlighter else 1.0, 0.1, 30.0)
    colour_hex = params.get("color") or ("#f6e23c" if highlighter else "#c8102e")
    colour = hex_rgb(colour_hex)
    place = params.get("place", "over")
    mm = canvas.px_per_mm
    marks = []
    for _ in range(count):
        u_shape, u_tilt = rng.random(2)
        shape = params.get("shape", "any")
        if shape not in ("line", "circle"):
            shape = "line" if u_shape < 0.5 else "circle"
        tilt = float(u_tilt * 2 - 1) * (30.0 if shape == "circle" else 6.0)
        alpha = downsample(_stroke_mask(shape, size * mm * SS, width * mm * SS, rng))
        streaks = ink_texture(rng, alpha.shape, 2.0, max(3.0, alpha.shape[1] / (width * mm)))
        if highlighter:
            alpha *= np.clip(0.55 + 0.08 * streaks, 0.3, 0.7)
        else:
            alpha *= np.clip(0.9 + 0.06 * streaks, 0.7, 1.0)
        alpha = crop_to_ink(alpha)
        centre = choose_centre(canvas, rng, half_extent(alpha.shape[1], alpha.shape[0], tilt), place)
        quad = ink(canvas, alpha, colour, tilt, centre)
        marks.append(mark_record(canvas, quad, kind=shape, angle=round(tilt, 3)))
    return {
        "shape": params.get("shape", "any"),
        "tool": tool,
        "count": count,
        "size": size,
        "width": width,
        "color": rgb_hex(colour),
        "place": place,
        "marks": marks,
    }
