"""Sequence lengths of a whole manifest, computed once and shared.

The length-grouped sampler and the max-length accounting need every item's exact length after image
expansion. Computing it means tokenising every conversation (one batched call per block of items) and
knowing every image's size for processors whose token count depends on it. Sizes come from the build's
`NAME.lengths.json` sidecar when it belongs to the manifest (same sha256), else from the image headers.
The result is cached on disk keyed by everything it depends on (manifest bytes, image folder, tokenizer,
processor, conversation format, max length), so every later start — a resume, another rank, another
node on a shared filesystem — reads it back instead of recomputing. Under torchrun, rank 0 computes and
the other ranks wait, then read the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runtime.data.manifest import Conversation
from runtime.train.encode import ItemEncoder, LengthPlan

BLOCK = 4096  # items per batched tokenizer call: large enough to amortise, small enough to show progress
DROPPED = (None, "image tokens cut by max length", "answer fully truncated")
CACHE_ENV = "ECGSPEC_CACHE_DIR"


def default_cache_dir() -> Path:
    """$ECGSPEC_CACHE_DIR/train-lengths, else the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "train-lengths"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ecgspec" / "train-lengths"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar_sizes(manifest: Path, sha256: str) -> dict[str, tuple[int, int]] | None:
    """Image (height, width) by item id from the build's NAME.lengths.json, when it describes this manifest."""
    path = manifest.with_name(manifest.name.rsplit(".", 1)[0] + ".lengths.json")
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("manifest_sha256") != sha256:
        return None  # a stale sidecar: the manifest was edited after the build
    try:
        return {i: (int(s[0]), int(s[1])) for i, s in zip(doc["ids"], doc["image_sizes"], strict=True) if s}
    except (KeyError, TypeError, ValueError, IndexError):
        return None  # a damaged sidecar: the sizes are read from the images instead


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header; PIL does not decode the pixels for this."""
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def tokenizer_fingerprint(encoder: ItemEncoder) -> str:
    """What the tokenisation depends on: the tokenizer's full serialisation and the image processor's config."""
    h = hashlib.sha256()
    backend = getattr(encoder.tokenizer, "backend_tokenizer", None)
    h.update((backend.to_str() if backend is not None else repr(encoder.tokenizer.get_vocab())).encode())
    h.update(type(encoder.processor).__name__.encode())
    image_processor = getattr(encoder.processor, "image_processor", None)
    if image_processor is not None:
        h.update(image_processor.to_json_string().encode())
    for attr in ("patch_size", "num_additional_image_tokens", "vision_feature_select_strategy"):
        h.update(f"{attr}={getattr(encoder.processor, attr, None)}".encode())
    return h.hexdigest()


def cache_key(manifest_hashes: Sequence[str], image_folder: Path | None, encoder: ItemEncoder) -> str:
    fmt = encoder.chat.format
    parts = [
        *manifest_hashes,
        str(image_folder),
        tokenizer_fingerprint(encoder),
        repr(fmt),
        str(encoder.max_length),
        "lengths/1",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _save(path: Path, plans: list[LengthPlan]) -> None:
    import io

    import numpy as np

    from ecgspec.atomic import write_atomic

    arrays: dict[str, Any] = {
        "length": np.array([p.length for p in plans], dtype=np.int32),
        "full_length": np.array([p.full_length for p in plans], dtype=np.int32),
        "dropped": np.array([DROPPED.index(p.dropped) for p in plans], dtype=np.int8),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buffer.getvalue())  # a reader never sees half a cache; the file mode follows the umask


def _load(path: Path, count: int) -> list[LengthPlan] | None:
    import numpy as np

    try:
        with np.load(path) as data:
            length, full, dropped = data["length"], data["full_length"], data["dropped"]
    except (OSError, KeyError, ValueError):
        return None
    if len(length) != count:
        return None
    return [
        LengthPlan(int(n), int(f), int(f) > int(n), DROPPED[int(d)])
        for n, f, d in zip(length, full, dropped, strict=True)
    ]


def compute(
    items: Sequence[Conversation],
    encoder: ItemEncoder,
    sizes: dict[str, tuple[int, int]],
    progress: Callable[[int, int], None] | None = None,
) -> list[LengthPlan]:
    """Exact plans for every item, a block of items per tokenizer call."""
    sized = encoder.needs_image_size()
    plans: list[LengthPlan] = []
    for start in range(0, len(items), BLOCK):
        block = items[start : start + BLOCK]
        shapes: list[tuple[int, int] | None] = []
        for item in block:
            if not sized or item.image is None:
                shapes.append(None)
            else:
                shapes.append(sizes.get(item.id) or image_size(item.image))
        plans += encoder.plan_many(block, shapes)
        if progress is not None:
            progress(len(plans), len(items))
    return plans


class Progress:
    """One status line on stderr: items planned, rate and time left."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.start = time.perf_counter()
        self.last = 0.0
        self.every = every_s

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter() - self.start
        if done < total and now - self.last < self.every:
            return
        self.last = now
        rate = done / now if now > 0 else 0.0
        left = (total - done) / rate if rate else 0.0
        print(
            f"ecgspec train: planning lengths {done:,}/{total:,} items ({rate:,.0f}/s, {left:,.0f} s left)",
            file=sys.stderr,
            flush=True,
        )


def plan_lengths(
    items: Sequence[Conversation],
    encoder: ItemEncoder,
    *,
    manifests: Sequence[Path],
    image_folder: Path | None = None,
    cache_dir: Path | None = None,
    is_main: bool = True,
    main_first: Any = None,
    say: Callable[[str], None] = print,
) -> list[LengthPlan]:
    """Every item's plan: from the cache when it is there, else computed (rank 0 first) and cached.

    `main_first` is a context manager factory that lets the main process run its body before the others
    (TrainingArguments.main_process_first); without one, every process plans for itself.
    """
    hashes = [file_sha256(Path(m)) for m in manifests]
    key = cache_key(hashes, image_folder, encoder)
    path = (cache_dir or default_cache_dir()) / f"{key}.npz"
    import contextlib

    with main_first() if main_first is not None else contextlib.nullcontext():
        cached = _load(path, len(items)) if path.is_file() else None
        if cached is not None:
            say(f"lengths of {len(items):,} items from the cache ({path})")
            return cached
        sizes: dict[str, tuple[int, int]] = {}
        for manifest, sha in zip(manifests, hashes, strict=True):
            sizes.update(sidecar_sizes(Path(manifest), sha) or {})
        start = time.perf_counter()
        plans = compute(items, encoder, sizes, Progress() if is_main else None)
        took = time.perf_counter() - start
        say(
            f"planned lengths of {len(items):,} items in {took:.1f} s"
            f" ({1e6 * took / max(len(items), 1):.0f} µs/item); cached as {path}"
        )
        if is_main:
            try:
                _save(path, plans)
            except OSError as exc:
                say(f"could not cache the lengths ({exc.strerror or exc}); the next start plans them again")
        return plans
