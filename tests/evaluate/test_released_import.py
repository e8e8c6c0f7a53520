"""`ecgspec import-released`: the released files' spellings are read (`conversation` in the report file),
references are read with the labels' synonyms, and a repeated id or a question without its option lines
is a worded error (exit 1) naming where, never an internal error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ecgspec.artifacts.plan_schema import ArtifactError, load_plan
from ecgspec.cli import main
from runtime.evaluate.released import import_items

from .helpers import Extract

ROOT = Path(__file__).resolve().parents[2]

SPEC = """import "layouts.ecg"
import "papers.ecg"

labels sup {
    vocabulary = [NORM, MI, STTC]
    synonyms   = [MI: ["myocardial infarction"], STTC: ["ST/T change"]]
}

suite mini version "1" {
    task mc {
        items   = "mc.json"
        form    = multiple_choice
        options = 4
        metrics = [accuracy]
    }
    task ml {
        items   = "ml.json"
        form    = multi_label
        labels  = sup
        metrics = [f1]
    }
}
"""

QUESTION = "<image>\nWhich? A. one\nB. two\nC. three\nD. four"


def _rec(id_: str, question: str, answer: Any, key: str = "conversations") -> dict[str, Any]:
    return {
        "id": id_,
        "image": f"{id_}.png",
        key: [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
    }


def _suite(tmp_path: Path, mc: list[dict[str, Any]], ml: list[dict[str, Any]]) -> Path:
    for name in ("layouts.ecg", "papers.ecg"):
        shutil.copy(ROOT / "specs" / name, tmp_path / name)
    (tmp_path / "mini.ecg").write_text(SPEC)
    (tmp_path / "mc.json").write_text(json.dumps(mc))
    (tmp_path / "ml.json").write_text(json.dumps(ml))
    return tmp_path / "mini.ecg"


def _import(tmp_path: Path, spec: Path) -> int:
    return main(
        [
            "import-released",
            str(spec),
            "--suite",
            "mini",
            "--released",
            str(tmp_path),
            "-o",
            str(tmp_path / "plan.json"),
        ]
    )


def test_references_are_read_with_the_labels_synonyms(tmp_path: Path) -> None:
    spec = _suite(
        tmp_path,
        [_rec("m1", QUESTION, "B")],
        [
            _rec("p1", "Which?", "Myocardial infarction"),
            _rec("p2", "Which?", "NORM"),
            _rec("p3", "Which?", "ST/T change, MI"),
        ],
    )
    assert _import(tmp_path, spec) == 0
    plan = load_plan(tmp_path / "plan.json")
    assert [it.target for it in plan.task("ml").items] == [("MI",), ("NORM",), ("MI", "STTC")]
    assert plan.task("mc").items[0].options == ("one", "two", "three", "four")


def test_a_repeated_id_in_one_file_is_a_worded_error_naming_both_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _suite(tmp_path, [_rec("m1", QUESTION, "B"), _rec("m2", QUESTION, "A"), _rec("m1", QUESTION, "C")], [])
    assert _import(tmp_path, spec) == 1
    err = capsys.readouterr().err
    assert "mc.json: item 3: id 'm1' is also the id of item 1 of the same file" in err
    assert "internal error" not in err and not (tmp_path / "plan.json").exists()


def test_an_id_in_two_files_is_a_worded_error_naming_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _suite(tmp_path, [_rec("x1", QUESTION, "B")], [_rec("p0", "Which?", "NORM"), _rec("x1", "Which?", "MI")])
    assert _import(tmp_path, spec) == 1
    err = capsys.readouterr().err
    assert f"ml.json: item 2: id 'x1' is also the id of item 1 of {tmp_path / 'mc.json'} (task mc)" in err
    assert "internal error" not in err


@pytest.mark.parametrize(
    "question,message",
    [
        ("<image>\nWhat is the rhythm?", "no option line for A, B, C, D (the task has 4 options"),
        (
            "Which? A. one\nB. two",
            "no option line for C, D (the task has 4 options, 'A. text' or '(A) text'; found A, B)",
        ),
    ],
)
def test_a_question_without_its_option_lines_is_a_worded_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], question: str, message: str
) -> None:
    spec = _suite(tmp_path, [_rec("m1", QUESTION, "B"), _rec("m2", question, "A")], [])
    assert _import(tmp_path, spec) == 1
    err = capsys.readouterr().err
    assert "mc.json: item 2 (id m2): the question has " + message in err and "internal error" not in err


def test_the_released_report_file_with_its_conversation_key_imports(tmp_path: Path) -> None:
    # the shape of AIMedLab/PULSE evaluation/ptb_report_generation_test.json, which eval_report.py reads
    recs = [
        {
            "id": "ptb-report-07190_hr-0",
            "image": "test_images/ptb_test_v4/07190_hr-0.png",
            "conversation": [
                {"from": "user", "value": "Please write a clinical report based on this ECG image."},
                {"from": "assistant", "value": "Sinus rhythm, normal axis, normal ECG."},
            ],
        }
    ]
    shell = {"id": "ptbxl_report", "form": "report", "labels": (), "extract": Extract()}
    [it] = import_items(shell, recs, src=tmp_path / "ptb_report_generation_test.json", plan_dir=tmp_path)
    assert it.target == "Sinus rhythm, normal axis, normal ECG."
    assert it.turns[0].question == "Please write a clinical report based on this ECG image."
    with pytest.raises(
        ArtifactError, match=r"item 1 \(id r\): `conversations` \(or `conversation`\) is a non-empty list"
    ):
        import_items(shell, [{"id": "r", "image": "x.png"}], src=tmp_path / "r.json", plan_dir=tmp_path)


def test_references_are_read_with_the_tasks_own_negation_cues(tmp_path: Path) -> None:
    # "argues against" is no built-in cue: only the task that declares it reads MI as denied in the reference,
    # as its answers are read (a reference saying MI is argued against does not make MI a target).
    negated = (
        SPEC[: SPEC.rstrip().rfind("}")]  # the suite's closing brace
        + '    task neg {\n        items    = "neg.json"\n        form     = multi_label\n        labels   = sup\n'
        + '        negation = ["argues against"]\n        metrics  = [f1]\n    }\n}\n'
    )
    spec = _suite(tmp_path, [_rec("m1", QUESTION, "B")], [_rec("p1", "Which?", "STTC; argues against MI")])
    spec.write_text(negated)
    (tmp_path / "neg.json").write_text(json.dumps([_rec("n1", "Which?", "STTC; argues against MI")]))
    assert _import(tmp_path, spec) == 0
    plan = load_plan(tmp_path / "plan.json")
    assert plan.task("neg").extract.negation == ("argues against",)
    assert [it.target for it in plan.task("neg").items] == [("STTC",)]
    assert [it.target for it in plan.task("ml").items] == [("MI", "STTC")]  # the same words, no such cue
