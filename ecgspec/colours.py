"""Colour values: hex forms and the CSS names a designer is likely to write."""

from __future__ import annotations

NAMED = {
    "black": "#000000",
    "white": "#ffffff",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "pink": "#ffc0cb",
    "gray": "#808080",
    "grey": "#808080",
    "lightgray": "#d3d3d3",
    "lightgrey": "#d3d3d3",
    "darkgray": "#a9a9a9",
    "darkgrey": "#a9a9a9",
    "silver": "#c0c0c0",
    "salmon": "#fa8072",
    "lightpink": "#ffb6c1",
    "lightblue": "#add8e6",
    "lightgreen": "#90ee90",
    "navy": "#000080",
    "darkred": "#8b0000",
    "darkblue": "#00008b",
    "darkgreen": "#006400",
    "orange": "#ffa500",
    "yellow": "#ffff00",
    "ivory": "#fffff0",
    "beige": "#f5f5dc",
    "cream": "#fffdd0",
    "wheat": "#f5deb3",
    "tan": "#d2b48c",
    "brown": "#a52a2a",
    "maroon": "#800000",
    "teal": "#008080",
    "cyan": "#00ffff",
    "magenta": "#ff00ff",
    "purple": "#800080",
    "olive": "#808000",
    "coral": "#ff7f50",
}


def normalise_hex(text: str) -> str:
    """'#AbC' → '#aabbcc'; 6 and 8 digit forms are lower-cased."""
    digits = text.lstrip("#").lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def hex_to_rgb(hexcolour: str) -> tuple[int, int, int]:
    d = hexcolour.lstrip("#")
    return int(d[0:2], 16), int(d[2:4], 16), int(d[4:6], 16)
