"""Checking: syntax → IR, driven by the IR classes' field declarations.

For every field the checker reads its type and markers (ecgspec.ir.base) and converts what
was written: units to canonical units with dimension checks, names to declarations,
lead spellings to canonical leads, templates checked for syntax. Each problem becomes a
located diagnostic; checking goes on after an error so that one run reports them all.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import annotated_types as at
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ValidationError

from . import ir
from . import syntax as s
from .colours import NAMED, normalise_hex
from .errors import Diagnostics, Pos, did_you_mean
from .formatter import value as written
from .ir.base import (
    Choice, Colour, DataPath, Decl, Expr, Folds, Ident, Lead, LogNormal, Normal, Probability, RefTo,
    Span, Statement, Template, TemplateFile, Uniform, Unit,
)
from .leads import canonical_lead, known_leads
from .resolve import Scope, display_path
from .units import DIMENSIONS, UNITS, describe, to_canonical

MAX_EXPANDED_RANGE = 10_000
_DIST_CLASSES = (Uniform, Normal, LogNormal, Span, Choice)


class _Fail:
    """The result of a conversion that reported an error."""

    def __repr__(self) -> str:
        return "FAIL"


FAIL: Any = _Fail()


@dataclass(frozen=True)
class Origin:
    """Where a resolved value came from, for `explain`."""

    how: Literal["set", "inherited", "default", "header"]
    pos: Pos | None = None
    via: str | None = None  # "paper standard", "let seed", "-D seed=3"

    def describe(self) -> str:
        if self.how == "default":
            return "default"
        where = f" at {self.pos}" if self.pos else ""
        if self.how == "inherited":
            return f"inherited from {self.via}{where}"
        extra = f" via {self.via}" if self.via else ""
        return f"{'header' if self.how == 'header' else 'set'}{where}{extra}"


@dataclass
class Checked:
    """The result of checking a scope: IR declarations and what `explain` needs about them."""

    decls: dict[tuple[str, str], Decl] = field(default_factory=dict)
    origins: dict[tuple[str, str], dict[str, Origin]] = field(default_factory=dict)
    deps: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)
    used_lets: set[str] = field(default_factory=set)


@dataclass
class _Ctx:
    """What a conversion is for: names the field in messages and collects references."""

    what: str  # "setting 'speed' of paper 'x'"
    deps: set[tuple[str, str]]
    via: list[str] = field(default_factory=list)  # lets followed to reach the value


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """Annotated[T, m1, m2] → (T, [m1, m2]); nested Annotated are flattened."""
    markers: list[Any] = []
    while typing.get_origin(tp) is Annotated:
        markers.extend(tp.__metadata__)
        tp = tp.__origin__
    return tp, markers


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _marker(markers: list[Any], kind: type) -> Any:
    return next((m for m in markers if isinstance(m, kind)), None)


def _bounds(markers: list[Any]) -> list[Any]:
    return [m for m in markers if isinstance(m, (at.Ge, at.Gt, at.Le, at.Lt))]


def _field_markers(info: Any) -> tuple[Any, list[Any]]:
    """A pydantic FieldInfo → (annotation, markers incl. constraints)."""
    tp, inner = _strip(info.annotation)
    return tp, [*info.metadata, *inner]


def _short(tp: Any) -> str:
    """A type in words, for messages."""
    tp, markers = _strip(tp)
    if (u := _marker(markers, Unit)) is not None:
        d = DIMENSIONS[u.dimension]
        return f"{d.noun} ({d.canonical})"
    if _marker(markers, Probability):
        return "a probability"
    if _marker(markers, Template):
        return "a Jinja template string"
    if _marker(markers, TemplateFile):
        return "a template file name"
    if (r := _marker(markers, RefTo)) is not None:
        return " or ".join(f"a {k} name" for k in r.kinds)
    if _marker(markers, Lead):
        return "a lead name"
    if _marker(markers, Colour):
        return "a colour"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if args and args[-1] is not Ellipsis:
            kinds = {_short(a) for a in args}
            if len(kinds) == 1:  # "a length (mm)" → "[…, …] of 2 lengths (mm)"
                word, _, rest = kinds.pop().partition(" ")[2].partition(" ")
                return f"a list of {len(args)} {word}s {rest}".rstrip()
            return f"a list of {len(args)} values"
        return "a list"
    if typing.get_origin(tp) is dict:
        return "a list of `key: value` pairs"
    return getattr(tp, "__name__", str(tp))


def _value_kind(v: s.Value) -> str:
    return {
        s.Number: "a number", s.String: "a string", s.Colour: "a colour", s.Ref: "a name",
        s.Range: "a range", s.ListValue: "a list", s.Choice: "a choice", s.Call: "a distribution",
    }[type(v)]


def statement_fields(cls: type[BaseModel]) -> dict[str, str]:
    """Statement keyword → the tuple field of `cls` that collects those statements."""
    heads: dict[str, str] = {}
    for kw, st_cls in getattr(cls, "statements", {}).items():
        for fname, info in cls.model_fields.items():
            tp, _ = _strip(info.annotation)
            if typing.get_origin(tp) is tuple:
                args = typing.get_args(tp)
                elem, _ = _strip(args[0]) if args else (None, [])
                if isinstance(elem, type) and issubclass(st_cls, elem):
                    heads[kw] = fname
                    break
    return heads


def _locate(value: s.Value | None, at_: Any) -> Pos | None:
    """The position of a part of a written value: `("row", i)`, `("item", i, j)` of a matrix,
    or `("value", name)` / `("key", name)` of a list or map."""
    if value is None or at_ is None or not isinstance(value, s.ListValue):
        return None
    kind = at_[0]
    if kind == "row" and at_[1] < len(value.rows) and value.rows[at_[1]]:
        row = value.rows[at_[1]]
        return row[0].pos.to(row[-1].pos)
    if kind == "item" and at_[1] < len(value.rows) and at_[2] < len(value.rows[at_[1]]):
        return value.rows[at_[1]][at_[2]].pos
    if kind in ("value", "key"):
        for item in value.items:
            targets = [item.value] if kind == "key" else [item.weight] if item.weight is not None else [item.value]
            for t in targets:
                leaves = t.items if isinstance(t, s.ListValue) else (s.Item(t, None, t.pos),)
                for leaf in leaves:
                    v = leaf.value
                    text = v.dotted if isinstance(v, s.Ref) else v.value if isinstance(v, s.String) else None
                    if text == at_[1]:
                        return v.pos
    return None


def _written_num(v: s.Value | s.KwArg) -> str:
    return written(v)


def _fmt_num(x: float) -> str:
    return f"{x:g}"


class Checker:
    def __init__(self, scope: Scope, diags: Diagnostics, templates_root: Path | None = None):
        self.scope = scope
        self.diags = diags
        self.templates_root = templates_root
        self.out = Checked()
        self._jinja = ImmutableSandboxedEnvironment()
        self._let_stack: list[str] = []
        # A setting or step inherited by several declarations is converted (and reported) once.
        self._converted: dict[tuple[int, str], tuple[Any, set[tuple[str, str]], list[str]]] = {}
        self._statement_positions: dict[int, dict[str, Pos]] = {}

    # ---- declarations ------------------------------------------------------------------------

    def run(self) -> Checked:
        for key, decl in self.scope.decls.items():
            self._check_decl(key, decl)
        self._check_splits()
        return self.out

    def _check_splits(self) -> None:
        """A corpus or suite may only name splits that its source declares."""
        from .ir import Corpus, From, Source, Suite

        for decl in list(self.out.decls.values()):
            froms: list[From] = []
            if isinstance(decl, Corpus):
                froms = list(decl.sources)
            elif isinstance(decl, Suite):
                froms = [f for t in decl.tasks for f in t.sources]
            for f in froms:
                source = self.out.decls.get(("source", f.source))
                if f.split is None or not isinstance(source, Source):
                    continue
                names = [name for sp in source.split for name in sp.parts]
                if f.split in names:
                    continue
                pos = self._statement_positions.get(id(f), {}).get("split") or self.scope.decls[
                    (decl.kind, decl.name)].name.pos
                hint = did_you_mean(f.split, names) or (
                    f"its splits are {', '.join(names)}" if names else f"declare one in source '{f.source}': "
                    "`split by strat_fold { train = 1..8; test = 9..10 }`")
                self.diags.error(pos, f"source '{f.source}' has no split '{f.split}'", hint, code="unknown-split")

    def _check_decl(self, key: tuple[str, str], decl: s.Decl) -> None:
        kind = decl.kind.text
        cls = ir.KINDS.get(kind)
        if cls is None:
            hint = did_you_mean(kind, ir.KINDS) or "declarations are " + ", ".join(ir.KINDS)
            self.diags.error(decl.kind.pos, f"unknown declaration kind '{kind}'", hint, code="unknown-kind")
            return
        chain = self._extends_chain(decl)
        if chain is None:
            return
        what = f"{kind} '{decl.name.text}'"
        errors_at_start = len(self.diags.errors)
        deps: set[tuple[str, str]] = set()
        values: dict[str, Any] = {"name": decl.name.text}
        origins: dict[str, Origin] = {}

        # Headers: `from` and `version` set fields; the nearest declaration in the chain wins.
        for word, target in (("from", "adapter"), ("version", "version")):
            for d in chain:
                h = d.header(word)
                if h is not None:
                    if target in cls.model_fields:
                        values[target] = self._header_value(h, cls, target, _Ctx(f"`{word}` of {what}", deps))
                        origins[target] = Origin("header" if d is decl else "inherited", h.pos,
                                                 None if d is decl else f"{kind} {d.name.text}")
                    break
        for h in decl.headers:
            if h.word.text not in cls.headers and h.word.text != "extends":
                allowed = ", ".join(f"`{w}`" for w in cls.headers)
                self.diags.error(h.word.pos, f"a {kind} has no `{h.word.text}` header",
                                 did_you_mean(h.word.text, cls.headers) or f"a {kind} takes {allowed}",
                                 code="unknown-header")

        # Settings: the child's win; statements: the base's run first, then the child's.
        settings: dict[str, tuple[s.Setting, s.Decl]] = {}
        statements: list[tuple[s.Statement, s.Decl]] = []
        for d in reversed(chain):  # base first
            seen_here: dict[str, s.Setting] = {}
            for entry in d.body.entries:
                if isinstance(entry, s.Setting):
                    first = seen_here.get(entry.key.text)
                    if first is not None:
                        self.diags.error(entry.key.pos, f"`{entry.key.text}` is set twice in {what}",
                                         f"first set at line {first.key.pos.line}", code="duplicate-setting")
                        continue
                    seen_here[entry.key.text] = entry
                    settings[entry.key.text] = (entry, d)
                else:
                    statements.append((entry, d))

        positions: dict[str, Pos] = {}
        self.out.deps[key] = deps  # kept even if the declaration fails, so that uses still count
        self._fill(cls, values, origins, positions, settings, statements, decl, what, deps, kind, decl.name.pos)
        self._check_default_references(cls, values, what, deps, decl.name.pos)
        if "adapter" in cls.model_fields and "adapter" in values and kind == "source":
            self._check_source_adapter(decl, values["adapter"], chain)
        obj = self._build(cls, values, decl.name.pos, what, positions, written=self._written(settings, decl),
                          clean=len(self.diags.errors) == errors_at_start)
        if obj is not FAIL:
            self.out.decls[key] = obj
            self.out.origins[key] = origins

    @staticmethod
    def _written(settings: dict[str, tuple[s.Setting, s.Decl]], decl: s.Decl) -> dict[str, s.Value]:
        return {k: st.value for k, (st, _) in settings.items()}

    def _extends_chain(self, decl: s.Decl) -> list[s.Decl] | None:
        """[decl, its base, the base's base, …]; None after reporting an error."""
        chain = [decl]
        while (h := chain[-1].header("extends")) is not None:
            base_name = h.value.value if isinstance(h.value, s.String) else h.value.text
            base = self.scope.decls.get((decl.kind.text, base_name))
            if base is None:
                if chain[-1] is decl:  # a declaration further down the chain reports its own
                    kind = decl.kind.text
                    hint = did_you_mean(base_name, self.scope.names_of(kind)) or self._not_found_hint(base_name, kind)
                    self.diags.error(h.value.pos, f"{kind} '{decl.name.text}' extends unknown {kind} '{base_name}'",
                                     hint, code="unknown-base")
                return None
            if base in chain:
                members = chain[chain.index(base):]
                first = min(members, key=lambda d: (d.pos.file, d.pos.line, d.pos.col))
                if decl is first:  # one report per cycle, at its first declaration
                    cycle = " → ".join(d.name.text for d in [*members, base])
                    first_h = first.header("extends")
                    assert first_h is not None
                    self.diags.error(first_h.value.pos, f"inheritance cycle: {cycle}",
                                     "a declaration cannot extend itself, directly or through others",
                                     code="extends-cycle")
                return None
            chain.append(base)
        return chain

    def _not_found_hint(self, name: str, kinds: str) -> str | None:
        """Why a name may be missing: it is another kind, or an import that failed declares it."""
        other = [k for (k, n) in self.scope.decls if n == name]
        if other:
            return f"'{name}' is a {other[0]}, not a {kinds}"
        if self.scope.failed_imports:
            return f"the import at {self.scope.failed_imports[0]} failed; it may declare '{name}'"
        return None

    def _header_value(self, h: s.Header, cls: type[Decl], target: str, ctx: _Ctx) -> Any:
        value: s.Value = h.value if isinstance(h.value, s.String) else s.Ref((h.value.text,), h.value.pos)
        tp, markers = _field_markers(cls.model_fields[target])
        return self.convert(value, tp, markers, ctx)

    def _check_source_adapter(self, decl: s.Decl, adapter: Any, chain: list[s.Decl]) -> None:
        if adapter is FAIL:
            return
        from .ir.source import SOURCE_ADAPTERS

        formats = self.scope.names_of("format")
        if adapter not in SOURCE_ADAPTERS and adapter not in formats:
            h = next(d.header("from") for d in chain if d.header("from") is not None)
            assert h is not None
            self.diags.error(h.value.pos, f"unknown source adapter '{adapter}'",
                             did_you_mean(adapter, [*SOURCE_ADAPTERS, *formats])
                             or "adapters are " + ", ".join(SOURCE_ADAPTERS) + ", or a declared `format`",
                             code="unknown-adapter")
        elif adapter in formats:
            self.out.deps[(decl.kind.text, decl.name.text)].add(("format", adapter))

    # ---- filling a model from a block --------------------------------------------------------

    def _fill(self, cls: type[BaseModel], values: dict[str, Any], origins: dict[str, Origin],
              positions: dict[str, Pos], settings: dict[str, tuple[s.Setting, s.Decl | None]],
              statements: list[tuple[s.Statement, s.Decl | None]], owner: s.Decl | None, what: str,
              deps: set[tuple[str, str]], kind: str, where: Pos) -> None:
        registry: dict[str, type[Statement]] = getattr(cls, "statements", {})
        heads = statement_fields(cls)
        open_block: str | None = getattr(cls, "open_block", None)
        collected: dict[str, list[Any]] = {f: [] for f in set(heads.values())}
        settable = [f for f in cls.model_fields if f not in heads.values() and f not in ("name", "adapter", "version")
                    and f != open_block]
        opened: dict[str, Any] = {}

        for key, (setting, from_decl) in settings.items():
            if key in settable:
                tp, markers = _field_markers(cls.model_fields[key])
                owner_what = what if from_decl is None or from_decl is owner else \
                    f"{from_decl.kind.text} '{from_decl.name.text}'"
                values[key], via = self._convert_once(setting.value, tp, markers, f"`{key}` of {owner_what}", deps,
                                                      (id(setting), f"{cls.__name__}.{key}"))
                positions[key] = setting.value.pos
                if owner is not None and from_decl is not None and from_decl is not owner:
                    origins[key] = Origin("inherited", setting.pos, f"{from_decl.kind.text} {from_decl.name.text}")
                else:
                    origins[key] = Origin("set", setting.pos, " → ".join(via) or None)
            elif open_block is not None:
                tp, markers = _field_markers(cls.model_fields[open_block])
                vtp = typing.get_args(tp)[1] if typing.get_args(tp) else Any
                opened[key] = self.convert(setting.value, vtp, [], _Ctx(f"`{key}` of {what}", deps))
                positions.setdefault(open_block, setting.pos)
            else:
                self._unknown_setting(setting, cls, settable, registry, what, kind)
        if open_block is not None:
            values[open_block] = opened

        for st, from_decl in statements:
            head = st.head.text
            st_cls = registry.get(head)
            owner_what = what if from_decl is None or from_decl is owner else \
                f"{from_decl.kind.text} '{from_decl.name.text}'"
            if st_cls is None:
                if from_decl is None or from_decl is owner:
                    self._unknown_statement(st, cls, settable, registry, what, kind)
                continue
            key = (id(st), st_cls.__name__)
            if key not in self._converted:
                local: set[tuple[str, str]] = set()
                self._converted[key] = (self._statement(st, st_cls, local, owner_what), local, [])
            obj, used, _ = self._converted[key]
            deps |= used
            collected[heads[head]].append(obj)
            positions.setdefault(heads[head], st.pos)
        for fname, items in collected.items():
            if items or fname not in values:
                values[fname] = tuple(items)

    def _convert_once(self, value: s.Value, tp: Any, markers: list[Any], what: str, deps: set[tuple[str, str]],
                      key: tuple[int, str]) -> tuple[Any, list[str]]:
        if key not in self._converted:
            ctx = _Ctx(what, set())
            self._converted[key] = (self.convert(value, tp, markers, ctx), ctx.deps, ctx.via)
        result, used, via = self._converted[key]
        deps |= used
        return result, via

    def _check_default_references(self, cls: type[BaseModel], values: dict[str, Any], what: str,
                                  deps: set[tuple[str, str]], where: Pos) -> None:
        """A default that names a declaration (`layout = "4x3"`) must exist, and counts as a use."""
        for fname, info in cls.model_fields.items():
            if fname in values or info.is_required() or not isinstance(info.default, str):
                continue
            tp, markers = _field_markers(info)
            members = typing.get_args(tp) if _is_union(tp) else (tp,)
            ref = _marker(markers, RefTo) or next(
                (r for m in members if (r := _marker(_strip(m)[1], RefTo)) is not None), None)
            if ref is None:
                continue
            found = next((k for k in ref.kinds if (k, info.default) in self.scope.decls), None)
            if found is not None:
                deps.add((found, info.default))
                continue
            kinds = " or ".join(ref.kinds)
            self.diags.error(where, f"{what} uses the default {kinds} '{info.default}', which is not declared",
                             f"import a file that declares it (the shipped ones are in specs/), "
                             f"or set `{fname} = …`", code="unknown-default")

    def _unknown_setting(self, setting: s.Setting, cls: type[BaseModel], settable: list[str],
                         registry: dict[str, Any], what: str, kind: str) -> None:
        key = setting.key.text
        if key in registry:
            self.diags.error(setting.key.pos, f"`{key}` is a step, written without '='",
                             f"write `{key} {written(setting.value)}`", code="step-as-setting")
            return
        hint = did_you_mean(key, [*settable, *registry]) or f"settings of a {kind}: " + ", ".join(settable)
        self.diags.error(setting.key.pos, f"{what} has no setting `{key}`", hint, code="unknown-setting")

    def _unknown_statement(self, st: s.Statement, cls: type[BaseModel], settable: list[str],
                           registry: dict[str, Any], what: str, kind: str) -> None:
        head = st.head.text
        if head in settable:
            shown = " ".join(written(t) for t in st.terms) or "…"
            self.diags.error(st.head.pos, f"`{head}` is a setting and needs '='", f"write `{head} = {shown}`",
                             code="setting-as-step")
            return
        if registry:
            hint = did_you_mean(head, [*registry, *settable]) or "steps here are " + ", ".join(registry)
        else:
            hint = did_you_mean(head, settable) or f"a {kind} takes settings `name = value`"
        label = "step" if registry else "setting"
        self.diags.error(st.head.pos, f"{what} has no {label} `{head}`", hint, code="unknown-step")

    def _statement(self, st: s.Statement, cls: type[Statement], deps: set[tuple[str, str]], owner: str) -> Any:
        what = f"`{cls.keyword}` in {owner}"
        errors_at_start = len(self.diags.errors)
        values: dict[str, Any] = {}
        positions: dict[str, Pos] = {}
        fields = cls.model_fields
        params = [f for f in fields if f not in statement_fields(cls).values() and f != cls.open_block]
        positional = list(cls.positional)
        terms = list(st.terms)
        i = 0
        while i < len(terms):
            term = terms[i]
            if isinstance(term, s.KwArg):
                name, value, pos = term.key.text, term.value, term.key.pos
                i += 1
            elif (isinstance(term, s.Ref) and len(term.parts) == 1 and term.parts[0] in params
                  and not (i + 1 >= len(terms) and term.parts[0] in self.scope.lets)):
                name, pos = term.parts[0], term.pos
                if i + 1 >= len(terms):
                    self.diags.error(term.pos, f"`{name}` of {what} needs a value after it",
                                     f"for example `{name} {self._example(fields[name])}`", code="missing-value")
                    return FAIL
                value = terms[i + 1]
                if isinstance(value, s.KwArg):
                    self.diags.error(value.pos, f"`{name}` of {what} needs a value after it", code="missing-value")
                    return FAIL
                i += 2
            else:
                while positional and positional[0] in values:
                    positional.pop(0)
                if not positional:
                    guess = did_you_mean(term.dotted, params) if isinstance(term, s.Ref) else None
                    takes = ", ".join(f"`{p}`" for p in cls.positional) or "no value"
                    others = [p for p in params if p not in cls.positional]
                    hint = guess or ("give the others by name: " + ", ".join(f"`{p} …`" for p in others)
                                     if others else None)
                    if isinstance(term, s.Colour):
                        hint = "a '#' followed by 3, 6 or 8 hex digits is a colour; a comment needs a space after '#'"
                    self.diags.error(term.pos, f"`{cls.keyword}` takes {takes} without a name; "
                                     f"`{written(term)}` is one value too many", hint, code="extra-value")
                    break  # the rest of the line would only repeat this error
                name, value, pos = positional.pop(0), term, term.pos
                i += 1
            if name not in params:
                self.diags.error(pos, f"{what} has no parameter `{name}`",
                                 did_you_mean(name, params) or f"{what} takes " + ", ".join(f"`{p}`" for p in params),
                                 code="unknown-param")
                continue
            if name in values:
                self.diags.error(pos, f"`{name}` is given twice in {what}",
                                 f"it was already given at column {positions[name].col}; remove one",
                                 code="duplicate-param")
                continue
            tp, markers = _field_markers(fields[name])
            label = what if name == (cls.positional[:1] or ("",))[0] else f"`{name}` of {what}"
            values[name] = self.convert(value, tp, markers, _Ctx(label, deps))
            positions[name] = value.pos
        if st.block is not None:
            if not cls.takes_block:
                self.diags.error(st.block.pos, f"{what} does not take a block", code="unexpected-block")
            else:
                settings: dict[str, tuple[s.Setting, s.Decl]] = {}
                inner: list[s.Statement] = []
                for entry in st.block.entries:
                    if isinstance(entry, s.Setting):
                        if entry.key.text in settings or entry.key.text in values:
                            self.diags.error(entry.key.pos, f"`{entry.key.text}` is set twice in {what}",
                                             code="duplicate-setting")
                            continue
                        settings[entry.key.text] = (entry, None)  # type: ignore[assignment]
                    else:
                        inner.append(entry)
                self._fill(cls, values, {}, positions, settings, [(i, None) for i in inner], None, what, deps,
                           cls.keyword, st.head.pos)
        block_values = {e.key.text: e.value for e in (st.block.entries if st.block else ()) if isinstance(e, s.Setting)}
        self._check_default_references(cls, values, what, deps, st.head.pos)
        obj = self._build(cls, values, st.head.pos, what, positions, written=block_values,
                          clean=len(self.diags.errors) == errors_at_start)
        self._statement_positions[id(obj)] = positions
        return obj

    def _example(self, info: Any) -> str:
        if info.examples:
            return str(info.examples[0])
        tp, markers = _field_markers(info)
        members = typing.get_args(tp) if _is_union(tp) else (tp,)
        for m in [*markers, *(x for member in members for x in _strip(member)[1])]:
            if isinstance(m, Unit):
                return DIMENSIONS[m.dimension].example
        return "…"

    def _build(self, cls: type[BaseModel], values: dict[str, Any], pos: Pos, what: str,
               positions: dict[str, Pos], written: dict[str, s.Value] | None = None, clean: bool = True) -> Any:
        """Construct the IR object; cross-field checks run only on a declaration without other errors,
        so that one mistake is not reported twice."""
        if any(v is FAIL for v in values.values()) or any(
            isinstance(v, tuple) and any(x is FAIL for x in v) for v in values.values()
        ):
            return FAIL
        missing = [f for f, info in cls.model_fields.items() if info.is_required() and f not in values]
        for f in missing:
            info = cls.model_fields[f]
            example = self._example(info)
            desc = f" ({info.description})" if info.description else ""
            hint = f"add `{f} = {example}`{desc}" if example != "…" else f"add `{f}`{desc}"
            message = f"{what} is missing `{f}`"
            if f == "adapter":
                message = f"{what} has no `from ADAPTER` in its head"
                hint = getattr(cls, "headers", {}).get("from", "").replace("the adapter: ", "adapters: ") or None
            elif f == "version":
                message = f"{what} has no `version \"…\"` in its head"
                hint = 'write it after the name: `suite NAME version "1.0" { … }`'
            self.diags.error(pos, message, hint, code="missing-setting")
        if missing:
            return FAIL
        try:
            obj = cls(**values)
        except ValidationError as exc:  # a constraint the converter does not know about
            for err in exc.errors():
                loc = str(err["loc"][0]) if err["loc"] else ""
                self.diags.error(positions.get(loc, pos), f"{what}: `{loc}` {err['msg'].lower()}", code="invalid")
            return FAIL
        problems = getattr(obj, "problems", None)
        if problems is not None and clean:
            bad = False
            for problem in problems():
                fname, message, hint = problem[:3]
                at_ = problem[3] if len(problem) > 3 else None
                where = _locate((written or {}).get(fname), at_) or positions.get(fname, pos)
                self.diags.error(where, f"{what}: {message}", hint, code="invalid")
                bad = True
            if bad:
                return FAIL
        return obj

    # ---- values --------------------------------------------------------------------------------

    def convert(self, value: s.Value, tp: Any, markers: list[Any], ctx: _Ctx) -> Any:
        """Convert a written value to the IR value of type `tp`, or report and return FAIL."""
        tp, inner = _strip(tp)
        markers = [*markers, *inner]

        if isinstance(value, s.Ref) and len(value.parts) == 1:
            name = value.parts[0]
            define = self.scope.defines.get(name)
            let = self.scope.lets.get(name)
            if let is not None and not (isinstance(tp, type) and issubclass(tp, BaseModel)):
                return self._through_let(name, define.value if define else let.value,
                                         define.origin if define else f"let {name}", tp, markers, ctx, value.pos)

        if _is_union(tp):
            return self._union(value, tp, markers, ctx)
        if tp is Any and _marker(markers, Folds):
            return self._folds(value, ctx)
        if typing.get_origin(tp) is Literal:
            return self._literal(value, typing.get_args(tp), ctx)
        if tp is bool:
            return self._bool(value, ctx)
        if tp in (int, float):
            return self._number(value, tp, markers, ctx)
        if tp is str:
            return self._string(value, markers, ctx)
        if typing.get_origin(tp) is tuple:
            return self._tuple(value, tp, ctx)
        if typing.get_origin(tp) is dict:
            return self._dict(value, tp, ctx)
        if tp is Any:
            return self._any(value, ctx)
        raise TypeError(f"the checker has no conversion for {tp!r}")  # a bug in an IR class, not user input

    def _through_let(self, name: str, value: s.Value, via: str, tp: Any, markers: list[Any], ctx: _Ctx,
                     use: Pos) -> Any:
        if name in self._let_stack:
            cycle = " → ".join([*self._let_stack[self._let_stack.index(name):], name])
            self.diags.error(value.pos, f"constants refer to each other in a cycle: {cycle}", code="let-cycle")
            return FAIL
        self.out.used_lets.add(name)
        self._let_stack.append(name)
        ctx.via.append(via)
        inner, self.diags = self.diags, Diagnostics()
        try:
            result = self.convert(value, tp, markers, ctx)
        finally:
            self._let_stack.pop()
            trial, self.diags = self.diags, inner
        # The mistake is where the constant is used for something it cannot be: report it there.
        for d in trial.items:
            if d.code == "let-cycle" or len(self._let_stack):
                self.diags.items.append(d)
                continue
            where = "-D" if via.startswith("-D") else f"line {d.pos.line}"
            self.diags.error(use, d.message, f"through {via} ({where})" + (f"; {d.hint}" if d.hint else ""),
                             code=d.code)
        return result

    def _type_error(self, value: s.Value, expected: str, ctx: _Ctx, hint: str | None = None) -> Any:
        got = _value_kind(value)
        if isinstance(value, s.Ref) and value.dotted == "none":
            got, hint = "`none`", hint or "this setting cannot be `none`; it needs a value"
        elif isinstance(value, s.Ref) and len(value.parts) == 1:
            got = f"the name '{value.dotted}'"
            if hint is None:
                guess = did_you_mean(value.dotted, self.scope.lets)
                hint = (guess.replace("did you mean '", "did you mean the constant '") if guess
                        else f"no constant '{value.dotted}' is declared" + (
                            f"; the import at {self.scope.failed_imports[0]} failed" if self.scope.failed_imports
                            else ""))
        elif isinstance(value, (s.Call, s.Range, s.Choice)) and hint is None:
            hint = "this setting is fixed for a whole build; write one value"
        self.diags.error(value.pos, f"{ctx.what}: expected {expected}, got {got}", hint, code="type")
        return FAIL

    def _union(self, value: s.Value, tp: Any, markers: list[Any], ctx: _Ctx) -> Any:
        members = list(typing.get_args(tp))
        optional = type(None) in members
        members = [m for m in members if m is not type(None)]
        dists = [m for m in members if m in _DIST_CLASSES]
        plain = [m for m in members if m not in _DIST_CLASSES]
        if optional and isinstance(value, s.Ref) and value.dotted == "none":
            return None
        if isinstance(value, (s.Call, s.Range, s.Choice)) and not (
            isinstance(value, s.Range) and any(_marker(_strip(m)[1], Folds) for m in plain)
        ):
            base, base_markers = _strip(plain[0]) if plain else (Any, [])
            markers = [*markers, *base_markers]
            if isinstance(value, s.Choice):
                if Choice not in dists:
                    return self._type_error(value, _short(base), ctx, "a weighted choice is not allowed here")
                if typing.get_origin(base) is tuple:  # a choice among the elements of a list setting
                    elem, elem_markers = _strip(typing.get_args(base)[0])
                    return self._choice(value, elem, elem_markers, ctx)
                return self._choice(value, base, markers, ctx)
            if not dists:
                return self._type_error(value, _short(base), ctx,
                                        "this setting is fixed for a whole build; write one value")
            return self._distribution(value, base, markers, ctx, dists)
        # Try the plain members quietly; report with the member that suits the value's shape.
        for m in plain:
            trial = Diagnostics()
            saved, self.diags = self.diags, trial
            try:
                result = self.convert(value, m, markers, _Ctx(ctx.what, ctx.deps, ctx.via))
            finally:
                self.diags = saved
            if result is not FAIL:
                return result
        best = next((m for m in plain if self._shape_fits(value, m)), plain[0])
        others = [_short(m) for m in plain if m is not best]
        if not others:
            return self.convert(value, best, markers, ctx)
        trial, saved = Diagnostics(), self.diags
        self.diags = trial
        try:
            result = self.convert(value, best, markers, ctx)
        finally:
            self.diags = saved
        for d in trial.items:  # say that the other shapes were possible too
            extra = "or " + " or ".join(others)
            self.diags.items.append(replace(d, hint=f"{d.hint}, {extra}" if d.hint else extra))
        return result

    @staticmethod
    def _shape_fits(value: s.Value, tp: Any) -> bool:
        tp, _ = _strip(tp)
        origin = typing.get_origin(tp)
        if isinstance(value, s.ListValue):
            return origin in (tuple, dict)
        if isinstance(value, s.Number):
            return tp in (int, float)
        return origin is Literal or tp is str or tp is bool

    def _distribution(self, value: s.Value, base: Any, markers: list[Any], ctx: _Ctx, dists: list[Any]) -> Any:
        if isinstance(value, s.Range):
            return self._range(value, base, markers, ctx)
        assert isinstance(value, s.Call)
        func = value.func.text
        cls = {"uniform": Uniform, "normal": Normal, "lognormal": LogNormal}.get(func)
        if cls is None:
            self.diags.error(value.func.pos, f"unknown distribution '{func}'",
                             did_you_mean(func, ["uniform", "normal", "lognormal"])
                             or "distributions are uniform(a, b), normal(mu, sigma), lognormal(mu, sigma)",
                             code="unknown-distribution")
            return FAIL
        params = {"uniform": ("lo", "hi"), "normal": ("mu", "sigma", "lo", "hi"), "lognormal": ("mu", "sigma")}[func]
        required = 2
        got: dict[str, Any] = {}
        positional = [a for a in value.args if not isinstance(a, s.KwArg)]
        named = [a for a in value.args if isinstance(a, s.KwArg)]
        if len(positional) > len(params):
            self.diags.error(value.pos, f"{func}() takes at most {len(params)} values ({', '.join(params)})",
                             code="distribution-args")
            return FAIL
        for pname, arg in [*zip(params, positional, strict=False), *((a.key.text, a.value) for a in named)]:
            if pname not in params:
                self.diags.error(arg.pos, f"{func}() has no parameter '{pname}'", did_you_mean(pname, params),
                                 code="distribution-args")
                return FAIL
            # sigma is a spread: it has the unit of the value but no bounds of its own.
            arg_markers = [m for m in markers if not isinstance(m, (at.Ge, at.Gt, at.Le, at.Lt))] \
                if pname == "sigma" else markers
            arg_tp = float if (func == "lognormal" or _strip(base)[0] is int) else base
            if func == "lognormal":
                arg_markers = []
            got[pname] = self.convert(arg, arg_tp, arg_markers, ctx)
        if len(got) < required:
            self.diags.error(value.pos, f"{func}() needs {required} values: {func}({', '.join(params[:2])}), "
                             f"e.g. {func}({'-3 deg, 3 deg' if func == 'uniform' else '0, 1'})",
                             code="distribution-args")
            return FAIL
        if any(v is FAIL for v in got.values()):
            return FAIL
        if cls not in dists:
            return self._type_error(value, _short(base), ctx, f"{func}() is not allowed here")
        if func == "uniform" and got["lo"] > got["hi"]:
            lo_text, hi_text = (_written_num(a) for a in positional[:2])
            self.diags.error(value.pos, f"uniform(lo, hi) needs lo ≤ hi, got {lo_text} > {hi_text}",
                             "swap the bounds", code="distribution-order")
            return FAIL
        if "sigma" in got and got["sigma"] < 0:
            self.diags.error(value.pos, "sigma cannot be negative", code="distribution-args")
            return FAIL
        return cls(**got)

    def _range(self, value: s.Range, base: Any, markers: list[Any], ctx: _Ctx) -> Any:
        lo_n, hi_n = value.lo, value.hi
        if lo_n.unit is None and hi_n.unit is not None:  # `-3..3 deg`: the lower bound takes the upper's unit
            lo_n = s.Number(lo_n.value, hi_n.unit, lo_n.text, lo_n.pos)
        num_tp = int if base is int else float
        if num_tp is int and ("." in lo_n.text + hi_n.text or "e" in (lo_n.text + hi_n.text).lower()):
            return self._type_error(value, "a range of whole numbers", ctx, "write it like `1..3`")
        lo = self._number(lo_n, num_tp, markers, ctx)
        hi = self._number(hi_n, num_tp, markers, ctx)
        if lo is FAIL or hi is FAIL:
            return FAIL
        if lo > hi:
            self.diags.error(value.pos, f"the range {lo_n.text}..{hi_n.text} is empty", "write the smaller bound first",
                             code="range-order")
            return FAIL
        return Span(lo=float(lo), hi=float(hi), integer=num_tp is int)

    def _choice(self, value: s.Choice, elem: Any, markers: list[Any], ctx: _Ctx) -> Any:
        items = value.items.items
        if not items:
            self.diags.error(value.pos, "an empty choice", "list at least one option", code="choice-empty")
            return FAIL
        options: list[Any] = []
        weights: list[float] = []
        for item in items:
            opt = self.convert(item.value, elem, markers, ctx)
            if item.weight is None:
                w: Any = 1.0
            else:
                w = self._number(item.weight, float, [at.Ge(0), Unit("fraction")],
                                 _Ctx(f"the weight of a choice in {ctx.what}", ctx.deps))
            if opt is FAIL or w is FAIL:
                return FAIL
            if opt in options:
                self.diags.error(item.pos, f"option {opt!r} appears twice in the choice", code="choice-duplicate")
                return FAIL
            options.append(opt)
            weights.append(float(w))
        total = sum(weights)
        if total <= 0:
            self.diags.error(value.pos, f"{ctx.what}: the weights of the choice add up to 0",
                             "give at least one option a weight above 0", code="choice-weights")
            return FAIL
        return Choice(options=tuple(options), weights=tuple(w / total for w in weights))

    def _literal(self, value: s.Value, options: tuple[Any, ...], ctx: _Ctx) -> Any:
        if isinstance(value, s.Ref) and len(value.parts) == 1:
            word = value.parts[0]
        elif isinstance(value, s.String):
            word = value.value
        else:
            return self._type_error(value, "one of " + ", ".join(map(str, options)), ctx)
        if word not in options and word.replace("-", "_") in options:
            word = word.replace("-", "_")
        if word not in options:
            self.diags.error(value.pos, f"{ctx.what}: unknown value '{word}'",
                             did_you_mean(word, options) or "expected one of " + ", ".join(map(str, options)),
                             code="unknown-value")
            return FAIL
        return word

    def _bool(self, value: s.Value, ctx: _Ctx) -> Any:
        if isinstance(value, s.Ref) and value.dotted in ("true", "false"):
            return value.dotted == "true"
        hint = "write `true` or `false`"
        if isinstance(value, s.Ref) and value.dotted.lower() in ("on", "yes", "off", "no", "true", "false"):
            word = "true" if value.dotted.lower() in ("on", "yes", "true") else "false"
            hint = f"write `{word}`" + (" (lower case)" if value.dotted.lower() == word else "")
        return self._type_error(value, "true or false", ctx, hint)

    def _number(self, value: s.Value, tp: type, markers: list[Any], ctx: _Ctx) -> Any:
        if not isinstance(value, s.Number):
            return self._type_error(value, _short(Annotated[tp, *markers]) if markers else _short(tp), ctx)
        unit_m: Unit | None = _marker(markers, Unit)
        prob = _marker(markers, Probability) is not None
        x = value.value
        if not math.isfinite(x) or abs(x) > 1e15:
            self.diags.error(value.pos, f"{ctx.what}: the number {value.text} is too large",
                             "numbers in a spec stay below 1e15", code="number-range")
            return FAIL
        shown_unit = unit_m and DIMENSIONS[unit_m.dimension].canonical
        if prob and value.unit is not None and value.unit != "%":
            self.diags.error(value.pos, f"{ctx.what}: expected a probability (0–1 or %), got {describe(value.unit)}",
                             "for example `p = 0.5` or `p = 50%`", code="unit-dimension")
            return FAIL
        if unit_m is not None or prob:
            dim = unit_m.dimension if unit_m else "fraction"
            if value.unit is None:
                if dim != "fraction":
                    d = DIMENSIONS[dim]
                    unit = unit_m.prefer if unit_m and unit_m.prefer else d.canonical
                    self.diags.error(value.pos, f"{ctx.what}: expected {d.noun} ({unit}), got a plain number",
                                     f"write the unit: `{value.text} {unit}`", code="unit-missing")
                    return FAIL
            elif UNITS[value.unit][0] != dim:
                d = DIMENSIONS[dim]
                self.diags.error(value.pos, f"{ctx.what}: expected {d.noun} ({d.canonical}), got {describe(value.unit)}",
                                 f"for example `{d.example}`", code="unit-dimension")
                return FAIL
            else:
                x = to_canonical(x, value.unit)
        elif value.unit is not None:
            self.diags.error(value.pos, f"{ctx.what}: expected a plain number, got {describe(value.unit)}",
                             f"remove the unit: `{value.text}`", code="unit-unexpected")
            return FAIL
        if prob and not 0 <= x <= 1:
            self.diags.error(value.pos, f"{ctx.what}: a probability must lie between 0 and 1 (0% and 100%), got "
                             f"{value.text}{value.unit or ''}", code="probability-range")
            return FAIL
        if tp is int:
            if x != int(x):
                self.diags.error(value.pos, f"{ctx.what}: expected a whole number, got {value.text}", code="type")
                return FAIL
            x = int(x)
        for b in _bounds(markers):
            unit = f" {shown_unit}" if shown_unit and shown_unit != "%" else ""
            fail = None
            if isinstance(b, at.Ge) and not x >= b.ge:
                fail = f"at least {_fmt_num(b.ge)}{unit}"
            elif isinstance(b, at.Gt) and not x > b.gt:
                fail = f"more than {_fmt_num(b.gt)}{unit}"
            elif isinstance(b, at.Le) and not x <= b.le:
                fail = f"at most {_fmt_num(b.le)}{unit}"
            elif isinstance(b, at.Lt) and not x < b.lt:
                fail = f"less than {_fmt_num(b.lt)}{unit}"
            if fail:
                self.diags.error(value.pos, f"{ctx.what} must be {fail}, got "
                                 f"{value.text}{(' ' + value.unit) if value.unit and value.unit != '%' else value.unit or ''}",
                                 code="number-range")
                return FAIL
        return x if tp is int else float(x)

    def _string(self, value: s.Value, markers: list[Any], ctx: _Ctx) -> Any:
        ref_m: RefTo | None = _marker(markers, RefTo)
        if ref_m is not None:
            return self._reference(value, ref_m, ctx)
        if _marker(markers, Lead):
            return self._lead(value, ctx)
        if _marker(markers, Colour):
            return self._colour(value, ctx)
        if _marker(markers, Ident):
            if isinstance(value, s.Ref) and len(value.parts) == 1:
                return value.parts[0]
            if isinstance(value, s.String) and value.value:
                return value.value
            if isinstance(value, s.Number) and value.unit is None:
                return value.text
            return self._type_error(value, "a name", ctx)
        if _marker(markers, Expr):
            if isinstance(value, s.Ref):
                return value.dotted
            return self._type_error(value, "a field such as `record.rhythm`", ctx)
        if not isinstance(value, s.String):
            hint = f'write it in quotes: "{value.dotted}"' if isinstance(value, s.Ref) else None
            return self._type_error(value, "a string", ctx, hint)
        if _marker(markers, Template) and not self._check_template(value, ctx):
            return FAIL
        if _marker(markers, TemplateFile) and not self._check_template_file(value, ctx):
            return FAIL
        elif _marker(markers, DataPath) and "\x00" in value.value:
            return self._type_error(value, "a path", ctx)
        return value.value

    def _reference(self, value: s.Value, ref: RefTo, ctx: _Ctx) -> Any:
        if isinstance(value, s.Ref) and len(value.parts) == 1:
            name = value.parts[0]
        elif isinstance(value, s.String):
            name = value.value
        else:
            return self._type_error(value, " or ".join(f"a {k} name" for k in ref.kinds), ctx)
        for kind in ref.kinds:
            if (kind, name) in self.scope.decls:
                ctx.deps.add((kind, name))
                return name
        names = self.scope.names_of(*ref.kinds)
        kinds = " or ".join(ref.kinds)
        hint = did_you_mean(name, names)
        if hint is None:
            hint = self._not_found_hint(name, kinds) or (
                f"declared {kinds}s: " + ", ".join(sorted(names)) if names
                else f"no {kinds} is declared; import a file that declares one")
        self.diags.error(value.pos, f"{ctx.what}: unknown {kinds} '{name}'", hint, code="unknown-name")
        return FAIL

    def _lead(self, value: s.Value, ctx: _Ctx) -> Any:
        if isinstance(value, s.Ref) and len(value.parts) == 1:
            name = value.parts[0]
        elif isinstance(value, s.String):
            name = value.value
        else:
            return self._type_error(value, "a lead name", ctx)
        lead = canonical_lead(name)
        if lead is None:
            self.diags.error(value.pos, f"{ctx.what}: unknown lead '{name}'",
                             did_you_mean(name, known_leads()) or "leads are " + ", ".join(known_leads()),
                             code="unknown-lead")
            return FAIL
        return lead

    def _colour(self, value: s.Value, ctx: _Ctx) -> Any:
        if isinstance(value, s.Colour):
            return normalise_hex(value.hex)
        if isinstance(value, s.Ref) and len(value.parts) == 1:
            name = value.parts[0].lower()
            if name in NAMED:
                return NAMED[name]
            close = difflib.get_close_matches(name, NAMED, n=1, cutoff=0.85)
            hint = f"did you mean '{close[0]}'?" if close else "write it as #rrggbb, e.g. #f4cccc"
            self.diags.error(value.pos, f"{ctx.what}: unknown colour '{value.parts[0]}'", hint, code="unknown-colour")
            return FAIL
        return self._type_error(value, "a colour such as #e06666", ctx)

    def _check_template(self, value: s.String, ctx: _Ctx) -> bool:
        try:
            self._jinja.parse(value.value)
            return True
        except TemplateSyntaxError as exc:
            line = value.pos.line + (exc.lineno or 1) - 1
            col = value.pos.col if (exc.lineno or 1) > 1 else value.pos.col
            self.diags.error(Pos(value.pos.file, line, col, line, col + 1 if line != value.pos.line else value.pos.end_col),
                             f"{ctx.what}: template error: {exc.message}", code="template-syntax")
            return False

    def _check_template_file(self, value: s.String, ctx: _Ctx) -> bool:
        rel = Path(value.value)
        if rel.is_absolute() or ".." in rel.parts:
            self.diags.error(value.pos, f"{ctx.what}: template paths are relative to the templates folder "
                             "and may not leave it", code="template-escape")
            return
        if self.templates_root is None:
            self.diags.error(value.pos, f"{ctx.what}: no templates folder was found for '{value.value}'",
                             "put templates in a `templates/` folder under the spec root, or pass --templates",
                             code="template-missing")
            return False
        path = self.templates_root / rel
        if not path.is_file():
            nearby = [str(p.relative_to(self.templates_root)) for p in self.templates_root.rglob("*.j2")]
            self.diags.error(value.pos, f"{ctx.what}: no template '{value.value}' in {display_path(self.templates_root)}",
                             did_you_mean(value.value, nearby), code="template-missing")
            return False
        try:
            self._jinja.parse(path.read_text(encoding="utf-8"))
            return True
        except (OSError, UnicodeDecodeError) as exc:
            self.diags.error(value.pos, f"{ctx.what}: cannot read template: {exc}", code="template-read")
        except TemplateSyntaxError as exc:
            self.diags.error(Pos(display_path(path), exc.lineno or 1, 1, exc.lineno or 1, 2),
                             f"template error: {exc.message}", code="template-syntax")
        return False

    def _tuple(self, value: s.Value, tp: Any, ctx: _Ctx) -> Any:
        args = typing.get_args(tp)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not isinstance(value, s.ListValue):
            if variadic and typing.get_origin(_strip(args[0])[0]) is not tuple:
                one = self.convert(value, args[0], [], ctx)  # `rhythm = II` means `[II]`
                return FAIL if one is FAIL else (one,)
            return self._type_error(value, "a list in [brackets]", ctx)
        elem = args[0]
        elem_is_row = typing.get_origin(_strip(elem)[0]) is tuple
        if elem_is_row:  # a matrix: one tuple per row
            rows = []
            for row in value.rows:
                sub = s.ListValue((row,), value.pos)
                rows.append(self.convert(sub, elem, [], ctx))
            return FAIL if any(r is FAIL for r in rows) else tuple(rows)
        if value.is_matrix:
            return self._type_error(value, "a plain list", ctx, "'|' separates the rows of a lead matrix only")
        out = []
        for item in value.items:
            if item.weight is not None:
                self.diags.error(item.pos, f"{ctx.what}: unexpected `key: value` in a list",
                                 "':' gives the weights of a `choice[...]` or the pairs of a map", code="type")
                out.append(FAIL)
                continue
            out.append(self.convert(item.value, elem if variadic else args[len(out)] if len(out) < len(args) else elem,
                                    [], ctx))
        if not variadic and len(out) != len(args):
            return self._type_error(value, f"a list of {len(args)} values", ctx)
        if not value.items and not variadic:
            return FAIL
        return FAIL if any(o is FAIL for o in out) else tuple(out)

    def _dict(self, value: s.Value, tp: Any, ctx: _Ctx) -> Any:
        _, vtp = typing.get_args(tp)
        if not isinstance(value, s.ListValue) or value.is_matrix:
            return self._type_error(value, "a map such as [\"key\": value, …]", ctx)
        out: dict[str, Any] = {}
        for item in value.items:
            if item.weight is None:
                self.diags.error(item.pos, f"{ctx.what}: expected `key: value`", code="type")
                return FAIL
            key = self._key(item.value, ctx)
            if key is FAIL:
                return FAIL
            if key in out:
                self.diags.error(item.pos, f"{ctx.what}: key '{key}' appears twice", code="duplicate-key")
                return FAIL
            v = self.convert(item.weight, vtp, [], ctx)
            if v is FAIL:
                return FAIL
            out[key] = v
        return out

    def _key(self, value: s.Value, ctx: _Ctx) -> Any:
        if isinstance(value, s.Ref):
            return value.dotted
        if isinstance(value, s.String):
            return value.value
        if isinstance(value, s.Number) and value.unit is None:
            return value.text
        return self._type_error(value, "a key (a name, a string or a code)", ctx)

    def _folds(self, value: s.Value, ctx: _Ctx) -> Any:
        if isinstance(value, s.Number) and value.unit == "%":
            return self._number(value, float, [Probability()], ctx)
        if isinstance(value, s.Number) and value.unit is None:
            if not float(value.value).is_integer():  # also inf and nan (a fuzzed `1e3089`)
                return self._number(value, float, [Probability()], ctx)
            return (int(value.value),)
        if isinstance(value, s.Range):
            lo, hi = value.lo, value.hi
            if lo.unit or hi.unit or not float(lo.value).is_integer() or not float(hi.value).is_integer():
                return self._type_error(value, "a range of fold numbers like 1..8", ctx)
            if hi.value < lo.value or hi.value - lo.value > MAX_EXPANDED_RANGE:
                self.diags.error(value.pos, f"{ctx.what}: the fold range {lo.text}..{hi.text} is empty or too long",
                                 code="range-order")
                return FAIL
            return tuple(range(int(lo.value), int(hi.value) + 1))
        if isinstance(value, s.ListValue) and not value.is_matrix:
            out = []
            for item in value.items:
                n = self._number(item.value, int, [], ctx) if item.weight is None else FAIL
                if n is FAIL:
                    return FAIL
                out.append(n)
            return tuple(out)
        return self._type_error(value, "fold numbers (`1..8`, `[9, 10]`) or a share (`80%`)", ctx)

    def _any(self, value: s.Value, ctx: _Ctx) -> Any:
        if isinstance(value, s.Number):
            return value.value if value.unit is None else to_canonical(value.value, value.unit)
        if isinstance(value, s.String):
            return value.value
        if isinstance(value, s.Ref):
            return value.dotted
        return self._type_error(value, "a number, a string or a name", ctx)
