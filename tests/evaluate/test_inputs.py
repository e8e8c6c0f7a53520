"""Bad input gets a message naming the file and the place; released files import with their quirks.
(The lmms-eval export is tested against lmms-eval itself in test_lmms_export.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecgspec.artifacts.plan_schema import ArtifactError, load_plan
from ecgspec.cli import main
from runtime.evaluate.released import import_items
from runtime.evaluate.score import read_predictions

from .helpers import Extract, Task, item, plan_of, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def _plan_file(tmp_path: Path) -> Path:
    task = Task(
        id="mc", form="multiple_choice", items=(item("a", "A", options=("x", "y")), item("b", "B", options=("x", "y")))
    )
    return plan_of(task).write(tmp_path / "plan.json")


def test_invalid_plan_names_the_file_and_the_item(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(_plan_file(tmp_path).read_text())
    data["tasks"][0]["items"][1]["target"] = "Q"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"bad.json.*\n.*tasks\[0\]\(id='mc'\).*target must be one of"):
        load_plan(bad)
    bad.write_text('{"schema": "ecgspec.plan/1",\n "suite": }')
    assert main(["score", str(bad), "--predictions", str(bad), "-o", str(tmp_path / "o")]) == 1
    assert "bad.json:2:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"id": "zz", "response": "A"}', "unknown item id 'zz'"),
        ('{"id": "a", "response": ', "invalid JSON"),
        ('{"id": "a"}', "no `response`"),
        ('{"id": "a", "response": "A"}', "a second response for item 'a'"),
    ],
)
def test_bad_predictions_line_is_reported_with_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    plan = load_plan(_plan_file(tmp_path))
    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "response": "A"}\n' + line + "\n")
    with pytest.raises(ArtifactError, match=rf"p.jsonl:2: .*{message}"):
        read_predictions(f, plan)


def test_released_pulse_outputs_are_read_by_question_id_and_text(tmp_path: Path) -> None:
    plan = load_plan(_plan_file(tmp_path))
    f = write_jsonl(
        tmp_path / "step-final.jsonl",
        [{"question_id": "a", "prompt": "p", "text": "A."}, {"question_id": "b", "prompt": "p", "text": "B"}],
    )
    assert {k: v.response for k, v in read_predictions(f, plan).items()} == {("a", 0): "A.", ("b", 0): "B"}


def test_released_import_joins_character_lists_and_reads_options(tmp_path: Path) -> None:
    q = "<image>\nIs there AF? Options: yes, no, not sure. Only answer based on the given Options without any explanation."
    recs = [
        {
            "id": "q1",
            "image": "x.png",
            "conversations": [{"from": "human", "value": list(q)}, {"from": "gpt", "value": ["yes"]}],
        },
        {
            "id": "q2",
            "image": "x.png",
            "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": list("not sure")}],
        },
    ]
    shell = {"id": "ecgqa", "form": "select_all", "labels": (), "extract": Extract()}
    items = import_items(shell, recs, src=tmp_path / "ecgqa-test.json", plan_dir=tmp_path)
    assert (
        items[0].turns[0].question.startswith("Is there AF? Options:") and "<image>" not in items[0].turns[0].question
    )
    assert items[0].options == ("yes", "no", "not sure") and items[0].target == ("yes",)
    assert items[1].target == ("not sure",)
    code = {
        "id": "code15",
        "form": "multi_label",
        "labels": ("RBBB", "ST", "SB"),
        "extract": Extract(answers=("NORM", "ABNORMAL")),
    }
    recs = [
        {"id": f"c{k}", "conversations": [{"from": "human", "value": "?"}, {"from": "gpt", "value": v}]}
        for k, v in enumerate(["ABNORMAL", "RBBB, ST", "STTC"])
    ]
    got = [it.target for it in import_items(code, recs, src=tmp_path / "c.json", plan_dir=tmp_path)]
    assert got == [("ABNORMAL",), ("RBBB", "ST"), ()]


def test_released_parquet_images_are_written_beside_the_plan(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from runtime.evaluate.released import read_released

    png = (ROOT / "docs/gallery/printout_muse.png").read_bytes()
    table = pa.Table.from_pylist(
        [
            {
                "id": "m1",
                "image": {"bytes": png, "path": "m1.png"},
                "image_path": "mmmu/m1.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nQ? A. a\nB. b\nC. c\nD. d"},
                    {"from": "gpt", "value": "C"},
                ],
            }
        ]
    )
    pq.write_table(table, tmp_path / "mmmu-ecg.parquet")
    shell = {"id": "mmmu", "form": "multiple_choice", "labels": (), "extract": Extract()}
    [it] = import_items(
        shell,
        read_released(tmp_path / "mmmu-ecg.parquet"),
        src=tmp_path / "mmmu-ecg.parquet",
        plan_dir=tmp_path / "plans",
    )
    assert it.target == "C" and it.options == ("a", "b", "c", "d")
    assert (tmp_path / "plans" / it.image).read_bytes() == png
