"""`ecgspec fmt`: one canonical layout for every spec, comments kept, idempotent.

Works on the syntax tree (which keeps what was written) plus the comments the lexer set
aside. The canonical layout: four-space indents, one entry per line, `=` aligned within a
run of settings, one blank line between declarations, numbers written `25 mm/s`.
A comment inside a multi-line value moves to the line above its entry.
"""

from __future__ import annotations

from . import syntax as s

INDENT = "    "
MAX_WIDTH = 100


def _num(n: s.Number) -> str:
    if n.unit is None:
        return n.text
    return f"{n.text}%" if n.unit == "%" else f"{n.text} {n.unit}"


def _string(v: s.String) -> str:
    if v.long:  # newlines stay as written; what the parser unescapes is escaped again
        return '"""' + v.value.replace("\\", "\\\\").replace("\t", "\\t").replace('"""', '\\"""') + '"""'
    escaped = v.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def value(v: s.Value | s.KwArg, indent: str = "") -> str:
    """A value on one line, or broken over lines when a list is too long."""
    flat = _flat(v)
    if len(indent) + len(flat) <= MAX_WIDTH or not isinstance(v, (s.ListValue, s.Choice)):
        return flat
    lst = v.items if isinstance(v, s.Choice) else v
    prefix = "choice" if isinstance(v, s.Choice) else ""
    inner = indent + INDENT
    if lst.is_matrix:
        rows = [", ".join(_item(i) for i in row) for row in lst.rows]
        body = (" |\n" + inner).join(rows)
    else:
        body = (",\n" + inner).join(_item(i) for i in lst.items) + ","
    return f"{prefix}[\n{inner}{body}\n{indent}]"


def _item(i: s.Item) -> str:
    return _flat(i.value) if i.weight is None else f"{_flat(i.value)}: {_flat(i.weight)}"


def _flat(v: s.Value | s.KwArg) -> str:
    match v:
        case s.Number():
            return _num(v)
        case s.String():
            return _string(v)
        case s.Colour():
            return v.hex
        case s.Ref():
            return v.dotted
        case s.Range():
            lo = _num(v.lo)
            return f"{lo}..{_num(v.hi)}"
        case s.ListValue():
            return "[" + " | ".join(", ".join(_item(i) for i in row) for row in v.rows) + "]"
        case s.Choice():
            return "choice" + _flat(v.items)
        case s.Call():
            return f"{v.func.text}(" + ", ".join(_flat(a) for a in v.args) + ")"
        case s.KwArg():
            return f"{v.key.text} = {_flat(v.value)}"
    raise TypeError(type(v))


class Formatter:
    def __init__(self, module: s.Module):
        self.module = module
        self.comments = sorted(module.comments, key=lambda c: (c.pos.line, c.pos.col))
        self.used: set[int] = set()
        self.lines: list[str] = []
        self.source_lines = module.text.split("\n")

    # ---- comments ------------------------------------------------------------------------------

    def _comments_before(self, line: int, indent: str) -> None:
        """Emit the unused comments that start before `line`, keeping blank lines between groups."""
        emitted = False
        for idx, c in enumerate(self.comments):
            if idx in self.used or c.pos.line >= line:
                continue
            self.used.add(idx)
            if (
                self._blank_before(c.pos.line)
                and self.lines
                and self.lines[-1].strip()
                and not self.lines[-1].endswith("{")
            ):
                self.lines.append("")
            self.lines.append(indent + c.text.rstrip())
            emitted = True
        if emitted and line < 10**9 and self._blank_before(line):
            self.lines.append("")

    def _trailing(self, line: int) -> str:
        for idx, c in enumerate(self.comments):
            if idx not in self.used and c.pos.line == line:
                self.used.add(idx)
                return "  " + c.text.rstrip()
        return ""

    def _blank_before(self, line: int) -> bool:
        return line >= 2 and not self.source_lines[line - 2].strip()

    def _blank_between(self, after: int, before: int) -> bool:
        """Whether the source has an empty line strictly between lines `after` and `before`."""
        return any(not self.source_lines[i - 1].strip() for i in range(after + 1, before))

    # ---- structure -----------------------------------------------------------------------------

    def format(self) -> str:
        prev: s.TopLevel | None = None
        for item in self.module.items:
            if prev is not None:
                separate = (
                    isinstance(item, s.Decl)
                    or isinstance(prev, s.Decl)
                    or type(item) is not type(prev)
                    or self._blank_between(prev.pos.end_line, self._first_line(item) + 1)
                )
                if separate:
                    self.lines.append("")
            self._comments_before(item.pos.line, "")
            match item:
                case s.Import():
                    self.lines.append(f"import {_string(item.path)}" + self._trailing(item.pos.end_line))
                case s.Let():
                    self.lines.append(
                        f"let {item.name.text} = {value(item.value, '')}" + self._trailing(item.pos.end_line)
                    )
                    self._hoist_inside(item.pos, "")
                case s.Decl():
                    self._decl(item)
            prev = item
        self._comments_before(10**9, "")
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        return "\n".join(self.lines) + "\n"

    def _first_line(self, item: s.TopLevel) -> int:
        firsts = [c.pos.line for i, c in enumerate(self.comments) if i not in self.used and c.pos.line < item.pos.line]
        return min(firsts) if firsts else item.pos.line

    def _hoist_inside(self, pos: s.Pos, indent: str) -> None:
        """Comments inside a multi-line entry (already printed) go just above it."""
        inside = [
            i for i, c in enumerate(self.comments) if i not in self.used and pos.line <= c.pos.line < pos.end_line
        ]
        if not inside:
            return
        entry = self.lines.pop()
        for i in inside:
            self.used.add(i)
            self.lines.append(indent + self.comments[i].text.rstrip())
        self.lines.append(entry)

    def _decl(self, d: s.Decl) -> None:
        name = _string(s.String(d.name.text, False, d.name.pos)) if d.quoted else d.name.text
        head = f"{d.kind.text} {name}"
        for h in d.headers:
            hv = _string(h.value) if isinstance(h.value, s.String) else h.value.text
            head += f" {h.word.text} {hv}"
        self._block(head, d.body, "", d.body.pos)

    def _block(self, head: str, block: s.Block, indent: str, pos: s.Pos, tail: str = "") -> None:
        if not block.entries and not self._has_comments_in(pos):
            self.lines.append(f"{head} {{}}{tail}" + self._trailing(pos.end_line))
            return
        shares_line = bool(block.entries) and block.entries[0].pos.line == pos.line
        self.lines.append(f"{head} {{" + ("" if shares_line else self._trailing(pos.line)))
        inner = indent + INDENT
        run: list[s.Setting] = []
        prev_end = pos.line
        for i, entry in enumerate(block.entries):
            if i and self._blank_between(prev_end, self._entry_first_line(entry) + 1):
                run = []
                self.lines.append("")
            nxt = block.entries[i + 1] if i + 1 < len(block.entries) else None
            # A comment at the end of a line belongs to the last entry on that line.
            last_on_line = nxt is None or nxt.pos.line > entry.pos.end_line
            prev_end = entry.pos.end_line
            if any(c.pos.line < entry.pos.line and i2 not in self.used for i2, c in enumerate(self.comments)):
                run = []
            self._comments_before(entry.pos.line, inner)
            if isinstance(entry, s.Setting):
                if not run:
                    run = self._settings_run(block.entries, i)
                width = max(len(e.key.text) for e in run)
                text = f"{inner}{entry.key.text.ljust(width)} = {value(entry.value, inner)}"
                self.lines.append(text + (self._trailing(entry.pos.end_line) if last_on_line else ""))
                self._hoist_inside(entry.pos, inner)
                if entry is run[-1]:
                    run = []
            else:
                run = []
                self._statement(entry, inner, last_on_line)
        self._comments_before(pos.end_line, inner)
        self.lines.append(f"{indent}}}{tail}" + self._trailing(pos.end_line))

    def _entry_first_line(self, entry: s.Entry) -> int:
        firsts = [c.pos.line for i, c in enumerate(self.comments) if i not in self.used and c.pos.line < entry.pos.line]
        return min(firsts) if firsts else entry.pos.line

    def _settings_run(self, entries: tuple[s.Entry, ...], start: int) -> list[s.Setting]:
        """Consecutive settings from `start`, up to a statement, a blank line or a comment line."""
        run: list[s.Setting] = []
        for j in range(start, len(entries)):
            e = entries[j]
            if not isinstance(e, s.Setting):
                break
            if run and (
                self._blank_between(run[-1].pos.end_line, e.pos.line)
                or any(run[-1].pos.end_line < c.pos.line < e.pos.line for c in self.comments)
                # comments inside its value are hoisted above it: it starts the next run, as it will
                # when the formatted text is formatted again
                or any(e.pos.line <= c.pos.line < e.pos.end_line for c in self.comments)
            ):
                break
            run.append(e)
        return run

    def _has_comments_in(self, pos: s.Pos) -> bool:
        return any(i not in self.used and pos.line < c.pos.line < pos.end_line for i, c in enumerate(self.comments))

    def _statement(self, st: s.Statement, indent: str, last_on_line: bool = True) -> None:
        if st.block is None:
            head = " ".join(
                [st.head.text] + [value(t, indent) if not isinstance(t, s.KwArg) else _flat(t) for t in st.terms]
            )
            self.lines.append(indent + head + (self._trailing(st.pos.end_line) if last_on_line else ""))
            self._hoist_inside(st.pos, indent)
            return
        # kwargs written after the block were parsed as terms after it; print them after `}`.
        before = [
            t
            for t in st.terms
            if t.pos.line < st.block.pos.line or (t.pos.line == st.block.pos.line and t.pos.col < st.block.pos.col)
        ]
        trailing = [t for t in st.terms if t not in before]
        head = " ".join([st.head.text] + [value(t, indent) if not isinstance(t, s.KwArg) else _flat(t) for t in before])
        tail = "".join(" " + _flat(t) for t in trailing)
        self._block(indent + head, st.block, indent, st.block.pos, tail)


def format_module(module: s.Module) -> str:
    return Formatter(module).format()
