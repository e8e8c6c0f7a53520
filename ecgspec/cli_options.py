"""The options every command that reads a spec shares, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path


def templates_folder(text: str) -> Path:
    """A --templates value: a folder that exists (a typo would otherwise read as "no template")."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return path


def add_spec_options(p: argparse.ArgumentParser, *, templates: bool = True, data_root: bool = False) -> None:
    """-D, --root, and optionally --templates and --data-root."""
    p.add_argument(
        "-D",
        dest="define",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a `let` constant, e.g. -D seed=11 or -D ptbxl_root='\"/data/ptbxl\"'",
    )
    p.add_argument(
        "--root", type=Path, default=None, help="spec root: imports may not leave it (default: the working directory)"
    )
    if templates:
        p.add_argument(
            "--templates",
            type=templates_folder,
            action="append",
            default=None,
            metavar="DIR",
            help="a templates folder, searched in the order given (repeatable; default: the nearest templates/ "
            "above the spec); the shipped library is searched last and answers std/NAME",
        )
    if data_root:
        p.add_argument(
            "--data-root",
            action="append",
            type=Path,
            default=[],
            metavar="DIR",
            help="a folder outside the spec root that sources may read (repeatable)",
        )
