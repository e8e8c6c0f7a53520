"""Go to definition: where a name is declared (in this file or an imported one), or the file an
import names."""

from __future__ import annotations

import os
from pathlib import Path

from .. import syntax as s
from ..errors import Pos
from ..resolve import STD, real_path
from .analysis import Analysis
from .locate import candidates, find_at, names_a_constant


def import_target(importer: Path, raw: str) -> Path | None:
    """The file an import names, found as the resolver finds it (std/ is the shipped library)."""
    base, rel = (STD, raw[len("std/") :]) if raw.startswith("std/") else (importer.parent, raw)
    target = real_path(Path(os.path.normpath(base / rel)))
    return target if target.is_file() else None


def definitions(analysis: Analysis, module: s.Module, importer: Path, line: int, col: int) -> list[tuple[Path, Pos]]:
    """The places (file, span of the name) that the name at (line, col) is declared at."""
    found = find_at(module, line, col)
    if found is None or found.what in ("setting", "step"):
        return []
    scope = analysis.program.scope
    if found.what == "import":
        target = import_target(importer, found.name)
        return [(target, Pos.point(str(target)))] if target is not None else []
    if names_a_constant(scope, found):
        pos = scope.lets[found.name].name.pos
        return [(analysis.file_of(pos.file), pos)]
    return [(scope.decl_file[k], scope.decls[k].name.pos) for k in candidates(scope, found)]


__all__ = ["definitions", "import_target"]
