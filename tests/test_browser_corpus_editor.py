"""The Corpus page's attribute editor in the real browser (system Chromium). It is built only once
its expander is opened (the table editor needs pandas and Arrow, which the cold first page does
not wait for): opening it shows the table and the kind, and a save goes through the library with
its audit row."""

from __future__ import annotations

from pathlib import Path

from builders import copy_project
from test_browser import _needs_browser, _serve, _settled

from assistant.corpus.attributes import ACTION
from assistant.project import Project

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - skipped by _needs_browser
    sync_playwright = None  # type: ignore[assignment]


def _choose(page, box, option_name: str) -> None:  # page, box: Playwright objects
    """Pick `option_name` in a Streamlit selectbox. A rerun that lands as the list opens (the
    sidebar's model-loading line updating, say) closes the list again, so try a few times; a
    missing option still fails (and the caller checks what was saved)."""
    option = page.get_by_role("option", name=option_name, exact=True)
    for _ in range(3):
        box.click()
        try:
            option.click(timeout=10_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    else:
        raise AssertionError(f"option {option_name!r} never appeared in the selectbox")


def test_attribute_editor_opens_on_demand_and_saves(ui_templates, tmp_path: Path) -> None:
    _needs_browser()
    from _workspace_helpers import open_page

    folder = copy_project(ui_templates(full=True, analyst="browser-tester"), tmp_path / "demo-project")
    with Project.open(folder) as p:
        first = p.store.list_sources()[0]
        kind_before = first.kind
    kinds = [k for k in ("document", "field_notes") if k != kind_before]
    with _serve(folder, tmp_path) as url, sync_playwright() as pw:  # type: ignore[misc]
        browser, page, leaks, errors = open_page(pw, url, {"width": 1400, "height": 900}, home=True)
        try:
            editor = page.get_by_test_id("stExpander").filter(has_text="Edit attributes and kind")
            expect(editor).to_be_visible()
            assert editor.get_by_test_id("stDataFrame").count() == 0  # not built while closed
            editor.get_by_text("Edit attributes and kind").click()
            expect(editor.get_by_test_id("stDataFrame")).to_be_visible(timeout=30_000)  # built on opening
            _choose(page, editor.get_by_test_id("stSelectbox"), kinds[0])
            editor.get_by_role("button", name="Save attributes").click()
            expect(page.get_by_text("Attributes saved")).to_be_visible(timeout=30_000)
            _settled(page, "Corpus")
        finally:
            browser.close()
    assert leaks == [] and errors == []
    with Project.open(folder) as p:
        assert p.store.get_source(int(first.id)).kind == kinds[0]  # type: ignore[arg-type]
        assert [e.action for e in p.store.list_audit()][-1] == ACTION
