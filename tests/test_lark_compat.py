"""The grammar parses identically with lark 1.2.2 (pinned by vllm) and the installed lark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

LARK_122 = REPO / ".venv" / "lark-1.2.2"

DUMP = r"""
import json, sys
from pathlib import Path
import lark
from ecgspec.errors import Diagnostics
from ecgspec.parser import parse_module
out = {"lark": lark.__version__, "files": {}}
for p in sorted(Path(sys.argv[1]).rglob("*.ecg")):
    d = Diagnostics()
    m = parse_module(p.read_bytes().decode("utf-8", "replace"), p.name, d)
    out["files"][p.name] = [repr(m.items), [x.message for x in d.items]]
print(json.dumps(out))
"""


def _dump(extra_path: Path | None, folder: Path) -> dict[str, object]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), str(REPO)])
    res = subprocess.run(
        [sys.executable, "-c", DUMP, str(folder)], capture_output=True, text=True, env=env, check=True, cwd=REPO
    )
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_shipped_specs_and_broken_specs_parse_the_same_with_lark_1_2_2() -> None:
    if not LARK_122.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{LARK_122} is missing: scripts/setup.sh installs it")
        pytest.skip("lark 1.2.2 not installed (run scripts/setup.sh)")
    for folder in (REPO / "specs", REPO / "tests" / "broken"):
        if not folder.is_dir():
            continue
        old, new = _dump(LARK_122, folder), _dump(None, folder)
        assert old["lark"] == "1.2.2" and new["lark"] != "1.2.2"
        assert old["files"] == new["files"]
