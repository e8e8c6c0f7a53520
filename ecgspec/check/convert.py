"""Value conversion: a written value → the IR value of a declared type, or a reported error.

Each conversion reports into the collector its `Ctx` carries (see context.py); string-typed
values are converted in text.py, distributions, ranges and choices in distributions.py.
"""

from __future__ import annotations

import functools
import math
import operator
import typing
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types as at
from jinja2 import TemplateError
from jinja2.meta import find_referenced_templates
from pydantic import BaseModel

from .. import syntax as s
from ..errors import Pos, did_you_mean
from ..ir.base import DISTRIBUTIONS, Choice, Folds, Probability, Template, TemplateFile, Unit
from ..resolve import Scope, display_path
from ..templating import (
    SHIPPED_TEMPLATES,
    STD_PREFIX,
    SandboxedTemplates,
    candidates,
    confinement_problem,
    find_template,
    search_path,
    searched_text,
)
from ..units import DIMENSIONS, UNITS, describe, to_canonical
from . import distributions, text
from .context import FAIL, Ctx
from .schema import bounds, describe_type, is_union, marker, unwrap

MAX_EXPANDED_RANGE = 10_000


def value_kind(v: s.Value) -> str:
    return {
        s.Number: "a number",
        s.String: "a string",
        s.Colour: "a colour",
        s.Ref: "a name",
        s.Range: "a range",
        s.ListValue: "a list",
        s.Choice: "a choice",
        s.Call: "a distribution",
    }[type(v)]


# A bound marker, its attribute, the test a value must pass and the words for it.
_BOUNDS: tuple[tuple[type, str, Callable[[Any, Any], bool], str], ...] = (
    (at.Ge, "ge", operator.ge, "at least"),
    (at.Gt, "gt", operator.gt, "more than"),
    (at.Le, "le", operator.le, "at most"),
    (at.Lt, "lt", operator.lt, "less than"),
)


def _fmt_num(x: float) -> str:
    return f"{x:g}"


class Converter:
    """Converts written values by type; knows the scope (names, lets) and the templates folder."""

    def __init__(self, scope: Scope, templates_root: Path | None = None):
        self.scope = scope
        # Where template files are looked for, in order (the spec's folders, then the shipped
        # library); `load` sets it from every `--templates` folder.
        self.template_folders: tuple[Path, ...] = search_path(templates_root)
        # The build's sandbox; `parse` also compiles, so a template nested past what Python can
        # compile is a located "template nested too deeply" here, not at build time.
        self.jinja = _checking_sandbox()
        self.used_lets: set[str] = set()
        self._let_stack: list[str] = []

    def convert(self, value: s.Value, tp: Any, markers: list[Any], ctx: Ctx) -> Any:
        """Convert a written value to the IR value of type `tp`, or report and return FAIL."""
        tp, inner = unwrap(tp)
        markers = [*markers, *inner]

        if isinstance(value, s.Ref) and len(value.parts) == 1:
            name = value.parts[0]
            define = self.scope.defines.get(name)
            let = self.scope.lets.get(name)
            if let is not None and not (isinstance(tp, type) and issubclass(tp, BaseModel)):
                return self._through_let(
                    name,
                    define.value if define else let.value,
                    define.origin if define else f"let {name}",
                    tp,
                    markers,
                    ctx,
                    value.pos,
                )

        if is_union(tp):
            return self._union(value, tp, markers, ctx)
        if tp is Any and marker(markers, Folds) is not None:
            return self._folds(value, ctx)
        if typing.get_origin(tp) is Literal:
            return self._literal(value, typing.get_args(tp), ctx)
        if tp is bool:
            return self._bool(value, ctx)
        if tp in (int, float):
            return self.number(value, tp, markers, ctx)
        if tp is str:
            if isinstance(value, s.String) and marker(markers, TemplateFile) is not None:
                return value.value if self._template_file(value, ctx) else FAIL
            if isinstance(value, s.String) and not self._template_confined(value, markers, ctx):
                return FAIL
            return text.string(self, value, markers, ctx)
        if typing.get_origin(tp) is tuple:
            return self._tuple(value, tp, ctx)
        if typing.get_origin(tp) is dict:
            return self._dict(value, tp, ctx)
        if tp is Any:
            return self._any(value, ctx)
        raise TypeError(f"the checker has no conversion for {tp!r}")  # a bug in an IR class, not user input

    def _template_file(self, value: s.String, ctx: Ctx) -> bool:
        """A template named by its file (a task's `template`, a suite task's `prompt`): a path that
        stays inside the templates folders, found in one of them (the folders searched are said
        when it is not), confined there, and that parses. Located at the string that names it."""
        rel = Path(value.value)
        if not value.value or rel.is_absolute() or ".." in rel.parts:
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: template paths are relative to the templates folder and may not leave it",
                code="template-escape",
            )
            return False
        folders = self.template_folders
        path = find_template(folders, value.value)
        if path is None:
            names = [
                f"{STD_PREFIX}{p.relative_to(f).as_posix()}" if f == SHIPPED_TEMPLATES else p.relative_to(f).as_posix()
                for f in folders
                for p in f.rglob("*.j2")
            ]
            guess = did_you_mean(value.value, names)
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: no template '{value.value}' (looked in {searched_text(folders, value.value)})",
                (f"{guess} Else " if guess else "")
                + "pass the folder that holds it with --templates DIR (repeatable), or name a shipped "
                "template as std/NAME",
                code="template-missing",
            )
            return False
        if not self._template_confined(value, [TemplateFile()], ctx):
            return False
        try:
            self.jinja.parse(path.read_text(encoding="utf-8"))
            return True
        except (OSError, UnicodeDecodeError) as exc:
            ctx.diags.error(value.pos, f"{ctx.what}: cannot read template: {exc}", code="template-read")
        except TemplateError as exc:
            line = getattr(exc, "lineno", None) or 1
            ctx.diags.error(
                Pos(display_path(path), line, 1, line, 2),
                f"template error: {getattr(exc, 'message', None) or exc}",
                code="template-syntax",
            )
        return False

    def _template_confined(self, value: s.String, markers: list[Any], ctx: Ctx) -> bool:
        """A template file, and what templates include, import or extend, must be files under the
        templates folder it is found in, links followed (ecgspec.templating.confinement_problem):
        else a located error at the string that names the template."""
        is_file = marker(markers, TemplateFile) is not None
        if not self.template_folders or not (is_file or marker(markers, Template) is not None):
            return True

        def where(name: str) -> Path:
            """The folder `name` is read from: the first that has it, else the first searched."""
            found = candidates(self.template_folders, name)
            for folder, rel in found:
                if find_template([folder], rel) is not None:
                    return folder
            return found[0][0] if found else self.template_folders[0]

        def confined(name: str) -> str | None:
            folder = where(name)
            rel = name[len(STD_PREFIX) :] if name.startswith(STD_PREFIX) else name
            return confinement_problem(folder, rel)

        if is_file:
            problem = confined(value.value)
            if problem is not None and not problem.endswith("leaves the templates folder"):
                ctx.diags.error(
                    value.pos,
                    f"{ctx.what}: {problem}",
                    "templates must be files under the templates folder",
                    code="template-escape",
                )
                return False
        # What the template includes, and what those include: the ones that can be read and parsed.
        pending: list[str | None] = [value.value if is_file else None]
        seen: set[str | None] = set()
        while pending and len(seen) < 100:
            name = pending.pop()
            seen.add(name)
            try:
                found = None if name is None else find_template(self.template_folders, name)
                if name is not None and found is None:
                    continue
                source = value.value if found is None else found.read_text(encoding="utf-8")
                tree = self.jinja.parse(source)
            except (OSError, UnicodeDecodeError, TemplateError):
                continue  # missing, unreadable or broken: reported where it is named, or at build time
            for ref in find_referenced_templates(tree):
                if ref is None or ref in seen:
                    continue
                problem = confined(ref)
                if problem is not None:
                    ctx.diags.error(
                        value.pos,
                        f"{ctx.what}: the template {'' if name is None else f'{name!r} '}includes {ref!r}: {problem}",
                        "templates may include only files under the templates folder",
                        code="template-escape",
                    )
                    return False
                pending.append(ref)
        return True

    def _alias_cycle(self, name: str, value: s.Value) -> tuple[list[str], s.Value] | None:
        """A ring of constants that only name each other (`let a = b`, `let b = a`), found by walking it in a
        loop: (the stack as the recursive walk would have it, the value that closes the ring), else None.
        Resolving such a ring one recursive call per hop would exhaust Python's stack on a long one."""
        stack = list(self._let_stack)
        while name not in stack:
            stack.append(name)
            if not (isinstance(value, s.Ref) and len(value.parts) == 1 and value.parts[0] in self.scope.lets):
                return None
            name = value.parts[0]
            define = self.scope.defines.get(name)
            value = define.value if define else self.scope.lets[name].value
        return stack + [name], value

    def _through_let(self, name: str, value: s.Value, via: str, tp: Any, markers: list[Any], ctx: Ctx, use: Pos) -> Any:
        ring = self._alias_cycle(name, value) if name not in self._let_stack else None
        if ring is not None:
            walked, closing = ring
            self.used_lets.update(walked)
            start = walked.index(walked[-1])
            cycle = _cycle_text(walked[start:])
            ctx.diags.error(closing.pos, f"constants refer to each other in a cycle: {cycle}", code="let-cycle")
            return FAIL
        if name in self._let_stack:
            cycle = _cycle_text([*self._let_stack[self._let_stack.index(name) :], name])
            ctx.diags.error(value.pos, f"constants refer to each other in a cycle: {cycle}", code="let-cycle")
            return FAIL
        self.used_lets.add(name)
        self._let_stack.append(name)
        ctx.via.append(via)
        trial = ctx.trial()
        try:
            result = self.convert(value, tp, markers, trial)
        finally:
            self._let_stack.pop()
        # The mistake is where the constant is used for something it cannot be: report it there.
        for d in trial.diags.items:
            if d.code == "let-cycle" or len(self._let_stack):
                ctx.diags.items.append(d)
                continue
            where = "-D" if via.startswith("-D") else f"line {d.pos.line}"
            ctx.diags.error(use, d.message, f"through {via} ({where})" + (f"; {d.hint}" if d.hint else ""), code=d.code)
        return result

    def type_error(self, value: s.Value, expected: str, ctx: Ctx, hint: str | None = None) -> Any:
        got = value_kind(value)
        if isinstance(value, s.Ref) and value.dotted == "none":
            got, hint = "`none`", hint or "this setting cannot be `none`; it needs a value"
        elif isinstance(value, s.Ref) and len(value.parts) == 1:
            got = f"the name '{value.dotted}'"
            if hint is None:
                guess = did_you_mean(value.dotted, self.scope.lets)
                hint = (
                    guess.replace("did you mean '", "did you mean the constant '")
                    if guess
                    else f"no constant '{value.dotted}' is declared"
                    + (f"; {blame}" if (blame := self.scope.blame(value.dotted)) else "")
                )
        elif isinstance(value, (s.Call, s.Range, s.Choice)) and hint is None:
            hint = "this setting is fixed for a whole build; write one value"
        ctx.diags.error(value.pos, f"{ctx.what}: expected {expected}, got {got}", hint, code="type")
        return FAIL

    def _union(self, value: s.Value, tp: Any, markers: list[Any], ctx: Ctx) -> Any:
        members = list(typing.get_args(tp))
        optional = type(None) in members
        members = [m for m in members if m is not type(None)]
        dists = [m for m in members if m in DISTRIBUTIONS]
        plain = [m for m in members if m not in DISTRIBUTIONS]
        if optional and isinstance(value, s.Ref) and value.dotted == "none":
            return None
        if isinstance(value, (s.Call, s.Range, s.Choice)) and not (
            isinstance(value, s.Range) and any(marker(unwrap(m)[1], Folds) is not None for m in plain)
        ):
            base, base_markers = unwrap(plain[0]) if plain else (Any, [])
            markers = [*markers, *base_markers]
            if isinstance(value, s.Choice):
                if Choice not in dists:
                    return self.type_error(value, describe_type(base), ctx, "a weighted choice is not allowed here")
                if typing.get_origin(base) is tuple:  # a choice among the elements of a list setting
                    elem, elem_markers = unwrap(typing.get_args(base)[0])
                    return distributions.choice(self, value, elem, elem_markers, ctx)
                return distributions.choice(self, value, base, markers, ctx)
            if not dists:
                return self.type_error(
                    value, describe_type(base), ctx, "this setting is fixed for a whole build; write one value"
                )
            return distributions.distribution(self, value, base, markers, ctx, dists)
        # Try the plain members quietly; report with the member that suits the value's shape.
        for m in plain:
            result = self.convert(value, m, markers, ctx.trial())
            if result is not FAIL:
                return result
        best = next((m for m in plain if self._shape_fits(value, m)), plain[0])
        others = [describe_type(m) for m in plain if m is not best]
        if not others:
            return self.convert(value, best, markers, ctx)
        trial = ctx.trial()
        result = self.convert(value, best, markers, trial)
        for d in trial.diags.items:  # say that the other shapes were possible too
            extra = "or " + " or ".join(others)
            ctx.diags.items.append(replace(d, hint=f"{d.hint}, {extra}" if d.hint else extra))
        return result

    @staticmethod
    def _shape_fits(value: s.Value, tp: Any) -> bool:
        tp, _ = unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(value, s.ListValue):
            return origin in (tuple, dict)
        if isinstance(value, s.Number):
            return tp in (int, float)
        return origin is Literal or tp is str or tp is bool

    def _literal(self, value: s.Value, options: tuple[Any, ...], ctx: Ctx) -> Any:
        if isinstance(value, s.Ref) and len(value.parts) == 1:
            word = value.parts[0]
        elif isinstance(value, s.String):
            word = value.value
        else:
            return self.type_error(value, "one of " + ", ".join(map(str, options)), ctx)
        if word not in options and word.replace("-", "_") in options:
            word = word.replace("-", "_")
        if word not in options:
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: unknown value '{word}'",
                did_you_mean(word, options) or "expected one of " + ", ".join(map(str, options)),
                code="unknown-value",
            )
            return FAIL
        return word

    def _bool(self, value: s.Value, ctx: Ctx) -> Any:
        if isinstance(value, s.Ref) and value.dotted in ("true", "false"):
            return value.dotted == "true"
        hint = "write `true` or `false`"
        if isinstance(value, s.Ref) and value.dotted.lower() in ("on", "yes", "off", "no", "true", "false"):
            word = "true" if value.dotted.lower() in ("on", "yes", "true") else "false"
            hint = f"write `{word}`" + (" (lower case)" if value.dotted.lower() == word else "")
        return self.type_error(value, "true or false", ctx, hint)

    def number(self, value: s.Value, tp: type, markers: list[Any], ctx: Ctx) -> Any:
        if not isinstance(value, s.Number):
            return self.type_error(value, describe_type(Annotated[tp, *markers]) if markers else describe_type(tp), ctx)
        unit_m = marker(markers, Unit)
        prob = marker(markers, Probability) is not None
        x = value.value
        if not math.isfinite(x) or abs(x) > 1e15:
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: the number {value.text} is too large",
                "numbers in a spec stay below 1e15",
                code="number-range",
            )
            return FAIL
        shown_unit = unit_m and DIMENSIONS[unit_m.dimension].canonical
        if prob and value.unit is not None and value.unit != "%":
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: expected a probability (0–1 or %), got {describe(value.unit)}",
                "for example `p = 0.5` or `p = 50%`",
                code="unit-dimension",
            )
            return FAIL
        if unit_m is not None or prob:
            dim = unit_m.dimension if unit_m else "fraction"
            if value.unit is None:
                if dim != "fraction":
                    d = DIMENSIONS[dim]
                    unit = unit_m.prefer if unit_m and unit_m.prefer else d.canonical
                    ctx.diags.error(
                        value.pos,
                        f"{ctx.what}: expected {d.noun} ({unit}), got a plain number",
                        f"write the unit: `{value.text} {unit}`",
                        code="unit-missing",
                    )
                    return FAIL
            elif UNITS[value.unit][0] != dim:
                d = DIMENSIONS[dim]
                ctx.diags.error(
                    value.pos,
                    f"{ctx.what}: expected {d.noun} ({d.canonical}), got {describe(value.unit)}",
                    f"for example `{d.example}`",
                    code="unit-dimension",
                )
                return FAIL
            else:
                x = to_canonical(x, value.unit)
        elif value.unit is not None:
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: expected a plain number, got {describe(value.unit)}",
                f"remove the unit: `{value.text}`",
                code="unit-unexpected",
            )
            return FAIL
        if prob and not 0 <= x <= 1:
            ctx.diags.error(
                value.pos,
                f"{ctx.what}: a probability must lie between 0 and 1 (0% and 100%), got {value.text}{value.unit or ''}",
                code="probability-range",
            )
            return FAIL
        if tp is int:
            if x != int(x):
                ctx.diags.error(value.pos, f"{ctx.what}: expected a whole number, got {value.text}", code="type")
                return FAIL
            x = int(x)
        # A limit is said in the unit the value was written in ("at most 300 bpm", not "at most 5 Hz").
        said_in = value.unit if unit_m is not None and value.unit not in (None, "%") else None
        for b in bounds(markers):
            unit = f" {said_in or shown_unit}" if (said_in or shown_unit) and shown_unit != "%" else ""
            fail = None
            for kind, attr, holds, words in _BOUNDS:
                if isinstance(b, kind):
                    limit = getattr(b, attr)
                    if not holds(x, limit):
                        shown = limit / UNITS[said_in][1] if said_in else limit
                        fail = f"{words} {_fmt_num(shown)}{unit}"
            if fail:
                written_unit = f" {value.unit}" if value.unit and value.unit != "%" else value.unit or ""
                ctx.diags.error(
                    value.pos, f"{ctx.what} must be {fail}, got {value.text}{written_unit}", code="number-range"
                )
                return FAIL
        return x if tp is int else float(x)

    def _tuple(self, value: s.Value, tp: Any, ctx: Ctx) -> Any:
        args = typing.get_args(tp)
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not isinstance(value, s.ListValue):
            if variadic and typing.get_origin(unwrap(args[0])[0]) is not tuple:
                one = self.convert(value, args[0], [], ctx)  # `rhythm = II` means `[II]`
                return FAIL if one is FAIL else (one,)
            return self.type_error(value, "a list in [brackets]", ctx)
        elem = args[0]
        elem_is_row = typing.get_origin(unwrap(elem)[0]) is tuple
        if elem_is_row:  # a matrix: one tuple per row
            rows = []
            for row in value.rows:
                sub = s.ListValue((row,), value.pos)
                rows.append(self.convert(sub, elem, [], ctx))
            return FAIL if any(r is FAIL for r in rows) else tuple(rows)
        if value.is_matrix:
            return self.type_error(value, "a plain list", ctx, "'|' separates the rows of a lead matrix only")
        out = []
        for item in value.items:
            if item.weight is not None:
                ctx.diags.error(
                    item.pos,
                    f"{ctx.what}: unexpected `key: value` in a list",
                    "':' gives the weights of a `choice[...]` or the pairs of a map",
                    code="type",
                )
                out.append(FAIL)
                continue
            elem_tp = elem if variadic else args[len(out)] if len(out) < len(args) else elem
            out.append(self.convert(item.value, elem_tp, [], ctx))
        if not variadic and len(out) != len(args):
            return self.type_error(value, f"a list of {len(args)} values", ctx)
        if not value.items and not variadic:
            return FAIL
        return FAIL if any(o is FAIL for o in out) else tuple(out)

    def _dict(self, value: s.Value, tp: Any, ctx: Ctx) -> Any:
        _, vtp = typing.get_args(tp)
        if not isinstance(value, s.ListValue) or value.is_matrix:
            return self.type_error(value, 'a map such as ["key": value, …]', ctx)
        out: dict[str, Any] = {}
        for item in value.items:
            if item.weight is None:
                ctx.diags.error(item.pos, f"{ctx.what}: expected `key: value`", code="type")
                return FAIL
            key = self._key(item.value, ctx)
            if key is FAIL:
                return FAIL
            if key in out:
                ctx.diags.error(item.pos, f"{ctx.what}: key '{key}' appears twice", code="duplicate-key")
                return FAIL
            v = self.convert(item.weight, vtp, [], ctx)
            if v is FAIL:
                return FAIL
            out[key] = v
        return out

    def _key(self, value: s.Value, ctx: Ctx) -> Any:
        if isinstance(value, s.Ref):
            return value.dotted
        if isinstance(value, s.String):
            return value.value
        if isinstance(value, s.Number) and value.unit is None:
            return value.text
        return self.type_error(value, "a key (a name, a string or a code)", ctx)

    def _folds(self, value: s.Value, ctx: Ctx) -> Any:
        if isinstance(value, s.Number) and value.unit == "%":
            return self.number(value, float, [Probability()], ctx)
        if isinstance(value, s.Number) and value.unit is None:
            if not float(value.value).is_integer():  # also inf and nan (a fuzzed `1e3089`)
                return self.number(value, float, [Probability()], ctx)
            return (int(value.value),)
        if isinstance(value, s.Range):
            lo, hi = value.lo, value.hi
            if lo.unit or hi.unit or not float(lo.value).is_integer() or not float(hi.value).is_integer():
                return self.type_error(value, "a range of fold numbers like 1..8", ctx)
            if hi.value < lo.value or hi.value - lo.value > MAX_EXPANDED_RANGE:
                ctx.diags.error(
                    value.pos,
                    f"{ctx.what}: the fold range {lo.text}..{hi.text} is empty or too long",
                    code="range-order",
                )
                return FAIL
            return tuple(range(int(lo.value), int(hi.value) + 1))
        if isinstance(value, s.ListValue) and not value.is_matrix:
            out = []
            for item in value.items:
                n = self.number(item.value, int, [], ctx) if item.weight is None else FAIL
                if n is FAIL:
                    return FAIL
                out.append(n)
            return tuple(out)
        return self.type_error(value, "fold numbers (`1..8`, `[9, 10]`) or a share (`80%`)", ctx)

    def _any(self, value: s.Value, ctx: Ctx) -> Any:
        if isinstance(value, s.Number):
            return value.value if value.unit is None else to_canonical(value.value, value.unit)
        if isinstance(value, s.String):
            return value.value
        if isinstance(value, s.Ref):
            return value.dotted
        return self.type_error(value, "a number, a string or a name", ctx)


def _cycle_text(names: list[str]) -> str:
    """`a → b → a`; a long ring keeps its first and last names and counts the rest."""
    if len(names) <= 12:
        return " → ".join(names)
    return " → ".join([*names[:5], f"… {len(names) - 10:,} more …", *names[-5:]])


@functools.cache
def _checking_sandbox() -> SandboxedTemplates:
    """One sandbox for every check in the process: its parse cache then serves every spec."""
    return SandboxedTemplates(check_compiles=True)
