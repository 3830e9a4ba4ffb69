"""The write-up basket exported as Markdown and DOCX."""

from __future__ import annotations

import pytest
from builders import build_writing_project as build_project
from docx import Document

from assistant.errors import ThematicError
from assistant.writing.quotes import find_quotes
from assistant.writing.writeup import add_quotes, export_writeup, to_markdown


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
    # free-text quotes go under the question that found them, not a generic heading
    assert "## Code: Housing and health" in md and "## Search: \u201cshort-term funding\u201d" in md
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
    headings = lambda md: [line[3:] for line in md.splitlines() if line.startswith("## ")]
    search = "Search: \u201cshort-term funding\u201d"
    # as filled: the code's quotes, then the search's (under the question that found them)
    assert headings(export_writeup(project, "md", tmp_path / "before.md").read_text()) == [
        "Code: Housing and health", search]
    ids = [i.id for i in project.store.list_basket()]
    project.store.reorder_basket(list(reversed(ids)))
    md = export_writeup(project, "md", tmp_path / "w.md").read_text()
    texts = [i.quote.text for i in project.store.list_basket()]
    # reversed, the search's quotes come first, so their group now leads ...
    assert headings(md) == [search, "Code: Housing and health"]
    # ... and, each group being a run of the basket, every quote is exported in basket order
    at = [md.index(f"> {t}") for t in texts]
    assert at == sorted(at) and len(set(at)) == len(texts) == 5
    # within one group the export follows the (reversed) basket order
    housing = [i.quote.text for i in project.store.list_basket()
               if i.quote.attributes.get("_group") == "Code: Housing and health"]
    assert len(housing) >= 2
    at = [md.index(f"> {t}") for t in housing]
    assert at == sorted(at)
    original = [i.quote.text for i in items if i.quote.attributes.get("_group") == "Code: Housing and health"]
    assert housing == list(reversed(original))


def test_exports_are_atomic(project, tmp_path, monkeypatch):
    """A failed export leaves the previous file as it was and no temp file behind."""
    import os

    import docx.document

    _fill(project)
    md, dx = tmp_path / "w.md", tmp_path / "w.docx"
    md.write_text("previous", encoding="utf-8")
    dx.write_bytes(b"previous")

    def broken_replace(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        export_writeup(project, "md", md)
    monkeypatch.undo()

    def broken_save(self, target):
        if isinstance(target, str):
            target = open(target, "wb")  # noqa: SIM115
        target.write(b"PK half a docx")
        raise OSError("disk full")

    monkeypatch.setattr(docx.document.Document, "save", broken_save)
    with pytest.raises(OSError):
        export_writeup(project, "docx", dx)
    assert md.read_text(encoding="utf-8") == "previous" and dx.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".w.")) == []


def test_empty_basket_and_bad_format_are_clear_errors(project):
    with pytest.raises(ThematicError, match="empty"):
        export_writeup(project, "md")
    with pytest.raises(ThematicError, match="format"):
        export_writeup(project, "pdf")


def test_writeup_carries_the_memos_under_what_they_are_about(project, tmp_path):
    from assistant.coding.memos import add_memo

    _fill(project)
    add_memo(project, "Housing keeps coming up with GPs: *check* P03", "code", "Housing and health")
    md = export_writeup(project, "md", tmp_path / "w.md").read_text()
    memo_part = md[md.index("## Memos"):]
    assert "Memo 1 on code Housing and health" in memo_part
    assert "> Housing keeps coming up with GPs: \\*check\\* P03" in memo_part  # the memo's text, escaped
    paras = [p.text for p in Document(str(export_writeup(project, "docx", tmp_path / "w.docx"))).paragraphs]
    assert "Housing keeps coming up with GPs: *check* P03" in paras
    audit = [e for e in project.store.list_audit() if e.action == "export" and e.entity_type == "writeup"]
    assert audit[-1].details["memos"] == 1
    without = export_writeup(project, "md", tmp_path / "n.md", include_memos=False).read_text()
    assert "## Memos" not in without
