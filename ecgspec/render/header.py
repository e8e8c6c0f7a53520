"""Header and footer text: a paper's Jinja templates rendered with a record, in a sandbox.

Templates come from spec files, and spec files come from other people: they run in the shared
sandbox (ecgspec.templating: Jinja's `ImmutableSandboxedEnvironment`, no attribute tricks, no
mutation of what they are given, a time, output and value-size budget per render) and see only
plain data: `record`, `paper`, `layout` and whatever the caller adds. A template that fails is a
`HeaderTemplateError`, a mistake in the spec: a build stops on it (ecgspec.build.item).

Text conventions a template may use (docs/rendering.md):
- one printed line per template line; blank lines at the start and end are dropped, the
  template's own indentation (from a triple-quoted spec string) is removed;
- `{{ tab }}` (a tab character) splits a line into cells, placed in equal columns across the
  page, as machines print blocks of patient data, intervals and interpretation side by side;
- `**like this**` prints bold (the layout engine splits the cell into spans).

A page may hide facts (record.meta["hidden_fields"], from a corpus's `hide_in_header`): each is
`Hidden` in the template's `record`, undefined to `is defined` and `default`, a dash when printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from ..leads import CHEST
from ..templating import SandboxedTemplates
from .errors import TemplateError
from .filters import template_values

if TYPE_CHECKING:
    from ..ir import Layout, Paper
    from ..program import Program
    from ..records import Record


class Hidden(jinja2.Undefined):
    """A fact this page must not print, because one of its questions asks it (a corpus's
    `hide_in_header`). It tests as undefined, so `is defined` and `default(…)` treat it as absent;
    printed bare, after any filter or arithmetic, it is a dash, as carts print a value they lack."""

    __slots__ = ()

    def __str__(self) -> str:
        return "---"

    def _same(self, *args: Any, **kwargs: Any) -> Hidden:
        return self

    def _false(self, other: Any) -> bool:
        return False

    # Jinja's Undefined fails on these; a hidden value carries on, so a template prints its dash.
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same  # type: ignore[assignment]
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same  # type: ignore[assignment]
    __pow__ = __rpow__ = __pos__ = __neg__ = __abs__ = __round__ = __getitem__ = __call__ = _same  # type: ignore[assignment]
    __lt__ = __le__ = __gt__ = __ge__ = _false  # type: ignore[assignment]


HIDDEN_KEY = "hidden_fields"  # record.meta: the fields this page hides (set by ecgspec.build.item)
_ABSENT_FILTERS = ("default", "d")  # these replace an undefined value: a hidden one too


def _pass_hidden(f: Any) -> Any:
    """A filter that hands a hidden value on unchanged (`record.heart_rate | round | int` of a hidden
    rate prints `---`, not 0 or an error)."""
    skip = 1 if getattr(f, "jinja_pass_arg", None) is not None else 0  # a context comes first

    @wraps(f)
    def passing(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip and isinstance(args[skip], Hidden):
            return args[skip]
        return f(*args, **kwargs)

    return passing


# Plain text, printed as written: no autoescaping, and no whitespace trimming around tags, so a
# line keeps its newline whatever tags it holds (`{%- -%}` trims where a template wants it).
_ENV = SandboxedTemplates(autoescape=False, keep_trailing_newline=False)
_ENV.filters = {n: f if n in _ABSENT_FILTERS else _pass_hidden(f) for n, f in _ENV.filters.items()}


class HeaderTemplateError(TemplateError):
    """A header or footer template that fails: `what` names it ("paper 'muse' header"), `line`
    is the template line (1-based) where known."""

    def __init__(self, what: str, message: str, line: int | None = None):
        super().__init__(f"{what} template{f', line {line}' if line else ''}: {message}")
        self.what, self.line, self.detail = what, line, message

    def __reduce__(self) -> tuple[Any, ...]:  # it may cross from a worker process
        return (HeaderTemplateError, (self.what, self.detail, self.line))

    def where(self, program: Program, paper: str) -> str:
        """`file:line:col` of the failing template line in the spec: the header (footer) string
        where the paper (or the paper it extends) sets it, else the paper's name."""
        part = "footer" if self.what.endswith("footer") else "header"
        origin = program.origins.get(("paper", paper), {}).get(part)
        pos = origin.pos if origin is not None else None
        if pos is None:
            return str(program.position(("paper", paper)))
        line = pos.line + (self.line or 1) - 1
        return f"{pos.file}:{line}:{pos.col if line == pos.line else 1}"


class Num(float):
    """A number that prints as a person writes it: 25 not 25.0, 12.5, 0.05. Arithmetic on it
    gives ordinary floats, so `round` and `format` behave as usual."""

    def __str__(self) -> str:
        return f"{float(self):g}"

    __repr__ = __str__


def _num(x: float | int | None) -> Num | None:
    return None if x is None else Num(x)


@lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def record_context(record: Record) -> dict[str, Any]:
    """What a template sees as `record`: header facts, then measured values where they lack."""
    meta = {k: v for k, v in record.meta.items() if k not in ("nan_samples", "channels", HIDDEN_KEY)}
    ctx: dict[str, Any] = {}
    for k, v in meta.items():
        ctx[k] = Num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    ctx.update(
        id=record.id,
        source=Path(record.source).name if record.source else record.id,
        fs=Num(record.fs),
        duration=Num(round(record.duration, 3)),
        leads=list(record.leads),
    )
    # Rate and RR: a value written in the record wins; otherwise measure it on the signal.
    hr = meta.get("heart_rate", meta.get("hr"))
    if isinstance(hr, (int, float)):
        ctx["heart_rate"] = Num(hr)
        ctx["heart_rate_source"] = "record"
    else:
        rhythm = record.rhythm
        if rhythm.heart_rate is not None:
            ctx["heart_rate"] = Num(round(rhythm.heart_rate, 1))
            ctx["heart_rate_source"] = "measured"
    if "rr" not in ctx:
        hr_value = ctx.get("heart_rate")
        if hr_value:
            ctx["rr"] = Num(round(60000.0 / float(hr_value)))  # ms, as printed
    for name in record.meta.get(HIDDEN_KEY) or ():
        ctx[name] = Hidden(name=name)
    return ctx


def paper_context(paper: Paper) -> dict[str, Any]:
    return {
        "name": paper.name,
        "speed": Num(paper.speed),
        "gain": Num(paper.gain),
        "chest_gain": _num(paper.chest_gain),
        "dpi": Num(paper.dpi),
        "size": paper.size if isinstance(paper.size, str) else [Num(v) for v in paper.size],
        "orientation": paper.orientation,
        "grid": paper.grid,
    }


def _filter_context(paper: Paper, fs: float) -> dict[str, Any]:
    """`paper.filter` ('0.5–40 Hz ~50 Hz', '' when none), `paper.band`, and the applied
    `paper.highpass`, `paper.lowpass`, `paper.notch` (None when not applied)."""
    values = template_values(paper, fs)
    return {k: (_num(v) if k in ("highpass", "lowpass", "notch") else v) for k, v in values.items()}


def layout_context(layout: Layout) -> dict[str, Any]:
    return {
        "name": layout.name,
        "rows": len(layout.leads),
        "columns": len(layout.leads[0]) if layout.leads else 0,
        "column": Num(layout.column),
        "rhythm": list(layout.rhythm),
        "windows": layout.windows,
        "chest_leads": sorted(CHEST & {lead for row in layout.leads for lead in row}),
    }


def build_context(
    record: Record, paper: Paper, layout: Layout, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template namespace. `extra` adds names; a mapping under an existing name (`record`)
    is merged into it, so a caller can supply a patient name or a hospital's interval values."""
    ctx: dict[str, Any] = {
        "record": record_context(record),
        # The paper's filter as this record takes it: a frequency the record cannot hold is skipped,
        # and the footer must print what was applied, not what was asked for.
        "paper": {**paper_context(paper), **_filter_context(paper, record.fs)},
        "layout": layout_context(layout),
        "tab": "\t",
    }
    for key, value in (extra or {}).items():
        if key in ctx and isinstance(value, Mapping):
            ctx[key] = {**ctx[key], **value}
        else:
            ctx[key] = value
    return ctx


def render_lines(source: str | None, context: Mapping[str, Any], *, what: str) -> list[list[str]]:
    """Render a template to printed lines, each a list of cells. `what` names the template in
    errors ("paper 'muse' header"). Any failure is a TemplateError, never a traceback."""
    if not source:
        return []
    try:
        text = _compile(source).render(**context)  # within the sandbox's budget; fails with a TemplateError
    except jinja2.TemplateSyntaxError as exc:
        raise HeaderTemplateError(what, exc.message or str(exc), exc.lineno) from None
    except jinja2.exceptions.SecurityError as exc:
        raise HeaderTemplateError(what, f"not allowed: {exc}", getattr(exc, "lineno", None)) from None
    except jinja2.TemplateError as exc:
        raise HeaderTemplateError(what, exc.message or str(exc), getattr(exc, "lineno", None)) from None
    except Exception as exc:
        raise HeaderTemplateError(what, f"failed: {type(exc).__name__}: {exc}") from None
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    # Dedent on the lines proper: textwrap ignores blank lines, tabs are cell breaks here.
    indent = min((len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip()), default=0)
    return [[cell.strip() for cell in ln[indent:].rstrip().split("\t")] for ln in lines]
