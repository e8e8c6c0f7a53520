"""Reading LLaVA manifests: the accepted shapes, the located errors, missing images skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.data.manifest import ManifestError, default_image_folder, load_manifests


def write(path: Path, items: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items))
    return path


def item(i: str = "a", image: str | None = "img.png", first: str = "<image>\nQ?", **extra) -> dict:
    out = {"id": i, "conversations": [{"from": "human", "value": first}, {"from": "gpt", "value": "A."}], **extra}
    if image is not None:
        out["image"] = image
    return out


def test_build_layout_resolves_images_under_the_output_images_folder(tiny_manifest):
    raw = json.loads(tiny_manifest.read_text())
    report = load_manifests([tiny_manifest])
    assert len(report.items) == len(raw) == 8 and not report.missing_images
    images = tiny_manifest.parents[1] / "images"
    assert default_image_folder(tiny_manifest) == images.resolve()
    assert [i.image for i in report.items] == [images.resolve() / r["image"] for r in raw]
    assert all(i.image is not None and i.image.is_file() for i in report.items)
    first = raw[0]["conversations"]
    assert report.items[0].turns[0].text == first[0]["value"].replace("<image>", "").strip("\n")
    assert [t.text for t in report.items[0].turns[1:]] == [c["value"] for c in first[1:]]


def test_image_folder_overrides_the_build_layout(tiny_manifest, tmp_path):
    raw = json.loads(tiny_manifest.read_text())
    report = load_manifests([tiny_manifest], image_folder=tmp_path)
    assert not report.items and len(report.missing_images) == len(raw)
    assert report.missing_images[0].endswith(f"({tmp_path / raw[0]['image']})")
    # the build's output folder itself is not where the images are
    wrong = load_manifests([tiny_manifest], image_folder=tiny_manifest.parents[1])
    assert not wrong.items
    right = load_manifests([tiny_manifest], image_folder=tiny_manifest.parents[1] / "images")
    assert len(right.items) == len(raw)


def test_jsonl_text_only_and_system_turns_are_accepted(tmp_path):
    lines = [
        item("t", image=None, first="Define QRS."),
        {
            "id": "s",
            "conversations": [{"from": "system", "value": "Be brief."}, *item(image=None, first="Hi")["conversations"]],
        },
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = load_manifests([path])
    assert [i.id for i in report.items] == ["t", "s"]
    assert report.items[1].system == "Be brief." and report.items[1].messages()[0]["role"] == "system"


def test_missing_images_are_skipped_and_counted(tmp_path):
    (tmp_path / "img.png").write_bytes(b"")
    path = write(tmp_path / "m.json", [item("ok"), item("lost", image="gone.png")])
    report = load_manifests([path])
    assert [i.id for i in report.items] == ["ok"]
    assert len(report.missing_images) == 1 and "lost" in report.summary() and "skipped 1" in report.summary()


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (item("x", first="Q without placeholder"), "`<image>` must occur exactly once"),
        (item("x", image=None, first="<image>\nQ"), "no `image`"),
        (
            {
                "id": "x",
                "image": "i.png",
                "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "human", "value": "again"}],
            },
            "do not alternate",
        ),
        (
            {
                "id": "x",
                "image": "i.png",
                "conversations": [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "  "}],
            },
            "is empty",
        ),
        ({"id": "x", "conversations": [{"from": "human", "value": "Q"}]}, "at least one"),
        ({"id": "x", "conversations": [{"from": "bot", "value": "Q"}]}, "unknown role"),
    ],
)
def test_bad_items_name_the_manifest_and_the_item(tmp_path, bad, why):
    path = write(tmp_path / "bad.json", [bad])
    with pytest.raises(ManifestError) as err:
        load_manifests([path])
    assert str(path) in str(err.value) and "'x'" in str(err.value) and why in str(err.value)


def test_invalid_json_is_reported_with_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n {"id": "a",\n')
    with pytest.raises(ManifestError, match=r"broken\.json:\d+:\d+: not valid JSON"):
        load_manifests([path])
