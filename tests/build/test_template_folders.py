"""Several templates folders and the shipped library (`std/NAME`) in the build: every path finds a
template where `check` finds it (the folders in order, the library last), and an error in one names
the file it was actually read from, not the first folder's."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecgspec import template_loader
from ecgspec.artifacts.plan_schema import Plan
from ecgspec.artifacts.suite_tasks import task_shell
from ecgspec.cli import main
from ecgspec.draw import stream
from ecgspec.ir import Task
from ecgspec.program import load
from ecgspec.records import Record
from ecgspec.targets.facts import Subject
from ecgspec.targets.prompts import PromptError, TaskPrompter, make_environment
from ecgspec.targets.suite_forms import question

from .conftest import REPO

# One task whose template is named by the test, one corpus of 2 items asking only it.
SPEC = """
import "std/layouts.ecg"
import "std/papers.ecg"

source cinc from wfdb {{
    root = "data/cinc2021"
}}

task rate {{
    family   = basic
    form     = open
    template = "{template}"
    answer   = record.heart_rate
}}

corpus mini {{
    from cinc limit 2
    layout    = "4x3"
    tasks     = [rate]
    distorted = 0%
    hide_in_header = true
    dpi       = 40 dpi
    seed      = 5
}}
"""

SUITE = """
import "std/layouts.ecg"
import "std/papers.ecg"

source cinc from wfdb {{
    root = "data/cinc2021"
}}

suite bench version "1" {{
    judge = "gpt-4o-2024-08-06"
    task reports {{
        from cinc
        form     = report
        rubric   = "{rubric}"
        criteria = [rhythm]
        metrics  = [judge]
    }}
}}
"""

RATE = "{% block question %}\nWhat rate, from the second folder?\n{% endblock %}\n"
# A question in one folder that includes a file from the other: it needs both folders searched.
INCLUDING = '{% block question %}\n{% include "lead.j2" %} what rate?\n{% endblock %}\n'
BROKEN = "{% block question %}\nRate of\n{{ record.no_such_field }}?\n{% endblock %}\n"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Path]:
    """tmp_path as the working directory: a spec root with the sample records and two empty
    templates folders, first/ and second/."""
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", tmp_path / "data" / "cinc2021")
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


def _build(template: str, *folders: str) -> int:
    Path("mini.ecg").write_text(SPEC.format(template=template), encoding="utf-8")
    extra = [a for f in folders for a in ("--templates", f)]
    return main(["build", "mini.ecg", "-o", "out", "-j", "1", "--no-progress", *extra])


def _questions(out: Path) -> list[str]:
    rows = json.loads((out / "manifests" / "mini.json").read_text(encoding="utf-8"))
    return [r["conversations"][0]["value"] for r in rows]


def test_build_uses_a_task_template_found_only_in_the_second_templates_folder(ws: Path) -> None:
    (ws / "second" / "rate.j2").write_text(INCLUDING, encoding="utf-8")
    (ws / "first" / "lead.j2").write_text("From the first folder,", encoding="utf-8")
    assert _build("rate.j2", "first", "second") == 0
    questions = _questions(ws / "out")
    assert len(questions) == 2
    assert all(q.endswith("From the first folder, what rate?") for q in questions)


def test_the_first_folder_that_has_a_template_wins(ws: Path) -> None:
    (ws / "first" / "rate.j2").write_text(RATE.replace("second", "first"), encoding="utf-8")
    (ws / "second" / "rate.j2").write_text(RATE, encoding="utf-8")
    assert _build("rate.j2", "first", "second") == 0
    assert all(q.endswith("What rate, from the first folder?") for q in _questions(ws / "out"))


def test_build_uses_a_std_template_from_the_shipped_library(ws: Path) -> None:
    # The shipped rate question words it one of four ways (templates/instruct/basic/rate_open.j2).
    shipped = (template_loader.SHIPPED_TEMPLATES / "instruct" / "basic" / "rate_open.j2").read_text()
    assert _build("std/instruct/basic/rate_open.j2", "first") == 0
    questions = _questions(ws / "out")
    assert len(questions) == 2
    for q in questions:
        asked = q.removeprefix("<image>").strip()
        assert asked and f'"{asked}"' in shipped


def test_a_build_error_in_a_second_folder_template_names_that_file(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ws / "second" / "rate.j2").write_text(BROKEN, encoding="utf-8")
    assert _build("rate.j2", "first", "second") == 1
    err = capsys.readouterr().err
    assert f"{os.path.join('second', 'rate.j2')}:3:1: error: task 'rate': template error" in err
    assert "first/rate.j2" not in err and "Traceback" not in err


def test_a_wrong_question_from_the_second_folder_names_that_file(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Found wrong after rendering (it writes the image token): no line, so `where` alone says which file.
    (ws / "second" / "rate.j2").write_text(INCLUDING.replace("what rate?", "<image> what rate?"), encoding="utf-8")
    (ws / "first" / "lead.j2").write_text("From the first folder,", encoding="utf-8")
    assert _build("rate.j2", "first", "second") == 1
    err = capsys.readouterr().err
    assert f"{os.path.join('second', 'rate.j2')}: error: task 'rate': a template may not write `<image>`" in err
    assert "Traceback" not in err


def test_a_missing_templates_folder_is_refused_by_build(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _build("rate.j2", "first", "no_such_folder")
    assert exc.value.code == 2
    assert "--templates: no_such_folder: no such folder" in capsys.readouterr().err


# ---- std/ templates that fail: a library of the test's own, standing in for the shipped one -------


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in shipped library holding templates that fail when rendered."""
    lib = tmp_path / "library"
    lib.mkdir()
    monkeypatch.setattr(template_loader, "SHIPPED_TEMPLATES", lib)
    return lib


def _open_task(template: str) -> Task:
    return Task(name="rate", family="report", form="open", template=template, answer="record.report")


def _subject() -> Subject:
    return Subject("k", {}, {}, "Sinus rhythm.", lambda: Record("syn", 500.0, {}))


def test_a_std_template_that_fails_names_the_library_file(tmp_path: Path, library: Path) -> None:
    (library / "rate.j2").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "rate.j2").write_text(RATE, encoding="utf-8")  # std/ looks past the spec's own
    prompter = TaskPrompter(_open_task("std/rate.j2"), make_environment([tmp_path / "own"]))
    with pytest.raises(PromptError) as err:
        prompter.ask(_subject(), stream("h", 1))
    assert err.value.where == f"{library / 'rate.j2'}:3:1"


def test_a_std_template_whose_question_renders_empty_names_the_library_file(tmp_path: Path, library: Path) -> None:
    (library / "rate.j2").write_text("{% block question %}{% endblock %}", encoding="utf-8")
    (tmp_path / "own").mkdir()
    prompter = TaskPrompter(_open_task("std/rate.j2"), make_environment([tmp_path / "own"]))
    with pytest.raises(PromptError) as err:
        prompter.ask(_subject(), stream("h", 1))
    assert (err.value.where, err.value.message) == (str(library / "rate.j2"), "task 'rate': the question renders empty")


def test_a_suite_prompt_in_the_second_folder_that_fails_names_that_file(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "ask.j2").write_text(BROKEN, encoding="utf-8")
    program = load([_suite_spec(tmp_path, "std/judge/report.j2", prompt="ask.j2")], templates=[first, second])
    assert program.ok, program.diagnostics
    task = program.get("suite", "bench").tasks[0]
    env = make_environment(program.template_folders)
    with pytest.raises(PromptError) as err:
        question(env, task, {"record": {"id": "r", "source": "cinc"}}, "spec.ecg:1:1")
    assert err.value.where == f"{second / 'ask.j2'}:3:1"


def test_a_std_suite_prompt_that_fails_names_the_library_file(tmp_path: Path, library: Path) -> None:
    (library / "ask.j2").write_text(BROKEN, encoding="utf-8")
    (library / "rubric.j2").write_text("Grade it.\n", encoding="utf-8")
    (tmp_path / "own").mkdir()
    program = load([_suite_spec(tmp_path, "std/rubric.j2", prompt="std/ask.j2")], templates=[tmp_path / "own"])
    assert program.ok, program.diagnostics
    env = make_environment(program.template_folders)
    with pytest.raises(PromptError) as err:
        question(env, program.get("suite", "bench").tasks[0], {"record": {}}, "spec.ecg:1:1")
    assert err.value.where == f"{library / 'ask.j2'}:3:1"


# ---- judge rubrics -----------------------------------------------------------------------------------


def _suite_spec(root: Path, rubric: str, prompt: str | None = None) -> Path:
    shutil.copytree(REPO / "data" / "samples" / "cinc2021", root / "data" / "cinc2021", dirs_exist_ok=True)
    text = SUITE.format(rubric=rubric)
    if prompt is not None:
        text = text.replace("        rubric", f'        prompt   = "{prompt}"\n        rubric', 1)
    spec = root / "suite.ecg"
    spec.write_text(text, encoding="utf-8")
    return spec


def test_a_std_rubric_is_read_from_the_shipped_library(tmp_path: Path) -> None:
    (tmp_path / "own").mkdir()
    program = load([_suite_spec(tmp_path, "std/judge/report.j2")], templates=[tmp_path / "own"])
    assert program.ok, program.diagnostics
    shell = task_shell(program, program.get("suite", "bench").tasks[0])
    assert shell["rubric"] == (REPO / "templates" / "judge" / "report.j2").read_text(encoding="utf-8")


def test_a_rubric_in_the_second_folder_is_read_and_hashed(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "grade.j2").write_text("Grade the report, {{ criteria }}.\n", encoding="utf-8")
    spec = _suite_spec(tmp_path, "grade.j2")
    program = load([spec], templates=[first, second])
    assert program.ok, program.diagnostics
    suite = program.get("suite", "bench")
    shell = task_shell(program, suite.tasks[0])
    assert shell["rubric"] == "Grade the report, {{ criteria }}.\n"
    from ecgspec.artifacts.suite_tasks import suite_hash

    before = suite_hash(program, suite)
    (second / "grade.j2").write_text("Grade it differently.\n", encoding="utf-8")
    assert suite_hash(load([spec], templates=[first, second]), suite) != before


def test_build_writes_a_plan_with_a_std_rubric(ws: Path) -> None:
    spec = _suite_spec(ws, "std/judge/report.j2")
    code = main(["build", str(spec), "-o", "out", "--templates", "first", "--limit", "1", "--no-progress"])
    assert code == 0
    plan = Plan.model_validate_json((ws / "out" / "plans" / "bench.json").read_text(encoding="utf-8"))
    shipped = (REPO / "templates" / "judge" / "report.j2").read_text(encoding="utf-8")
    assert plan.tasks[0].rubric == shipped


def test_a_ray_worker_recipe_keeps_every_templates_folder_in_order(
    ws: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from ecgspec.build.ray_executor import absolute_recipe
    from ecgspec.build.run import LoadArgs

    (ws / "second" / "rate.j2").write_text(INCLUDING, encoding="utf-8")
    (ws / "first" / "lead.j2").write_text("From the first folder,", encoding="utf-8")
    Path("mini.ecg").write_text(SPEC.format(template="rate.j2"), encoding="utf-8")
    load_args, _, _ = absolute_recipe(
        (LoadArgs((Path("mini.ecg"),), templates=(Path("first"), Path("second"))), "mini", Path("out"))
    )
    assert load_args.templates == ((ws / "first").resolve(), (ws / "second").resolve())
    os.chdir(tmp_path_factory.mktemp("elsewhere"))  # a Ray worker's working directory is not ours
    program = load_args.load()
    assert program.ok, program.diagnostics
    assert program.template_folders == (*load_args.templates, template_loader.SHIPPED_TEMPLATES)


def test_plan_calibrates_with_a_template_from_the_second_folder(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (ws / "second" / "rate.j2").write_text(INCLUDING, encoding="utf-8")
    (ws / "first" / "lead.j2").write_text("From the first folder,", encoding="utf-8")
    Path("mini.ecg").write_text(SPEC.format(template="rate.j2"), encoding="utf-8")
    argv = ["plan", "mini.ecg", "--templates", "first", "--templates", "second", "--calibrate", "2", "--json"]
    assert main(argv) == 0
    calibration = json.loads(capsys.readouterr().out)["corpora"]["mini"]["calibration"]
    assert (calibration["items"], calibration["ok"], calibration["failed"]) == (2, 2, 0)
