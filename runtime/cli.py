"""Registers the runtime's commands (`train`, `eval`, `score`) on the `ecgspec` parser.

Each sub-package owns its commands; a missing one (a partial install) is skipped, so `ecgspec
check` keeps working on a machine without the model stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


def add_commands(sub: Any) -> None:
    for module in ("runtime.train.cli", "runtime.evaluate.cli"):
        try:
            register = import_module(module).add_commands
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue
        register(sub)
