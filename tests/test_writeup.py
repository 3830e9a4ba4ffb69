"""The write-up basket exported as Markdown and DOCX."""

from __future__ import annotations

import pytest
from _writing_project import build_project
from docx import Document

from assistant.errors import ThematicError
from assistant.quotes import find_quotes
from assistant.writeup import add_quotes, export_writeup, to_markdown


@pytest.fixture()
def project(tmp_path):
    p = build_project(tmp_path / "proj")
    yield p
    p.close()


def _fill(project):
    quotes = find_quotes(project, code="Housing and health", k=3).quotes
    items = add_quotes(project, quotes)
    project.store.update_basket_item(items[0].id, note="Use in the discussion section")
    more = add_quotes(project, find_quotes(project, query="short-term funding", k=2).quotes)
    return quotes, items + more


def test_markdown_has_block_quotes_attribution_line_and_note(project):
    quotes, items = _fill(project)
    md = to_markdown(project.store.list_basket())
    assert "## Code: Housing and health" in md and "## Quotes" in md
    for q in quotes:
        assert f"> {q.text}" in md and q.attribution in md and f"{q.source_name}, line {q.line}" in md
    assert "*Note:* Use in the discussion section" in md


def test_docx_holds_every_quote_with_its_attribution(project, tmp_path):
    _, items = _fill(project)
    path = export_writeup(project, "docx", tmp_path / "w.docx")
    paras = [p.text for p in Document(str(path)).paragraphs]
    for it in project.store.list_basket():
        i = paras.index(it.quote.text)
        assert it.quote.attribution in paras[i + 1]
    assert "Note: Use in the discussion section" in paras


def test_reordered_basket_exports_in_order(project, tmp_path):
    _, items = _fill(project)
    ids = [i.id for i in project.store.list_basket()]
    project.store.reorder_basket(list(reversed(ids)))
    md = export_writeup(project, "md", tmp_path / "w.md").read_text()
    texts = [i.quote.text for i in project.store.list_basket()]
    assert md.index(texts[0]) < md.index(texts[-1]) or len({i.quote.attributes.get("_group") for i in project.store.list_basket()}) > 1


def test_empty_basket_and_bad_format_are_clear_errors(project):
    with pytest.raises(ThematicError, match="empty"):
        export_writeup(project, "md")
    with pytest.raises(ThematicError, match="format"):
        export_writeup(project, "pdf")
