"""Where in a spec the cursor stands, read from the text before it.

Completion is asked for while a line is half written, when the file rarely parses; so this
reads the text itself: the top-level item the cursor is in (items start at column 1, as the
parser's error recovery also takes them), the braces opened since (skipping strings and
comments), and the line up to the cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Where = Literal["top", "entry", "value", "args", "unit", "header"]

_TOP_START = re.compile(r"[A-Za-z_\"]")
_WORD_END = re.compile(r"[A-Za-z_]\w*$")
_NUMBER_END = re.compile(r"(?<![\w.])[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[ \t]*(?P<unit>[A-Za-zµμ/%]*)$")
_SETTING = re.compile(r"\s*(?P<key>[A-Za-z_]\w*)\s*=\s*(?P<value>.*)$")
_STATEMENT = re.compile(r"\s*(?P<head>one of|[A-Za-z_]\w*)\s+(?P<rest>.*)$")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{3,8}(?![\w])")


@dataclass(frozen=True)
class Context:
    """What may be written at the cursor.

    top      a top-level item: a declaration kind, `import`, `let`
    entry    the start of a line in a block: a setting or a step of the block's kind
    value    the value of setting `key`
    args     the arguments of step `key`
    unit     the unit of a number just written (for setting or step `key`; `param`: the step's parameter)
    header   the value of header `key` (`extends`, `from`) of a declaration of `kind`
    """

    where: Where
    kind: str | None = None  # the enclosing declaration's kind
    heads: tuple[str, ...] = ()  # the steps whose blocks enclose the cursor, outermost first
    key: str | None = None
    param: str | None = None
    prefix: str = ""  # the part of the word before the cursor


def _string_end(src: str, i: int) -> int:
    """Index just after the string that starts at src[i], or -1 when it is not closed."""
    if src.startswith('"""', i):
        j = src.find('"""', i + 3)
        return -1 if j < 0 else j + 3
    j = i + 1
    while j < len(src) and src[j] != "\n":
        if src[j] == "\\":
            j += 2
            continue
        if src[j] == '"':
            return j + 1
        j += 1
    return -1


def _open_blocks(src: str) -> list[str] | None:
    """The heads of the blocks open at the end of src ("paper", "one of", "task"), outermost first;
    None when src ends inside a string."""
    stack: list[str] = []
    line_start = 0
    i = 0
    while i < len(src):
        c = src[i]
        if c == '"':
            end = _string_end(src, i)
            if end < 0:
                return None
            i = end
            continue
        if c == "#" and not _COLOUR.match(src, i):
            nl = src.find("\n", i)
            i = len(src) if nl < 0 else nl
            continue
        if c == "\n":
            line_start = i + 1
        elif c == "{":
            words = src[line_start:i].split()
            head = "one of" if words[:2] == ["one", "of"] else (words[0] if words else "")
            stack.append(head)
        elif c == "}" and stack:
            stack.pop()
        i += 1
    return stack


def context_at(text: str, line: int, col: int) -> Context | None:
    """The context at 0-based `line`, `col` (in characters), or None where nothing is offered."""
    lines = text.split("\n")
    if line >= len(lines):
        return Context("top")
    cur = lines[line][:col]
    m = _WORD_END.search(cur)
    prefix = m.group(0) if m else ""
    start = line
    while start >= 0 and not _TOP_START.match(lines[start][:col] if start == line else lines[start]):
        start -= 1
    if start == line:
        return _first_line(cur, prefix)
    if start < 0:
        return Context("top", prefix=prefix) if cur.strip() == prefix and not cur.startswith((" ", "\t")) else None
    stack = _open_blocks("\n".join([*lines[start:line], cur]))
    if stack is None:
        return None  # inside a string
    if not stack:
        return Context("top", prefix=prefix) if not cur.strip() else None
    kind, heads = stack[0], tuple(stack[1:])
    tail = cur.rsplit("{", 1)[-1] if cur.count("{") > cur.count("}") else cur
    if (s := _SETTING.match(tail)) is not None:
        number = _NUMBER_END.search(s["value"])
        if number is not None:
            return Context("unit", kind, heads, s["key"], prefix=number["unit"])
        return Context("value", kind, heads, s["key"], prefix=prefix)
    if (st := _STATEMENT.match(tail)) is not None:
        number = _NUMBER_END.search(st["rest"])
        if number is not None:
            before = st["rest"][: number.start()].split()
            param = before[-1] if before else None
            return Context("unit", kind, heads, st["head"], param, prefix=number["unit"])
        return Context("args", kind, heads, st["head"], prefix=prefix)
    if tail.strip() == prefix:
        return Context("entry", kind, heads, prefix=prefix)
    return None


def _first_line(cur: str, prefix: str) -> Context | None:
    """The cursor on the first line of a top-level item: its kind, or a header's value."""
    words = cur.split()
    if cur.strip() == prefix:
        return Context("top", prefix=prefix)
    if "{" in cur or len(words) < 3:
        return None
    done = words if cur[-1].isspace() else words[:-1]
    if done[-1] in ("extends", "from"):
        return Context("header", words[0], key=done[-1], prefix=prefix)
    return None


__all__ = ["Context", "context_at"]
