"""docs/reference.md is generated from the IR classes; it must match them."""

from ecgspec.docgen import reference

from .helpers import REPO


def test_reference_doc_is_up_to_date_with_the_ir_classes() -> None:
    committed = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == reference(), "regenerate it: python -m ecgspec.docgen > docs/reference.md"


def test_reference_lists_every_declaration_kind_and_step() -> None:
    text = reference()
    for kind in ("paper", "layout", "distort", "format", "source", "labels", "task", "synth", "corpus", "suite"):
        assert f"## `{kind}`" in text
    for step in ("rotate", "wrinkle", "crease", "jpeg", "one of"):
        assert f"### `{step}`" in text


def test_the_common_mistakes_page_is_up_to_date_with_the_broken_spec_goldens() -> None:
    import runpy

    page = runpy.run_path(str(REPO / "docs" / "mistakes.py"))["page"]
    committed = (REPO / "docs" / "mistakes.md").read_text(encoding="utf-8")
    assert committed == page(), "regenerate it: python docs/mistakes.py"
    assert committed.count("\n## ") == len(list((REPO / "tests" / "broken").glob("[0-9]*.ecg")))
