"""Resolution: files and imports, the declaration table, `let` constants and `-D` overrides.

Imports are relative to the importing file and may not leave the spec root; cycles are
errors that list the cycle. Declarations share one table keyed by (kind, name), so a paper
and a distortion preset may both be called `aged`. Extends chains are walked by the checker
(`effective_entries`) because inheritance merges settings, which is checking work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import syntax as s
from .errors import Diagnostics, Pos, SourceCache, did_you_mean
from .parser import parse_module, parse_value

MAX_FILE_BYTES = 4 * 1024 * 1024
# The shipped library: `import "std/papers.ecg"` works from any spec, wherever it lives.
STD = Path(__file__).resolve().parents[1] / "specs"


@dataclass
class Define:
    """A `-D name=value` from the command line."""

    name: str
    value: s.Value
    origin: str


@dataclass
class Scope:
    """Everything the checker needs: parsed files, declarations and constants by name."""

    root: Path
    modules: dict[Path, s.Module] = field(default_factory=dict)
    entry_files: list[Path] = field(default_factory=list)
    decls: dict[tuple[str, str], s.Decl] = field(default_factory=dict)
    lets: dict[str, s.Let] = field(default_factory=dict)
    defines: dict[str, Define] = field(default_factory=dict)
    decl_file: dict[tuple[str, str], Path] = field(default_factory=dict)
    failed_imports: list[Pos] = field(default_factory=list)  # later "unknown name" hints mention them

    def names_of(self, *kinds: str) -> list[str]:
        return [name for (kind, name) in self.decls if kind in kinds]


def _importable(folder: Path, root: Path) -> list[str]:
    """Spec files as an import in `folder` would name them, for "did you mean"."""
    out = []
    for p in list(root.rglob("*.ecg"))[:2000]:
        try:
            out.append(str(p.relative_to(folder)))
        except ValueError:
            continue
    return out


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def default_root(paths: list[Path]) -> Path:
    """The spec root: the working directory when every entry is inside it, else the common parent."""
    cwd = Path.cwd().resolve()
    resolved = [p.resolve() for p in paths]
    if all(p.is_relative_to(cwd) for p in resolved):
        return cwd
    parents = [p if p.is_dir() else p.parent for p in resolved]
    common = parents[0]
    for p in parents[1:]:
        while not p.is_relative_to(common):
            common = common.parent
    return common


class Resolver:
    def __init__(self, root: Path, diags: Diagnostics, sources: SourceCache):
        self.scope = Scope(root=root.resolve())
        self.diags = diags
        self.sources = sources
        self._stack: list[Path] = []

    # ---- files ----------------------------------------------------------------------------

    def load_entry(self, path: Path) -> None:
        path = path.resolve()
        if path not in self.scope.entry_files:
            self.scope.entry_files.append(path)
        self._load(path, None)

    def _read(self, path: Path, at: Pos | None) -> str | None:
        where = at or Pos.point(display_path(path))
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                self.diags.error(
                    where, f"{display_path(path)} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB", code="file-size"
                )
                return None
            data = path.read_bytes()
        except OSError as exc:
            self.diags.error(where, f"cannot read {display_path(path)}: {exc.strerror or exc}", code="file-read")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            self.diags.error(
                Pos(display_path(path), line, col, line, col + 1),
                "the file is not valid UTF-8 text",
                "save it as UTF-8",
                code="file-encoding",
            )
            return None

    def _load(self, path: Path, at: Pos | None) -> None:
        if path in self._stack:
            cycle = [*self._stack[self._stack.index(path) :], path]
            assert at is not None  # an entry file cannot already be on the stack
            self.diags.error(
                at,
                "import cycle: " + " → ".join(str(p.relative_to(self.scope.root)) for p in cycle),
                "break the cycle by moving the shared declarations into a third file",
                code="import-cycle",
            )
            return
        if path in self.scope.modules:
            return
        text = self._read(path, at)
        if text is None:
            return
        name = display_path(path)
        self.sources.add(name, text)
        module = parse_module(text, name, self.diags)
        self.scope.modules[path] = module
        self._stack.append(path)
        try:
            for item in module.items:
                if isinstance(item, s.Import):
                    self._import(path, item)
                elif isinstance(item, s.Let):
                    self._let(item)
                else:
                    self._decl(path, item)
        finally:
            self._stack.pop()

    def _import(self, importer: Path, imp: s.Import) -> None:
        before = len(self.diags.errors)
        self._import_file(importer, imp)
        if len(self.diags.errors) > before:
            self.scope.failed_imports.append(imp.path.pos)

    def _import_file(self, importer: Path, imp: s.Import) -> None:
        raw = imp.path.value
        if not raw.endswith(".ecg"):
            hint = f"did you mean '{raw}.ecg'?" if (importer.parent / f"{raw}.ecg").is_file() else None
            self.diags.error(
                imp.path.pos, f"cannot import '{raw}': only .ecg files are imported", hint, code="import-kind"
            )
            return
        if Path(raw).is_absolute():
            self.diags.error(
                imp.path.pos,
                f"import of an absolute path '{raw}'",
                "imports are relative to the importing file",
                code="import-absolute",
            )
            return
        if raw.startswith("std/"):
            if not STD.is_dir():
                self.diags.error(
                    imp.path.pos,
                    "the shipped spec library (std/) is not in this installation",
                    "install ecgspec from its repository (pip install -e .), or import a copy",
                    code="import-std",
                )
                return
            base, root, raw_rel = STD, STD, raw[len("std/") :]
        elif importer.is_relative_to(STD) and not importer.is_relative_to(self.scope.root):
            base, root, raw_rel = importer.parent, STD, raw  # a library file imports within the library
        else:
            base, root, raw_rel = importer.parent, self.scope.root, raw
        target = (base / raw_rel).resolve()
        if not target.is_relative_to(root):
            if root == STD:
                where = "the shipped library std/"
            elif root == Path.cwd().resolve():
                where = "the working directory"
            else:
                where = f"'{display_path(root)}'"
            self.diags.error(
                imp.path.pos,
                f"'{raw}' is outside the spec root ({where})",
                "specs may only import files under their root; pass --root to widen it",
                code="import-escape",
            )
            return
        if not target.is_file():
            hint = did_you_mean(raw, _importable(importer.parent, self.scope.root))
            self.diags.error(
                imp.path.pos, f"no file '{raw}' (looked for {display_path(target)})", hint, code="import-missing"
            )
            return
        self._load(target, imp.path.pos)

    def _let(self, let: s.Let) -> None:
        first = self.scope.lets.get(let.name.text)
        if first is not None:
            self.diags.error(
                let.name.pos,
                f"constant '{let.name.text}' is declared twice",
                f"first declared at {first.name.pos}",
                code="duplicate-let",
            )
            return
        self.scope.lets[let.name.text] = let

    def _decl(self, path: Path, decl: s.Decl) -> None:
        key = (decl.kind.text, decl.name.text)

        first = self.scope.decls.get(key)
        if first is not None:
            self.diags.error(
                decl.name.pos,
                f"{decl.kind.text} '{decl.name.text}' is declared twice",
                f"first declared at {first.name.pos}",
                code="duplicate-decl",
            )
            return
        self.scope.decls[key] = decl
        self.scope.decl_file[key] = path

    # ---- -D name=value --------------------------------------------------------------------

    def define(self, spec: str) -> None:
        origin = f"-D {spec}"
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            self.diags.error(Pos(origin, 0, 0, 0, 0), f"'-D {spec}' is not of the form name=value", code="define-form")
            return
        value = parse_value(text, origin, self.diags)
        if value is not None:
            self.scope.defines[name] = Define(name, value, origin)

    def check_defines(self) -> None:
        for d in self.scope.defines.values():
            if d.name not in self.scope.lets:
                self.diags.error(
                    Pos(d.origin, 0, 0, 0, 0),
                    f"-D names '{d.name}', which no `let` declares",
                    did_you_mean(d.name, self.scope.lets) or "declare it with `let NAME = value`",
                    code="define-unknown",
                )


def resolve(
    paths: list[Path],
    diags: Diagnostics,
    sources: SourceCache,
    root: Path | None = None,
    defines: list[str] | None = None,
) -> Scope:
    """Load the given files (and what they import) into one scope."""
    resolver = Resolver(root or default_root(paths), diags, sources)
    for p in paths:
        resolver.load_entry(p)
    for spec in defines or []:
        resolver.define(spec)
    resolver.check_defines()
    return resolver.scope
