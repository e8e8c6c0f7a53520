"""Synthesis pipeline overhead: items per second of the stage itself against a local stub server.

    python bench/synth.py [--records 1000] [--runs 3]

A corpus over a synthetic source of --records records with one `instruct` (2 pairs a record, each
judged) is synthesised on one core (this process is pinned to CPU 0), against the scripted
OpenAI-compatible server of the tests (tests/synthesis/stub_server.py) running in another process
on the other cores and answering at once. So what is measured is the pipeline: rendering prompts,
the reply cache, HTTP, validation, grounding, the judge's verdicts, deduplication and writing the
results. Three figures, medians of --runs:
  cold    every reply over HTTP (a fresh cache each run)
  cached  every reply from the cache (a rerun): the pipeline without the network
  measured  cold, with templates that read the records' measurements (NeuroKit2 on each signal)
Target: cold >= 200 items/s (an item is a pair: a generation and a verdict).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SPEC = """
import "std/layouts.ecg"
import "std/papers.ecg"

synth load_test {{
    count      = {records}
    fs         = 250 Hz
    heart_rate = uniform(50 bpm, 110 bpm)
    seed       = 1
}}

let llm_url = "http://127.0.0.1:9/v1"

llm writer {{
    backend     = openai
    url         = llm_url
    model       = "stub"
    concurrency = 32
}}

instruct qa {{
    generator  = writer
    judge      = writer
    prompt     = "{prompt}"
    rubric     = "{rubric}"
    per_record = 2
    example {{
        question = "What is the rhythm?"
        answer   = "Sinus rhythm."
    }}
}}

corpus bench {{
    from load_test
    distorted = 0%
    tasks     = [qa]
}}
"""

# The shipped prompts without the measurements block: what a prompt costs to render and send.
LIGHT = """{% block system %}You write instruction-tuning data for a model that reads ECG images. Reply with one JSON
object that follows this schema, and nothing else:
{{ schema }}{% endblock %}
{% block user %}Record: {{ record.id }} ({{ record.source }})
Write a {{ request.family }} question ({{ request.form }} form): {{ request.style_text }}.
The answer is {{ request.format_text }}.
{% for ex in examples %}- question: {{ ex.question }}
  answer: {{ ex.answer }}
{% endfor %}{% endblock %}
"""
JUDGE = """{% block system %}Score 0-{{ scale }}: {{ criteria | join("; ") }}.
{{ schema }}{% endblock %}
{% block user %}Record: {{ record.id }}
Question: {{ pair.question }}
Answer: {{ pair.answer }}{% endblock %}
"""

SERVER = r"""
import json, re, sys, time
sys.path.insert(0, sys.argv[1])
from tests.synthesis.stub_server import StubServer

def reply(body):
    user = body["messages"][-1]["content"] if len(body["messages"]) < 3 else body["messages"][1]["content"]
    if body["messages"][0]["content"].startswith("Score"):
        return json.dumps({"score": 5, "reason": "fine"})
    rid = re.search(r"Record: (\S+)", user).group(1)
    fam = re.search(r"Write an? (\w+) question \((\w+) form", user)
    family, form = (fam.group(1), fam.group(2)) if fam else ("basic", "open")
    n = len(body["messages"])
    q = f"Question {rid} {hash(user) % 100000} about this tracing?"
    if form == "fill_in":
        q = f"The finding of record {rid} {hash(user) % 100000} is ___."
    answer = {"closed": "Yes, as shown.", "multiple_choice": "A. first"}.get(form, "As the tracing shows.")
    options = ["first", "second", "third", "fourth"] if form == "multiple_choice" else None
    return json.dumps({"question": q, "answer": answer, "family": family, "form": form, "options": options})

with StubServer(reply) as srv:
    print(srv.url, flush=True)
    sys.stdin.read()
"""


def _workspace(root: Path, records: int, measured: bool) -> Path:
    (root / "templates" / "synth").mkdir(parents=True, exist_ok=True)
    if measured:
        shutil.copytree(REPO / "templates" / "synth", root / "templates" / "synth", dirs_exist_ok=True)
        prompt, rubric = "synth/single.j2", "synth/judge.j2"
    else:
        (root / "templates" / "synth" / "light.j2").write_text(LIGHT)
        (root / "templates" / "synth" / "judge_light.j2").write_text(JUDGE)
        prompt, rubric = "synth/light.j2", "synth/judge_light.j2"
    spec = root / "bench.ecg"
    spec.write_text(SPEC.format(records=records, prompt=prompt, rubric=rubric))
    return spec


def _stage(spec: Path, out: Path, url: str) -> tuple[float, dict[str, int]]:
    from ecgspec.build.run import LoadArgs, synthesise_corpus
    from ecgspec.program import load

    program = load([spec], defines=[f'llm_url="{url}"'])
    assert program.ok, [str(d.message) for d in program.diagnostics]
    corpus = program.get("corpus", "bench")
    start = time.perf_counter()
    counts = synthesise_corpus(program, corpus, out, LoadArgs((spec,)), None)
    return time.perf_counter() - start, counts["qa"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(REPO)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        if len(cpus) > 1:
            os.sched_setaffinity(server.pid, cpus[1:])
        os.sched_setaffinity(0, cpus[:1])  # the pipeline on one core
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        results: dict[str, list[float]] = {"cold": [], "cached": [], "measured": []}
        items = 0
        with tempfile.TemporaryDirectory(prefix="ecgspec-bench-synth-") as tmp:
            for run in range(args.runs):
                ws = Path(tmp) / f"light{run}"
                spec = _workspace(ws, args.records, measured=False)
                seconds, counts = _stage(spec, ws / "out", url)
                items = counts["planned"]
                assert counts["kept"] >= 0.99 * items, counts  # a rare near-duplicate of the stub's questions
                results["cold"].append(items / seconds)
                seconds, _ = _stage(spec, ws / "out", url)
                results["cached"].append(items / seconds)
            small = max(50, args.records // 10)
            for run in range(args.runs):
                ws = Path(tmp) / f"measured{run}"
                spec = _workspace(ws, small, measured=True)
                seconds, counts = _stage(spec, ws / "out", url)
                results["measured"].append(counts["planned"] / seconds)
        figures = {k: round(statistics.median(v), 1) for k, v in results.items()}
        print(json.dumps({"records": args.records, "items": items, "runs": args.runs, "items_per_second": figures}))
        print(
            f"synthesis overhead on one core, {items} items ({args.records} records x 2 pairs, each judged): "
            f"{figures['cold']:.0f} items/s over HTTP ({1000 / figures['cold']:.2f} ms an item), "
            f"{figures['cached']:.0f} items/s from the cache ({1000 / figures['cached']:.2f} ms); "
            f"{figures['measured']:.0f} items/s when the prompts show the records' measurements (NeuroKit2)"
        )
        return 0 if figures["cold"] >= 200 else 1
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
