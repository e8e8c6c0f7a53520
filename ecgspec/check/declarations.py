"""Declarations: the kind, the `extends` chain, the headers, then the merged block."""

from __future__ import annotations

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
from .cross import check_default_references, check_splits
from .origin import Checked, Origin
from .schema import field_markers
from .statements import BlockChecker, Settings, Statements
from .text import not_found_hint

Key = tuple[str, str]


class Checker:
    """Checks every declaration of a scope; `run()` returns what was built, problems go to `diags`."""

    def __init__(self, scope: Scope, diags: Diagnostics, templates_root: Path | None = None):
        self.scope = scope
        self.diags = diags
        self.converter = Converter(scope, templates_root)
        self.blocks = BlockChecker(scope, diags, self.converter)
        self.out = Checked(used_lets=self.converter.used_lets)

    def run(self) -> Checked:
        for key, decl in self.scope.decls.items():
            self._check_decl(key, decl)
        check_splits(self.scope, self.diags, self.out.decls, self.blocks.statement_positions)
        return self.out

    def _check_decl(self, key: Key, decl: s.Decl) -> None:
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
        deps: set[Key] = set()
        values: dict[str, Any] = {"name": decl.name.text}
        origins: dict[str, Origin] = {}
        self._headers(decl, chain, cls, what, values, origins, deps)

        # Settings: the child's win; statements: the base's run first, then the child's.
        settings: Settings = {}
        statements: Statements = []
        for d in reversed(chain):  # base first
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
                        continue
                    seen_here[entry.key.text] = entry
                    settings[entry.key.text] = (entry, d)
                else:
                    statements.append((entry, d))

        positions: dict[str, Pos] = {}
        self.out.deps[key] = deps  # kept even if the declaration fails, so that uses still count
        self.blocks.fill(cls, values, origins, positions, settings, statements, decl, what, deps, kind)
        check_default_references(self.scope, self.diags, cls, values, what, deps, decl.name.pos)
        if "adapter" in cls.model_fields and "adapter" in values and kind == "source":
            self._check_source_adapter(decl, values["adapter"], chain)
        written = {k: st.value for k, (st, _) in settings.items()}
        obj = construct(
            cls,
            values,
            decl.name.pos,
            what,
            positions,
            self.diags,
            written=written,
            clean=len(self.diags.errors) == errors_at_start,
        )
        if obj is not FAIL:
            self.out.decls[key] = obj
            self.out.origins[key] = origins

    def _headers(
        self,
        decl: s.Decl,
        chain: list[s.Decl],
        cls: type[Decl],
        what: str,
        values: dict[str, Any],
        origins: dict[str, Origin],
        deps: set[Key],
    ) -> None:
        """`from` and `version` set fields; the nearest declaration in the chain wins."""
        kind = decl.kind.text
        for word, target in (("from", "adapter"), ("version", "version")):
            for d in chain:
                h = d.header(word)
                if h is not None:
                    if target in cls.model_fields:
                        values[target] = self._header_value(
                            h, cls, target, Ctx(f"`{word}` of {what}", deps, self.diags)
                        )
                        origins[target] = Origin(
                            "header" if d is decl else "inherited",
                            h.pos,
                            None if d is decl else f"{kind} {d.name.text}",
                        )
                    break
        for h in decl.headers:
            if h.word.text not in cls.headers and h.word.text != "extends":
                allowed = ", ".join(f"`{w}`" for w in cls.headers)
                self.diags.error(
                    h.word.pos,
                    f"a {kind} has no `{h.word.text}` header",
                    did_you_mean(h.word.text, cls.headers) or f"a {kind} takes {allowed}",
                    code="unknown-header",
                )

    def _extends_chain(self, decl: s.Decl) -> list[s.Decl] | None:
        """[decl, its base, the base's base, …]; None after reporting an error."""
        chain = [decl]
        while (h := chain[-1].header("extends")) is not None:
            base_name = h.value.value if isinstance(h.value, s.String) else h.value.text
            base = self.scope.decls.get((decl.kind.text, base_name))
            if base is None:
                if chain[-1] is decl:  # a declaration further down the chain reports its own
                    kind = decl.kind.text
                    hint = did_you_mean(base_name, self.scope.names_of(kind)) or not_found_hint(
                        self.scope, base_name, kind
                    )
                    self.diags.error(
                        h.value.pos,
                        f"{kind} '{decl.name.text}' extends unknown {kind} '{base_name}'",
                        hint,
                        code="unknown-base",
                    )
                return None
            if base in chain:
                members = chain[chain.index(base) :]
                first = min(members, key=lambda d: (d.pos.file, d.pos.line, d.pos.col))
                if decl is first:  # one report per cycle, at its first declaration
                    cycle = " → ".join(d.name.text for d in [*members, base])
                    first_h = first.header("extends")
                    assert first_h is not None
                    self.diags.error(
                        first_h.value.pos,
                        f"inheritance cycle: {cycle}",
                        "a declaration cannot extend itself, directly or through others",
                        code="extends-cycle",
                    )
                return None
            chain.append(base)
        return chain

    def _header_value(self, h: s.Header, cls: type[Decl], target: str, ctx: Ctx) -> Any:
        value: s.Value = h.value if isinstance(h.value, s.String) else s.Ref((h.value.text,), h.value.pos)
        tp, markers = field_markers(cls.model_fields[target])
        return self.converter.convert(value, tp, markers, ctx)

    def _check_source_adapter(self, decl: s.Decl, adapter: Any, chain: list[s.Decl]) -> None:
        if adapter is FAIL:
            return
        formats = self.scope.names_of("format")
        if adapter not in SOURCE_ADAPTERS and adapter not in formats:
            h = next(d.header("from") for d in chain if d.header("from") is not None)
            assert h is not None
            self.diags.error(
                h.value.pos,
                f"unknown source adapter '{adapter}'",
                did_you_mean(adapter, [*SOURCE_ADAPTERS, *formats])
                or "adapters are " + ", ".join(SOURCE_ADAPTERS) + ", or a declared `format`",
                code="unknown-adapter",
            )
        elif adapter in formats:
            self.out.deps[(decl.kind.text, decl.name.text)].add(("format", adapter))
