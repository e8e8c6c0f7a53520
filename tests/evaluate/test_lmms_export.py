"""`ecgspec export-lmms` run by the real lmms-eval (0.7.3, the `lmms` extra) with its dummy model, offline:
the sample suite's plan is exported, lmms-eval answers every item with one fixed response, and the numbers it
reports must be the ones worked out by hand for that response and the ones `ecgspec score` gives for the
responses lmms-eval logged, with every metric aggregated and lmms-eval exiting 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ecgspec.cli import main
from tests.helpers import ecgspec_build

pytest.importorskip("lmms_eval")

SUITE = "ecgbench_samples"

# Each run answers every item with one response: "Answer: B. STACH" reads as the letter B and the label STACH,
# "I cannot tell." as nothing at all (every item falls back; the multiple-choice letters are then seeded draws).
RESPONSES = {"Answer: B. STACH": ("B", {"STACH"}), "I cannot tell.": (None, set())}


def by_hand(task: dict[str, Any], letter: str | None, labels: set[str]) -> dict[str, float | int | None]:
    """The metrics of one plan task (as JSON) when every item is answered `letter` / `labels`, from their
    definitions: macro F1 over the classes that the targets or the answers name (a class neither names has
    no F1: 0/0), Hamming loss over all cells, AUC over the classes with both values in the targets — every
    item scores such a class alike, so each AUC is 0.5."""
    items = task["items"]
    if task["form"] == "multiple_choice":
        out: dict[str, float | int | None] = {"fallbacks": 0 if letter else len(items)}
        if letter:
            out["accuracy"] = sum(it["target"] == letter for it in items) / len(items)
        return out
    classes = task["labels"]
    f1 = []
    for c in classes:
        support = sum(c in it["target"] for it in items)
        predicted = len(items) if c in labels else 0
        if support + predicted:
            f1.append(2 * (support if c in labels else 0) / (support + predicted))
    wrong = sum(len(set(it["target"]) ^ labels) for it in items)
    two_valued = [c for c in classes if 0 < sum(c in it["target"] for it in items) < len(items)]
    return {
        "f1": sum(f1) / len(f1) if f1 else None,
        "hamming": wrong / (len(items) * len(classes)),
        "auc": 0.5 if two_valued else None,
        "fallbacks": 0 if labels else len(items),
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plan, task folder): `ecgspec build specs/ecgbench_samples.ecg`, then `ecgspec export-lmms` of its plan."""
    where = tmp_path_factory.mktemp("lmms")
    plan = ecgspec_build("specs/ecgbench_samples.ecg", where / "bench") / "plans" / f"{SUITE}.json"
    folder = where / "tasks"
    assert main(["export-lmms", str(plan), "-o", str(folder)]) == 0
    return plan, folder


def offline_env(home: Path) -> dict[str, str]:
    """No hub access, no telemetry, a fresh HF cache, and a dead proxy so that any download fails loudly."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(
        HF_HOME=str(home / "hf"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        WANDB_MODE="disabled",
        DO_NOT_TRACK="1",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    return env


def run_lmms_eval(folder: Path, response: str, where: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """lmms-eval's results JSON and its logged samples per task, for the dummy model answering `response`."""
    out = where / "lmms_out"
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "dummy", "--model_args", f"response={response}"]
    cmd += ["--tasks", SUITE, "--include_path", str(folder), "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, cwd=where, env=offline_env(where), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # lmms-eval exits 0 after an error too; these are its messages for a failed run and for a metric it drops.
    for bad in ("Error during evaluation", "not a registered aggregation", "aggregation is not", "Traceback"):
        assert bad not in log, log[-4000:]
    (results,) = out.rglob("*_results.json")
    samples = {p.name.split(f"_samples_{SUITE}_")[1].removesuffix(".jsonl"): p for p in out.rglob("*_samples_*.jsonl")}
    return json.loads(results.read_text()), {
        task: [json.loads(line) for line in path.read_text().splitlines()] for task, path in samples.items()
    }


def lmms_metrics(results: dict[str, Any], task: str) -> dict[str, Any]:
    """{metric: value} of one task in lmms-eval's results, without its stderr columns."""
    row = results["results"][f"{SUITE}_{task}"]
    return {k.split(",")[0]: v for k, v in row.items() if "," in k and "_stderr" not in k}


@pytest.mark.parametrize("response", list(RESPONSES))
def test_lmms_eval_reports_what_ecgspec_score_gives_for_the_same_answers(
    exported: tuple[Path, Path], tmp_path: Path, response: str
) -> None:
    plan, folder = exported
    results, samples = run_lmms_eval(folder, response, tmp_path)

    # The answers lmms-eval logged, matched to items through its doc index into the exported data (not through
    # anything the export's hooks wrote), become a predictions file for `ecgspec score`.
    lines = []
    for task, logged in samples.items():
        ids = [json.loads(line)["id"] for line in (folder / f"{task}.jsonl").read_text().splitlines()]
        assert sorted(s["doc_id"] for s in logged) == list(range(len(ids)))
        for s in logged:
            text = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
            assert text == response
            lines.append(json.dumps({"id": ids[s["doc_id"]], "response": text}))
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("\n".join(lines) + "\n")
    assert main(["score", str(plan), "--predictions", str(preds), "-o", str(tmp_path / "scored")]) == 0
    ours = json.loads((tmp_path / "scored" / "results" / f"{SUITE}.json").read_text())

    assert sorted(samples) == sorted(t["id"] for t in ours["tasks"]) == ["findings", "rhythm"]
    for task in ours["tasks"]:
        # Every metric ecgspec reports is there, aggregated, with the same value; none is dropped or added.
        want = {m: v["value"] for m, v in task["metrics"].items()} | {"fallbacks": task["fallbacks"]}
        got = lmms_metrics(results, task["id"])
        assert got == want, task["id"]
        assert results["n-samples"][f"{SUITE}_{task['id']}"]["effective"] == task["n"]
        spec = next(t for t in json.loads(plan.read_text())["tasks"] if t["id"] == task["id"])
        for metric, value in by_hand(spec, *RESPONSES[response]).items():
            assert got[metric] == (None if value is None else pytest.approx(value, abs=1e-12)), (task["id"], metric)
        # lmms-eval's own record of the generation settings it asked the model for: greedy, `ecgspec eval`'s
        # 512 tokens, and no stop sequence (its default, a blank line, would cut a reasoned answer before its
        # `Answer:` line).
        assert results["configs"][f"{SUITE}_{task['id']}"]["generation_kwargs"] == {
            "max_new_tokens": 512,
            "temperature": 0.0,
            "top_p": 1.0,
            "num_beams": 1,
            "do_sample": False,
            "until": [],
        }
