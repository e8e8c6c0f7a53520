"""`task`: one instruction family and question form, rendered from a Jinja template."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import Decl, Expr, Problem, RefTo, Template, TemplateFile

FAMILIES = ("basic", "rhythm", "morphology", "report")
FORMS = ("closed", "open", "fill_in", "multiple_choice")


class Task(Decl):
    """An ECGInstruct task: the question a template asks of a record and the answer it expects."""

    kind: ClassVar[str] = "task"

    family: Literal["basic", "rhythm", "morphology", "report"] = Field(description="instruction family")
    form: Literal["closed", "open", "fill_in", "multiple_choice"] = Field(description="question form")
    template: Annotated[str, TemplateFile()] | None = Field(None, description="template file under templates/")
    question: Annotated[str, Template()] | None = Field(None, description="inline question template")
    answer: Annotated[str, Expr()] = Field(description="what the answer is, e.g. `record.rhythm`")
    labels: Annotated[str, RefTo("labels")] | None = Field(None, description="vocabulary of the answer")
    options: int = Field(4, ge=2, le=26, description="options of a multiple-choice question")
    weight: float = Field(1.0, gt=0, description="relative frequency in a corpus")

    def problems(self) -> list[Problem]:
        if self.template is not None and self.question is not None:
            return [("question", "a task takes `template` (a file) or `question` (inline), not both",
                     "remove one of them")]
        if self.template is None and self.question is None:
            return [("family", "a task needs a `template` (a file) or a `question` (inline)", None)]
        return []
