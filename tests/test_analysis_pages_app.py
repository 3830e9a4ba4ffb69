"""The analysis pages (code tree, text search, memos, matrix) driven headlessly with AppTest: each
renders without an error, and each write goes through the library with its audit row (a memo, a
re-parent, a coding from a search hit)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from assistant.coding import decisions
from assistant.project import Project

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGES = ["app_pages/codes.py", "app_pages/find.py", "app_pages/memos.py", "app_pages/matrix.py"]


@pytest.fixture
def project_dir(ui_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("THEMATIC_ANALYST", "tester")
    monkeypatch.setenv("THEMATIC_PROJECT", str(ui_project))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    with Project.open(ui_project) as p:  # a few accepted codings, so the tree and matrix have numbers
        for s in sorted(p.store.list_suggestions(status="pending"), key=lambda s: -s.score)[:12]:
            decisions.accept(p, int(s.id), analyst="tester")
    return ui_project


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _audit(folder: Path) -> list[str]:
    with Project.open(folder) as p:
        return [e.action for e in p.store.list_audit()]


def test_every_analysis_page_renders(project_dir: Path) -> None:
    for page in PAGES:
        at = _page(page)
        assert at.header, page


def test_memo_written_on_the_memos_page(project_dir: Path) -> None:
    at = _page("app_pages/memos.py")
    next(t for t in at.text_area if t.label == "Memo").input("Check what P03 means by *later*")
    next(b for b in at.button if b.label == "Save memo").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Project.open(project_dir) as p:
        assert [m.text for m in p.store.list_memos()] == ["Check what P03 means by *later*"]
    assert _audit(project_dir)[-1] == "memo.add"


def test_reparent_from_the_code_tree(project_dir: Path) -> None:
    with Project.open(project_dir) as p:
        codes = p.store.list_codes()
        child = next(c for c in codes if c.parent_id is not None)
        target = next(c for c in codes if c.parent_id is None and c.id != child.parent_id)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("app_pages/codes.py")
    at.session_state["tree_selected"] = int(child.id)  # type: ignore[arg-type]
    at.run()
    box = next(s for s in at.selectbox if s.label == "New parent")
    box.set_value(int(target.id))  # type: ignore[arg-type]  # a form: the value is sent with its submit
    next(b for b in at.button if b.label == "Move").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Project.open(project_dir) as p:
        assert p.store.get_code(int(child.id)).parent_id == target.id  # type: ignore[arg-type]


def test_code_a_hit_from_the_text_search(project_dir: Path) -> None:
    at = _page("app_pages/find.py")
    next(t for t in at.text_input if t.label == "Find").input("damp*")
    next(b for b in at.button if b.label == "Search").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Project.open(project_dir) as p:
        before = {c.id for c in p.store.list_codings()}
    code_button = next(b for b in at.button if str(b.label).startswith("Code as "))
    code_button.click().run()
    assert not at.exception
    with Project.open(project_dir) as p:
        new = [c for c in p.store.list_codings() if c.id not in before]
        assert len(new) == 1 and new[0].text.lower().startswith("damp") and new[0].coder == "tester"
        assert p.store.get_source(new[0].source_id).text[new[0].start:new[0].end] == new[0].text
    assert _audit(project_dir)[-1] == "decision.add"
