"""The TextMate grammar in editors/ (VS Code, Sublime Text, ...) for .ecg files.

Editors run the grammar with Oniguruma; the grammar keeps to regexes that Python's `re` reads
the same way, so these tests can run each rule's regex, and a small TextMate tokeniser below
(earliest match wins, ties go to the first rule, a begin/end rule's end is tried first) can
check the scopes of whole lines. The lexical rules are also compared with the compiler's own
terminals in ecgspec/grammar.lark, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import plistlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXTMATE = ROOT / "editors" / "textmate" / "ecg.tmLanguage.json"
TEXTMATE_PLIST = ROOT / "editors" / "textmate" / "ecg.tmLanguage"
VSCODE = ROOT / "editors" / "vscode"
LARK = ROOT / "ecgspec" / "grammar.lark"

UNITS = ["mm/mV", "mm/s", "mm", "cm", "in", "px", "dpi", "ms", "s", "Hz", "bpm", "mV", "µV", "uV", "deg", "%"]


@cache
def grammar() -> dict:
    return json.loads(TEXTMATE.read_text(encoding="utf-8"))


def rule(name: str) -> dict:
    return grammar()["repository"][name]


def regex(name: str, key: str = "match") -> re.Pattern:
    return re.compile(rule(name)[key])


def _walk(node, path=""):
    """Every (path, key, value) of the grammar, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _regexes() -> list[tuple[str, str]]:
    return [
        (f"{path}/{key}", value)
        for path, key, value in _walk(grammar())
        if key in ("match", "begin", "end", "while") and isinstance(value, str)
    ]


def lark_terminal(name: str) -> re.Pattern:
    """The regex of a terminal of the compiler's grammar (`NAME: /.../` or `NAME.2: /.../`)."""
    m = re.search(rf"^{name}(?:\.\d+)?:\s*/(.*)/\s*$", LARK.read_text(encoding="utf-8"), re.M)
    assert m, f"terminal {name} is gone from {LARK}: update editors/textmate/ecg.tmLanguage.json"
    return re.compile(m.group(1))


# --- a small TextMate tokeniser --------------------------------------------------------------


class Tokeniser:
    """Enough of vscode-textmate to tokenise .ecg text with this grammar, line by line."""

    def __init__(self, g: dict):
        self.g = g

    def _expand(self, patterns: list[dict]) -> list[dict]:
        out: list[dict] = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                target = self.g if ref in ("$self", "$base") else self.g["repository"][ref[1:]]
                out += (
                    self._expand(target["patterns"]) if ("match" not in target and "begin" not in target) else [target]
                )
            else:
                out.append(p)
        return out

    @staticmethod
    def _paint(scopes: list, m: re.Match, base: list[str], name, captures: dict) -> None:
        for i in range(m.start(), m.end()):
            s = base + (name.split() if name else [])
            for group in sorted(captures, key=int):
                g = int(group)
                if g <= (m.re.groups) and m.start(g) != -1 and m.start(g) <= i < m.end(g):
                    s = s + captures[group].get("name", "").split()
            scopes[i] = s

    def tokenise(self, text: str) -> list[list[tuple[str, tuple[str, ...]]]]:
        stack = [{"rule": self.g, "outer": [], "content": [self.g["scopeName"]]}]
        lines = []
        for raw in text.split("\n"):
            line = raw + "\n"
            scopes: list = [None] * len(line)
            pos = 0
            while pos <= len(line):
                frame = stack[-1]
                cands = [("end", re.compile(frame["rule"]["end"]), frame["rule"])] if "end" in frame["rule"] else []
                cands += [
                    ("rule", re.compile(p["match"] if "match" in p else p["begin"]), p)
                    for p in self._expand(frame["rule"].get("patterns", []))
                ]
                best = None
                for kind, rx, r in cands:
                    m = rx.search(line, pos)
                    if m and (best is None or m.start() < best[1].start()):
                        best = (kind, m, r)
                if best is None:
                    for i in range(pos, len(line)):
                        scopes[i] = frame["content"]
                    break
                kind, m, r = best
                for i in range(pos, m.start()):
                    scopes[i] = frame["content"]
                depth = len(stack)
                if kind == "end":
                    self._paint(scopes, m, frame["outer"], r.get("name"), r.get("endCaptures", r.get("captures", {})))
                    stack.pop()
                elif "match" in r:
                    self._paint(scopes, m, frame["content"], r.get("name"), r.get("captures", {}))
                else:
                    self._paint(
                        scopes, m, frame["content"], r.get("name"), r.get("beginCaptures", r.get("captures", {}))
                    )
                    outer = frame["content"]
                    stack.append(
                        {"rule": r, "outer": outer, "content": outer + (r["name"].split() if "name" in r else [])}
                    )
                if m.end() == pos and len(stack) >= depth:
                    raise AssertionError(f"no progress at {pos} in {line!r} with {r}")
                pos = m.end()
                if pos >= len(line) and len(stack) >= depth:
                    break
            tokens: list[tuple[str, tuple[str, ...]]] = []
            for ch, s in zip(raw, scopes, strict=False):
                s = tuple(s or ())
                if tokens and tokens[-1][1] == s:
                    tokens[-1] = (tokens[-1][0] + ch, s)
                else:
                    tokens.append((ch, s))
            lines.append(tokens)
        self.final_depth = len(stack)
        return lines


def tokens(text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [t for line in Tokeniser(grammar()).tokenise(text) for t in line]


def scopes_of(text: str, word: str, nth: int = 0) -> tuple[str, ...]:
    """The scopes of the nth token of `text` that reads exactly `word`."""
    found = [s for t, s in tokens(text) if t == word]
    assert len(found) > nth, f"{word!r} is not one token in {tokens(text)}"
    return found[nth]


def in_block(line: str) -> str:
    return "distort scanned {\n" + line + "\n}\n"


# --- the files -------------------------------------------------------------------------------


def test_grammar_is_json_for_source_ecg_and_the_ecg_file_type():
    g = grammar()
    assert g["scopeName"] == "source.ecg"
    assert g["fileTypes"] == ["ecg"]
    assert g["patterns"] and g["repository"]


def test_every_include_names_a_rule_of_the_repository():
    names = set(grammar()["repository"])
    includes = [v for _, k, v in _walk(grammar()) if k == "include"]
    assert includes
    for inc in includes:
        assert inc in ("$self", "$base") or (inc.startswith("#") and inc[1:] in names), inc


@pytest.mark.parametrize("where,pattern", _regexes(), ids=[w for w, _ in _regexes()])
def test_every_regex_compiles_with_python_re(where, pattern):
    re.compile(pattern)
    # Oniguruma-only spellings that Python would read differently or not at all.
    assert not re.search(r"\\[GhHAzZ]|\(\?<[A-Za-z]|\\p\{", pattern), where


def test_every_scope_name_ends_with_its_language():
    names = [n for path, k, v in _walk(grammar()) if k == "name" and path and isinstance(v, str) for n in v.split()]
    assert names
    for n in names:
        assert n.endswith((".ecg", ".jinja")), n


def test_vscode_copy_of_the_grammar_is_identical_to_the_textmate_one():
    assert (VSCODE / "syntaxes" / "ecg.tmLanguage.json").read_bytes() == TEXTMATE.read_bytes()


def test_plist_copy_for_sublime_and_textmate_holds_the_same_grammar():
    with TEXTMATE_PLIST.open("rb") as f:
        assert plistlib.load(f) == grammar()


def test_vscode_extension_contributes_the_language_and_its_grammar():
    pkg = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    (lang,) = pkg["contributes"]["languages"]
    (gram,) = pkg["contributes"]["grammars"]
    assert ".ecg" in lang["extensions"]
    assert gram["language"] == lang["id"]
    assert gram["scopeName"] == grammar()["scopeName"]
    assert (VSCODE / gram["path"]).is_file()
    assert (VSCODE / lang["configuration"]).is_file()
    assert pkg["engines"]["vscode"]


def test_language_configuration_comments_with_hash_and_closes_brackets_and_quotes():
    conf = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "#"
    assert {tuple(b) for b in conf["brackets"]} == {("{", "}"), ("[", "]"), ("(", ")")}
    pairs = {(p["open"], p["close"]) for p in conf["autoClosingPairs"]}
    assert {("{", "}"), ("[", "]"), ("(", ")"), ('"', '"')} <= pairs


def test_sublime_comment_settings_toggle_hash_comments_in_ecg_files():
    with (ROOT / "editors" / "textmate" / "Comments.tmPreferences").open("rb") as f:
        prefs = plistlib.load(f)
    assert prefs["scope"] == grammar()["scopeName"]
    assert {"name": "TM_COMMENT_START", "value": "# "} in prefs["settings"]["shellVariables"]


# --- single rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["#f6b7b7", "#fff", "#FFFFFF80", "#e06666,", "#fff)"])
def test_hex_colour_is_a_colour_and_not_a_comment(text):
    m = regex("colour").match(text)
    assert m and m.group(0) == text.rstrip(",)")
    assert not regex("comment").search(text)


@pytest.mark.parametrize(
    "text", ["# note", "#", "#ff", "#ffff", "#fffffff", "#abcdefabc", "#fffg", "#abc_x", "## heading", "#-- rule"]
)
def test_hash_not_followed_by_3_6_or_8_hex_digits_starts_a_comment(text):
    assert not regex("colour").match(text)
    m = regex("comment").match(text)
    assert m and m.group(0) == text


def test_comment_runs_to_the_end_of_the_line():
    # Editors match one line at a time, its newline included.
    m = regex("comment").search("dpi = 200   # scanner default\n")
    assert m and m.group(0) == "# scanner default"


@pytest.mark.parametrize(
    "text,number,unit",
    [
        ("25 mm/s", "25", "mm/s"),
        ("10 mm/mV", "10", "mm/mV"),
        ("2.5 s", "2.5", "s"),
        ("-3 deg", "-3", "deg"),
        ("200 dpi", "200", "dpi"),
        ("30%", "30", "%"),
        ("500 Hz", "500", "Hz"),
        ("60 bpm", "60", "bpm"),
        ("1 mV", "1", "mV"),
        ("50 uV", "50", "uV"),
        ("50 µV", "50", "µV"),
        ("297 mm", "297", "mm"),
        ("8.5 in", "8.5", "in"),
        ("2 px", "2", "px"),
        ("1e3 ms", "1e3", "ms"),
        ("2 cm", "2", "cm"),
        ("+0.5\tmm", "+0.5", "mm"),
    ],
)
def test_number_and_its_unit_are_one_match(text, number, unit):
    m = regex("number").match(text)
    assert m and m.group(0) == text
    assert (m.group(1), m.group(2)) == (number, unit)


@pytest.mark.parametrize(
    "text,number", [("7", "7"), ("0.5", "0.5"), ("2 speed", "2"), ("3 mms", "3"), ("5 mm/x", "5"), ("4 sec", "4")]
)
def test_number_without_a_known_unit_stops_at_the_number(text, number):
    m = regex("number").match(text)
    assert m and m.group(0) == number and m.group(2) is None


def test_digit_inside_a_name_is_not_a_number():
    assert not regex("number").search("V1")
    assert not regex("number").search("ptb_xl2")


SAMPLES = [
    "25 mm/s",
    "10 mm/mV",
    "2.5 s",
    "-3 deg",
    "+3 deg",
    "30%",
    "50 µV",
    "50 μV",
    "50 uV",
    "1e-3 s",
    "2 speed",
    "3 mms",
    "5 mm/x",
    "4 sec",
    "7",
    "1..3",
    "1.5..2",
    "60bpm",
    "12 in",
    "12 inch",
    "3 s,",
    "3 s)",
    "2 % ",
    "10 mm/mV]",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_number_rule_agrees_with_the_compiler_number_terminal(text):
    ours = regex("number").match(text)
    theirs = lark_terminal("NUMBER").match(text)
    assert (ours and ours.group(0)) == (theirs and theirs.group(0))


@pytest.mark.parametrize(
    "text", ["#fff", "#f6b7b7", "#f6b7b7aa", "#ffff", "#ff", "#fffg", "# x", "#fff;", "#12345678 "]
)
def test_colour_and_comment_rules_agree_with_the_compiler_terminals(text):
    colour = lark_terminal("COLOUR").match(text)
    ours = regex("colour").match(text)
    assert (ours and ours.group(0)) == (colour and colour.group(0))
    if not colour:
        assert regex("comment").match(text).group(0) == lark_terminal("COMMENT").match(text).group(0)


@pytest.mark.parametrize("text", ['"plain"', '"say \\"hi\\""', '"a\\\\"', '""', '"ptbxl_database.csv"'])
def test_string_matches_what_the_compiler_reads_as_one_string(text):
    assert lark_terminal("STRING").match(text).group(0) == text
    toks = tokens(in_block(f"    x = {text}"))
    body = "".join(t for t, s in toks if "string.quoted.double.ecg" in s)
    assert body == text


# --- whole lines -----------------------------------------------------------------------------


def test_declaration_header_highlights_kind_name_and_base():
    src = "paper aged extends standard { background = #f2e6c4 }"
    assert "storage.type.declaration.ecg" in scopes_of(src, "paper")
    assert "entity.name.type.ecg" in scopes_of(src, "aged")
    assert "storage.modifier.extends.ecg" in scopes_of(src, "extends")
    assert "entity.other.inherited-class.ecg" in scopes_of(src, "standard")
    assert "support.type.property-name.ecg" in scopes_of(src, "background")
    assert "constant.other.color.rgb-value.hex.ecg" in scopes_of(src, "f2e6c4")


def test_quoted_declaration_name_and_header_words_from_and_version():
    src = 'layout "4x3" { column = 2.5 s }\nsource ptbxl from wfdb {\n}\nsuite b version "1.0" {\n}'
    assert {"string.quoted.double.ecg", "entity.name.type.ecg"} <= set(scopes_of(src, '"4x3"'))
    assert "keyword.other.from.ecg" in scopes_of(src, "from")
    assert "support.type.adapter.ecg" in scopes_of(src, "wfdb")
    assert "keyword.other.version.ecg" in scopes_of(src, "version")


def test_unknown_kind_at_top_level_is_not_highlighted_as_a_kind():
    src = "papr standard {\n}"
    first, scopes = tokens(src)[0]
    assert first.strip() == "papr" and "storage.type.declaration.ecg" not in scopes
    assert "entity.name.type.ecg" in scopes_of(src, "standard")


def test_import_and_let_are_keywords():
    src = 'import "papers.ecg"\nlet seed = 7'
    assert "keyword.control.import.ecg" in scopes_of(src, "import")
    assert "keyword.other.let.ecg" in scopes_of(src, "let")
    assert "variable.other.constant.ecg" in scopes_of(src, "seed")
    assert "constant.numeric.decimal.ecg" in scopes_of(src, "7")


def test_step_with_a_distribution_and_a_probability():
    src = in_block("    rotate  uniform(-3 deg, 3 deg)        p = 0.5")
    assert "entity.name.function.statement.ecg" in scopes_of(src, "rotate")
    assert "support.function.distribution.ecg" in scopes_of(src, "uniform")
    assert "keyword.other.unit.ecg" in scopes_of(src, "deg")
    assert "constant.numeric.decimal.ecg" in scopes_of(src, "-3")
    assert "variable.parameter.ecg" in scopes_of(src, "p")
    assert "keyword.operator.assignment.ecg" in scopes_of(src, "=")
    assert "meta.function-call.ecg" not in scopes_of(src, "p")


def test_range_is_a_number_an_operator_and_a_number_with_its_unit():
    src = in_block("    rotate angle -3..3 deg p = 0.5")
    toks = [(t, s) for t, s in tokens(src) if t in ("-3", "..", "3", "deg")]
    assert [t for t, _ in toks] == ["-3", "..", "3", "deg"]
    assert "constant.numeric.decimal.ecg" in toks[0][1]
    assert "keyword.operator.range.ecg" in toks[1][1]
    assert "keyword.other.unit.ecg" in toks[3][1]


def test_kind_word_inside_a_block_is_a_step_not_a_declaration():
    src = "suite ecgbench {\n    task ptbxl_super { from ptbxl split test }\n}"
    assert "entity.name.function.statement.ecg" in scopes_of(src, "task")
    assert "storage.type.declaration.ecg" not in scopes_of(src, "task")
    assert "entity.name.function.statement.ecg" in scopes_of(src, "from")


def test_lead_matrix_rows_are_separated_by_a_pipe_and_leads_are_constants():
    src = in_block("    leads = [I, aVR, V1, V4 | II, aVL, V2, V5]")
    assert "punctuation.separator.row.ecg" in scopes_of(src, "|")
    for lead in ("I", "aVR", "V1", "II", "aVL", "V5"):
        assert "constant.language.lead.ecg" in scopes_of(src, lead), lead


def test_list_spanning_lines_holds_values_not_steps():
    src = in_block("    leads = [I, aVR,\n             II, aVL]")
    assert "constant.language.lead.ecg" in scopes_of(src, "II")
    assert "entity.name.function.statement.ecg" not in scopes_of(src, "II")


def test_weighted_choice_is_a_keyword_with_string_keys_and_weights():
    src = in_block('    render layout choice["4x3": 0.6, "12x1": 0.4], paper choice[standard: 0.7]')
    assert "keyword.other.choice.ecg" in scopes_of(src, "choice")
    assert "punctuation.separator.key-value.ecg" in scopes_of(src, ":")
    assert "string.quoted.double.ecg" in scopes_of(src, "4x3")
    assert "constant.numeric.decimal.ecg" in scopes_of(src, "0.6")
    assert "variable.other.ecg" in scopes_of(src, "standard")


def test_hash_inside_a_string_is_not_a_comment():
    src = in_block('    x = "see # here"')
    assert not any("comment.line.number-sign.ecg" in s for _, s in tokens(src))


def test_escaped_quote_does_not_end_the_string():
    src = in_block('    q = "say \\"hi\\" now" # c')
    assert "constant.character.escape.ecg" in scopes_of(src, '\\"')
    assert "string.quoted.double.ecg" in scopes_of(src, " now")
    assert "comment.line.number-sign.ecg" in scopes_of(src, " c")


def test_jinja_delimiters_are_highlighted_inside_triple_quoted_strings():
    src = (
        'task t {\n    question = """\n    Record {{ record.id }}:\n'
        '    {% if record.age > 60 %}old{% endif %} {# note #}\n    """\n}'
    )
    assert "punctuation.section.embedded.begin.jinja" in scopes_of(src, "{{")
    assert "punctuation.section.embedded.end.jinja" in scopes_of(src, "}}")
    assert "meta.embedded.expression.jinja" in scopes_of(src, "record")
    assert "punctuation.section.embedded.begin.jinja" in scopes_of(src, "{%")
    assert "keyword.control.jinja" in scopes_of(src, "if")
    assert "keyword.control.jinja" in scopes_of(src, "endif")
    assert "string.quoted.triple.ecg" in scopes_of(src, "old")
    assert "comment.block.jinja" in scopes_of(src, " note ")
    assert "punctuation.section.block.end.ecg" in scopes_of(src, "}")


def test_jinja_inside_a_one_line_string_ends_with_the_string():
    src = in_block('    q = "Rate {{ record.hr" # c\n    next = 1')
    assert "punctuation.section.embedded.begin.jinja" in scopes_of(src, "{{")
    assert "comment.line.number-sign.ecg" in scopes_of(src, " c")
    assert "string.quoted.double.ecg" not in scopes_of(src, "next")


def test_reference_with_a_dot_is_a_name_and_a_property():
    src = in_block("    answer = record.rhythm")
    assert "variable.other.ecg" in scopes_of(src, "record")
    assert "punctuation.accessor.ecg" in scopes_of(src, ".")
    assert "variable.other.property.ecg" in scopes_of(src, "rhythm")


def test_booleans_are_constants():
    src = in_block("    shuffle = true; flip = false")
    assert "constant.language.boolean.ecg" in scopes_of(src, "true")
    assert "constant.language.boolean.ecg" in scopes_of(src, "false")
    assert "support.type.property-name.ecg" in scopes_of(src, "flip")


SPEC = '''\
import "papers.ecg"                      # relative
let seed = 7

paper standard {
    background = #ffffff
    speed      = 25 mm/s
    gain       = 10 mm/mV
    dpi        = 200
}
paper aged extends standard { background = #f2e6c4 }

layout "4x3" {
    leads  = [I, aVR, V1, V4 | II, aVL, V2, V5 | III, aVF, V3, V6]
    column = 2.5 s
    rhythm = [II]                        # full-length strips
    calibration = 1 mV
}

distort scanned {
    rotate  uniform(-3 deg, 3 deg)        p = 0.5
    crease  count 1..3                    p = 0.3
    tint    #f5e9c8 amount uniform(0, 0.4) p = 0.3
    noise   gaussian sigma normal(0, 8)   p = 0.5
}

task rhythm_mcq {
    template = """
    {% if record.rhythm %}What is the rhythm of {{ record.id }}?{% endif %}
    """
    answer   = record.rhythm
}

corpus ecginstruct {
    from   ptbxl split train
    render layout choice["4x3": 0.6, "12x1": 0.4], paper choice[standard: 0.7, aged: 0.3]
    distort scanned for 50%
    seed   = seed
}
'''


def test_a_whole_spec_returns_to_the_top_level_and_leaves_no_name_unscoped():
    t = Tokeniser(grammar())
    lines = t.tokenise(SPEC)
    assert t.final_depth == 1
    for line in lines:
        for text, scopes in line:
            if re.search(r"[A-Za-z0-9#]", text):
                assert len(scopes) > 1, (text, line)


def test_grammar_lark_terminals_that_the_editor_mirrors_still_exist():
    for name in ("NUMBER", "COLOUR", "COMMENT", "STRING", "LONG_STRING", "NAME"):
        lark_terminal(name)
