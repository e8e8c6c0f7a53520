"""Conversion of values that vary per item: `uniform(…)`, `normal(…)`, `lognormal(…)`, ranges
`a..b` and weighted choices `choice[…]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import annotated_types as at

from .. import syntax as s
from ..errors import did_you_mean
from ..formatter import value as written
from ..ir.base import Choice, LogNormal, Normal, Span, Uniform, Unit
from .context import FAIL, Ctx
from .schema import describe_type, unwrap

if TYPE_CHECKING:
    from .convert import Converter

_FUNCTIONS: dict[str, type[Uniform | Normal | LogNormal]] = {
    "uniform": Uniform,
    "normal": Normal,
    "lognormal": LogNormal,
}
_PARAMS = {"uniform": ("lo", "hi"), "normal": ("mu", "sigma", "lo", "hi"), "lognormal": ("mu", "sigma")}


def distribution(conv: Converter, value: s.Value, base: Any, markers: list[Any], ctx: Ctx, dists: list[Any]) -> Any:
    if isinstance(value, s.Range):
        return span(conv, value, base, markers, ctx)
    assert isinstance(value, s.Call)
    func = value.func.text
    cls = _FUNCTIONS.get(func)
    if cls is None:
        ctx.diags.error(
            value.func.pos,
            f"unknown distribution '{func}'",
            did_you_mean(func, ["uniform", "normal", "lognormal"])
            or "distributions are uniform(a, b), normal(mu, sigma), lognormal(mu, sigma)",
            code="unknown-distribution",
        )
        return FAIL
    params = _PARAMS[func]
    required = 2
    got: dict[str, Any] = {}
    positional = [a for a in value.args if not isinstance(a, s.KwArg)]
    named = [a for a in value.args if isinstance(a, s.KwArg)]
    if len(positional) > len(params):
        ctx.diags.error(
            value.pos, f"{func}() takes at most {len(params)} values ({', '.join(params)})", code="distribution-args"
        )
        return FAIL
    for pname, arg in [*zip(params, positional, strict=False), *((a.key.text, a.value) for a in named)]:
        if pname not in params:
            ctx.diags.error(
                arg.pos, f"{func}() has no parameter '{pname}'", did_you_mean(pname, params), code="distribution-args"
            )
            return FAIL
        # sigma is a spread: it has the unit of the value but no bounds of its own.
        arg_markers = (
            [m for m in markers if not isinstance(m, (at.Ge, at.Gt, at.Le, at.Lt))] if pname == "sigma" else markers
        )
        arg_tp = float if (func == "lognormal" or unwrap(base)[0] is int) else base
        if func == "lognormal":
            arg_markers = []
        got[pname] = conv.convert(arg, arg_tp, arg_markers, ctx)
    if len(got) < required:
        ctx.diags.error(
            value.pos,
            f"{func}() needs {required} values: {func}({', '.join(params[:2])}), "
            f"e.g. {func}({'-3 deg, 3 deg' if func == 'uniform' else '0, 1'})",
            code="distribution-args",
        )
        return FAIL
    if any(v is FAIL for v in got.values()):
        return FAIL
    if cls not in dists:
        return conv.type_error(value, describe_type(base), ctx, f"{func}() is not allowed here")
    if func == "uniform" and got["lo"] > got["hi"]:
        lo_text, hi_text = (written(a) for a in positional[:2])
        ctx.diags.error(
            value.pos,
            f"uniform(lo, hi) needs lo ≤ hi, got {lo_text} > {hi_text}",
            "swap the bounds",
            code="distribution-order",
        )
        return FAIL
    if "sigma" in got and got["sigma"] < 0:
        ctx.diags.error(value.pos, "sigma cannot be negative", code="distribution-args")
        return FAIL
    return cls(**got)


def span(conv: Converter, value: s.Range, base: Any, markers: list[Any], ctx: Ctx) -> Any:
    lo_n, hi_n = value.lo, value.hi
    if lo_n.unit is None and hi_n.unit is not None:  # `-3..3 deg`: the lower bound takes the upper's unit
        lo_n = s.Number(lo_n.value, hi_n.unit, lo_n.text, lo_n.pos)
    num_tp = int if base is int else float
    if num_tp is int and ("." in lo_n.text + hi_n.text or "e" in (lo_n.text + hi_n.text).lower()):
        return conv.type_error(value, "a range of whole numbers", ctx, "write it like `1..3`")
    lo = conv.number(lo_n, num_tp, markers, ctx)
    hi = conv.number(hi_n, num_tp, markers, ctx)
    if lo is FAIL or hi is FAIL:
        return FAIL
    if lo > hi:
        ctx.diags.error(
            value.pos,
            f"the range {lo_n.text}..{hi_n.text} is empty",
            "write the smaller bound first",
            code="range-order",
        )
        return FAIL
    return Span(lo=float(lo), hi=float(hi), integer=num_tp is int)


def choice(conv: Converter, value: s.Choice, elem: Any, markers: list[Any], ctx: Ctx) -> Any:
    items = value.items.items
    if not items:
        ctx.diags.error(value.pos, "an empty choice", "list at least one option", code="choice-empty")
        return FAIL
    options: list[Any] = []
    weights: list[float] = []
    failed = False  # every option is checked, so that all the unknown ones are reported at once
    for item in items:
        opt = conv.convert(item.value, elem, markers, ctx)
        if item.weight is None:
            w: Any = 1.0
        else:
            w = conv.number(
                item.weight,
                float,
                [at.Ge(0), Unit("fraction")],
                Ctx(f"the weight of a choice in {ctx.what}", ctx.deps, ctx.diags),
            )
        if opt is FAIL or w is FAIL:
            failed = True
            continue
        if opt in options:
            ctx.diags.error(item.pos, f"option {opt!r} appears twice in the choice", code="choice-duplicate")
            return FAIL
        options.append(opt)
        weights.append(float(w))
    if failed:
        return FAIL
    total = sum(weights)
    if total <= 0:
        ctx.diags.error(
            value.pos,
            f"{ctx.what}: the weights of the choice add up to 0",
            "give at least one option a weight above 0",
            code="choice-weights",
        )
        return FAIL
    normalised = tuple(w / total for w in weights)
    if abs(total - 1.0) > 1e-6 and _written_as_shares(items, weights):
        shown = ", ".join(f"{_label(o)}: {w:.3g}" for o, w in zip(options, normalised, strict=True))
        ctx.diags.warning(
            value.pos,
            f"{ctx.what}: the weights of the choice add up to {total:g}, not 1; they are taken as {shown}",
            "write shares that add up to 1 (or 100%), or ratios such as `3: 1`; or silence this with "
            "`# ecgspec: ignore[choice-weights]`",
            code="choice-weights",
        )
    return Choice(options=tuple(options), weights=normalised)


def _written_as_shares(items: Any, weights: list[float]) -> bool:
    """Whether every weight is written as a share (a percentage, or a fraction below 1), so that
    the writer meant them to add up to 1; ratios (`3: 1`, `1: 2`) are normalised as documented."""
    written = [(item.weight, w) for item, w in zip(items, weights, strict=True)]
    return all(weight is not None and (getattr(weight, "unit", None) == "%" or 0 <= w < 1) for weight, w in written)


def _label(option: Any) -> str:
    return option if isinstance(option, str) else repr(option)
