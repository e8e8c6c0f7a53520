"""Property: whatever a spec's template says, rendering it gives text or a located template
error, within the render budget (ecgspec.templating). Never an internal error, never a hang.

Templates come from a small grammar: arithmetic (`*` and `**` on strings and integers, `+`, `~`,
`%`, `//`), filters, `range` loops nested one to three deep, macros (some recursive, some without
an end), string and number literals (some huge). A fixed seed runs a few hundred cases in CI;
ECGSPEC_TEMPLATE_FUZZ=N explores N fresh random cases instead, to hunt for new bugs.
"""

from __future__ import annotations

import os
import random
import time

import pytest
from jinja2 import TemplateError

from ecgspec.render.header import HeaderTemplateError, render_lines
from ecgspec.targets.prompts import make_environment
from ecgspec.templating import MAX_OUTPUT, RENDER_SECONDS

_EXPLORE = int(os.environ.get("ECGSPEC_TEMPLATE_FUZZ", "0"))
CASES = _EXPLORE or 300
SEED = random.randrange(2**32) if _EXPLORE else 20240516
SLACK = 3.0  # seconds past the budget a slow, shared CI machine may take: a budget check, not a benchmark

NUMBERS = ["0", "1", "2", "3", "7", "10", "-1", "1000", "100000", "10**9", "10**100", "2**64", "1.5", "1e308"]
STRINGS = ["''", "'a'", "'xy'", "'%s'", "'%d%%'", "'{}'", "'{:>9}'", "'a b c'", "'\\t'", "'é'"]
FILTERS = [
    "length",
    "upper",
    "string",
    "list",
    "first",
    "last",
    "reverse",
    "int",
    "sum",
    "wordcount",
    "round",
    "center({n})",
    "indent({n})",
    "truncate({n})",
    "join({s})",
    "replace({s}, {s})",
    "format({e})",
    "default({s})",
    "batch({n})|list",
    "map('string')|join",
]
METHODS = ["ljust({n})", "center({n})", "zfill({n})", "replace({s}, {s})", "format({e})", "split()", "upper()"]


class Grammar:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.names = ["n", "s", "record.id"]
        self.macros: list[str] = []

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def number(self) -> str:
        return self.pick(NUMBERS[:8]) if self.rng.random() < 0.7 else self.pick(NUMBERS)

    def leaf(self, kind: str) -> str:
        if kind == "num":
            return self.pick([self.number(), "n", *[v for v in self.names if v.startswith("i")]])
        if kind == "str":
            return self.pick([self.pick(STRINGS), "s", "record.id"])
        return self.pick([self.number(), self.pick(STRINGS), self.pick(self.names)])

    def expr(self, depth: int = 0, kind: str = "any") -> str:
        """An expression, mostly of the `kind` asked for ("num", "str" or "any"), sometimes not."""
        r = self.rng.random()
        if depth > 3 or r < 0.25:
            return self.leaf(kind)
        num = lambda: self.expr(depth + 1, "num")  # noqa: E731
        text = lambda: self.expr(depth + 1, "str")  # noqa: E731
        if r < 0.55:
            if kind == "num" or (kind == "any" and self.rng.random() < 0.5):
                return self.pick(
                    [
                        f"({num()} * {num()})",
                        f"({num()} ** {num()})",
                        f"({num()} + {num()})",
                        f"({num()} // {num()})",
                        f"({num()} - {num()})",
                    ]
                )
            return self.pick(
                [
                    f"({text()} * {num()})",
                    f"({num()} * {text()})",
                    f"({text()} + {text()})",
                    f"({text()} ~ {self.expr(depth + 1)})",
                    f"({text()} % {self.expr(depth + 1)})",
                ]
            )
        if r < 0.75:
            f = self.pick(FILTERS).format(n=self.number(), s=self.pick(STRINGS), e=self.expr(depth + 1))
            return f"({self.expr(depth + 1)})|{f}"
        if r < 0.85:
            m = self.pick(METHODS).format(n=self.number(), s=self.pick(STRINGS), e=self.expr(depth + 1))
            return f"{self.pick(STRINGS)}.{m}"
        if r < 0.92 and self.macros:
            return f"{self.pick(self.macros)}({self.pick(['0', '1', '2', num()])})"
        return f"[{self.expr(depth + 1)}, {self.expr(depth + 1)}]"

    def body(self, depth: int, loops: int) -> str:
        parts = []
        for _ in range(self.rng.randint(1, 3)):
            r = self.rng.random()
            if r < 0.3 and loops < 3:
                var = f"i{loops}"
                self.names.append(var)
                inner = self.body(depth + 1, loops + 1)
                self.names.remove(var)
                parts.append(f"{{% for {var} in range({self.number()}) %}}{inner}{{% endfor %}}")
            elif r < 0.45 and depth < 3:
                parts.append(f"{{% if {self.expr()} %}}{self.body(depth + 1, loops)}{{% else %}}x{{% endif %}}")
            elif r < 0.55:
                parts.append(f"{{% set v{depth} = {self.expr()} %}}{{{{ v{depth} }}}}")
            elif r < 0.65:
                parts.append(self.pick(["text ", "\n", "A: ", "{# a comment #}"]))
            else:
                parts.append(f"{{{{ {self.expr()} }}}}")
        return "".join(parts)

    def template(self) -> str:
        out = []
        if self.rng.random() < 0.4:
            name = f"m{self.rng.randint(0, 9)}"
            ends = ["{% if k > 0 %}{{ NAME(k - 1) }}{% endif %}"] * 6 + ["{{ NAME(k + 1) }}", "{{ NAME(k) ~ NAME(k) }}"]
            end = self.pick(ends)
            out.append(f"{{% macro {name}(k) %}}{self.pick(STRINGS)[1:-1]}{end.replace('NAME', name)}{{% endmacro %}}")
            self.macros.append(name)
            out.append(f"{{{{ {name}({self.pick(['0', '1', '3', '20', '50', self.number()])}) }}}}")
        out.append(self.body(0, 0))
        return "".join(out)


def _render(source: str) -> tuple[str, object]:
    """('text', str) or ('error', the TemplateError), for the prompt and the header sandboxes."""
    env = make_environment(None)
    try:
        return "text", env.from_string(source).render(n=3, s="ab", record={"id": "r1"})
    except TemplateError as exc:
        return "error", exc


def _cases() -> list[tuple[int, str]]:
    return [(i, Grammar(random.Random(f"{SEED}-{i}")).template()) for i in range(CASES)]


@pytest.mark.parametrize("chunk", range(4))
def test_a_random_template_renders_or_fails_located_within_its_budget(chunk: int) -> None:
    for i, source in _cases()[chunk::4]:
        start = time.monotonic()
        kind, value = _render(source)
        took = time.monotonic() - start
        what = f"case {i} (seed {SEED}): {source!r}"
        assert took < RENDER_SECONDS + SLACK, f"{what} took {took:.1f} s"
        if kind == "text":
            assert isinstance(value, str) and len(value) <= MAX_OUTPUT, what
        else:
            assert getattr(value, "lineno", None), f"{what}: {type(value).__name__} without a line: {value}"


def test_a_random_header_renders_or_fails_as_a_header_template_error() -> None:
    for i, source in _cases()[: max(CASES // 4, 1)]:
        start = time.monotonic()
        try:
            render_lines(source, {"n": 3, "s": "ab", "record": {"id": "r1"}}, what="paper 'fuzz' header")
        except HeaderTemplateError as exc:
            assert str(exc).startswith("paper 'fuzz' header template"), f"case {i}: {exc}"
        took = time.monotonic() - start
        assert took < RENDER_SECONDS + SLACK, f"case {i} (seed {SEED}): {source!r} took {took:.1f} s"
