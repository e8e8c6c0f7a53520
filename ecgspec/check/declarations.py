"""Declarations: the kind, the `extends` chain, the headers, then the merged block."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ir
from .. import syntax as s
from ..errors import Diagnostics, Pos, did_you_mean
from ..ir.base import Decl
from ..ir.source import SOURCE_ADAPTERS
from ..resolve import Scope
from .construct import construct
from .context import FAIL, Ctx
from .convert import Converter
from .cross import check_default_references, check_instruct_uses, check_select_all, check_splits
from .origin import Checked, Origin
from .schema import field_markers
from .semantics import check_semantics
from .statements import BlockChecker, Settings, Statements
from .text import not_found_hint

Key = tuple[str, str]
_INHERITED_HEADERS = ("from", "version")


@dataclass(frozen=True)
class _Inherited:
    """A declaration merged with its `extends` chain."""

    settings: Settings  # by key: the setting and the declaration it is written in; the child's win
    statements: tuple[tuple[s.Statement, s.Decl | None], ...]  # the base's first
    headers: dict[str, tuple[s.Header, s.Decl]]  # `from`, `version`: the nearest declaration's
    broken: bool  # a declaration in the chain has a duplicate setting (reported there)


class Checker:
    """Checks every declaration of a scope; `run()` returns what was built, problems go to `diags`."""

    def __init__(self, scope: Scope, diags: Diagnostics, templates_root: Path | None = None):
        self.scope = scope
        self.diags = diags
        self.converter = Converter(scope, templates_root)
        self.blocks = BlockChecker(scope, diags, self.converter)
        self.out = Checked(used_lets=self.converter.used_lets)
        # By id() of a declaration (the scope keeps them alive): its merge, or None if its chain is broken.
        self._inherited: dict[int, _Inherited | None] = {}

    def run(self) -> Checked:
        for key, decl in self.scope.decls.items():
            self._check_decl(key, decl)
        check_splits(self.scope, self.diags, self.out.decls, self.blocks.statement_positions)
        check_instruct_uses(self.scope, self.diags, self.out.decls, self.out.origins)
        check_select_all(self.scope, self.diags, self.out.decls, self.blocks.statement_positions)
        check_semantics(self.scope, self.diags, self.out)
        return self.out

    def _check_decl(self, key: Key, decl: s.Decl) -> None:
        kind = decl.kind.text
        cls = ir.KINDS.get(kind)
        if cls is None:
            hint = did_you_mean(kind, ir.KINDS) or "declarations are " + ", ".join(ir.KINDS)
            self.diags.error(decl.kind.pos, f"unknown declaration kind '{kind}'", hint, code="unknown-kind")
            return
        merged = self._extends_chain(decl)
        if merged is None:
            return
        what = f"{kind} '{decl.name.text}'"
        errors_at_start = len(self.diags.errors)
        deps: set[Key] = set()
        values: dict[str, Any] = {"name": decl.name.text}
        origins: dict[str, Origin] = {}
        self._headers(decl, merged, cls, what, values, origins, deps)
        # Settings: the child's win; statements: the base's run first, then the child's.
        settings: Settings = merged.settings
        statements: Statements = list(merged.statements)

        positions: dict[str, Pos] = {}
        self.out.deps[key] = deps  # kept even if the declaration fails, so that uses still count
        self.blocks.fill(cls, values, origins, positions, settings, statements, decl, what, deps, kind)
        check_default_references(self.scope, self.diags, cls, values, what, deps, decl.name.pos)
        if "adapter" in cls.model_fields and "adapter" in values and kind == "source":
            self._check_source_adapter(decl, values["adapter"], merged)
        written = {k: st.value for k, (st, _) in settings.items()}
        obj = construct(
            cls,
            values,
            decl.name.pos,
            what,
            positions,
            self.diags,
            written=written,
            clean=len(self.diags.errors) == errors_at_start and not merged.broken,
        )
        if obj is not FAIL:
            self.out.decls[key] = obj
            self.out.origins[key] = origins

    def _headers(
        self,
        decl: s.Decl,
        merged: _Inherited,
        cls: type[Decl],
        what: str,
        values: dict[str, Any],
        origins: dict[str, Origin],
        deps: set[Key],
    ) -> None:
        """`from` and `version` set fields; the nearest declaration in the chain wins."""
        kind = decl.kind.text
        for word, target in (("from", "adapter"), ("version", "version")):
            nearest = merged.headers.get(word)
            if nearest is not None and target in cls.model_fields:
                h, d = nearest
                values[target] = self._header_value(h, cls, target, Ctx(f"`{word}` of {what}", deps, self.diags))
                origins[target] = Origin(
                    "header" if d is decl else "inherited",
                    h.pos,
                    None if d is decl else f"{kind} {d.name.text}",
                )
        for h in decl.headers:
            if h.word.text not in cls.headers and h.word.text != "extends":
                allowed = ", ".join(f"`{w}`" for w in cls.headers)
                self.diags.error(
                    h.word.pos,
                    f"a {kind} has no `{h.word.text}` header",
                    did_you_mean(h.word.text, cls.headers) or f"a {kind} takes {allowed}",
                    code="unknown-header",
                )

    def _extends_chain(self, decl: s.Decl) -> _Inherited | None:
        """What `decl` inherits, merged along its `extends` chain; None after reporting an error.

        Each declaration's merge is computed once, from its base's, so a chain of n declarations
        costs O(n) in all, not O(n²); the chain is followed with a loop, never by recursion."""
        done = self._inherited
        path: list[s.Decl] = []
        on_path: set[int] = set()
        cur = decl
        base_merge: _Inherited | None = None  # what the last declaration on `path` inherits
        broken = False
        while id(cur) not in done:
            if id(cur) in on_path:
                self._report_cycle(path[next(i for i, d in enumerate(path) if d is cur) :])
                broken = True
                break
            on_path.add(id(cur))
            path.append(cur)
            h = cur.header("extends")
            if h is None:
                break
            base_name = h.value.value if isinstance(h.value, s.String) else h.value.text
            base = self.scope.decls.get((decl.kind.text, base_name))
            if base is None:
                kind = decl.kind.text
                hint = did_you_mean(base_name, self.scope.names_of(kind)) or not_found_hint(self.scope, base_name, kind)
                self.diags.error(
                    h.value.pos,
                    f"{kind} '{cur.name.text}' extends unknown {kind} '{base_name}'",
                    hint,
                    code="unknown-base",
                )
                broken = True
                break
            cur = base
        else:
            base_merge = done[id(cur)]
            broken = base_merge is None  # the chain joins one already found broken
        if broken:
            for d in path:
                done[id(d)] = None
            return None
        for d in reversed(path):  # from the base down to `decl`, each building on its base's merge
            base_merge = self._merge_own(d, base_merge)
        return base_merge

    def _merge_own(self, d: s.Decl, base: _Inherited | None) -> _Inherited:
        """`d`'s own entries over what its base passes on: settings, the child's win; statements,
        the base's run first; `from` and `version`, the nearest declaration's."""
        what = f"{d.kind.text} '{d.name.text}'"
        settings: Settings = dict(base.settings) if base is not None else {}
        own: list[tuple[s.Statement, s.Decl | None]] = []
        broken = base.broken if base is not None else False
        seen_here: dict[str, s.Setting] = {}
        for entry in d.body.entries:
            if isinstance(entry, s.Setting):
                first = seen_here.get(entry.key.text)
                if first is not None:
                    self.diags.error(
                        entry.key.pos,
                        f"`{entry.key.text}` is set twice in {what}",
                        f"first set at line {first.key.pos.line}",
                        code="duplicate-setting",
                    )
                    broken = True
                    continue
                seen_here[entry.key.text] = entry
                settings[entry.key.text] = (entry, d)
            else:
                own.append((entry, d))
        headers = dict(base.headers) if base is not None else {}
        for word in _INHERITED_HEADERS:
            h = d.header(word)
            if h is not None:
                headers[word] = (h, d)
        statements = (*base.statements, *own) if base is not None else tuple(own)
        merged = _Inherited(settings, statements, headers, broken)
        self._inherited[id(d)] = merged
        return merged

    def _report_cycle(self, members: list[s.Decl]) -> None:
        """One report per cycle, at its first declaration, listing the cycle from there."""
        first = min(members, key=lambda d: (d.pos.file, d.pos.line, d.pos.col))
        i = next(k for k, d in enumerate(members) if d is first)
        ring = [*members[i:], *members[:i], first]
        first_h = first.header("extends")
        assert first_h is not None
        self.diags.error(
            first_h.value.pos,
            "inheritance cycle: " + " → ".join(d.name.text for d in ring),
            "a declaration cannot extend itself, directly or through others",
            code="extends-cycle",
        )

    def _header_value(self, h: s.Header, cls: type[Decl], target: str, ctx: Ctx) -> Any:
        value: s.Value = h.value if isinstance(h.value, s.String) else s.Ref((h.value.text,), h.value.pos)
        tp, markers = field_markers(cls.model_fields[target])
        return self.converter.convert(value, tp, markers, ctx)

    def _check_source_adapter(self, decl: s.Decl, adapter: Any, merged: _Inherited) -> None:
        if adapter is FAIL:
            return
        formats = self.scope.names_of("format")
        if adapter not in SOURCE_ADAPTERS and adapter not in formats:
            h = merged.headers["from"][0]
            self.diags.error(
                h.value.pos,
                f"unknown source adapter '{adapter}'",
                did_you_mean(adapter, [*SOURCE_ADAPTERS, *formats])
                or "adapters are " + ", ".join(SOURCE_ADAPTERS) + ", or a declared `format`",
                code="unknown-adapter",
            )
        elif adapter in formats:
            self.out.deps[(decl.kind.text, decl.name.text)].add(("format", adapter))
