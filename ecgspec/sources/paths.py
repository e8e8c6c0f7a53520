"""Where data paths point, and the rule that keeps a spec inside the spec root.

A spec is data from someone else: its `root`, `index` and label `table` may name only files
under the spec root, or under a folder the person running ecgspec named with `--data-root`.
A path in the shipped library (specs/ of ecgspec itself) is relative to the ecgspec checkout,
so `import "std/sources.ecg"` finds the shipped samples and mapping tables from anywhere.

The rule is checked twice: lexically (a `..` written in a spec) and on the real path, with every
symbolic link resolved, so that a `data -> /elsewhere` link inside the spec folder does not carry
a build outside it. Both sides are resolved: a data root that is itself a link, or a spec root
under one (/tmp on some systems), may live anywhere. Readers check each record file the same way
(`Confinement.escapes`) and skip a file whose link leads out, without opening it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import Pos
from ..program import Program
from ..resolve import STD
from .errors import SourceError


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _lexical(path: Path) -> str:
    # The path as written: `..` in a spec is caught here, with the message that names the setting.
    return os.path.normpath(os.path.abspath(path))


def real(path: str | Path) -> str:
    """The path with every symbolic link resolved (what the file system will really open)."""
    return os.path.realpath(os.path.abspath(path))


@dataclass(frozen=True)
class Confinement:
    """The folders a source may read, as real paths: the spec root (or the ecgspec checkout for
    a path written in the shipped library) and each `--data-root`."""

    roots: tuple[str, ...]

    def escapes(self, path: str | Path) -> bool:
        """Whether `path`, links resolved, lies outside every allowed folder."""
        full = real(path)
        return not any(_inside(full, r) for r in self.roots)

    def link_out(self, path: str | Path) -> bool:
        """Whether `path` exists (as a file or a link) and leads outside the allowed folders."""
        return os.path.lexists(path) and self.escapes(path)


def confinement(
    program: Program, key: tuple[str, str], field: str, data_roots: Sequence[str | Path] | None = None
) -> Confinement:
    """Where the files of a declaration's data may really lie (links resolved)."""
    folders = [base_folder(program, key, field), program.scope.root, *(Path(d).expanduser() for d in data_roots or ())]
    out: list[str] = []
    for f in folders:
        r = real(f)
        if r not in out:
            out.append(r)
    return Confinement(tuple(out))


def base_folder(program: Program, key: tuple[str, str], field: str | None = None) -> Path:
    """The folder that a declaration's relative data paths start from: the spec root, or the
    ecgspec checkout for a value written in the shipped library (not one given with -D)."""
    root = program.scope.root
    origin = program.origins.get(key, {}).get(field or "")
    if origin is not None and origin.via and "-D" in origin.via:
        return root
    decl_file = program.scope.decl_file.get(key)
    if decl_file is not None:
        f = _lexical(decl_file)
        if _inside(f, _lexical(STD)) and not _inside(f, _lexical(root)):
            return STD.parent
    return root


def setting_pos(program: Program, key: tuple[str, str], field: str) -> Pos:
    """Where a setting was written (or the declaration's name when it was not)."""
    origin = program.origins.get(key, {}).get(field)
    if origin is not None and origin.pos is not None:
        return origin.pos
    return program.position(key)


def data_path(
    program: Program,
    key: tuple[str, str],
    field: str,
    value: str,
    data_roots: Sequence[str | Path] | None = None,
    *,
    must_exist: str | None = None,
) -> Path:
    """A data path from a setting, checked against the spec root and the data roots.

    `must_exist`: "dir" or "file" to require it now, with a message that points at the setting.
    """
    pos = setting_pos(program, key, field)
    base = base_folder(program, key, field)
    raw = Path(value).expanduser()
    path = raw if raw.is_absolute() else base / raw
    full = _lexical(path)
    allowed = [_lexical(base), *(_lexical(Path(d).expanduser()) for d in (data_roots or ()))]
    if not any(_inside(full, a) for a in allowed):
        roots = ", ".join(str(d) for d in data_roots or ()) or "none given"
        raise SourceError.at(
            pos,
            f"`{field}` of {key[0]} '{key[1]}': {value} lies outside the spec root ({base})",
            f"databases usually live elsewhere: name the folder that holds it with `--data-root DIR` "
            f"(data roots: {roots})",
            code="data-path-escape",
        )
    if confinement(program, key, field, data_roots).escapes(full):
        raise SourceError.at(
            pos,
            f"`{field}` of {key[0]} '{key[1]}': {display(full)} is, or lies under, a symbolic link that "
            f"leads outside the spec root ({base}) and the data roots",
            "ecgspec reads only what lies under the spec root or a folder named with `--data-root DIR`; "
            "name the folder the link points at with --data-root if you mean to read it",
            code="data-path-escape",
        )
    p = Path(full)
    if must_exist == "dir" and not p.is_dir():
        what = "is a file, not a folder" if p.exists() else "does not exist"
        origin = program.origins.get(key, {}).get(field)
        via = origin.via if origin is not None and origin.via else ""
        let = via.split("let ", 1)[1].split()[0] if "let " in via else None
        hint = (
            f"point it at the database folder: -D {let}='\"/path/to/database\"' (with --data-root for a "
            "folder outside the spec root)"
            if let
            else "point it at the database folder"
        )
        raise SourceError.at(pos, f"`{field}` of {key[0]} '{key[1]}': {display(p)} {what}", hint, code="data-missing")
    if must_exist == "file" and not p.is_file():
        what = "is a folder, not a file" if p.exists() else "does not exist"
        raise SourceError.at(pos, f"`{field}` of {key[0]} '{key[1]}': {display(p)} {what}", None, code="data-missing")
    if must_exist == "file" and not os.access(p, os.R_OK):
        raise SourceError.at(
            pos, f"`{field}` of {key[0]} '{key[1]}': {display(p)} cannot be read", code="data-unreadable"
        )
    return p


def inner_path(root: Path, rel: str) -> Path | None:
    """A file named inside the data (an index's file column): None when it would leave the root."""
    if not rel or "\x00" in rel:
        return None
    raw = Path(rel)
    if raw.is_absolute() or ".." in raw.parts:
        return None
    return root / raw


def display(path: Path | str) -> str:
    from ..resolve import display_path

    return display_path(Path(path))
