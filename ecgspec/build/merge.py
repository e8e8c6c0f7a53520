"""The stored item results, merged in plan order into the corpus's artifacts.

prompts/NAME.jsonl   one task instance a line (id, image, family, form, question, answer,
                     target, options, provenance; a measured fact's provenance names the
                     method of each measure it used: `measurement: {"pr": "machine"}`)
manifests/NAME.json  the LLaVA conversation format: id, image (relative to OUT/images),
                     conversations alternating human/gpt, `<image>` once at the start of the first
                     human turn
manifests/NAME.lengths.json
                     per manifest item, in manifest order: its id, LLaVA's length estimate
                     (`modality_lengths`: words of every turn, +128 with an image, negative without
                     one) and the image's (height, width); tied to the manifest by its sha256, so a
                     trainer plans lengths for any tokenizer without opening a single image
Both are streamed to temporary files and renamed into place, so a reader never sees half of one
and memory does not grow with the corpus.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import AtomicWriter
from .work_items import WorkItem

IMAGE_TOKEN = "<image>"


@dataclass
class CorpusCounts:
    """What a corpus holds, for build.json and the summary table."""

    items: int = 0
    instances: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason → items
    failed: list[dict[str, str]] = field(default_factory=list)  # broken records: source, record, reason
    by: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unanswered: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # Per family: turns drawn of it, and those that no task of it could answer (left empty, not refilled).
    families: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def as_json(self) -> dict[str, Any]:
        out = {
            "items": self.items,
            "instances": self.instances,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": self.failed,
            "counts": {k: dict(sorted(v.items())) for k, v in sorted(self.by.items())},
            "unanswered": {t: dict(sorted(r.items())) for t, r in sorted(self.unanswered.items())},
        }
        if self.families:
            out["families"] = {
                f: {"drawn": c["drawn"], "filled": c["drawn"] - c["unfilled"], "unfilled": c["unfilled"]}
                for f, c in sorted(self.families.items())
            }
        return out


class _AtomicText:
    """A text file written to a temporary name and renamed into place on success (ecgspec.atomic),
    hashed as it is written."""

    def __init__(self, path: Path):
        self.w = AtomicWriter(path, text=True)
        self.h = hashlib.sha256()

    def write(self, text: str) -> None:
        self.w.write(text)
        self.h.update(text.encode())

    def commit(self) -> str:
        self.w.commit()
        return self.h.hexdigest()

    def abort(self) -> None:
        self.w.abort()


def conversation(result: dict[str, Any]) -> list[dict[str, str]]:
    """The LLaVA conversation of an item: `<image>` opens the first human turn, and only it."""
    out: list[dict[str, str]] = []
    for i, turn in enumerate(result["turns"]):
        question = f"{IMAGE_TOKEN}\n{turn['question']}" if i == 0 else turn["question"]
        out.append({"from": "human", "value": question})
        out.append({"from": "gpt", "value": turn["answer"]})
    return out


LLAVA_IMAGE_WORDS = 128  # what LLaVA's `modality_lengths` counts for an image


def modality_length(conversations: list[dict[str, str]], has_image: bool) -> int:
    """LLaVA's length estimate of an item: words over all turns, +128 with an image, negated without one."""
    words = sum(len(turn["value"].split()) for turn in conversations)
    return words + LLAVA_IMAGE_WORDS if has_image else -words


class _LengthsSidecar:
    """Column-wise item lengths, kept as small lists while the manifest streams (ints, not the text)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lengths: list[int] = []
        self.sizes: list[list[int] | None] = []

    def add(self, entry: dict[str, Any], size: list[int] | None) -> None:
        self.ids.append(entry["id"])
        self.lengths.append(modality_length(entry["conversations"], "image" in entry))
        self.sizes.append(size)

    def write(self, path: Path, manifest_name: str, manifest_sha256: str) -> str:
        doc = {
            "schema": "ecgspec.lengths/1",
            "manifest": manifest_name,
            "manifest_sha256": manifest_sha256,
            "estimate": "llava modality_lengths",
            "ids": self.ids,
            "modality_lengths": self.lengths,
            "image_sizes": self.sizes,
        }
        out = _AtomicText(path)
        try:
            out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        except BaseException:
            out.abort()
            raise
        return out.commit()


def merge_corpus(
    out: Path, name: str, results: Iterable[tuple[WorkItem, dict[str, Any]]]
) -> tuple[CorpusCounts, dict[str, str]]:
    """Write prompts/NAME.jsonl and manifests/NAME.json; return the counts and artifact hashes."""
    counts = CorpusCounts()
    prompts = _AtomicText(out / "prompts" / f"{name}.jsonl")
    try:
        manifest = _AtomicText(out / "manifests" / f"{name}.json")
    except BaseException:
        prompts.abort()
        raise
    images = hashlib.sha256()
    lengths = _LengthsSidecar()
    first = True
    try:
        manifest.write("[")
        for _item, r in results:
            status = r["status"]
            if status == "failed":
                counts.failed.append({"source": r["source"], "record": r["record"], "reason": r.get("reason", "")})
                counts.skipped["broken record"] += 1
                continue
            for task, reason in (r.get("unanswered") or {}).items():
                counts.unanswered[task][reason] += 1
            for family, c in (r.get("families") or {}).items():
                counts.families[family].update(c)
            if status != "ok":
                counts.skipped[r.get("reason", status)] += 1
                continue
            counts.items += 1
            images.update(f"{r['image']}:{r['image_sha256']}\n".encode())
            render = r["render"]
            counts.by["source"][r["source"]] += 1
            counts.by["layout"][render["layout"]] += 1
            counts.by["paper"][render["paper"]] += 1
            counts.by["distort"][render["distort"] or "clean"] += 1
            counts.by["turns"][str(len(r["turns"]))] += 1
            if r.get("synthetic"):
                counts.by["synthetic"]["yes"] += 1
            for label in r.get("labels") or ["(none)"]:
                counts.by["label"][label] += 1
            for i, t in enumerate(r["turns"]):
                counts.instances += 1
                counts.by["family"][t["family"]] += 1
                counts.by["form"][t["form"]] += 1
                counts.by["task"][t["task"]] += 1
                line = {
                    "id": f"{r['id']}/{i}",
                    "item": r["id"],
                    "image": r["image"],
                    "turn": i,
                    "family": t["family"],
                    "form": t["form"],
                    "task": t["task"],
                    "question": t["question"],
                    "answer": t["answer"],
                    "target": t["target"],
                    "options": t["options"],
                    "provenance": {
                        "source": r["source"],
                        "record": r["record"],
                        "variant": r["variant"],
                        "split": r["split"],
                        "patient": r["patient"],
                        "fact": t["fact"],
                        **({"measurement": t["measurement"]} if t.get("measurement") else {}),
                        **({"synth": t["synth"]} if t.get("synth") else {}),
                        **({"ground_truth": r["ground_truth"]} if r.get("ground_truth") else {}),
                        "labels": r.get("labels") or [],
                        "synthetic": bool(r.get("synthetic")),
                        **render,
                    },
                }
                prompts.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            entry = {"id": r["id"], "image": r["image"], "conversations": conversation(r)}
            if r.get("synthetic"):
                entry["synthetic"] = True
            manifest.write(("\n" if first else ",\n") + json.dumps(entry, ensure_ascii=False))
            lengths.add(entry, r.get("image_size"))
            first = False
        manifest.write("\n]\n")
        manifest_sha256 = manifest.commit()
        hashes = {
            f"prompts/{name}.jsonl": prompts.commit(),
            f"manifests/{name}.json": manifest_sha256,
            f"images/{name}/": images.hexdigest(),
        }
    except BaseException:
        prompts.abort()  # (nothing to do for one already committed)
        manifest.abort()
        raise
    hashes[f"manifests/{name}.lengths.json"] = lengths.write(
        out / "manifests" / f"{name}.lengths.json", f"{name}.json", manifest_sha256
    )
    return counts, hashes
