"""LLaVA-format manifests: parsing, validation, image resolution.

A manifest is a JSON list (or JSONL, one item per line) of
``{"id", "image"?, "conversations": [{"from": "human"|"gpt"|"system", "value": str}, …]}``.
`ecgspec build` writes them at ``OUT/manifests/NAME.json`` with images under ``OUT/images/…`` and image
paths relative to ``OUT/images`` (``"ecginstruct/cinc2021/HR06000_v0.png"``); so the default image folder of a
manifest inside a ``manifests/`` folder is the ``images/`` folder beside it, and otherwise the manifest's own
folder. ``--image-folder`` overrides either (the released ECGInstruct.json is used with an explicit one).

Structural mistakes (no ``<image>`` for an item with an image, roles not alternating, an empty turn, …) stop
the run with one message naming the manifest and the item id. A missing image file is not a mistake in the
manifest but in the copy of the images: such items are skipped and counted, so one lost file does not kill
a multi-day run. Images are only stat()-ed here; they are decoded lazily by the dataset.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_PLACEHOLDER = "<image>"
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class ManifestError(ValueError):
    """A manifest that cannot be trained on; the message names the manifest and the item."""


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


@dataclass(frozen=True)
class Conversation:
    """One training item. `turns` alternate user/assistant starting with user; the `<image>` placeholder
    has been taken out of the first user turn (the chat template puts the image back where it belongs)."""

    id: str
    turns: tuple[Turn, ...]
    image: Path | None = None
    system: str | None = None
    source: str = ""

    def messages(self) -> list[dict[str, Any]]:
        """Chat messages in the processor's multimodal format (content = list of typed parts)."""
        out: list[dict[str, Any]] = []
        if self.system is not None:
            out.append({"role": "system", "content": [{"type": "text", "text": self.system}]})
        for i, turn in enumerate(self.turns):
            parts: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
            if i == 0 and self.image is not None:
                parts.insert(0, {"type": "image"})
            out.append({"role": turn.role, "content": parts})
        return out

    def text_chars(self) -> int:
        """Characters of text: a cheap proxy of sequence length for length-grouped batching."""
        return sum(len(t.text) for t in self.turns) + len(self.system or "")


@dataclass
class LoadReport:
    """What loading the manifests kept and skipped."""

    items: list[Conversation] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)  # "manifest: id (path)"
    duplicates: int = 0  # items whose id an earlier item already had
    first_duplicate: str = ""
    deduped: bool = False

    def summary(self) -> str:
        line = f"{len(self.items)} items"
        if self.missing_images:
            line += f"; skipped {len(self.missing_images)} with a missing image (first: {self.missing_images[0]})"
        if self.duplicates:
            what = "dropped (--dedupe)" if self.deduped else "kept (ids are not used in training; --dedupe drops them)"
            line += f"; {self.duplicates} with a duplicate id {what} (first: {self.first_duplicate})"
        return line


def default_image_folder(manifest: Path) -> Path:
    """OUT/images for OUT/manifests/X.json (the `ecgspec build` layout), else the manifest's folder."""
    parent = manifest.resolve().parent
    return parent.parent / "images" if parent.name == "manifests" else parent


def read_records(manifest: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, raw item) for a JSON list or a JSONL file."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{manifest}: cannot read: {exc.strerror or exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{manifest}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        yield from enumerate(data)
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno - 1, json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{manifest}:{lineno}: not valid JSON: {exc.msg}") from None


def parse_item(raw: Any, *, manifest: Path, position: int, image_folder: Path) -> Conversation:
    """Validate one raw item; raise ManifestError naming the manifest and the item."""
    if not isinstance(raw, dict):
        raise ManifestError(f"{manifest}: item #{position}: expected an object, got {type(raw).__name__}")
    item_id = str(raw.get("id", f"#{position}"))

    def fail(why: str) -> ManifestError:
        return ManifestError(f"{manifest}: item {item_id!r}: {why}")

    convs = raw.get("conversations")
    if not isinstance(convs, list) or not convs:
        raise fail("no `conversations` list")
    system: str | None = None
    turns: list[Turn] = []
    for k, conv in enumerate(convs):
        if not isinstance(conv, dict) or "from" not in conv or "value" not in conv:
            raise fail(f"turn {k}: expected {{'from': …, 'value': …}}")
        role = _ROLES.get(str(conv["from"]).lower())
        if role is None:
            raise fail(f"turn {k}: unknown role {conv['from']!r} (expected human, gpt or system)")
        value = conv["value"]
        if not isinstance(value, str) or not value.strip():
            raise fail(f"turn {k} ({conv['from']}) is empty")
        if role == "system":
            if k != 0:
                raise fail(f"turn {k}: a system turn may only come first")
            system = value
            continue
        expected = "user" if len(turns) % 2 == 0 else "assistant"
        if role != expected:
            raise fail(f"turn {k}: roles do not alternate (expected {'human' if expected == 'user' else 'gpt'})")
        turns.append(Turn(role, value))
    if len(turns) < 2:
        raise fail("needs at least one human turn and one gpt answer")
    if turns[-1].role != "assistant":
        raise fail("the last turn is a human turn with no answer")

    counts = [t.text.count(IMAGE_PLACEHOLDER) for t in turns]
    image_rel = raw.get("image")
    if image_rel is None:
        if sum(counts):
            raise fail(f"`{IMAGE_PLACEHOLDER}` in the text but the item has no `image`")
        return Conversation(item_id, tuple(turns), None, system, str(manifest))
    if not isinstance(image_rel, str) or not image_rel:
        raise fail("`image` must be a path (one image per item)")
    if counts[0] != 1 or sum(counts) != 1:
        raise fail(f"`{IMAGE_PLACEHOLDER}` must occur exactly once, in the first human turn (found {sum(counts)})")
    # LLaVA data puts the placeholder first ("<image>\n…") or, in older sets, last ("…\n<image>"); either way the
    # chat template re-inserts the image at the start of the turn.
    turns[0] = Turn("user", turns[0].text.replace(IMAGE_PLACEHOLDER, "").strip("\n"))
    image = Path(image_rel)
    if not image.is_absolute():
        image = image_folder / image
    return Conversation(item_id, tuple(turns), image, system, str(manifest))


def load_manifests(
    manifests: Iterable[Path], *, image_folder: Path | None = None, check_images: bool = True, dedupe: bool = False
) -> LoadReport:
    """Parse every manifest; items whose image file is missing are skipped and listed in the report.

    A repeated id is counted, not fatal: LLaVA's loader ignores ids, and merged or re-exported corpora repeat
    them. With `dedupe`, the later item of an id is dropped."""
    report = LoadReport(deduped=dedupe)
    seen: set[str] = set()
    for manifest in manifests:
        manifest = Path(manifest)
        folder = Path(image_folder) if image_folder is not None else default_image_folder(manifest)
        for position, raw in read_records(manifest):
            item = parse_item(raw, manifest=manifest, position=position, image_folder=folder)
            if item.id in seen:
                report.duplicates += 1
                report.first_duplicate = report.first_duplicate or f"{manifest.name}: {item.id}"
                if dedupe:
                    continue
            seen.add(item.id)
            if check_images and item.image is not None and not item.image.is_file():
                report.missing_images.append(f"{manifest.name}: {item.id} ({item.image})")
                continue
            report.items.append(item)
    return report
