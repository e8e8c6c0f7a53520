"""Checking: syntax → IR, driven by the IR classes' field declarations.

For every field the checker reads its type and markers (ecgspec.ir.base, through schema.py)
and converts what was written: units to canonical units with dimension checks, names to
declarations, lead spellings to canonical leads, templates checked for syntax. Each problem
becomes a located diagnostic; checking goes on after an error so that one run reports them all.

    schema.py        reading field declarations (also used by explain and docgen)
    context.py       what a conversion carries (Ctx, FAIL)
    convert.py       value conversion by declared type; text.py, distributions.py
    declarations.py  declarations, `extends` and headers
    statements.py    blocks: settings, statements and their arguments
    construct.py     building the IR object, reporting what the model rejects
    cross.py         checks across declarations
    semantics.py     label semantics that contradict themselves, pages that print what they ask
"""

from __future__ import annotations

from pathlib import Path

from ..errors import Diagnostics
from ..resolve import Scope
from .declarations import Checker
from .origin import Checked, Origin


def check(scope: Scope, diags: Diagnostics, templates_root: Path | None = None) -> Checked:
    """Check every declaration of a resolved scope; problems are added to `diags`."""
    return Checker(scope, diags, templates_root).run()


__all__ = ["Checked", "Checker", "Origin", "check"]
