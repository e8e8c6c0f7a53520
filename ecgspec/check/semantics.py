"""Dataset semantics, checked across declarations: label vocabularies that contradict themselves,
and pages that print the answer to their own question.

- `labels`: a label whose `implies` reach two labels that `excludes` forbids together (no record
  could have it), a `map` row whose labels do so (every record with that code would go unasked),
  labels that imply each other (they are one label), and a label whose implied labels mean
  heart rates that cannot both hold (`heart_rate`).
- `corpus`: a paper whose header or footer prints a fact (`record.heart_rate`, `record.pr` …)
  that one of the corpus's tasks asks, unless the corpus sets `hide_in_header`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
from jinja2 import nodes

from .. import syntax as s
from ..errors import Diagnostics, Pos
from ..ir import Corpus, Labels, Paper, Task
from ..ir.base import Choice, Span
from ..ir.labels import closure, excluded_pairs
from ..ir.task import PRINTED_AS
from ..resolve import Scope
from .construct import locate
from .origin import Checked

Key = tuple[str, str]


def _written(scope: Scope, pos: Pos, field: str) -> s.Value | None:
    """The value written at a setting's position (in the declaration or one it extends)."""
    for decl in scope.decls.values():
        for entry in decl.body.entries:
            if isinstance(entry, s.Setting) and entry.key.text == field and entry.pos == pos:
                return entry.value
    return None


def _at(scope: Scope, checked: Checked, key: Key, field: str, where: Any = None) -> Pos:
    """Where to point at: the part `where` of setting `field` (`("key", NAME)` …), else the setting,
    else the declaration's name."""
    origin = checked.origins.get(key, {}).get(field)
    if origin is None or origin.pos is None or origin.how == "default":
        return scope.decls[key].name.pos
    found = locate(_written(scope, origin.pos, field), where) if where is not None else None
    return found or origin.pos


def _path(implies: Mapping[str, Iterable[str]], start: str, goal: str) -> list[str]:
    """The shortest chain of `implies` from `start` to `goal` (both included)."""
    parent: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        label = queue.pop(0)
        if label == goal:
            break
        for nxt in implies.get(label, ()):
            if nxt not in parent:
                parent[nxt] = label
                queue.append(nxt)
    chain: list[str] = []
    node: str | None = goal
    while node is not None:
        chain.append(node)
        node = parent.get(node)
    return chain[::-1]


def _cycles(implies: Mapping[str, Iterable[str]], order: list[str]) -> list[list[str]]:
    """The groups of labels that imply each other (each group once, in `order`)."""
    seen: set[str] = set()
    out: list[list[str]] = []
    for label in order:
        if label in seen:
            continue
        reach = closure(implies.get(label, ()), implies)
        if label not in reach:
            continue
        group = [x for x in order if x in reach and label in closure(implies.get(x, ()), implies)]
        seen.update(group)
        out.append(group)
    return out


def _labels(scope: Scope, checked: Checked, diags: Diagnostics, key: Key, decl: Labels) -> None:
    what = f"labels '{decl.name}'"
    implies, excludes = decl.implies, decl.excludes
    order = list(dict.fromkeys([*decl.vocabulary, *implies, *excludes]))
    impossible: set[str] = set()  # labels no record can have: reported once, not again in `map`
    reported: set[frozenset[str]] = set()
    for label in order:
        pairs = excluded_pairs(closure([label], implies), excludes)
        if not pairs:
            continue
        impossible.add(label)
        a, b = pairs[0]
        if frozenset((label, a, b)) in reported:
            continue
        reported.add(frozenset((label, a, b)))
        if a == b:
            message = f"{a} excludes itself" + (
                "" if label == a else f", and {label} implies it ({' → '.join(_path(implies, label, a))})"
            )
        elif label in (a, b):
            other = b if label == a else a
            message = f"{label} implies {other} ({' → '.join(_path(implies, label, other))}), which it excludes"
        else:
            message = (
                f"{label} implies both {a} ({' → '.join(_path(implies, label, a))}) and "
                f"{b} ({' → '.join(_path(implies, label, b))}), which exclude each other"
            )
        field = "implies" if label in implies else "excludes"
        diags.error(
            _at(scope, checked, key, field, ("key", label)),
            f"{what}: {message}: no record can have {label}",
            "remove the implication or the exclusion that is not true",
            code="label-contradiction",
        )
    for code, mapped in decl.map.items():
        if any(m in impossible for m in mapped):
            continue
        pairs = excluded_pairs(closure(mapped, implies), excludes)
        if pairs:
            a, b = pairs[0]
            held = "" if a in mapped and b in mapped else f", which imply {a} and {b}"
            diags.error(
                _at(scope, checked, key, "map", ("key", code)),
                f"{what}: code {code} maps to {', '.join(mapped)}{held}, but {a} excludes {b}: "
                "no record with it could be asked",
                f"map {code} to the labels it means, or remove the exclusion of {a} and {b}",
                code="label-contradiction",
            )
    for group in _cycles(implies, order):
        first = group[0]
        others = group[1:]
        if not others:
            message = f"{first} implies itself"
        elif len(group) == 2:
            message = f"{first} and {others[0]} imply each other: a record with one has the other"
        else:
            message = f"{', '.join(group)} imply each other: a record with one has them all"
        diags.warning(
            _at(scope, checked, key, "implies", ("key", first)),
            f"{what}: {message}",
            "they are one label: keep one and map the others' codes to it, or make the implication one-way"
            if others
            else f"remove {first} from its own `implies`",
            code="implies-cycle",
        )
    rates = {k: v for k, v in decl.heart_rate.items() if isinstance(v, Span)}
    for label in order:
        if label not in rates or label in impossible:
            continue
        mine = rates[label]
        for other in sorted(closure([label], implies) - {label}, key=order.index):
            theirs = rates.get(other)
            if theirs is not None and (theirs.hi < mine.lo or mine.hi < theirs.lo):
                diags.error(
                    _at(scope, checked, key, "heart_rate", ("key", label)),
                    f"{what}: {label} means a rate of {_bpm(mine)} and implies {other} "
                    f"({' → '.join(_path(implies, label, other))}), which means {_bpm(theirs)}: both cannot hold",
                    "correct one of the ranges, or the implication",
                    code="label-contradiction",
                )
                break


def _bpm(span: Span) -> str:
    return f"{span.lo * 60:g}..{span.hi * 60:g} bpm"


# ---- pages that print what their questions ask ------------------------------------------------

_PARSER = jinja2.Environment()  # parsing only: nothing is rendered with it


def _is_record(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "record"


def printed_fields(template: str | None) -> set[str]:
    """The `record.*` fields a header or footer template prints (or tests: a test shows them too
    when it picks what is printed)."""
    if not template:
        return set()
    try:
        tree = _PARSER.parse(template)
    except jinja2.TemplateSyntaxError:
        return set()  # reported where the template is checked
    out: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr) and _is_record(node.node):
            out.add(node.attr)
        elif isinstance(node, nodes.Getitem) and _is_record(node.node):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                out.add(node.arg.value)
    return out


def _names(value: Any) -> list[str]:
    if isinstance(value, Choice):
        return [str(o) for o in value.options]
    if isinstance(value, tuple):
        return [str(o) for o in value]
    return [str(value)]


def _header_leaks(scope: Scope, checked: Checked, diags: Diagnostics, key: Key, corpus: Corpus) -> None:
    decls = checked.decls
    asking: dict[tuple[str, ...], list[str]] = {}  # the fields a fact prints as → the tasks asking it
    for name in dict.fromkeys(_names(corpus.tasks)):
        task = decls.get(("task", name))
        if isinstance(task, Task) and task.answer in PRINTED_AS:
            asking.setdefault(PRINTED_AS[task.answer], []).append(name)
    printing: dict[str, list[str]] = {}  # field → the papers printing it
    for name in dict.fromkeys(_names(corpus.paper)):
        paper = decls.get(("paper", name))
        if isinstance(paper, Paper):
            for f in sorted(printed_fields(paper.header) | printed_fields(paper.footer)):
                printing.setdefault(f, []).append(name)
    pos = _at(scope, checked, key, "paper") if "paper" in checked.origins.get(key, {}) else None
    for fields, tasks in asking.items():
        shown = [f for f in fields if f in printing]
        if not shown:
            continue
        papers = list(dict.fromkeys(p for f in shown for p in printing[f]))
        listed = ", ".join(f"'{t}'" for t in tasks[:3]) + (f" and {len(tasks) - 3} more" if len(tasks) > 3 else "")
        diags.warning(
            pos or _at(scope, checked, key, "tasks"),
            f"corpus '{corpus.name}': {'paper' if len(papers) == 1 else 'papers'} "
            f"{', '.join(repr(p) for p in papers)} {'prints' if len(papers) == 1 else 'print'} "
            f"{' and '.join('record.' + f for f in shown)} on the page, "
            f"which {'task' if len(tasks) == 1 else 'tasks'} {listed} {'asks' if len(tasks) == 1 else 'ask'}: "
            "the image shows the answer",
            "set `hide_in_header = true` in the corpus (each page leaves out what its questions ask), "
            "or take the field out of the paper's header",
            code="header-leak",
        )


def check_semantics(scope: Scope, diags: Diagnostics, checked: Checked) -> None:
    """Every `labels` declaration's semantics, and every corpus's pages against its questions."""
    for key, decl in checked.decls.items():
        if isinstance(decl, Labels):
            _labels(scope, checked, diags, key, decl)
        elif isinstance(decl, Corpus) and not decl.hide_in_header:
            _header_leaks(scope, checked, diags, key, decl)
