"""The IR: one frozen pydantic model per concept, the single source of truth of a spec's meaning."""

from .base import (
    DISTRIBUTIONS,
    Choice,
    Decl,
    LogNormal,
    Node,
    Normal,
    Span,
    Statement,
    Uniform,
)
from .corpus import Corpus, From
from .distort import STEPS, Distort, Step
from .format import Format
from .instruct import Example, Instruct
from .labels import Labels
from .layout import Layout
from .llm import Llm
from .paper import Paper
from .source import Source, Split
from .suite import Suite, SuiteTask
from .synth import Synth
from .task import Task

KINDS: dict[str, type[Decl]] = {
    cls.kind: cls for cls in (Paper, Layout, Distort, Format, Source, Labels, Task, Synth, Llm, Instruct, Corpus, Suite)
}

__all__ = [
    "DISTRIBUTIONS",
    "KINDS",
    "STEPS",
    "Choice",
    "Corpus",
    "Decl",
    "Distort",
    "Example",
    "Format",
    "From",
    "Instruct",
    "Labels",
    "Layout",
    "Llm",
    "LogNormal",
    "Node",
    "Normal",
    "Paper",
    "Source",
    "Span",
    "Split",
    "Statement",
    "Step",
    "Suite",
    "SuiteTask",
    "Synth",
    "Task",
    "Uniform",
]
