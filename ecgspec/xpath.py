"""The small languages of a `format`: XML paths (an XPath subset) and lead formulas.

Paths are parsed when a spec is checked, so that a malformed one is a located error there and
never an internal error while reading files. The subset:

    Waveform[WaveformType='Rhythm']/LeadData     child steps, a predicate on a child's text
    code/@code    value/digits/text()            a final attribute or text step
    ../SampleBase    /RestingECG/Waveform        the parent; an absolute path from the document
    //PatientAge    sequence[@code='x']    a[2]  any descendant; an attribute predicate; the 2nd
    *    .    v3:sequence                        any child, the node itself, a declared prefix

A relative path starts at the node it is read from (a lead element, or the document's root
element for document-level settings); an absolute path starts at the document, and its first
step names the root element. Formulas are arithmetic over lead names (`-(I + II)/2`): + - * /,
`//` (division rounded down, as carts do on integer counts), parentheses and numbers. Neither
language evaluates code: both are parsed by hand into small trees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import numpy as np


class PathError(ValueError):
    """A malformed path or formula; `at` is the 0-based character where it goes wrong."""

    def __init__(self, message: str, at: int):
        super().__init__(message)
        self.message = message
        self.at = at

    def describe(self, text: str) -> str:
        return f"{self.message} (at character {self.at + 1} of '{text}')"


# ---- paths -------------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?")
_INT = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Pred:
    """`[n]` (index, 1-based), `[name='v']`, `[@a='v']`, `[name]`, `[@a]`."""

    index: int | None = None
    child: str | None = None
    attr: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Step:
    """One step: `kind` is name, any (`*`), self (`.`), parent (`..`), attr (`@a`) or text (`text()`);
    `deep` when it follows `//` (any descendant of the node so far)."""

    kind: str
    name: str = ""
    deep: bool = False
    preds: tuple[Pred, ...] = ()


@dataclass(frozen=True)
class XPath:
    text: str
    absolute: bool
    steps: tuple[Step, ...]

    @property
    def selects_elements(self) -> bool:
        return not self.steps or self.steps[-1].kind not in ("attr", "text")


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    def eat(self, s: str) -> bool:
        if self.peek(s):
            self.i += len(s)
            return True
        return False

    def match(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.i)
        if m is None:
            return None
        self.i = m.end()
        return m.group(0)

    def skip_space(self) -> None:
        while self.i < len(self.text) and self.text[self.i] == " ":
            self.i += 1

    def fail(self, message: str) -> PathError:
        return PathError(message, self.i)


def parse_path(text: str) -> XPath:
    """A path → its steps, or PathError saying where it goes wrong."""
    sc = _Scanner(text.strip())
    if not sc.text:
        raise PathError("the path is empty", 0)
    absolute = False
    deep = False
    if sc.eat("//"):
        absolute, deep = True, True
    elif sc.eat("/"):
        absolute = True
    steps: list[Step] = []
    while True:
        step = _step(sc, deep)
        if steps and steps[-1].kind in ("attr", "text"):
            raise PathError(f"nothing can follow `{_show(steps[-1])}`: an attribute or text() ends a path", sc.i)
        steps.append(step)
        if sc.i >= len(sc.text):
            break
        if sc.eat("//"):
            deep = True
        elif sc.eat("/"):
            deep = False
        else:
            raise sc.fail(f"unexpected '{sc.text[sc.i]}'" + (" (an unbalanced ']'?)" if sc.peek("]") else ""))
        if sc.i >= len(sc.text):
            raise sc.fail("the path ends with '/'; a step must follow")
    return XPath(text, absolute, tuple(steps))


def _show(step: Step) -> str:
    return {"attr": f"@{step.name}", "text": "text()"}.get(step.kind, step.name)


def _step(sc: _Scanner, deep: bool) -> Step:
    if sc.eat(".."):
        kind, name = "parent", ".."
    elif sc.eat("."):
        kind, name = "self", "."
    elif sc.eat("*"):
        kind, name = "any", "*"
    elif sc.eat("@"):
        attr = sc.match(_NAME)
        if attr is None:
            raise sc.fail("`@` needs an attribute name")
        return Step("attr", attr, deep)
    elif sc.eat("text()"):
        return Step("text", "text()", deep)
    else:
        found = sc.match(_NAME)
        if found is None:
            if sc.i >= len(sc.text):
                raise sc.fail("a step is missing")
            raise sc.fail(f"expected a name, `@attr`, `text()`, `.` or `..`, not '{sc.text[sc.i]}'")
        if sc.peek("("):
            raise sc.fail(f"`{found}()` is not a supported function; only `text()` is")
        kind, name = "name", found
    preds: list[Pred] = []
    while sc.peek("["):
        if kind in ("parent", "self"):
            raise sc.fail(f"`{name}` takes no predicate")
        preds.append(_pred(sc))
    return Step(kind, name, deep, tuple(preds))


def _pred(sc: _Scanner) -> Pred:
    open_at = sc.i
    sc.eat("[")
    sc.skip_space()
    pred: Pred
    if (n := sc.match(_INT)) is not None:
        if int(n) < 1:
            raise PathError("positions count from 1: `[1]` is the first", open_at + 1)
        pred = Pred(index=int(n))
    else:
        attr = sc.eat("@")
        name = sc.match(_NAME)
        if name is None:
            raise sc.fail("a predicate is `[n]`, `[name='v']`, `[@attr='v']`, `[name]` or `[@attr]`")
        sc.skip_space()
        value = None
        if sc.eat("="):
            sc.skip_space()
            quote = sc.text[sc.i] if sc.i < len(sc.text) else ""
            if quote not in ("'", '"'):
                raise sc.fail("the value after `=` is written in quotes: [name='value']")
            end = sc.text.find(quote, sc.i + 1)
            if end < 0:
                raise sc.fail("the quoted value is not closed")
            value = sc.text[sc.i + 1 : end]
            sc.i = end + 1
        pred = Pred(child=None if attr else name, attr=name if attr else None, value=value)
    sc.skip_space()
    if not sc.eat("]"):
        if sc.i >= len(sc.text):
            raise PathError("'[' is not closed", open_at)
        raise sc.fail(f"expected ']' to close the '[' at character {open_at + 1}")
    return pred


def check_path(text: str, elements: bool = False) -> str | None:
    """Why a path is malformed (for the checker), or None. `elements`: it must select elements."""
    try:
        p = parse_path(text)
    except PathError as exc:
        return exc.describe(text)
    if elements and not p.selects_elements:
        return f"'{text}' must select elements, not an attribute or text()"
    return None


class Document:
    """A parsed document with parent links, for `..`, and the namespace prefixes of a format."""

    def __init__(self, root: Element, namespaces: Mapping[str, str] | None = None):
        self.root = root
        self.ns = dict(namespaces or {})
        self._parents: dict[int, Element] | None = None
        self._cache: dict[str, XPath] = {}

    def parent(self, el: Element) -> Element | None:
        if self._parents is None:
            self._parents = {id(c): p for p in self.root.iter() for c in p}
        return self._parents.get(id(el))

    def _tag(self, name: str) -> str:
        if ":" in name:
            prefix, local = name.split(":", 1)
            uri = self.ns.get(prefix)
            return f"{{{uri}}}{local}" if uri else local
        default = self.ns.get("")
        return f"{{{default}}}{name}" if default else name

    def select(self, path: str, node: Element | None = None) -> list[Element | str]:
        """Elements, or strings for a final `@attr`/`text()`, at `path` from `node` (default: the root)."""
        parsed = self._cache.get(path)
        if parsed is None:
            parsed = self._cache[path] = parse_path(path)
        return self._run(parsed, self.root if node is None else node)

    def text(self, path: str, node: Element | None = None) -> str | None:
        """The first value at a path: an attribute, a text, or an element's text ('' when it has none)."""
        got = self.select(path, node)
        if not got:
            return None
        first = got[0]
        return first if isinstance(first, str) else (first.text or "")

    def _run(self, path: XPath, node: Element) -> list[Element | str]:
        steps = list(path.steps)
        current: list[Element] = [node]
        if path.absolute:
            # `/Root/...`: the first step must name the root element; `//x`: x anywhere in it.
            first = steps[0]
            if first.deep:
                current = [self.root]
            else:
                if first.kind in ("attr", "text", "parent"):
                    return []
                current = self._filter([self.root], first) if first.kind != "self" else [self.root]
                steps = steps[1:]
        for step in steps:
            if step.kind == "attr":
                scope = _descend(current) if step.deep else current
                return [v for e in scope if (v := e.get(step.name)) is not None]
            if step.kind == "text":
                scope = _descend(current) if step.deep else current
                return [e.text for e in scope if e.text is not None]
            nxt: list[Element] = []
            seen: set[int] = set()
            for ctx in _descend(current) if step.deep else current:
                for e in self._apply(ctx, step):
                    if id(e) not in seen:
                        seen.add(id(e))
                        nxt.append(e)
            current = nxt
        return list(current)

    def _apply(self, ctx: Element, step: Step) -> list[Element]:
        if step.kind == "self":
            return [ctx]
        if step.kind == "parent":
            p = self.parent(ctx)
            return [p] if p is not None else []
        return self._filter(list(ctx), step)

    def _filter(self, candidates: list[Element], step: Step) -> list[Element]:
        if step.kind == "name":
            tag = self._tag(step.name)
            candidates = [e for e in candidates if e.tag == tag]
        else:
            candidates = [e for e in candidates if isinstance(e.tag, str)]
        for pred in step.preds:
            candidates = self._pred(candidates, pred)
        return candidates

    def _pred(self, candidates: list[Element], pred: Pred) -> list[Element]:
        if pred.index is not None:
            return candidates[pred.index - 1 : pred.index]
        out: list[Element] = []
        for e in candidates:
            if pred.attr is not None:
                v = e.get(pred.attr)
                ok = v is not None and (pred.value is None or v == pred.value)
            else:
                tag = self._tag(pred.child or "")
                kids = [c for c in e if c.tag == tag]
                ok = bool(kids) and (pred.value is None or any((c.text or "").strip() == pred.value for c in kids))
            if ok:
                out.append(e)
        return out


def _descend(nodes: Iterable[Element]) -> list[Element]:
    """Each node and everything under it, in document order, once."""
    out: list[Element] = []
    seen: set[int] = set()
    for n in nodes:
        for e in n.iter():
            if isinstance(e.tag, str) and id(e) not in seen:
                seen.add(id(e))
                out.append(e)
    return out


# ---- lead formulas -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)|(?P<name>[A-Za-z][A-Za-z0-9_]*)|(?P<op>//|[-+*/()]))"
)

# A formula's tree: ("num", x), ("lead", name), ("neg", a), (op, a, b) for op in + - * / //.
Formula = tuple


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            j = i + (len(text[i:]) - len(text[i:].lstrip()))
            raise PathError(f"unexpected '{text[j]}' in the formula", j)
        kind = m.lastgroup or "op"
        start = m.start(kind)
        out.append(_Tok(kind, m.group(kind), start))
        i = m.end()
    return out


def parse_formula(text: str) -> Formula:
    """`-(I + II)/2` → a tree, or PathError saying where it goes wrong."""
    toks = _tokens(text)
    if not toks:
        raise PathError("the formula is empty", 0)
    pos = 0

    def peek() -> _Tok | None:
        return toks[pos] if pos < len(toks) else None

    def expr() -> Formula:
        nonlocal pos
        left = term()
        while (t := peek()) is not None and t.text in ("+", "-"):
            pos += 1
            left = (t.text, left, term())
        return left

    def term() -> Formula:
        nonlocal pos
        left = unary()
        while (t := peek()) is not None and t.text in ("*", "/", "//"):
            pos += 1
            left = (t.text, left, unary())
        return left

    def unary() -> Formula:
        nonlocal pos
        t = peek()
        if t is not None and t.text in ("-", "+"):
            pos += 1
            inner = unary()
            return ("neg", inner) if t.text == "-" else inner
        return atom()

    def atom() -> Formula:
        nonlocal pos
        t = peek()
        if t is None:
            raise PathError("the formula ends where a lead, a number or '(' should be", len(text))
        pos += 1
        if t.kind == "num":
            return ("num", float(t.text))
        if t.kind == "name":
            return ("lead", t.text)
        if t.text == "(":
            inner = expr()
            close = peek()
            if close is None or close.text != ")":
                raise PathError("'(' is not closed", t.at)
            pos += 1
            return inner
        raise PathError(f"unexpected '{t.text}'", t.at)

    tree = expr()
    if pos < len(toks):
        raise PathError(f"unexpected '{toks[pos].text}'", toks[pos].at)
    return tree


def formula_leads(tree: Formula) -> list[str]:
    """The lead names a formula reads, in order of appearance."""
    if tree[0] == "lead":
        return [tree[1]]
    if tree[0] == "num":
        return []
    return [name for sub in tree[1:] for name in formula_leads(sub)]


def evaluate(tree: Formula, lead: Callable[[str], np.ndarray]) -> np.ndarray | float:
    """The formula's value, with `lead(name)` giving each lead's samples."""
    op = tree[0]
    if op == "num":
        return float(tree[1])
    if op == "lead":
        return lead(tree[1])
    if op == "neg":
        return -evaluate(tree[1], lead)
    a, b = evaluate(tree[1], lead), evaluate(tree[2], lead)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    with np.errstate(divide="ignore", invalid="ignore"):
        if op == "/":
            return np.true_divide(a, b)
        return np.floor_divide(a, b)
