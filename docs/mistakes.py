"""Make docs/mistakes.md, the common mistakes and what `ecgspec check` says of each, from the broken-spec
goldens (tests/broken/NN_name.ecg and .out): every case there is a mistake someone made, and its output
is what the checker prints today, so this page cannot drift from the checker.

    .venv/bin/python docs/mistakes.py          # rewrites docs/mistakes.md; a test keeps it in step
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "tests" / "broken"
OUT = ROOT / "docs" / "mistakes.md"


def page() -> str:
    lines = [
        "# Common mistakes",
        "",
        "Each mistake below is a case of the test suite (`tests/broken/`): the spec as written (its first",
        "line names the mistake), then what `ecgspec check` prints for it, word for word. The page is made",
        "by `docs/mistakes.py` from those cases, and a test fails when it is out of step, so what you read",
        "here is what the checker says today.",
        "See [language.md](language.md#8-diagnostics) for the format of a diagnostic.",
        "",
    ]
    for case in sorted(BROKEN.glob("[0-9]*.ecg")):
        text = case.read_bytes().decode("utf-8", errors="replace")  # a case may be bad UTF-8 on purpose
        first = text.partition("\n")[0]
        title = first.removeprefix("# mistake:").strip().rstrip(".")
        title = title[:1].upper() + title[1:]
        out = case.with_suffix(".out").read_bytes().decode("utf-8", errors="replace")
        out = "\n".join(line for line in out.splitlines() if not line.startswith("exit: "))
        lines += [
            f"## {title}",
            "",
            f"`tests/broken/{case.name}`:",
            "",
            "```ecg-broken",
            text.rstrip("\n"),  # whole, first line included, so that the line numbers below match
            "```",
            "",
            "```text",
            out.strip("\n"),
            "```",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    OUT.write_text(page(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(list(BROKEN.glob('[0-9]*.ecg')))} mistakes", file=sys.stderr)
