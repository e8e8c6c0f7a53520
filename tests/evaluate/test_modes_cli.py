"""Answer modes through the real command line: a suite written as spec text and imported into a plan, run with
`ecgspec eval` against an OpenAI-compatible server on 127.0.0.1 (constrained answers), and scored with
`ecgspec score` where a declared `llm` reads the answers (the server plays the extractor), with
`--compare-extractors`, and with an extractor that cannot be used."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ecgspec.artifacts.plan_schema import load_plan
from ecgspec.cli import main
from runtime.evaluate.extract import fallback_letter
from tests.synthesis.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ("sinus rhythm", "atrial fibrillation", "atrial flutter", "sinus bradycardia")
KEY_ENV = "ECGSPEC_TEST_MODES_READER_KEY"  # never set by the tests: an extractor that names it cannot start

HEADER = """import "layouts.ecg"
import "papers.ecg"

labels sup {
    vocabulary = [NORM, MI, STTC]
    synonyms   = [MI: ["myocardial infarction"]]
}
"""


def _task(name: str, form: str, *settings: str) -> str:
    body = "\n".join(f"        {s}" for s in (f'items = "{name}.json"', f"form = {form}", *settings))
    return f"    task {name} {{\n{body}\n    }}\n"


def _question(item_id: str, form: str) -> str:
    # The item id starts every question, so the server knows which item (or which answer) it is asked about.
    if form == "multiple_choice":
        return f"<image>\n{item_id}: Which rhythm?\n" + "\n".join(f"{'ABCD'[k]}. {o}" for k, o in enumerate(OPTIONS))
    if form == "report":
        return f"<image>\n{item_id}: Write the report."
    return f"<image>\n{item_id}: Which labels apply?"


def build(
    tmp_path: Path, tasks: dict[str, tuple[str, dict[str, str], tuple[str, ...]]], llms: str = "", suite_extra: str = ""
) -> Path:
    """A plan from spec text: `tasks` maps a task name to (form, {item id: reference}, extra settings); each
    task's items are written as a released file and imported with `ecgspec import-released`, with a small
    image per item. Returns the plan's path."""
    for name in ("layouts.ecg", "papers.ecg"):
        shutil.copy(ROOT / "specs" / name, tmp_path / name)
    suite = "".join(_task(name, form, *extra) for name, (form, _, extra) in tasks.items())
    (tmp_path / "modes.ecg").write_text(
        f'{HEADER}\n{llms}\nsuite modes version "1" {{\n    bootstrap = 0\n{suite_extra}{suite}}}\n'
    )
    (tmp_path / "images").mkdir(exist_ok=True)
    for name, (form, refs, _) in tasks.items():
        recs = [
            {
                "id": i,
                "image": f"{i}.png",
                "conversations": [{"from": "human", "value": _question(i, form)}, {"from": "gpt", "value": ref}],
            }
            for i, ref in refs.items()
        ]
        (tmp_path / f"{name}.json").write_text(json.dumps(recs))
        for i in refs:
            (tmp_path / "images" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + i.encode())
    plan = tmp_path / "plan.json"
    args = ["import-released", str(tmp_path / "modes.ecg"), "--suite", "modes", "--released", str(tmp_path)]
    assert main([*args, "-o", str(plan)]) == 0
    return plan


def reader(url: str, backend: str = "openai", api_key_env: str | None = None) -> str:
    lines = [f"backend = {backend}", 'model = "reader-model"', f'url = "{url}"', "retries = 1", "timeout = 5 s"]
    if api_key_env:
        lines.append(f"api_key_env = {api_key_env}")
    return "llm reader {\n" + "".join(f"    {x}\n" for x in lines) + "}\n"


def write_predictions(path: Path, responses: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "response": r}) + "\n" for i, r in responses.items()))
    return path


def results(out: Path) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in json.loads((out / "results" / "modes.json").read_text())["tasks"]}


def rows(out: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}


def summary(stdout: str, task: str) -> str:
    return next(line.strip() for line in stdout.splitlines() if line.strip().startswith(f"{task}:"))


def user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")


# ---- 1. eval: constrained answers ----------------------------------------------------------------------

# m3's reply holds the right letter in a code fence, and m3's target is the letter the seeded random fallback
# would draw: a repaired reply or a random letter would both score it right; a counted failure scores it wrong.
M3 = fallback_letter(0, "m3", 4)
MODEL_REPLIES = {
    "m1": '{"answer": "B"}',
    "m2": '{"answer": "A"}',
    "m3": f'```json\n{{"answer": "{M3}"}}\n```',
    "l1": '{"labels": ["MI"]}',
    "l2": '{"labels": ["NORM"]}',
    "l3": '{"labels": ["STTC", "STTC"]}',  # a repeated value: not a set, refused
    "f1": "Answer: C",
}


def test_eval_asks_constrained_tasks_with_their_json_schema_and_scores_bad_replies_as_counted_fallbacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = build(
        tmp_path,
        {
            "mcq": ("multiple_choice", {"m1": "B", "m2": "A", "m3": M3}, ("answer_mode = constrained",)),
            "lab": (
                "multi_label",
                {"l1": "MI", "l2": "NORM", "l3": "STTC"},
                ("labels = sup", "answer_mode = constrained", "metrics = [f1, hamming]"),
            ),
            "free": ("multiple_choice", {"f1": "C"}, ()),
        },
    )
    out = tmp_path / "out"
    with StubServer(lambda body: MODEL_REPLIES[user_text(body).split(":")[0]]) as srv:
        rc = main(["eval", str(plan), "--backend", "openai", "--url", srv.url, "--model", "m", "-o", str(out)])
    std = capsys.readouterr()
    assert rc == 0, std.err
    sent = {user_text(b).split(":")[0]: b for b in srv.bodies}
    assert sorted(sent) == sorted(MODEL_REPLIES) and len(srv.bodies) == 7
    letters = {"type": "string", "enum": ["A", "B", "C", "D"]}
    labels = {"type": "array", "items": {"type": "string", "enum": ["NORM", "MI", "STTC"]}, "uniqueItems": True}
    for item_id, body in sent.items():
        if item_id == "f1":
            assert "response_format" not in body  # a free-text task is asked as written
            continue
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["schema"]["properties"] == (
            {"answer": letters} if item_id.startswith("m") else {"labels": labels}
        )
    res = results(out)
    assert res["mcq"]["answer_mode"] == res["lab"]["answer_mode"] == "constrained (json schema)"
    assert res["free"]["answer_mode"] == "free text"
    assert res["mcq"]["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)
    assert res["mcq"]["fallbacks"] == 1 and res["mcq"]["fallback_ids"] == ["m3"]
    # l3 answers nothing: STTC is missed, one wrong cell of nine; F1 1 for NORM and MI, 0 for STTC
    assert res["lab"]["metrics"]["hamming"]["value"] == pytest.approx(1 / 9)
    assert res["lab"]["metrics"]["f1"]["value"] == pytest.approx(2 / 3)
    assert res["lab"]["fallback_ids"] == ["l3"]
    got = rows(out)
    assert (got["m3"]["extracted"], got["m3"]["fallback"]) == (None, True)  # no letter, not even a random one
    assert (got["l3"]["extracted"], got["l3"]["fallback"]) == ([], True)
    assert got["m1"]["extracted"] == "B" and got["f1"]["extracted"] == "C"
    assert summary(std.out, "mcq") == "mcq: accuracy 0.667  (fallbacks 1, missing 0)"
    md = (out / "report.md").read_text()
    for task in ("mcq", "lab"):
        assert re.search(rf"^\| {task} \|.*\| constrained \(json schema\) \|", md, re.M), md
        assert re.search(
            rf"^## {task}\n\n\w+, 3 items; scoring mode default; answer mode constrained \(json schema\)", md, re.M
        )
    assert re.search(r"^\| free \|.*\| free text \|", md, re.M)
    assert "constrained (json schema)" in (out / "report.html").read_text()


def test_a_backend_that_enforces_no_schema_is_warned_about_and_its_answer_mode_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OpenAI backend made without `guided` sends no schema, as the transformers backend cannot enforce one.
    monkeypatch.setattr("runtime.evaluate.run.backend_options", lambda plan, kind: {})
    plan = build(tmp_path, {"mcq": ("multiple_choice", {"m1": "B", "m2": "A"}, ("answer_mode = constrained",))})
    out = tmp_path / "out"
    with StubServer(lambda body: MODEL_REPLIES[user_text(body).split(":")[0]]) as srv:
        rc = main(["eval", str(plan), "--backend", "openai", "--url", srv.url, "--model", "m", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert all("response_format" not in b for b in srv.bodies)
    assert all(
        user_text(b).endswith(
            'Reply with only a JSON object {"answer": "X"}, where X is the letter of your answer (A, B, C, D).'
        )
        for b in srv.bodies
    )
    assert "cannot enforce a JSON schema; the constrained answers of mcq are asked for in the prompt" in err
    res = results(out)["mcq"]
    assert res["answer_mode"] == "constrained (asked in words: the backend enforced no schema)"
    assert res["metrics"]["accuracy"]["value"] == 1.0
    assert "constrained (asked in words: the backend enforced no schema)" in (out / "report.md").read_text()


def test_eval_refuses_an_unknown_task_id_in_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = build(tmp_path, {"mcq": ("multiple_choice", {"m1": "B"}, ("answer_mode = constrained",))})
    with StubServer(lambda body: '{"answer": "B"}') as srv:
        args = ["eval", str(plan), "--backend", "openai", "--url", srv.url, "--model", "m", "--tasks", "mcg"]
        rc = main([*args, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1 and srv.bodies == []
    assert "no task 'mcg' (tasks: mcq)" in err and not (tmp_path / "out" / "results").exists()


# ---- 2. score: a declared LLM extractor ----------------------------------------------------------------

RESPONSES = {
    "r1": "The second one, I think.",  # no letter for the rules; the extractor reads B
    "r2": "Answer: A",  # the extractor reads C: its reading is the one scored (target C)
    "r3": "Answer: B",  # the extractor's reply is not JSON: unread, though the rules would read B (target B)
    "r4": "Answer: D",  # the extractor's server fails: unread (target D)
    "r5": "None of these fit.",  # the extractor says no option: a counted fallback, wrong
}
TARGETS = {"r1": "B", "r2": "C", "r3": "B", "r4": "D", "r5": "A", "r6": "A"}  # r6: no prediction


def quoted(body: dict[str, Any]) -> str:
    """The answer an extraction prompt quotes."""
    return re.search(r"Answer to read:\n<<<\n(.*?)\n>>>", user_text(body), re.S).group(1)  # type: ignore[union-attr]


def extractor(body: dict[str, Any]) -> Any:
    said = quoted(body)
    return {
        "The second one, I think.": '{"answer": "B"}',
        "Answer: A": '{"answer": "C"}',
        "Answer: B": "B",
        "Answer: D": (500, '{"error": {"message": "overloaded"}}'),
        "None of these fit.": '{"answer": null}',
    }[said]


def test_score_reads_answers_with_the_declared_extractor_and_leaves_its_failures_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubServer(extractor) as srv:
        plan = build(
            tmp_path,
            {"read": ("multiple_choice", TARGETS, ("extractor = reader",))},
            llms=reader(srv.url),
        )
        preds = write_predictions(tmp_path / "preds.jsonl", RESPONSES)
        args = ["score", str(plan), "--predictions", str(preds), "--allow-missing", "-o", str(tmp_path / "out")]
        assert main(args) == 0
        first = capsys.readouterr()
        asked = [quoted(b) for b in srv.bodies]
        rerun = main(args)
        again = capsys.readouterr()
        asked_again = [quoted(b) for b in srv.bodies[len(asked) :]]
    assert rerun == 0
    # every answer asked once (r6 has none to ask about), and the failing server twice (one retry)
    assert sorted(asked) == sorted([*RESPONSES.values(), RESPONSES["r4"]])
    for body in srv.bodies:
        fmt = body["response_format"]["json_schema"]["schema"]
        assert fmt["properties"]["answer"]["enum"] == ["A", "B", "C", "D", None]
    res = results(tmp_path / "out")["read"]
    assert res["answer_mode"] == "LLM extractor: reader"
    assert res["extractor_failures"] == 2 and res["extractor_failure_ids"] == ["r3", "r4"]
    assert res["missing"] == 1 and res["missing_ids"] == ["r6"]
    assert res["metrics"]["accuracy"]["value"] == pytest.approx(2 / 3)  # r1, r2 right, r5 wrong: r3, r4 not in it
    assert res["fallbacks"] == 1 and res["fallback_ids"] == ["r5"]
    got = rows(tmp_path / "out")
    assert {i: got[i]["extracted"] for i in ("r1", "r2", "r5")} == {"r1": "B", "r2": "C", "r5": None}
    assert [got[i]["extracted"] for i in ("r3", "r4")] == [None, None]  # never read by the default rules
    md = (tmp_path / "out" / "report.md").read_text()
    assert re.search(r"^- \*\*Answers the declared LLM extractor could not read.*:\*\* r3, r4$", md, re.M), md
    assert re.search(r"^\| read \|.*\| LLM extractor: reader \|", md, re.M)
    assert summary(first.out, "read") == ("read: accuracy 0.667  (fallbacks 1, missing 1, unread by the extractor 2)")
    assert "extractor: 3 answers read (4 asked, 0 from the cache), 2 unread (http_error 1, invalid_reply 1)" in (
        first.err
    )
    # The rerun takes the readings from OUT/cache.sqlite and asks only what failed again.
    assert sorted(asked_again) == sorted([RESPONSES["r3"], RESPONSES["r4"], RESPONSES["r4"]])
    assert "extractor: 3 answers read (1 asked, 3 from the cache), 2 unread" in again.err
    assert results(tmp_path / "out")["read"]["metrics"] == res["metrics"]


def test_predictions_written_by_score_score_again_with_the_unread_answers_in_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The predictions file a run writes is a predictions file: an answer the extractor could not read is
    still in it, so it can be scored again (and read again) without being reported missing."""
    with StubServer(extractor) as srv:
        plan = build(tmp_path, {"read": ("multiple_choice", TARGETS, ("extractor = reader",))}, llms=reader(srv.url))
        preds = write_predictions(tmp_path / "preds.jsonl", RESPONSES)
        base = ["score", str(plan), "--allow-missing"]
        assert main([*base, "--predictions", str(preds), "-o", str(tmp_path / "a")]) == 0
        written = rows(tmp_path / "a")
        assert main([*base, "--predictions", str(tmp_path / "a" / "predictions.jsonl"), "-o", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert {i: r["response"] for i, r in written.items()} == RESPONSES
    assert written["r3"]["unread"] is True and "unread" not in written["r1"]
    a, b = results(tmp_path / "a")["read"], results(tmp_path / "b")["read"]
    assert b["metrics"] == a["metrics"] and b["missing"] == 1 and b["extractor_failure_ids"] == ["r3", "r4"]


def test_an_extractor_declared_with_backend_none_is_not_run_and_the_default_rules_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = build(
        tmp_path,
        {"read": ("multiple_choice", TARGETS, ("extractor = reader",))},
        llms='llm reader {\n    model = "reader-model"\n}\n',
    )
    preds = write_predictions(tmp_path / "preds.jsonl", RESPONSES)
    args = ["score", str(plan), "--predictions", str(preds), "--allow-missing", "-o", str(tmp_path / "out")]
    assert main(args) == 0
    std = capsys.readouterr()
    res = results(tmp_path / "out")["read"]
    assert res["answer_mode"] == "free text (extractor reader not run)"
    assert res["extractor_failures"] == 0
    got = rows(tmp_path / "out")
    # the rules: r2 "Answer: A" is A (target C), r3 B, r4 D; r1 and r5 draw their seeded fallback letters
    assert [got[i]["extracted"] for i in ("r2", "r3", "r4")] == ["A", "B", "D"]
    assert res["fallback_ids"] == ["r1", "r5"]
    assert "unread" not in std.out and "extractor:" not in std.err


def test_a_task_whose_extractor_is_not_run_does_not_stop_another_tasks_extractor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubServer(extractor) as srv:
        llms = reader(srv.url) + 'llm idle {\n    model = "idle-model"\n}\n'
        targets = {"r1": "B", "r2": "C"}
        plan = build(
            tmp_path,
            {
                "read": ("multiple_choice", targets, ("extractor = reader",)),
                "rest": ("multiple_choice", {"s1": "A"}, ("extractor = idle",)),
            },
            llms=llms,
        )
        preds = write_predictions(tmp_path / "preds.jsonl", {**{k: RESPONSES[k] for k in targets}, "s1": "A"})
        rc = main(["score", str(plan), "--predictions", str(preds), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    res = results(tmp_path / "out")
    assert res["read"]["answer_mode"] == "LLM extractor: reader" and res["read"]["metrics"]["accuracy"]["value"] == 1
    assert res["rest"]["answer_mode"] == "free text (extractor idle not run)"
    assert len(srv.bodies) == 2


def test_a_judged_task_that_names_an_extractor_is_judged_not_left_out_as_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The extractor reads the closed forms only: a report's answers are the judge's, never "unread"."""
    with StubServer(extractor) as srv:
        plan = build(
            tmp_path,
            {
                "read": ("multiple_choice", {"r1": "B"}, ("extractor = reader",)),
                "rep": (
                    "report",
                    {"p1": "Sinus rhythm."},
                    ("extractor = reader", "metrics = [judge]", 'rubric = "judge/report.j2"', "criteria = [rhythm]"),
                ),
            },
            llms=reader(srv.url),
            suite_extra='    judge = "judge-model"\n',
        )
        preds = write_predictions(tmp_path / "preds.jsonl", {"r1": RESPONSES["r1"], "p1": "Sinus rhythm, normal ECG."})
        rc = main(["score", str(plan), "--predictions", str(preds), "-o", str(tmp_path / "out")])
    std = capsys.readouterr()
    assert rc == 0, std.err
    assert [quoted(b) for b in srv.bodies] == [RESPONSES["r1"]]
    rep = results(tmp_path / "out")["rep"]
    assert rep["extractor_failures"] == 0 and rep["answer_mode"] == "free text, judged"
    assert rep["notes"] == ["not judged: no judge endpoint was given (--judge-url); no score is reported"]
    assert rows(tmp_path / "out")["p1"]["response"] == "Sinus rhythm, normal ECG."


# ---- 3. score --compare-extractors ---------------------------------------------------------------------

# Readings worked out by hand from the rules (docs/evaluation.md, the table) — default | compat | llm:
#   c1 "B"                           B | B (the whole text is a letter)     | B
#   c2 "Answer: C"                   C | C (the first of A-H after Answer:) | C
#   c3 "Answer: B. Not A."           B | A ("A." is looked for before "B.") | B
#   c4 "I would go with atrial fibrillation"
#                                    B (option text) | nothing            | B
#   c5 "Could be A or C."            nothing | C ("C." in the text)       | nothing (null)
#   c6 "Answer: D"                   D | D                                | failed (not JSON)
# default=compat 3/6, default=llm 5/5, compat=llm 2/5, one LLM failure.
COMPARED = {
    "c1": ("B", '{"answer": "B"}'),
    "c2": ("Answer: C", '{"answer": "C"}'),
    "c3": ("Answer: B. Not A.", '{"answer": "B"}'),
    "c4": ("I would go with atrial fibrillation", '{"answer": "B"}'),
    "c5": ("Could be A or C.", '{"answer": null}'),
    "c6": ("Answer: D", "D"),
}
# multi_label, no extractor — default | compat (case-sensitive substrings of NORM, MI, STTC):
#   k1 "MI"                 {MI}   | {MI}
#   k2 "STTC changes"       {STTC} | {STTC}
#   k3 "ABNORMAL ECG"       {}     | {NORM} (NORM in ABNORMAL)
#   k4 "no evidence of MI"  {}     | {MI} (negated for the default rules)
#   k5 "NORM"               {NORM} | {NORM}
# default=compat 3/5.
LABELLED = {"k1": "MI", "k2": "STTC changes", "k3": "ABNORMAL ECG", "k4": "no evidence of MI", "k5": "NORM"}


def test_compare_extractors_prints_the_agreement_table_then_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by_text = {text: reply for text, reply in COMPARED.values()}
    with StubServer(lambda body: by_text[quoted(body)]) as srv:
        plan = build(
            tmp_path,
            {
                "pick": ("multiple_choice", {k: "B" for k in COMPARED}, ("extractor = reader",)),
                "lab": ("multi_label", {k: "MI" for k in LABELLED}, ("labels = sup", "metrics = [f1]")),
            },
            llms=reader(srv.url),
        )
        preds = write_predictions(tmp_path / "preds.jsonl", {**{k: t for k, (t, _) in COMPARED.items()}, **LABELLED})
        rc = main(["score", str(plan), "--predictions", str(preds), "--compare-extractors", "-o", str(tmp_path / "o")])
    std = capsys.readouterr()
    assert rc == 0, std.err
    table = {line.split()[0]: line.split()[1:] for line in std.out.splitlines() if line[:5] in ("pick ", "lab  ")}
    assert table["pick"] == ["6", "50.0%", "100.0%", "40.0%", "1"]
    assert table["lab"] == ["5", "60.0%", "—", "—", "—"]
    assert "  pick/c3: 'Answer: B. Not A.'\n      default: B | compat: A | llm: B" in std.out
    assert "      default: B | compat: D" not in std.out
    # each answer was read by the extractor once, for the table and the scores alike
    assert sorted(quoted(b) for b in srv.bodies) == sorted(t for t, _ in COMPARED.values())
    res = results(tmp_path / "o")
    assert res["pick"]["extractor_failure_ids"] == ["c6"] and res["pick"]["fallback_ids"] == ["c5"]
    assert res["pick"]["metrics"]["accuracy"]["value"] == pytest.approx(3 / 5)  # c1, c3, c4 read B of c1-c5
    assert summary(std.out, "pick").endswith("unread by the extractor 1)")
    assert std.out.index("Extractor agreement") < std.out.index("pick: accuracy")


# ---- 4. an extractor that cannot start -----------------------------------------------------------------


@pytest.mark.parametrize("compare", [False, True])
def test_an_unset_api_key_variable_is_one_worded_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, compare: bool
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    plan = build(
        tmp_path,
        {"read": ("multiple_choice", {"r1": "B"}, ("extractor = reader",))},
        llms=reader("http://127.0.0.1:9/v1", api_key_env=KEY_ENV),
    )
    preds = write_predictions(tmp_path / "preds.jsonl", {"r1": "B"})
    args = ["score", str(plan), "--predictions", str(preds), "-o", str(tmp_path / "out")]
    assert main([*args, "--compare-extractors"] if compare else args) == 1
    err = capsys.readouterr().err
    assert err == f"error: extractor 'reader': the environment variable {KEY_ENV} (api_key_env) is not set\n"
    assert not (tmp_path / "out" / "results").exists()


def test_the_plan_records_what_the_spec_declares(tmp_path: Path) -> None:
    """The wiring under the commands above: `answer_mode` and `extractor` reach the plan's tasks."""
    plan = load_plan(
        build(
            tmp_path,
            {
                "mcq": ("multiple_choice", {"m1": "B"}, ("answer_mode = constrained",)),
                "read": ("multiple_choice", {"r1": "B"}, ("extractor = reader",)),
            },
            llms=reader("http://127.0.0.1:9/v1"),
        )
    )
    assert plan.task("mcq").extract.mode == "constrained" and plan.task("mcq").extract.llm is None
    llm = plan.task("read").extract.llm
    assert llm is not None and (llm.name, llm.backend, llm.url, llm.retries) == (
        "reader",
        "openai",
        "http://127.0.0.1:9/v1",
        1,
    )
