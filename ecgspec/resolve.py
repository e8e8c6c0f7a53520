"""Resolution: files and imports, the declaration table, `let` constants and `-D` overrides.

Imports are relative to the importing file and may not leave the spec root; cycles are
errors that list the cycle. Declarations share one table keyed by (kind, name), so a paper
and a distortion preset may both be called `aged`. Extends chains are walked by the checker
(`effective_entries`) because inheritance merges settings, which is checking work.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import syntax as s
from .errors import Diagnostics, Pos, SourceCache, did_you_mean
from .parser import parse_module, parse_value

MAX_FILE_BYTES = 4 * 1024 * 1024
# The shipped library: `import "std/papers.ecg"` works from any spec, wherever it lives. An installed
# package carries it as ecgspec/specs (setup.py); a checkout or an editable install has it at the top.
_PACKAGED_SPECS = Path(os.path.realpath(__file__)).parent / "specs"
STD = (
    _PACKAGED_SPECS
    if _PACKAGED_SPECS.is_dir()
    else Path(os.path.realpath(Path(os.path.realpath(__file__)).parents[1] / "specs"))
)

# Hooks for a caller that holds files' texts itself (the language server: unsaved buffers, parses kept).
Read = Callable[[Path], str | None]
"""A spec file's text by its real path, read before the disk: an editor's unsaved buffer, or None
to read the file from disk as usual (with its size and encoding checks)."""
Parse = Callable[[str, str, Diagnostics], s.Module]
"""Parses a spec file's text (text, the file's shown name, where its errors go) as `parse_module`
does: `parse_module` itself, or something that returns what it would, such as a cache of parses."""


def real_path(path: Path) -> Path:
    """The path with every link followed (os.path.realpath): what confinement compares."""
    return Path(os.path.realpath(path))


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
    # What each failed import would have declared, read from the file it most likely meant (the
    # near file a misspelt import names, the .ecg a path without extension names); None: unknown.
    failed_import_names: dict[Pos, frozenset[str] | None] = field(default_factory=dict)
    # `let a = b`: a names the constant b. Every such alias as written (a → b), and the aliases
    # that `flatten_lets` replaced by the value at the end of their chain.
    let_alias: dict[str, str] = field(default_factory=dict)
    flattened: dict[str, str] = field(default_factory=dict)  # how the checker names the step → the alias

    def names_of(self, *kinds: str) -> list[str]:
        return [name for (kind, name) in self.decls if kind in kinds]

    def let_label(self, name: str) -> str:
        """How a step through constant `name` is shown: `let name`, or the `-D` that overrides it."""
        d = self.defines.get(name)
        return d.origin if d is not None else f"let {name}"

    def expand_via(self, via: list[str]) -> list[str]:
        """The lets followed to reach a value, with each flattened alias chain written out again."""
        out: list[str] = []
        for step in via:
            name = self.flattened.get(step)
            if name is None:
                out.append(step)
                continue
            while name is not None:
                out.append(self.let_label(name))
                name = self.let_alias.get(name)
        return out

    def blame(self, name: str) -> str | None:
        """Which failed import a missing name is a knock-on of, for a hint: the one whose meant file
        declares it, else the one (or the ones) whose file is not known; None when none can be."""
        known = [p for p in self.failed_imports if name in (self.failed_import_names.get(p) or ())]
        if known:
            return f"the import at {known[0]} failed, and the file it likely means declares '{name}'"
        unknown = [p for p in self.failed_imports if self.failed_import_names.get(p) is None]
        if len(unknown) == 1:
            return f"the import at {unknown[0]} failed; it may declare '{name}'"
        if unknown:
            shown = ", ".join(str(p) for p in unknown[:3]) + (
                f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            )
            return f"the imports at {shown} failed; one of them may declare '{name}'"
        return None

    def lets_reached(self, used: set[str]) -> set[str]:
        """The constants `used` names, and every constant their alias chains pass through."""
        reached: set[str] = set()
        for name in used:
            step: str | None = name
            while step is not None and step not in reached:
                reached.add(step)
                step = self.let_alias.get(step)
        return reached


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
    cwd = real_path(Path.cwd())
    resolved = [real_path(p) for p in paths]
    if all(p.is_relative_to(cwd) for p in resolved):
        return cwd
    parents = [p if p.is_dir() else p.parent for p in resolved]
    common = parents[0]
    for p in parents[1:]:
        while not p.is_relative_to(common):
            common = common.parent
    return common


class Resolver:
    """Loads files and their imports into a scope. `read` and `parse`: see `Read` and `Parse`."""

    def __init__(
        self,
        root: Path,
        diags: Diagnostics,
        sources: SourceCache,
        *,
        read: Read | None = None,
        parse: Parse | None = None,
    ):
        self.scope = Scope(root=real_path(root))
        self.diags = diags
        self.sources = sources
        self._read_first = read
        self._parse: Parse = parse or parse_module
        self._stack: list[Path] = []

    # ---- files ----------------------------------------------------------------------------

    def load_entry(self, path: Path) -> None:
        path = real_path(path)
        if path not in self.scope.entry_files:
            self.scope.entry_files.append(path)
        self._load(path, None)

    def _read(self, path: Path, at: Pos | None) -> str | None:
        where = at or Pos.point(display_path(path))
        held = self._read_first(path) if self._read_first is not None else None
        if held is not None:
            # As large a text, saved, would be refused: the same limit whichever way it is read.
            if len(held) > MAX_FILE_BYTES // 4 and len(held.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
                self.diags.error(
                    where, f"{display_path(path)} is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB", code="file-size"
                )
                return None
            return held
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
        module = self._parse(text, name, self.diags)
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
            self.scope.failed_import_names[imp.path.pos] = self._meant_names(importer, imp.path.value)

    def _meant_names(self, importer: Path, raw: str) -> frozenset[str] | None:
        """The declarations of the file a failed import most likely means: the file itself when it
        was read (an import cycle), its .ecg when the extension is missing, the near file a
        misspelling names; None when no such file can be read."""
        folder = importer.parent
        guesses = [raw, f"{raw}.ecg"]
        # Only a near miss (one letter or so) is taken as what was meant; a looser "did you mean" is not blame.
        guesses += difflib.get_close_matches(raw, _importable(folder, self.scope.root), n=1, cutoff=0.9)
        for guess in guesses:
            path = real_path(folder / guess)
            if not (path.is_file() and path.suffix == ".ecg" and path.is_relative_to(self.scope.root)):
                continue
            module = self.scope.modules.get(path)
            if module is None:
                text = self._read_first(path) if self._read_first is not None else None
                try:
                    text = path.read_text(encoding="utf-8") if text is None else text
                except (OSError, UnicodeDecodeError):
                    continue
                module = self._parse(text, display_path(path), Diagnostics())
            return frozenset(i.name.text for i in module.items if isinstance(i, s.Decl))
        return None

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
        # Confinement compares real paths: a link (the file or any folder on the way) that leads
        # outside the root is refused, whatever the import's text looks like. os.path.realpath,
        # unlike Path.resolve on Python 3.11, does not raise on a link loop.
        written = Path(os.path.normpath(base / raw_rel))
        target = real_path(written)
        if not target.is_relative_to(root):
            if root == STD:
                where = "the shipped library std/"
            elif root == real_path(Path.cwd()):
                where = "the working directory"
            else:
                where = f"'{display_path(root)}'"
            self.diags.error(
                imp.path.pos,
                f"'{raw}' leads through a link to {display_path(target)}, outside the spec root ({where})"
                if written.is_relative_to(root)
                else f"'{raw}' is outside the spec root ({where})",
                "specs may only import files under their root; pass --root to widen it",
                code="import-escape",
            )
            return
        if os.path.islink(target):  # realpath stops at a link it cannot follow: a loop
            self.diags.error(imp.path.pos, f"'{raw}' is a link that leads back to itself", code="import-missing")
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

    def flatten_lets(self) -> None:
        """Replace each chain of aliases (`let a = b`, `let b = c`, `let c = 25 mm/s`) by its end
        value, so that the checker follows one step where it would follow n, and no chain is
        followed by recursion. Found with a loop and a memo: linear in the number of constants.

        A chain that runs into a cycle is shortened to end at the cycle; the cycle itself is left
        as written, for the checker to report where a constant of it is used."""
        lets, defines = self.scope.lets, self.scope.defines

        def written(name: str) -> s.Value:
            d = defines.get(name)
            return d.value if d is not None else lets[name].value

        def alias_of(value: s.Value) -> str | None:
            if isinstance(value, s.Ref) and len(value.parts) == 1 and value.parts[0] in lets:
                return value.parts[0]
            return None

        alias = self.scope.let_alias
        for name in lets:
            target = alias_of(written(name))
            if target is not None:
                alias[name] = target
        end: dict[str, str] = {}  # an alias → the last constant of its chain (not an alias)
        cycle_entry: dict[str, str] = {}  # an alias leading into a cycle → the cycle's first constant reached
        for start in alias:
            path: list[str] = []
            on_path: set[str] = set()
            name = start
            while name in alias and name not in end and name not in cycle_entry and name not in on_path:
                on_path.add(name)
                path.append(name)
                name = alias[name]
            if name in on_path:  # a cycle: the constants from `name` on are in it
                ring = set(path[path.index(name) :])
                for n in path[: path.index(name)]:
                    cycle_entry[n] = name
                for n in ring:
                    cycle_entry[n] = n
                continue
            if name in cycle_entry:
                entry = cycle_entry[name]
                for n in path:
                    cycle_entry[n] = entry
                continue
            last = end.get(name, name)
            for n in path:
                end[n] = last
        for name, last in end.items():
            self._set_value(name, written(last))
            self.scope.flattened[self.scope.let_label(name)] = name
        for name, entry in cycle_entry.items():
            if entry != name and alias[name] != entry:
                self._set_value(name, s.Ref((entry,), written(name).pos))

    def _set_value(self, name: str, value: s.Value) -> None:
        d = self.scope.defines.get(name)
        if d is not None:
            self.scope.defines[name] = Define(d.name, value, d.origin)
        else:
            let = self.scope.lets[name]
            self.scope.lets[name] = s.Let(let.name, value, let.pos)

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
    *,
    read: Read | None = None,
    parse: Parse | None = None,
) -> Scope:
    """Load the given files (and what they import) into one scope. `read` and `parse`: see `Read`
    and `Parse`; by default files are read from disk and parsed by `parse_module`."""
    resolver = Resolver(root or default_root(paths), diags, sources, read=read, parse=parse)
    for p in paths:
        resolver.load_entry(p)
    for spec in defines or []:
        resolver.define(spec)
    resolver.check_defines()
    resolver.flatten_lets()
    return resolver.scope
