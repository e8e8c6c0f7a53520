"""The VS Code extension (editors/vscode) starts the language server: its manifest and client."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ecgspec.cli import build_parser

VSCODE = Path(__file__).resolve().parents[2] / "editors" / "vscode"


def manifest() -> dict:
    return json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))


def test_the_extension_activates_on_ecg_files_and_runs_its_client() -> None:
    pkg = manifest()
    (lang,) = pkg["contributes"]["languages"]
    assert f"onLanguage:{lang['id']}" in pkg["activationEvents"]
    assert (VSCODE / pkg["main"]).is_file()
    assert "vscode-languageclient" in pkg["dependencies"]
    # vscode-languageclient 9 needs VS Code 1.82 or later.
    assert pkg["dependencies"]["vscode-languageclient"].startswith("^9.")
    assert tuple(map(int, re.findall(r"\d+", pkg["engines"]["vscode"])[:2])) >= (1, 82)


def test_the_default_server_command_is_a_command_ecgspec_has() -> None:
    setting = manifest()["contributes"]["configuration"]["properties"]["ecgspec.server.command"]
    program, command = setting["default"]
    assert program == "ecgspec"
    args = build_parser().parse_args([command])
    assert args.command == "lsp"
    client = (VSCODE / "extension.js").read_text(encoding="utf-8")
    assert 'getConfiguration("ecgspec").get("server.command")' in client
    assert json.dumps(setting["default"]).replace(" ", "") in client.replace(" ", "")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_client_is_valid_javascript() -> None:
    done = subprocess.run(["node", "--check", str(VSCODE / "extension.js")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
