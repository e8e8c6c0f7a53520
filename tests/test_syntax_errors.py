"""The syntax-error rules table (ecgspec/syntax_errors.py): no rule is dead.

Every rule must word at least one broken-spec golden (tests/broken/*.ecg) or one of the small
cases below; a rule that nothing reaches is found here, not by a reader wondering why it is
there. The wording itself is pinned by the goldens (tests/test_broken_specs.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ecgspec import syntax_errors as se
from ecgspec.errors import Diagnostics
from ecgspec.parser import parse_module, parse_value

BROKEN = Path(__file__).resolve().parent / "broken"

# Rules that no golden reaches, each with a small spec that it words (its first syntax error).
SMALL: dict[str, str] = {
    "dash-in-name": "paper my-paper {\n    speed = 50 mm/s\n}\n",
    "char": "paper fast {\n    speed = 50 mm/s $\n}\n",
    "never-closed": "layout tall {\n    leads = [I, II\n",
    "eof": "let x =",
    "bracket-not-closed": "layout tall {\n    leads = [I, II\n}\n",
}


@pytest.fixture
def fired(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the rules that word the syntax errors met while the test runs."""
    names: list[str] = []
    match = se.match

    def recording(ctx: se.SyntaxContext) -> se.Rule:
        rule = match(ctx)
        names.append(rule.name)
        return rule

    monkeypatch.setattr(se, "match", recording)
    yield names


def test_every_rule_is_reached_by_a_golden_or_a_small_case(fired: list[str]) -> None:
    for case in sorted(BROKEN.glob("*.ecg")):
        parse_module(case.read_bytes().decode("utf-8", "replace"), case.name, Diagnostics())
    by_goldens = set(fired)
    for text in SMALL.values():
        parse_module(text, "small.ecg", Diagnostics())
    dead = [r.name for r in se.RULES if r.name not in set(fired)]
    assert not dead, f"rules that no golden or small case reaches: {dead}"
    needless = sorted(set(SMALL) & by_goldens)
    assert not needless, f"small cases for rules a golden already reaches: {needless}"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_small_case_is_worded_by_its_rule(name: str, fired: list[str]) -> None:
    diags = Diagnostics()
    parse_module(SMALL[name], "small.ecg", diags)
    assert fired[:1] == [name], [d.message for d in diags.items]


def test_rule_names_are_unique_and_each_kind_ends_in_a_catch_all() -> None:
    names = [r.name for r in se.RULES]
    assert len(names) == len(set(names))
    for kind in ("depth", "char", "eof", "token"):
        last = [r for r in se.RULES if r.kind == kind][-1]
        assert last.when(se.SyntaxContext(kind)), f"the last {kind} rule, {last.name}, is not a catch-all"


def test_a_value_on_the_command_line_is_worded_by_the_table(fired: list[str]) -> None:
    diags = Diagnostics()
    assert parse_value("", "-D x=", diags) is None
    assert fired == ["eof"]
    assert [(d.message, d.hint) for d in diags.items] == [
        ("unexpected end of file", "expected a value, ';' or the end of the line")
    ]


def test_expected_words() -> None:
    assert se.expected_words(frozenset({"NUMBER", "STRING", "NAME", "LSQB", "CHOICE", "EQ"})) == "a value or '='"
    assert se.expected_words(frozenset({"RBRACE", "_NL", "SEMI"})) == "'}', ';' or the end of the line"
    assert se.expected_words(frozenset({"WS"})) == ""
