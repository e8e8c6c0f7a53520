"""Conversation formats as declared data (`runtime/configs/chat_formats.yaml`).

A format says how a dialogue is written out for a model: the system prompt, role names, separators, whether
the sequence opens with BOS and how the image placeholder is placed and tokenised. `llava_v1` is LLaVA's
`conv_llava_v1` field for field, so the PULSE recipe trains on the very sequences LLaVA's `preprocess_v1`
makes; `model` defers to the checkpoint's own chat template.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

FORMATS_FILE = Path(__file__).resolve().parents[1] / "configs" / "chat_formats.yaml"
DEFAULT_FORMAT = "llava_v1"


class FormatError(ValueError):
    """An unknown or malformed conversation format; one line for the user."""


@dataclass(frozen=True)
class ChatFormat:
    name: str
    style: Literal["separators", "chat_template"]
    system: str = ""
    roles: tuple[str, str] = ("USER", "ASSISTANT")
    sep: str = " "
    sep2: str = "</s>"
    bos: bool = True
    image: str = "<image>\n"
    image_chunks: bool = True

    @property
    def image_placeholder(self) -> str:
        """The placeholder text itself (`image` without the line break that follows it)."""
        return self.image.rstrip("\n")


def _parse(name: str, raw: dict[str, Any], source: Path) -> ChatFormat:
    fields = {"style", "system", "roles", "sep", "sep2", "bos", "image", "image_chunks"}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise FormatError(f"{source}: format {name!r}: unknown setting(s) {', '.join(unknown)}")
    style = raw.get("style")
    if style not in ("separators", "chat_template"):
        raise FormatError(f"{source}: format {name!r}: style must be `separators` or `chat_template`")
    values = dict(raw)
    if "roles" in values:
        roles = values["roles"]
        if not (isinstance(roles, list) and len(roles) == 2 and all(isinstance(r, str) for r in roles)):
            raise FormatError(f"{source}: format {name!r}: roles must be two names, e.g. [USER, ASSISTANT]")
        values["roles"] = tuple(roles)
    return ChatFormat(name=name, **values)


@cache
def _registry(path: Path = FORMATS_FILE) -> dict[str, ChatFormat]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    formats: dict[str, ChatFormat] = {}
    aliases: dict[str, str] = {}
    for name, raw in data.items():
        if not isinstance(raw, dict):
            raise FormatError(f"{path}: format {name!r}: expected a mapping of settings")
        if "alias" in raw:
            aliases[name] = str(raw["alias"])
        else:
            formats[name] = _parse(name, raw, path)
    for name, target in aliases.items():
        if target not in formats:
            raise FormatError(f"{path}: format {name!r} is an alias of unknown format {target!r}")
        formats[name] = formats[target]
    return formats


def available_formats() -> list[str]:
    return sorted(_registry())


def get_format(name: str) -> ChatFormat:
    formats = _registry()
    if name not in formats:
        close = difflib.get_close_matches(name, formats, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise FormatError(f"unknown conversation format {name!r} (known: {', '.join(sorted(formats))}){hint}")
    return formats[name]
