"""The Streamlit workspace driven headlessly with `streamlit.testing.v1.AppTest`: every page renders,
review decisions reach the store (coding + audit on accept, none on reject), quotes go into the
basket and out in the Markdown export, Ask keeps its conversation in the store, citations open the
source at the cited words, and the remote-model banner appears on every page."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from _ui_project import build_ui_project
from streamlit.testing.v1 import AppTest

from assistant.coding import decisions
from assistant.project import Project
from assistant.writing import writeup

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGES = ["app_pages/corpus.py", "app_pages/coding.py", "app_pages/quotes.py", "app_pages/themes.py",
         "app_pages/ask.py", "app_pages/agreement.py", "app_pages/settings.py"]


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("THEMATIC_ANALYST", "tester")  # recorded in the project's settings at init
    folder = build_ui_project(tmp_path / "proj")
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    return folder


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if page:
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
    return at


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def test_every_page_renders(project_dir: Path) -> None:
    at = app()
    for page in PAGES:
        at.switch_page(page)
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.header, page  # each page has its main heading
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "3" in sidebar and "sources" in sidebar


def test_accept_writes_coding_and_audit(project_dir: Path) -> None:
    at = app("app_pages/coding.py")
    with Project.open(project_dir) as p:
        before = len(p.store.list_codings())
        first = p.store.list_suggestions(status="pending")[0]
    assert any("AI suggestion" in c.value for c in at.caption)
    button(at, "rv_accept").click().run()
    assert not at.exception
    with Project.open(project_dir) as p:
        codings = p.store.list_codings()
        assert len(codings) == before + 1
        assert codings[-1].suggestion_id == first.id and codings[-1].coder == "tester"
        assert p.store.get_suggestion(int(first.id)).status == "accepted"
        accepts = [e for e in p.store.list_audit("suggestion", first.id) if e.action == "decision.accept"]
        assert len(accepts) == 1 and accepts[0].actor == "tester"
    # undo walks it back: the coding is removed, the suggestion is pending again
    button(at, "rv_undo").click().run()
    with Project.open(project_dir) as p:
        assert len(p.store.list_codings()) == before
        assert p.store.get_suggestion(int(first.id)).status == "pending"


def test_reject_writes_no_coding(project_dir: Path) -> None:
    at = app("app_pages/coding.py")
    with Project.open(project_dir) as p:
        first = p.store.list_suggestions(status="pending")[0]
    button(at, "rv_reject").click().run()
    assert not at.exception
    with Project.open(project_dir) as p:
        assert p.store.list_codings() == []
        assert p.store.get_suggestion(int(first.id)).status == "rejected"
        assert any(e.action == "decision.reject" for e in p.store.list_audit("suggestion", first.id))


def test_edit_changes_code_and_span(project_dir: Path) -> None:
    at = app("app_pages/coding.py")
    with Project.open(project_dir) as p:
        s = p.store.list_suggestions(status="pending")[0]
        ex = p.store.get_excerpt(s.excerpt_id)
        other = next(c for c in p.store.list_codes() if c.id != s.code_id)
    words = ex.text.split(".")[0].strip()
    form_box = next(sb for sb in at.selectbox if sb.label == "Code" and sb.key is None)
    form_box.set_value(other.id)
    at.text_area[0].set_value(words)
    next(b for b in at.button if b.label == "Save edit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    with Project.open(project_dir) as p:
        (c,) = p.store.list_codings()
        assert c.code_id == other.id and c.text == words
        assert p.store.get_suggestion(int(s.id)).status == "edited"


def test_quote_to_basket_and_markdown_export(project_dir: Path) -> None:
    at = app("app_pages/quotes.py")
    at.radio(key="q_mode").set_value("Free text")
    at.text_input(key="q_text").set_value("social prescribing link workers")
    next(b for b in at.button if b.label == "Find quotes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    button(at, "q_add_0").click().run()
    assert not at.exception
    with Project.open(project_dir) as p:
        (item,) = p.store.list_basket()
        quote = item.quote
        assert p.store.get_source(quote.source_id).text[quote.start:quote.end] == quote.text
        path = writeup.export_writeup(p, "md")
        assert quote.text.split("\n")[0] in path.read_text(encoding="utf-8")
    preview = " ".join(c.value for c in at.code)
    assert quote.text.split("\n")[0] in preview  # what "Download Markdown" serves


def test_ask_keeps_conversation_and_links_citations(project_dir: Path) -> None:
    at = app("app_pages/ask.py")
    at.chat_input[0].set_value("What do participants say about social prescribing?").run()
    assert not at.exception, [e.message for e in at.exception]
    with Project.open(project_dir) as p:
        turns = json.loads(p.store.get_meta("ui.ask_history.tester"))
    assert turns and turns[0]["question"].startswith("What do participants")
    assert turns[0]["evidence"], "evidence-only mode lists the evidence"
    # a fresh session (a reload, another tab) sees the same conversation
    again = app("app_pages/ask.py")
    assert any("social prescribing" in m.value for m in again.markdown)


def test_corpus_opens_at_cited_words(project_dir: Path) -> None:
    with Project.open(project_dir) as p:
        src = next(s for s in p.store.list_sources() if s.kind == "interview")
        ex = [e for e in p.store.list_excerpts(source_id=src.id) if not e.is_interviewer][2]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"source": str(src.id), "start": str(ex.start), "end": str(ex.end)})
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="corpus_source").value == src.id
    assert any("Cited words" in m.value for m in at.markdown)
    bodies = [h.proto.body for h in at.get("html")]
    assert any(html.escape(ex.text[:30]) in b for b in bodies)
    assert any('id="cited"' in b and html.escape(ex.text[:30]) in b for b in bodies), "the text outlines the span"


def test_remote_banner_on_every_page(project_dir: Path) -> None:
    with Project.open(project_dir) as p:
        p.settings.llm.provider = "openai"
        p.settings.llm.model = "gpt-4o-mini"
        p.settings.llm.allow_remote = True
        p.save_settings()
    at = app()
    for page in PAGES:
        at.switch_page(page)
        at.run()
        warnings = " ".join(w.value for w in at.warning)
        assert "Remote model ON" in warnings and "api.openai.com" in warnings, page


def test_settings_saved_to_project(project_dir: Path) -> None:
    at = app("app_pages/settings.py")
    analyst = next(t for t in at.text_input if t.label.startswith("Analyst name"))
    analyst.set_value("Dr Test")
    terms = next(t for t in at.text_area if t.label.startswith("Extra names"))
    terms.set_value("Eastgate\nRiverside Park")
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception and not at.error
    with Project.open(project_dir) as p:
        assert p.settings.analyst == "Dr Test"
        assert p.settings.privacy.terms == ["Eastgate", "Riverside Park"]
        assert p.settings.llm.api_key_env is None


def test_themes_draft_and_heatmap(project_dir: Path) -> None:
    with Project.open(project_dir) as p:
        seen: set[int] = set()
        for s in p.store.list_suggestions(status="pending"):
            if s.code_id not in seen or len(seen) >= 4:
                decisions.accept(p, int(s.id), analyst="tester")
                seen.add(int(s.code_id))  # type: ignore[arg-type]
            if len(p.store.list_codings()) >= 16:
                break
    at = app("app_pages/themes.py")
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "coverage heat map drawn"
    next(b for b in at.button if b.label == "Draft themes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Project.open(project_dir) as p:
        themes = p.store.list_themes()
    assert themes
    at.run()
    button(at, f"t_acc_{themes[0].id}").click().run()
    with Project.open(project_dir) as p:
        assert p.store.get_theme(int(themes[0].id)).status == "accepted"


# -- the pure helpers behind the pages ----------------------------------------------------------------
def test_source_html_escapes_and_marks_codings() -> None:
    from app_pages.support import Mark, source_html
    from assistant.models import Excerpt, Source

    text = "Interviewer: Why?\n\nAmira: <b>Damp</b> & cold homes, every winter."
    src = Source(id=1, name="s", text=text, kind="interview")
    q_start = text.index("Why?")
    a_start = text.index("<b>")
    exs = [Excerpt(id=1, source_id=1, ordinal=0, start=q_start, end=q_start + 4, text="Why?", speaker="Interviewer",
                   is_interviewer=True),
           Excerpt(id=2, source_id=1, ordinal=1, start=a_start, end=len(text), text=text[a_start:], speaker="Amira")]
    coded = (text.index("cold"), text.index(" homes") + 6)
    out = source_html(src, exs, [Mark(*coded, "Housing (tester)", "#d62728")], cited=coded)
    assert "<b>Damp</b>" not in out and "&lt;b&gt;Damp&lt;/b&gt; &amp;" in out
    assert "rgba(214,39,40,0.35)" in out and ">cold homes</mark>" in out and 'id="cited"' in out
    assert "th-int" in out  # interviewer turn greyed


def test_split_citations_and_project_resolution(tmp_path: Path) -> None:
    from app_pages.support import project_dir_from, remote_notice, split_citations
    from assistant.settings import LLMSettings

    assert split_citations("Damp drives it [S3:10-20, S4:5-9]. Also cost [E2].") == [
        "Damp drives it ", (3, 10, 20), (4, 5, 9), ". Also cost [E2]."]
    assert split_citations("Mixed [S3:10-20; E2] and [S5: 1\u20132].") == ["Mixed [S3:10-20; E2] and ", (5, 1, 2), "."]
    assert project_dir_from(["--project", str(tmp_path)], {}) == (tmp_path, False)
    assert project_dir_from([], {"THEMATIC_PROJECT": "x"}) == (Path("x"), False)
    assert project_dir_from([], {})[1] is True
    assert remote_notice(LLMSettings()) is None
    assert remote_notice(LLMSettings(provider="ollama", model="m")) is None
    level, text = remote_notice(LLMSettings(provider="anthropic", model="m", allow_remote=True))  # type: ignore[misc]
    assert level == "warning" and "pseudonymised" in text and "codebook" in text
