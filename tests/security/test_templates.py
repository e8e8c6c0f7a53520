"""Spec-supplied templates cannot read files outside their templates folder, hang a build or
exhaust its memory, and a header that fails stops the build: each a located error, exit 1,
never an internal error (ecgspec.templating)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from ecgspec.cli import main
from ecgspec.program import load
from ecgspec.targets.prompts import PromptError, TaskPrompter, make_environment
from ecgspec.templating import RENDER_SECONDS
from tests.build.conftest import MINI, REPO

LOCATED = re.compile(r"^[^\s:][^:\n]*:\d+:\d+: error: ", re.M)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A spec root: mini.ecg, the shipped instruct templates, two sample records."""
    shutil.copytree(REPO / "templates" / "instruct", tmp_path / "templates" / "instruct")
    data = tmp_path / "data" / "cinc2021"
    data.mkdir(parents=True)
    for f in sorted((REPO / "data" / "samples" / "cinc2021").iterdir())[:4]:
        shutil.copy(f, data / f.name)
    (tmp_path / "mini.ecg").write_text(MINI, encoding="utf-8")
    return tmp_path


def run(ws: Path, *args: str) -> int:
    cwd = Path.cwd()
    os.chdir(ws)
    try:
        return main([*args])
    finally:
        os.chdir(cwd)


def build(ws: Path) -> int:
    return run(ws, "build", "mini.ecg", "-o", "out", "-j", "1", "--no-progress", "--limit", "2")


def check_errors(ws: Path) -> list[str]:
    program = load(ws / "mini.ecg")
    return [f"{d.pos}: {d.message}" for d in program.diagnostics if d.severity == "error"]


def one_task(ws: Path, question: str) -> None:
    """mini.ecg asking one open question, written inline."""
    text = MINI.replace("tasks     = [rhythm_mcq, rhythm_closed, rate_open, rate_fill, report_open]", "tasks = [odd]")
    text += f'\ntask odd {{\n    family = basic\n    form = open\n    question = "{question}"\n    answer = record.heart_rate\n}}\n'
    (ws / "mini.ecg").write_text(text, encoding="utf-8")


def assert_stopped(ws: Path, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    assert build(ws) == 1
    err = capsys.readouterr().err
    assert LOCATED.search(err), err
    assert "internal error" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert not (ws / "out" / "manifests").exists() or "root:" not in "".join(
        p.read_text() for p in (ws / "out" / "manifests").glob("*.json")
    )
    return err


# ---- links out of the templates folder ---------------------------------------------------------------

PASSWD = Path("/etc/passwd")
needs_passwd = pytest.mark.skipif(not PASSWD.is_file(), reason="no /etc/passwd to point at")


@needs_passwd
def test_a_template_file_linked_outside_is_refused_at_check_and_build(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checked = load(ws / "mini.ecg")
    t = ws / "templates" / "instruct" / "basic" / "rate_open.j2"
    t.unlink()
    t.symlink_to(PASSWD)
    errors = check_errors(ws)
    assert any("mini.ecg:" in e and "rate_open.j2" in e and "outside the templates folder" in e for e in errors), errors
    assert run(ws, "check", "mini.ecg") == 1
    # The build's loader refuses too, should the link appear after the check.
    with pytest.raises(PromptError, match="outside the templates folder"):
        TaskPrompter(checked.get("task", "rate_open"), make_environment(ws / "templates"))
    assert_stopped(ws, capsys, "outside the templates folder")


@needs_passwd
def test_a_templates_folder_linked_outside_is_refused(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MINI.replace('template = "instruct/basic/rate_open.j2"', 'template = "passwd"')
    (ws / "mini.ecg").write_text(text, encoding="utf-8")
    (ws / "templates" / "passwd").write_text("{% block question %}What rate?{% endblock %}")
    checked = load(ws / "mini.ecg")
    shutil.rmtree(ws / "templates")
    (ws / "templates").symlink_to("/etc")
    errors = check_errors(ws)
    assert any("mini.ecg:" in e and "is a link to" in e and "templates folder" in e for e in errors), errors
    with pytest.raises(PromptError, match="templates folder"):
        TaskPrompter(checked.get("task", "rate_open"), make_environment(ws / "templates"))
    assert_stopped(ws, capsys, "templates folder")


@needs_passwd
def test_an_include_of_a_link_outside_is_refused(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = ws / "templates" / "instruct" / "basic" / "rate_open.j2"
    t.write_text('{% block question %}\nWhat rate?\n{% include "instruct/secret.j2" %}\n{% endblock %}\n')
    (ws / "templates" / "instruct" / "secret.j2").write_text("harmless")
    checked = load(ws / "mini.ecg")
    (ws / "templates" / "instruct" / "secret.j2").unlink()
    (ws / "templates" / "instruct" / "secret.j2").symlink_to(PASSWD)
    errors = check_errors(ws)
    assert any("includes 'instruct/secret.j2'" in e and "outside the templates folder" in e for e in errors), errors
    assert_stopped(ws, capsys, "outside the templates folder")
    # The build's loader refuses the include too, at the line that includes it.
    prompter = TaskPrompter(checked.get("task", "rate_open"), make_environment(ws / "templates"))
    with pytest.raises(PromptError, match="outside the templates folder") as info:
        prompter._render("question", {})
    assert info.value.where.endswith("rate_open.j2:3:1")


def test_a_link_inside_the_templates_folder_is_fine(ws: Path) -> None:
    t = ws / "templates" / "instruct" / "basic" / "rate_open.j2"
    (ws / "templates" / "instruct" / "basic" / "rate_open_real.j2").write_text(t.read_text())
    t.unlink()
    t.symlink_to("rate_open_real.j2")
    assert check_errors(ws) == []
    assert build(ws) == 0


# ---- resource bombs -------------------------------------------------------------------------------------------

BOMBS = {
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "a huge string": "{{ 'a' * 10**8 }}",
    "a string past memory": "{{ 'a' * 10**10 }}",
    "a huge range": "{% for i in range(10**9) %}{% endfor %}",
    "lipsum": "{{ lipsum(1000000) }}",
    "a recursive macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "a branching macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "a huge power": "{{ 7 ** 10000000 }}",
    "doubling": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "padding": "{{ 'a'|center(10**9) }}{{ 'a'.ljust(10**9) }}",
    "formatting": "{{ '%999999999d' % 1 }}",
    "too much output": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "a division by zero": "{{ 1 / 0 }}",
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_resource_bomb_is_a_located_template_error(ws: Path, capsys: pytest.CaptureFixture[str], bomb: str) -> None:
    one_task(ws, "Rate? " + BOMBS[bomb].replace('"', '\\"'))
    assert check_errors(ws) == []
    start = time.monotonic()
    assert_stopped(ws, capsys, "task 'odd': template error")
    # A build that stops on its first item: a few seconds of start-up, at most one render budget.
    assert time.monotonic() - start < 30 + RENDER_SECONDS


def test_a_template_nested_too_deeply_is_a_located_check_error(ws: Path) -> None:
    one_task(ws, "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    errors = check_errors(ws)
    assert any("mini.ecg:" in e and "template nested too deeply" in e for e in errors), errors
    one_task(ws, "{{ " + "(" * 300 + "1" + ")" * 300 + " }}")  # parses, but Python cannot compile it
    errors = check_errors(ws)
    assert any("template nested too deeply" in e for e in errors), errors


def test_a_template_file_bomb_is_located_at_its_line(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = ws / "templates" / "instruct" / "basic" / "rate_open.j2"
    t.write_text("{% block question %}\nWhat rate?\n{{ 'a' * 10**8 }}\n{% endblock %}\n")
    err = assert_stopped(ws, capsys)
    assert "rate_open.j2:3:1: error: task 'rate_open': template error" in err


# ---- header and footer templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part,template,line",
    [
        ("header", '"{{ record.id + 1 }}"', 1),
        ("header", '"""\nPatient {{ record.id }}\n{{ record.nothing.deeper }}\n"""', 3),
        ("footer", "\"{{ 'a' * 10**8 }}\"", 1),
        ("footer", '"{% for i in range(10**9) %}{% endfor %}"', 1),
    ],
)
def test_a_header_template_error_stops_the_build(
    ws: Path, capsys: pytest.CaptureFixture[str], part: str, template: str, line: int
) -> None:
    text = MINI.replace("    seed      = 5\n", "    seed      = 5\n    paper     = broken\n")
    text += f"\npaper broken extends standard {{\n    {part} = {template}\n}}\n"
    (ws / "mini.ecg").write_text(text, encoding="utf-8")
    assert check_errors(ws) == []
    err = assert_stopped(ws, capsys, f"paper 'broken' {part} template")
    at = text.splitlines().index(f"    {part} = {template.splitlines()[0]}") + line
    assert f"mini.ecg:{at}:" in err, err
