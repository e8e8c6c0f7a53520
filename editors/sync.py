"""Refresh the copies of the grammar after editing editors/textmate/ecg.tmLanguage.json.

    python editors/sync.py

writes editors/vscode/syntaxes/ecg.tmLanguage.json (a byte copy) and
editors/textmate/ecg.tmLanguage (the same grammar as a property list, for Sublime Text and
TextMate). tests/test_editor_grammar.py fails while the copies differ.
"""

import json
import plistlib
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "textmate" / "ecg.tmLanguage.json"

if __name__ == "__main__":
    grammar = json.loads(SOURCE.read_text(encoding="utf-8"))
    shutil.copyfile(SOURCE, HERE / "vscode" / "syntaxes" / "ecg.tmLanguage.json")
    with open(HERE / "textmate" / "ecg.tmLanguage", "wb") as f:
        plistlib.dump(grammar, f, sort_keys=False)
