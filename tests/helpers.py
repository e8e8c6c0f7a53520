"""Small helpers shared by the language tests."""

from __future__ import annotations

from pathlib import Path

from ecgspec.program import Program, load

REPO = Path(__file__).resolve().parents[1]


def check_text(tmp_path: Path, text: str, name: str = "spec.ecg", defines: list[str] | None = None,
               files: dict[str, str] | None = None) -> Program:
    """Write `text` (and any extra `files`) under tmp_path and check it with tmp_path as root."""
    for rel, body in (files or {}).items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body, encoding="utf-8")
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load(path, root=tmp_path, defines=defines)


def messages(program: Program, severity: str = "error") -> list[str]:
    return [d.message for d in program.diagnostics if d.severity == severity]
