"""Filling a model from a block: settings by name, statements by keyword, and each statement's
arguments (positional, `name value` or `name = value`) and its own block."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel

from .. import syntax as s
from ..errors import Diagnostics, Pos, did_you_mean
from ..formatter import value as written
from ..ir.base import Statement
from ..resolve import Scope
from .construct import construct
from .context import FAIL, ByIdentity, Ctx
from .convert import Converter
from .cross import check_default_references
from .origin import Origin
from .schema import example, field_markers, statement_fields

Key = tuple[str, str]
# A block's settings and statements, each with the declaration it was written in (None: the block
# of a statement, which has no inheritance).
Settings = dict[str, tuple[s.Setting, s.Decl | None]]
Statements = list[tuple[s.Statement, s.Decl | None]]


class BlockChecker:
    def __init__(self, scope: Scope, diags: Diagnostics, converter: Converter):
        self.scope = scope
        self.diags = diags
        self.converter = converter
        # A setting or step inherited by several declarations is converted (and reported) once.
        self._converted: ByIdentity[tuple[Any, set[Key], list[str]]] = ByIdentity()
        # Where each argument of a converted statement was written, for later cross-declaration checks.
        self.statement_positions: ByIdentity[dict[str, Pos]] = ByIdentity()

    def fill(
        self,
        cls: type[BaseModel],
        values: dict[str, Any],
        origins: dict[str, Origin],
        positions: dict[str, Pos],
        settings: Settings,
        statements: Statements,
        owner: s.Decl | None,
        what: str,
        deps: set[Key],
        kind: str,
    ) -> None:
        """Convert a block's settings and statements into `values` (field name → IR value)."""
        registry: dict[str, type[Statement]] = getattr(cls, "statements", {})
        heads = statement_fields(cls)
        open_block: str | None = getattr(cls, "open_block", None)
        collected: dict[str, list[Any]] = {f: [] for f in set(heads.values())}
        settable = [
            f
            for f in cls.model_fields
            if f not in heads.values() and f not in ("name", "adapter", "version") and f != open_block
        ]
        opened: dict[str, Any] = {}

        for name, (setting, from_decl) in settings.items():
            if name in settable:
                tp, markers = field_markers(cls.model_fields[name])
                owner_what = (
                    what
                    if from_decl is None or from_decl is owner
                    else f"{from_decl.kind.text} '{from_decl.name.text}'"
                )
                values[name], via = self._convert_once(
                    setting, tp, markers, f"`{name}` of {owner_what}", deps, f"{cls.__name__}.{name}"
                )
                positions[name] = setting.value.pos
                if owner is not None and from_decl is not None and from_decl is not owner:
                    origins[name] = Origin("inherited", setting.pos, f"{from_decl.kind.text} {from_decl.name.text}")
                else:
                    origins[name] = Origin("set", setting.pos, " → ".join(self.scope.expand_via(via)) or None)
            elif open_block is not None:
                tp, markers = field_markers(cls.model_fields[open_block])
                vtp = typing.get_args(tp)[1] if typing.get_args(tp) else Any
                opened[name] = self.converter.convert(
                    setting.value, vtp, [], Ctx(f"`{name}` of {what}", deps, self.diags)
                )
                positions.setdefault(open_block, setting.pos)
            else:
                self._unknown_setting(setting, settable, registry, what, kind)
        if open_block is not None:
            values[open_block] = opened

        for st, from_decl in statements:
            head = st.head.text
            st_cls = registry.get(head)
            owner_what = (
                what if from_decl is None or from_decl is owner else f"{from_decl.kind.text} '{from_decl.name.text}'"
            )
            if st_cls is None:
                if from_decl is None or from_decl is owner:
                    self._unknown_statement(st, settable, registry, what, kind)
                continue
            done = self._converted.get(st, st_cls.__name__)
            if done is None:
                local: set[Key] = set()
                done = (self.statement(st, st_cls, local, owner_what), local, [])
                self._converted.set(st, done, st_cls.__name__)
            obj, used, _ = done
            deps |= used
            collected[heads[head]].append(obj)
            positions.setdefault(heads[head], st.pos)
        for fname, items in collected.items():
            if items or fname not in values:
                values[fname] = tuple(items)

    def _convert_once(
        self, setting: s.Setting, tp: Any, markers: list[Any], what: str, deps: set[Key], tag: str
    ) -> tuple[Any, list[str]]:
        done = self._converted.get(setting, tag)
        if done is None:
            ctx = Ctx(what, set(), self.diags)
            done = (self.converter.convert(setting.value, tp, markers, ctx), ctx.deps, ctx.via)
            self._converted.set(setting, done, tag)
        result, used, via = done
        deps |= used
        return result, via

    def _unknown_setting(
        self, setting: s.Setting, settable: list[str], registry: dict[str, Any], what: str, kind: str
    ) -> None:
        key = setting.key.text
        if key in registry:
            self.diags.error(
                setting.key.pos,
                f"`{key}` is a step, written without '='",
                f"write `{key} {written(setting.value)}`",
                code="step-as-setting",
            )
            return
        hint = did_you_mean(key, [*settable, *registry]) or f"settings of a {kind}: " + ", ".join(settable)
        self.diags.error(setting.key.pos, f"{what} has no setting `{key}`", hint, code="unknown-setting")

    def _unknown_statement(
        self, st: s.Statement, settable: list[str], registry: dict[str, Any], what: str, kind: str
    ) -> None:
        head = st.head.text
        if head in settable:
            shown = " ".join(written(t) for t in st.terms) or "…"
            self.diags.error(
                st.head.pos, f"`{head}` is a setting and needs '='", f"write `{head} = {shown}`", code="setting-as-step"
            )
            return
        if registry:
            hint = did_you_mean(head, [*registry, *settable]) or "steps here are " + ", ".join(registry)
        else:
            hint = did_you_mean(head, settable) or f"a {kind} takes settings `name = value`"
        label = "step" if registry else "setting"
        self.diags.error(st.head.pos, f"{what} has no {label} `{head}`", hint, code="unknown-step")

    def statement(self, st: s.Statement, cls: type[Statement], deps: set[Key], owner: str) -> Any:
        """One statement → its IR object (or FAIL): its arguments, then its block."""
        what = f"`{cls.keyword}` in {owner}"
        errors_at_start = len(self.diags.errors)
        values: dict[str, Any] = {}
        positions: dict[str, Pos] = {}
        if not self._arguments(st, cls, what, values, positions, deps):
            return FAIL
        if st.block is not None:
            if not cls.takes_block:
                self.diags.error(st.block.pos, f"{what} does not take a block", code="unexpected-block")
            else:
                settings: Settings = {}
                inner: list[s.Statement] = []
                for entry in st.block.entries:
                    if isinstance(entry, s.Setting):
                        if entry.key.text in settings or entry.key.text in values:
                            self.diags.error(
                                entry.key.pos, f"`{entry.key.text}` is set twice in {what}", code="duplicate-setting"
                            )
                            continue
                        settings[entry.key.text] = (entry, None)
                    else:
                        inner.append(entry)
                self.fill(
                    cls, values, {}, positions, settings, [(i, None) for i in inner], None, what, deps, cls.keyword
                )
        block_values = {e.key.text: e.value for e in (st.block.entries if st.block else ()) if isinstance(e, s.Setting)}
        check_default_references(self.scope, self.diags, cls, values, what, deps, st.head.pos)
        obj = construct(
            cls,
            values,
            st.head.pos,
            what,
            positions,
            self.diags,
            written=block_values,
            clean=len(self.diags.errors) == errors_at_start,
        )
        self.statement_positions.set(obj, positions)
        return obj

    def _arguments(
        self,
        st: s.Statement,
        cls: type[Statement],
        what: str,
        values: dict[str, Any],
        positions: dict[str, Pos],
        deps: set[Key],
    ) -> bool:
        """Convert the terms after a statement's keyword; False where the statement cannot be built."""
        fields = cls.model_fields
        params = [f for f in fields if f not in statement_fields(cls).values() and f != cls.open_block]
        positional = list(cls.positional)
        terms = list(st.terms)
        i = 0
        while i < len(terms):
            term = terms[i]
            value: s.Value
            if isinstance(term, s.KwArg):
                name, value, pos = term.key.text, term.value, term.key.pos
                i += 1
            elif (
                isinstance(term, s.Ref)
                and len(term.parts) == 1
                and term.parts[0] in params
                and not (i + 1 >= len(terms) and term.parts[0] in self.scope.lets)
            ):
                name, pos = term.parts[0], term.pos
                if i + 1 >= len(terms):
                    self.diags.error(
                        term.pos,
                        f"`{name}` of {what} needs a value after it",
                        f"for example `{name} {example(fields[name])}`",
                        code="missing-value",
                    )
                    return False
                after = terms[i + 1]
                if isinstance(after, s.KwArg):
                    self.diags.error(after.pos, f"`{name}` of {what} needs a value after it", code="missing-value")
                    return False
                value = after
                i += 2
            else:
                while positional and positional[0] in values:
                    positional.pop(0)
                if not positional:
                    self._extra_value(term, cls, params)
                    break  # the rest of the line would only repeat this error
                name, value, pos = positional.pop(0), term, term.pos
                i += 1
            if name not in params:
                self.diags.error(
                    pos,
                    f"{what} has no parameter `{name}`",
                    did_you_mean(name, params) or f"{what} takes " + ", ".join(f"`{p}`" for p in params),
                    code="unknown-param",
                )
                continue
            if name in values:
                self.diags.error(
                    pos,
                    f"`{name}` is given twice in {what}",
                    f"it was already given at column {positions[name].col}; remove one",
                    code="duplicate-param",
                )
                continue
            tp, markers = field_markers(fields[name])
            label = what if name == (cls.positional[:1] or ("",))[0] else f"`{name}` of {what}"
            values[name] = self.converter.convert(value, tp, markers, Ctx(label, deps, self.diags))
            positions[name] = value.pos
        return True

    def _extra_value(self, term: s.Value, cls: type[Statement], params: list[str]) -> None:
        guess = did_you_mean(term.dotted, params) if isinstance(term, s.Ref) else None
        takes = ", ".join(f"`{p}`" for p in cls.positional) or "no value"
        others = [p for p in params if p not in cls.positional]
        hint = guess or ("give the others by name: " + ", ".join(f"`{p} …`" for p in others) if others else None)
        if isinstance(term, s.Colour):
            hint = "a '#' followed by 3, 6 or 8 hex digits is a colour; a comment needs a space after '#'"
        self.diags.error(
            term.pos,
            f"`{cls.keyword}` takes {takes} without a name; `{written(term)}` is one value too many",
            hint,
            code="extra-value",
        )
