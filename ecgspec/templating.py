"""The one sandbox every spec-supplied Jinja template runs in: prompts, headers, checks.

A spec's templates are other people's data. Jinja's `ImmutableSandboxedEnvironment` keeps them
away from Python internals and from mutating what they are given; this module also keeps them
from hanging or exhausting a build, and from reading files outside their templates folder:

- every render has a budget: `RENDER_SECONDS` of wall time (a deadline checked at every loop
  iteration, call, filter and intercepted operator) and `MAX_OUTPUT` characters of output
  (counted as the template generates it);
- `*`, `**`, `+`, `%` and `~` refuse results past `MAX_LENGTH` items or characters (strings,
  lists) or `MAX_INT_BITS` bits (integers); so do padding methods and filters (`center`,
  `ljust`, `replace`, `join`, `format` …), and every call and filter result is checked;
- `range()` gives at most `MAX_RANGE` numbers; `lipsum` is not there;
- calls (macros, recursive loops) nest at most `MAX_CALL_DEPTH` deep; a RecursionError anyway
  (and a template too deeply nested to parse or compile) is a template error too;
- every exception a render raises (MemoryError, OverflowError, ZeroDivisionError …) becomes a
  `TemplateFailure`, a Jinja `TemplateError` that carries the template's file, name and line,
  so callers report it like any other template mistake, never as an internal error;
- templates load through `ConfinedLoader`: a template path (named by the spec, or by an
  `include`, `import` or `extends`) whose real path, links followed, lies outside the real
  templates folder is refused, and so is a templates folder that is itself a link out of the
  folder holding it. A spec may have several templates folders, searched in order; the shipped
  library (the repository's templates/, package data when installed) comes last, and
  `std/NAME` names a template of the library whatever the spec's folders hold.

The budgets are far above what any shipped template needs (they render in milliseconds and
write a few hundred characters).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

# Loading lives in its own module; its names are part of this module's interface.
from .template_loader import (
    SHIPPED_TEMPLATES,
    STD_PREFIX,
    ConfinedLoader,
    TemplateEscapeError,
    candidates,
    confinement_problem,
    find_template,
    search_path,
    searched_text,
)

RENDER_SECONDS = 2.0  # wall time of one render (a question, an answer, a header), includes and macros in it
MAX_OUTPUT = 1_000_000  # characters one render may write
MAX_LENGTH = 1_000_000  # characters of a string, items of a list, that an operator, call or filter may make
MAX_RANGE = 100_000  # numbers `range()` may give
MAX_INT_BITS = 4_096  # bits of an integer `*` or `**` may make (about 1,233 decimal digits)
MAX_CALL_DEPTH = 100  # macros, `loop()` and other calls nested inside each other

__all__ = [
    "MAX_CALL_DEPTH",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "RENDER_SECONDS",
    "SHIPPED_TEMPLATES",
    "STD_PREFIX",
    "BudgetExceeded",
    "ConfinedLoader",
    "SandboxedTemplates",
    "TemplateEscapeError",
    "TemplateFailure",
    "candidates",
    "confinement_problem",
    "find_template",
    "render_block",
    "search_path",
    "searched_text",
]


class TemplateFailure(TemplateRuntimeError):
    """A template that failed while rendering (an exception in Python, a budget exceeded), with
    where it happened: `filename` (None for a template given as a string), `name` and `lineno`."""

    def __init__(self, message: str, lineno: int | None = None, name: str | None = None, filename: str | None = None):
        super().__init__(message)
        self.lineno, self.name, self.filename = lineno, name, filename


class BudgetExceeded(TemplateFailure):
    """A template that ran out of time, wrote too much, made too large a value or nested too deep."""


# ---- the budget of the render in progress --------------------------------------------------


class _Budget:
    __slots__ = ("deadline", "output", "depth")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + RENDER_SECONDS
        self.output = 0
        self.depth = 0


_local = threading.local()


def _budget() -> _Budget | None:
    return getattr(_local, "budget", None)


def _tick() -> _Budget | None:
    """Stop a render that has used up its time. Outside a render, sizes are still capped."""
    b = _budget()
    if b is not None and time.monotonic() > b.deadline:
        raise BudgetExceeded(f"the template took longer than {RENDER_SECONDS:g} s to render (a loop too long?)")
    return b


def _too_long(n: int, what: str) -> None:
    if n > MAX_LENGTH:
        raise BudgetExceeded(f"{what} would be {n:,} long; templates may make at most {MAX_LENGTH:,}")


def _sized(value: Any) -> Any:
    """A value a call, filter or operator made, refused if it is too large."""
    if isinstance(value, (str, list, tuple, dict, set)):
        _too_long(len(value), "a value")
    elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(
            f"a number would have {value.bit_length():,} bits; templates may make at most {MAX_INT_BITS:,}"
        )
    return value


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_mul(left: Any, right: Any) -> None:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and _is_int(n):
            _too_long(len(seq) * max(n, 0), "a repeated string or list")
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
        raise BudgetExceeded(f"a product would have more than {MAX_INT_BITS:,} bits")


def _check_pow(base: Any, exp: Any) -> None:
    if _is_int(base) and _is_int(exp) and exp > 0 and abs(base) > 1 and base.bit_length() * exp > MAX_INT_BITS + exp:
        raise BudgetExceeded(f"a power would have more than {MAX_INT_BITS:,} bits (exponent {exp:,})")


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)(\{)?")


def _check_format(fmt: str, args: Any) -> None:
    """Widths and precisions in a %- or {}-format string, written or taken from the arguments."""
    values = (
        list(args.values()) if isinstance(args, dict) else list(args) if isinstance(args, (tuple, list)) else [args]
    )
    starred = False
    for m in _PERCENT.finditer(fmt):
        for g in m.groups():
            if g == "*":
                starred = True
            elif g:
                _too_long(int(g), "a formatted field")
    for m in _BRACE_SPEC.finditer(fmt):
        starred |= m.group(2) is not None
        for digits in re.findall(r"\d+", m.group(1)):
            _too_long(int(digits), "a formatted field")
    if starred:
        for v in values:
            if _is_int(v):
                _too_long(v, "a formatted field")


def _check_str_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Padding, replacing, joining and formatting strings: the result's size, before it is made."""
    name = getattr(obj, "__name__", "")
    target = getattr(obj, "__self__", None)
    if name in ("format", "format_map"):
        target = getattr(getattr(obj, "__wrapped__", None), "__self__", target)  # the sandbox wraps str.format
    if not isinstance(target, str):
        return
    if name in ("ljust", "rjust", "center", "zfill") and args and _is_int(args[0]):
        _too_long(args[0], "a padded string")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if _is_int(size):
            _too_long(len(target) + target.count("\t") * size, "a string with tabs expanded")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _check_replace(target, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name in ("format", "format_map"):
        _check_format(target, args[0] if name == "format_map" and args else [*args, *kwargs.values()])


def _check_replace(s: str, old: str, new: str, count: Any) -> None:
    hits = len(s) + 1 if old == "" else s.count(old)
    if _is_int(count) and count >= 0:
        hits = min(hits, count)
    _too_long(len(s) + hits * max(len(new) - len(old), 0), "a string with replacements")


def _join_size(items: list[Any], sep: str) -> int:
    return sum(len(x) if isinstance(x, str) else 32 for x in items) + len(sep) * max(len(items) - 1, 0)


# ---- filters -----------------------------------------------------------------------------------

_WIDTH_FILTERS = {"center": "width", "indent": "width"}


def _guard_filter(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if getattr(f, "jinja_pass_arg", None) is not None else 0  # a context comes first

    @wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        value, rest = (args[skip], args[skip + 1 :]) if len(args) > skip else (None, ())
        if name in _WIDTH_FILTERS:
            width = rest[0] if rest else kwargs.get(_WIDTH_FILTERS[name])
            if isinstance(width, int):
                _too_long(width * (str(value).count("\n") + 1), f"the `{name}` filter's result")
        elif name == "format" and isinstance(value, str):
            _check_format(value, [*rest, *kwargs.values()])
        elif name == "replace" and isinstance(value, str) and len(rest) >= 2:
            _check_replace(value, str(rest[0]), str(rest[1]), rest[2] if len(rest) > 2 else kwargs.get("count", -1))
        elif name == "join" and value is not None and not isinstance(value, (str, jinja2.Undefined)):
            items = []
            for x in value:
                items.append(x)
                _too_long(len(items), "a joined list")
            sep = rest[0] if rest else kwargs.get("d", "")
            if isinstance(sep, str):
                _too_long(_join_size(items, sep), "a joined string")
            args = (*args[:skip], items, *rest)
        return _sized(f(*args, **kwargs))

    return guarded


# ---- what templates compile to -------------------------------------------------------------------


class _Guard(NodeTransformer):
    """Every `for` loop iterates through `environment.guard_iter`, every `~` joins through
    `environment.guard_concat`: a deadline per iteration, a size cap per concatenation."""

    def __init__(self, env: jinja2.Environment):
        self.env = env

    def _call(self, name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
        return call.set_lineno(lineno).set_environment(self.env)  # type: ignore[return-value]

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call("guard_iter", [node.iter], node.iter.lineno)  # type: ignore[list-item]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("guard_concat", list(node.nodes), node.lineno)


def _deepest_line(source: str) -> int:
    """The line where brackets nest deepest: where a template nested too deeply to parse is."""
    depth = best = 0
    line = best_line = 1
    for ch in source:
        if ch in "([{":
            depth += 1
            if depth > best:
                best, best_line = depth, line
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "\n":
            line += 1
    return best_line


class BudgetedTemplate(jinja2.Template):
    """A template whose `render` and `generate` run within a render budget (`RENDER_SECONDS`,
    `MAX_OUTPUT`) and raise only TemplateErrors."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return _consume(self.root_render_func(self.new_context(dict(*args, **kwargs))))

    def generate(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        yield self.render(*args, **kwargs)


class SandboxedTemplates(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the budgets of this module. `check_compiles=True` makes
    `parse` compile the template too, so a template Python cannot compile (brackets nested past
    its limit) is found when the spec is checked, not at build time."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    template_class = BudgetedTemplate

    def __init__(self, *, check_compiles: bool = False, **kwargs: Any):
        kwargs.setdefault("optimized", False)  # no constant folding: it would run filters before any budget
        super().__init__(**kwargs)
        self.check_compiles = check_compiles
        self.globals["range"] = capped_range
        self.globals.pop("lipsum", None)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    # Parsing and compiling: a template nested too deeply is a syntax error, located. Parsed trees are
    # kept per environment: checking parses the same shipped templates once per spec that imports them.
    _PARSED_KEEP = 1024

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        cache: dict[tuple[str, str | None, str | None], nodes.Template] = self.__dict__.setdefault("_parsed", {})
        key = (source, name, filename)
        tree = cache.get(key)
        if tree is None:
            tree = self._parse_checked(source, name, filename)
            if len(cache) >= self._PARSED_KEEP:
                cache.clear()
            cache[key] = tree
        return tree

    def _parse_checked(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        try:
            tree = super()._parse(source, name, filename)
            _Guard(self).visit(tree)
        except (RecursionError, MemoryError):
            raise TemplateSyntaxError("template nested too deeply", _deepest_line(source), name, filename) from None
        if self.check_compiles:
            try:
                self._compile(self._generate(tree, name, filename), filename or "<template>")
            except (RecursionError, MemoryError, SyntaxError):
                raise TemplateSyntaxError("template nested too deeply", _deepest_line(source), name, filename) from None
        return tree

    def compile(
        self, source: Any, name: str | None = None, filename: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return super().compile(source, name, filename, *args, **kwargs)
        except (RecursionError, MemoryError, SyntaxError):
            text = source if isinstance(source, str) else ""
            raise TemplateSyntaxError("template nested too deeply", _deepest_line(text), name, filename) from None

    # What rendering code calls.
    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            _check_mul(left, right)
        elif operator == "**":
            _check_pow(left, right)
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _too_long(len(left) + len(right), "a joined string or list")
        elif operator == "%" and isinstance(left, str):
            _check_format(left, right)
        return _sized(self.binop_table[operator](left, right))

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        b = _tick()
        _check_str_method(obj, args, kwargs)
        if b is None:
            return _sized(super().call(context, obj, *args, **kwargs))
        b.depth += 1
        try:
            if b.depth > MAX_CALL_DEPTH:
                raise BudgetExceeded(
                    f"calls nest more than {MAX_CALL_DEPTH} deep (a macro that calls itself without end?)"
                )
            return _sized(super().call(context, obj, *args, **kwargs))
        finally:
            b.depth -= 1

    def guard_iter(self, iterable: Any) -> Iterator[Any]:
        """What a `for` loop iterates: `iterable`, with the deadline checked at every item."""
        for item in iterable:
            _tick()
            yield item

    def guard_concat(self, *parts: Any) -> str:
        """`a ~ b ~ c`: the strings of the parts joined, within `MAX_LENGTH`."""
        out, total = [], 0
        for p in parts:
            text = str(p)
            total += len(text)
            _too_long(total, "a joined string")
            out.append(text)
        return "".join(out)


def capped_range(*args: int) -> range:
    """`range()` as templates have it: at most `MAX_RANGE` numbers."""
    _tick()
    r = range(*args)
    try:
        n = len(r)
    except OverflowError:
        n = MAX_RANGE + 1
    if n > MAX_RANGE:
        raise BudgetExceeded(
            f"range() of more than {MAX_RANGE:,} numbers; templates may loop at most {MAX_RANGE:,} times"
        )
    return r


# ---- rendering ---------------------------------------------------------------------------------------


def _locate(tb: TracebackType | None) -> tuple[int | None, str | None, str | None]:
    """The innermost template frame of a traceback: (line, template name, template file)."""
    found: tuple[int | None, str | None, str | None] = (None, None, None)
    while tb is not None:
        t = tb.tb_frame.f_globals.get("__jinja_template__")
        if t is not None:
            found = (t.get_corresponding_lineno(tb.tb_lineno), t.name, t.filename)
        tb = tb.tb_next
    return found


def _generator_line(gen: Any) -> tuple[int | None, str | None, str | None]:
    """Where a suspended render generator (and what it delegates to) stands."""
    found: tuple[int | None, str | None, str | None] = (None, None, None)
    while gen is not None:
        frame = getattr(gen, "gi_frame", None)
        t = frame.f_globals.get("__jinja_template__") if frame is not None else None
        if t is not None:
            found = (t.get_corresponding_lineno(frame.f_lineno), t.name, t.filename)  # type: ignore[union-attr]
        gen = getattr(gen, "gi_yieldfrom", None)
    return found


def _consume(chunks: Iterable[str]) -> str:
    """The text of a render generator, within one render budget; any failure a TemplateError
    that says where in which template it happened."""
    outer = _budget()
    budget = outer or _Budget()
    _local.budget = budget
    out: list[str] = []
    try:
        for chunk in chunks:
            budget.output += len(chunk)
            if budget.output > MAX_OUTPUT:
                raise BudgetExceeded(
                    f"the template writes more than {MAX_OUTPUT:,} characters", *_generator_line(chunks)
                )
            _tick()
            out.append(chunk)
        return "".join(out)
    except TemplateSyntaxError:
        raise
    except TemplateError as exc:
        if getattr(exc, "lineno", None) is None:  # where in which template, unless the error says
            for attr, value in zip(("lineno", "name", "filename"), _locate(exc.__traceback__), strict=True):
                if getattr(exc, attr, None) is None:
                    setattr(exc, attr, value)
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] == "ecgspec":  # the project's own errors pass through
            raise
        message = (
            "the template nests too deeply (a macro that calls itself, or a value nested, without end?)"
            if isinstance(exc, RecursionError)
            else "the template needs too much memory"
            if isinstance(exc, MemoryError)
            else f"{type(exc).__name__}: {exc}"
        )
        raise TemplateFailure(message, *_locate(exc.__traceback__)) from None
    finally:
        _local.budget = outer
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def render_block(template: jinja2.Template, block: str, context: dict[str, Any]) -> str:
    """One block of a template rendered with `context`, within a render budget."""
    return _consume(template.blocks[block](template.new_context(context)))
