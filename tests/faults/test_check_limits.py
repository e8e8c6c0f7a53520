"""`check` on inputs built to be slow or to crash it (issue 16): long `extends` and `let` chains,
cycles in them, a multi-megabyte string literal, and nesting as deep as the parser accepts.

Tests assert correctness, never wall-clock time; the sizes are chosen so that a quadratic
version would take minutes and hit the timeout. bench/check.py prints the timings.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ecgspec import parser
from ecgspec.explain import explain_text
from ecgspec.formatter import format_module
from ecgspec.syntax_errors import MAX_NESTING
from tests.helpers import REPO, check_text, messages

EXTENDS = 2000
LETS = 10_000


def extends_chain(n: int) -> str:
    out = ["paper p0 {\n    speed = 25 mm/s\n    gain = 10 mm/mV\n}\n"]
    out += [f"paper p{i} extends p{i - 1} {{\n    dpi = {100 + i % 50} dpi\n}}\n" for i in range(1, n)]
    return "".join(out)


def let_chain(n: int) -> str:
    out = ["let c0 = 25 mm/s\n"]
    out += [f"let c{i} = c{i - 1}\n" for i in range(1, n)]
    return "".join(out) + f"paper p {{\n    speed = c{n - 1}\n}}\n"


@pytest.mark.timeout(60)
def test_a_long_extends_chain_checks_and_inherits(tmp_path: Path) -> None:
    program = check_text(tmp_path, extends_chain(EXTENDS))
    assert program.ok, program.diagnostics[:3]
    last = program.get("paper", f"p{EXTENDS - 1}")
    assert last.speed == program.get("paper", "p0").speed
    origin = program.origins[("paper", f"p{EXTENDS - 1}")]["speed"]
    assert (origin.how, origin.via) == ("inherited", "paper p0")
    assert len(program.spec_hash()) == 64


@pytest.mark.timeout(60)
def test_a_long_extends_cycle_is_one_located_error(tmp_path: Path) -> None:
    n = EXTENDS
    text = "".join(f"paper p{i} extends p{(i + 1) % n} {{\n    dpi = 100 dpi\n}}\n" for i in range(n))
    program = check_text(tmp_path, text + "paper lead extends p5 {\n}\n")
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["extends-cycle"]
    assert (errors[0].pos.line, errors[0].pos.col) == (1, 18)  # `p1` in `paper p0 extends p1`
    assert errors[0].message.startswith("inheritance cycle: p0 → p1 → p2")
    assert errors[0].message.endswith(f"p{n - 1} → p0")


def test_a_duplicate_setting_in_a_base_is_reported_once(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        paper base {
            speed = 25 mm/s
            speed = 50 mm/s
        }
        paper a extends base {
        }
        paper b extends a {
        }
        """
    )
    program = check_text(tmp_path, text)
    assert messages(program) == ["`speed` is set twice in paper 'base'"]


@pytest.mark.timeout(60)
def test_a_long_let_chain_checks_without_recursion(tmp_path: Path) -> None:
    program = check_text(tmp_path, let_chain(LETS))
    assert program.ok, program.diagnostics[:3]
    assert messages(program, "warning") == []  # every constant of the chain counts as used
    assert program.get("paper", "p").speed == 25
    via = program.origins[("paper", "p")]["speed"].via
    assert via is not None
    assert via.startswith(f"let c{LETS - 1} → let c{LETS - 2} → ") and via.endswith("→ let c0")


@pytest.mark.timeout(60)
def test_a_define_in_the_middle_of_a_let_chain_wins(tmp_path: Path) -> None:
    program = check_text(tmp_path, let_chain(LETS), defines=["c5000=50 mm/s"])
    assert program.ok, program.diagnostics[:3]
    assert program.get("paper", "p").speed == 50
    via = program.origins[("paper", "p")]["speed"].via
    assert via is not None and via.endswith("let c5001 → -D c5000=50 mm/s")


def test_a_mistake_at_the_end_of_a_let_chain_is_reported_at_the_use(tmp_path: Path) -> None:
    text = 'let a = b\nlet b = c\nlet c = "fast"\npaper p {\n    speed = a\n}\n'
    program = check_text(tmp_path, text)
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].pos.line == 5
    assert errors[0].hint is not None and errors[0].hint.startswith("through let a (line 3)")


@pytest.mark.timeout(60)
def test_a_long_ring_of_constants_is_one_located_error(tmp_path: Path) -> None:
    ring = "".join(f"let r{i} = r{(i + 1) % LETS}\n" for i in range(LETS))
    program = check_text(tmp_path, ring + "paper p {\n    speed = r0\n}\n")
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].code == "let-cycle" and errors[0].pos.line == 1
    assert errors[0].message == (
        "constants refer to each other in a cycle: r0 → r1 → r2 → r3 → r4 → … 9,991 more … → r9996 → r9997 → "
        "r9998 → r9999 → r0"
    )


@pytest.mark.timeout(60)
def test_a_long_lead_in_to_a_let_cycle_reports_the_cycle(tmp_path: Path) -> None:
    lead = "".join(f"let l{i} = l{i + 1}\n" for i in range(LETS)) + f"let l{LETS} = ring_a\n"
    text = lead + "let ring_a = ring_b\nlet ring_b = ring_a\npaper p {\n    speed = l0\n}\n"
    program = check_text(tmp_path, text)
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert [d.message for d in errors] == ["constants refer to each other in a cycle: ring_a → ring_b → ring_a"]
    assert errors[0].pos.line == LETS + 2  # the value of `let ring_a`, as before chains were flattened


def _peak_rss_mb(spec: Path) -> float:
    """Peak RSS in MB of a fresh process that checks `spec` (Linux reports KiB)."""
    code = (
        "import resource, sys\nfrom pathlib import Path\nfrom ecgspec.program import load\n"
        "p = load([Path(sys.argv[1])], root=Path(sys.argv[1]).parent)\n"
        "assert not [d for d in p.diagnostics if d.severity == 'error'], p.diagnostics\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=REPO, check=True, timeout=120
    )
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss units differ")
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param('"' + "a" * 4_000_000 + '"', id="plain"),
        pytest.param('"' + "\\n" * 1_900_000 + '"', id="escapes"),
        pytest.param('"""' + 'a"' * 1_900_000 + 'b"""', id="long-quotes"),
    ],
)
def test_a_4_mb_string_literal_takes_memory_linear_in_its_size(tmp_path: Path, body: str) -> None:
    small = tmp_path / "small.ecg"
    small.write_text('let big = "x"\n')
    big = tmp_path / "big.ecg"
    big.write_text(f"let big = {body}\n")
    size_mb = big.stat().st_size / 1e6
    growth = _peak_rss_mb(big) - _peak_rss_mb(small)
    assert growth < 10 * size_mb, f"{growth:.0f} MB more to check {size_mb:.1f} MB (it was 2 GB for 4 MB)"


STRING_SAMPLES = [
    '""',
    '"a"',
    '"a\\"b"',
    '"a\\\\"b"',
    '"\\\\"',
    '"a\\nb"',
    '"abc\\"',
    '"ab\nc"',
    '"""',
    '"""x"""',
    '"""a"b""c"""',
    '"""a""""',
    '"""a\\"""b"""',
    '"""a\nb"""',
    '"""\\\\"""',
    '"""unterminated""',
    '"é\\u"',
]


# The string terminals as first written: a group repeated once per character (2 GB for a 4 MB literal).
# grammar.lark's unrolled, possessive forms must match exactly the same texts.
PER_CHARACTER = {
    "STRING": r'"(?!"")([^"\\\n]|\\.)*"',
    "LONG_STRING": r'"""([^"\\]|\\[\s\S]|"(?!""))*"""',
}


@pytest.mark.parametrize("name", ["STRING", "LONG_STRING"])
def test_the_string_terminals_match_what_the_per_character_forms_matched(name: str) -> None:
    line = next(x for x in parser.grammar_text().splitlines() if x.startswith(name + ":"))
    fast_re = re.compile(line.split("/", 1)[1].rsplit("/", 1)[0])
    slow_re = re.compile(PER_CHARACTER[name])
    for sample in STRING_SAMPLES:
        for text in (sample, sample + '"', sample + ' x"', sample + '""'):
            a, b = slow_re.match(text), fast_re.match(text)
            assert (a and a.group(0)) == (b and b.group(0)), text


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_the_deepest_nesting_the_parser_accepts_survives_every_later_walk(tmp_path: Path) -> None:
    deepest = MAX_NESTING - 1  # the declaration's own braces count too
    text = f"let deep = {_nested(MAX_NESTING)}\npaper p {{\n    size = {_nested(deepest)}\n    one {{ two {{ three }} }}\n}}\npaper q {{\n    speed = 25 mm/s\n}}\n"
    program = check_text(tmp_path, text)
    assert all(d.code != "syntax-depth" for d in program.diagnostics)
    assert any(d.code == "type" for d in program.diagnostics)  # a located error, not a crash
    module = next(iter(program.scope.modules.values()))
    assert format_module(module).count("[") == MAX_NESTING + deepest
    # explain walks IR values, whose depth their types bound; it runs on the declaration that checked.
    assert "speed" in explain_text(program, ("paper", "q"))


def test_nesting_past_the_limit_is_a_located_syntax_error(tmp_path: Path) -> None:
    program = check_text(tmp_path, f"paper p {{\n    size = {_nested(10 * MAX_NESTING)}\n}}\n")
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["syntax-depth"] and errors[0].pos.line == 2
