"""Loading templates: from the spec's templates folders in order, then the shipped library (`std/NAME`),
never through a link out of the folder a template is found in. `ecgspec.templating` renders them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import jinja2
from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound
from jinja2.loaders import split_template_path


class TemplateEscapeError(TemplateError):
    """A template path that leads, through a link, outside its templates folder."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


# ---- loading: confined to the templates folder ------------------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def confinement_problem(folder: Path | str, name: str) -> str | None:
    """Why template `name` may not be loaded from templates folder `folder`, or None. A path
    that does not exist is no problem here (the loader says it is not found)."""
    root = os.path.abspath(folder)
    real_root = os.path.realpath(root)
    if os.path.islink(root) and not _inside(real_root, os.path.realpath(os.path.dirname(root))):
        return (
            f"the templates folder {folder} is a link to {real_root}, outside the folder that holds it; "
            "templates must be files under the spec's own templates folder"
        )
    try:
        pieces = split_template_path(name)
    except TemplateNotFound:
        return f"'{name}' leaves the templates folder"
    path = os.path.join(root, *pieces)
    if not os.path.lexists(path):
        return None
    real = os.path.realpath(path)
    if not _inside(real, real_root):
        return f"'{name}' is a link to {real}, outside the templates folder {folder}"
    return None


# The shipped template library, reachable from any spec as `std/NAME` and searched last for names
# no folder of the spec's has. An installed package carries it as ecgspec/templates (package data);
# a checkout or an editable install has it at the repository's top.
_PACKAGED = Path(os.path.realpath(__file__)).parent / "templates"
SHIPPED_TEMPLATES = _PACKAGED if _PACKAGED.is_dir() else Path(os.path.realpath(__file__)).parents[1] / "templates"
STD_PREFIX = "std/"


def search_path(folders: Path | str | Iterable[Path | str] | None, *, library: bool = True) -> tuple[Path, ...]:
    """The folders a template name is looked for in, in order: the spec's own, then the shipped
    library (once, and only where it is installed)."""
    if folders is None:
        given: list[Path] = []
    elif isinstance(folders, (str, Path)):
        given = [Path(folders)]
    else:
        given = [Path(f) for f in folders]
    out: list[Path] = []
    for f in given:
        if all(os.path.realpath(f) != os.path.realpath(o) for o in out):
            out.append(f)
    if library and SHIPPED_TEMPLATES.is_dir() and all(os.path.realpath(o) != str(SHIPPED_TEMPLATES) for o in out):
        out.append(SHIPPED_TEMPLATES)
    return tuple(out)


def candidates(folders: Iterable[Path], name: str) -> list[tuple[Path, str]]:
    """(folder, name inside it) pairs where template `name` may be, in search order: `std/NAME`
    only in the shipped library, any other name in every folder."""
    if name.startswith(STD_PREFIX):
        return [(SHIPPED_TEMPLATES, name[len(STD_PREFIX) :])]
    return [(Path(f), name) for f in folders]


def find_template(folders: Iterable[Path], name: str) -> Path | None:
    """The file template `name` is read from (the first folder that has it), or None. Confinement
    is the loader's business; this answers only where a name resolves."""
    for folder, rel in candidates(folders, name):
        try:
            pieces = split_template_path(rel)
        except TemplateNotFound:
            return None
        path = Path(folder, *pieces)
        if path.is_file():
            return path
    return None


def searched_text(folders: Iterable[Path], name: str) -> str:
    """The folders searched for `name`, as a message shows them."""
    from .resolve import display_path

    shown = [
        "the shipped library" if f == SHIPPED_TEMPLATES else display_path(Path(os.path.abspath(f)))
        for f, _ in candidates(folders, name)
    ]
    return ", ".join(shown) if shown else "no templates folder"


class ConfinedLoader(FileSystemLoader):
    """Loads templates from its folders in order (the spec's own, then the shipped library, which
    alone answers `std/NAME`), never through a link out of the folder a template is found in (see
    `confinement_problem`). The file read is the one checked: its real path."""

    def __init__(self, folder: Path | str | Iterable[Path | str], encoding: str = "utf-8", *, library: bool = True):
        super().__init__([str(f) for f in search_path(folder, library=library)], encoding=encoding)

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        for folder, name in candidates([Path(f) for f in self.searchpath], template):
            found = self._from(folder, name, template)
            if found is not None:
                return found
        raise TemplateNotFound(
            template, f"no template '{template}' in {searched_text(map(Path, self.searchpath), template)}"
        )

    def _from(self, folder: Path, name: str, template: str) -> tuple[str, str, Callable[[], bool]] | None:
        problem = confinement_problem(folder, name)
        if problem is not None:
            if problem.endswith("leaves the templates folder"):
                raise TemplateNotFound(template)
            raise TemplateEscapeError(template, problem)
        shown = os.path.normpath(os.path.join(folder, *split_template_path(name)))
        real = os.path.realpath(shown)
        if not os.path.isfile(real):
            return None
        try:
            with open(real, encoding=self.encoding) as f:
                source = f.read()
            mtime = os.path.getmtime(real)
        except OSError as exc:
            raise TemplateNotFound(template, f"cannot read template '{template}': {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise TemplateError(f"template '{template}' is not UTF-8 text: {exc}") from None

        def uptodate() -> bool:
            try:
                return os.path.getmtime(real) == mtime
            except OSError:
                return False

        return source, shown, uptodate

    def list_templates(self) -> list[str]:
        names = set(super().list_templates())
        if SHIPPED_TEMPLATES.is_dir():
            for p in SHIPPED_TEMPLATES.rglob("*"):
                if p.is_file():
                    names.add(STD_PREFIX + p.relative_to(SHIPPED_TEMPLATES).as_posix())
        return sorted(names)
