"""Packaging that pyproject.toml cannot say: the shipped libraries go inside the package.

The template library (templates/) and the spec library (specs/, imported as `std/…`) live at the
repository's top, where specs, docs, tests and editors name them. A wheel carries them as
ecgspec/templates/ and ecgspec/specs/, where `ecgspec.template_loader.SHIPPED_TEMPLATES` and
`ecgspec.resolve.STD` look first; a checkout or an editable install has no such folders, and both fall
back to the repository's, so an editable install copies nothing.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# A folder at the repository's top -> where a wheel holds it, inside the package.
SHIPPED = {"templates": Path("ecgspec", "templates"), "specs": Path("ecgspec", "specs")}


def _files(folder: Path) -> list[Path]:
    """The library's files, relative to `folder`; editor and Python litter left out."""
    return sorted(
        p.relative_to(folder)
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts)
    )


class BuildPyWithLibrary(build_py):
    """build_py, then the shipped library copied into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for src, dest in SHIPPED.items():
            folder = HERE / src
            if not folder.is_dir():  # an sdist made without it: a wheel without it would fail at run time
                raise SystemExit(f"setup.py: {folder} is missing; the wheel must carry the template library")
            for rel in _files(folder):
                target = Path(self.build_lib, dest, rel)
                self.mkpath(str(target.parent))
                self.copy_file(str(folder / rel), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [str(Path(self.build_lib, dest, rel)) for src, dest in SHIPPED.items() for rel in _files(HERE / src)]
        return [*super().get_outputs(include_bytecode), *([] if self.editable_mode else extra)]


setup(cmdclass={"build_py": BuildPyWithLibrary})
