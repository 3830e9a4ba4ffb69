"""The Streamlit workspace driven headlessly with `streamlit.testing.v1.AppTest`: every page renders,
review decisions reach the store (coding + audit on accept, none on reject), quotes go into the
basket and out in the Markdown export, Ask keeps its conversation in the store, citations open the
source at the cited words, and the remote-model banner appears on every page."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from assistant.coding import decisions
from assistant.project import Project
from assistant.writing import writeup

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGES = ["app_pages/corpus.py", "app_pages/coding.py", "app_pages/quotes.py", "app_pages/themes.py",
         "app_pages/ask.py", "app_pages/agreement.py", "app_pages/settings.py"]


@pytest.fixture
def project_dir(ui_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo project conftest builds once per test process (analyst "tester")."""
    monkeypatch.setenv("THEMATIC_ANALYST", "tester")
    monkeypatch.setenv("THEMATIC_PROJECT", str(ui_project))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    return ui_project


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if page:
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.message for e in at.exception]
    return at


def shown(markdown: str) -> str:
    """What escaped Markdown (app_pages.render.md) reads as on the page."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "").replace("  \n", "\n")


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
    with Project.open(project_dir) as p:
        codes = len(p.store.list_codes())
    assert re.search(r"\*\*(\d+)\*\* sources", sidebar)[1] == "3"  # the three demo files
    assert re.search(r"\*\*(\d+)\*\* codes", sidebar)[1] == str(codes) and codes > 3


def _queue_first(p: Project):
    """The suggestion the review queue shows first: the highest score, headings and labels left out."""
    from app_pages.support import is_structural, order_suggestions
    from assistant.coding.suggest import list_suggestions

    views = [v for v in list_suggestions(p, "pending") if not is_structural(v.excerpt_text, v.flags)]
    return order_suggestions(views, "score")[0].suggestion


def test_accept_writes_coding_and_audit(project_dir: Path) -> None:
    at = app("app_pages/coding.py")
    with Project.open(project_dir) as p:
        before = len(p.store.list_codings())
        first = _queue_first(p)
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
        first = _queue_first(p)
    button(at, "rv_reject").click().run()
    assert not at.exception
    with Project.open(project_dir) as p:
        assert p.store.list_codings() == []
        assert p.store.get_suggestion(int(first.id)).status == "rejected"
        assert any(e.action == "decision.reject" for e in p.store.list_audit("suggestion", first.id))


def test_edit_changes_code_and_span(project_dir: Path) -> None:
    at = app("app_pages/coding.py")
    with Project.open(project_dir) as p:
        s = _queue_first(p)
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
    assert any("social prescribing" in h.proto.body for h in again.get("html"))  # the question, as text


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
        warnings = " ".join(shown(w.value) for w in at.warning)
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
    from app_pages.render import Mark, source_html
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


def test_thematic_app_runs_the_packaged_workspace_with_the_checkout_settings(tmp_path: Path) -> None:
    """`thematic app` finds the workspace inside the installed package and passes every setting of
    .streamlit/config.toml as a flag (a wheel has no config file), file watcher off."""
    import tomllib

    from assistant.cli.workspace import FLAGS, streamlit_command, workspace_script

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    expected = {f"{section}.{key}": str(value).lower() if isinstance(value, bool) else str(value)
                for section, values in config.items() for key, value in values.items()}
    assert {**FLAGS, "server.address": "127.0.0.1"} == expected
    assert workspace_script().name == "workspace.py" and workspace_script().parent.name == "app_pages"
    cmd = streamlit_command(tmp_path, port=9999)
    assert cmd[cmd.index("run") + 1] == str(workspace_script())
    flags = dict(zip(cmd[cmd.index("run") + 2:cmd.index("--"):2], cmd[cmd.index("run") + 3:cmd.index("--"):2]))
    assert flags["--server.fileWatcherType"] == "none" and flags["--server.port"] == "9999"
    assert flags["--server.address"] == "127.0.0.1" and flags["--browser.gatherUsageStats"] == "false"
    assert cmd[-2:] == ["--project", str(tmp_path)]


def test_render_escapes_markdown_and_checks_colours() -> None:
    from app_pages.render import NEUTRAL, chip_html, label, md, safe_colour

    hostile = "**b** ![i](http://x.test/i.png) <img src=x> :red[r] :material/home: $x$ a@b.test www.x.test\n    code"
    escaped = md(hostile)
    assert re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped).count("*") == 0  # nothing left a renderer could read
    assert "http://" not in escaped.replace("\\", "") and "@b" not in escaped.replace("\\", "")  # no autolinks
    assert shown(escaped) == hostile.replace("\n    ", "\n\u00a0\u00a0\u00a0\u00a0")
    assert "\n" not in label("a\nb") and label("x" * 50, limit=10).endswith("…")
    assert safe_colour("#fff;background:url(http://x.test/)") == NEUTRAL and safe_colour("#A1b2C3") == "#A1b2C3"
    chip = chip_html("<b>n</b>", "#fff;background:url(http://x.test/)")
    assert "url(" not in chip and "&lt;b&gt;n&lt;/b&gt;" in chip


# -- re-ingest, orphaned codings, agreement units, the analyst's name -----------------------------------
P01 = "P01_public_health_consultant.txt"


def _code_p01(project_dir: Path) -> tuple[str, str, str]:
    """Two hand codings on P01; returns (the file's text, a coded phrase to keep, one to lose)."""
    from assistant.demo import corpus_dir

    with Project.open(project_dir) as p:
        src = p.store.get_source(P01)
        exs = [e for e in p.store.list_excerpts(source_id=src.id) if not e.is_interviewer]
        code = p.store.list_codes()[0]
        keep, lose = " ".join(exs[1].text.split()[:10]), " ".join(exs[3].text.split()[:12])
        for phrase in (keep, lose):
            at = src.text.index(phrase)
            decisions.add_coding(p, src.id, at, at + len(phrase), code.id)  # type: ignore[arg-type]
    return (corpus_dir() / P01).read_text(encoding="utf-8"), keep, lose


def _altered(phrase: str) -> str:
    """The phrase with every third word changed: close enough to suggest, too far to re-anchor."""
    return " ".join(f"changed{i}" if i % 3 == 1 else w for i, w in enumerate(phrase.split()))


def test_upload_asks_before_replacing_a_source_with_codings(project_dir: Path) -> None:
    raw, keep, lose = _code_p01(project_dir)
    new = raw.replace(lose, "Completely different words about the weather and nothing else at all.")
    assert new != raw and keep in new
    at = app()
    at.file_uploader(key="upload_files").set_value((P01, new.encode(), "text/plain")).run()
    add = lambda: next(b for b in at.button if b.label == "Add uploaded files").click().run()
    add()
    assert not at.exception, [e.message for e in at.exception]
    assert any("replaces 1 source that carries codings" in w.value for w in at.warning)
    assert any("**1** codings move exactly" in m.value and "**1** become orphaned" in m.value for m in at.markdown)
    plan = next(d.value for d in at.dataframe if "become orphaned" in d.value.columns)
    assert plan.iloc[0]["source"] == P01 and plan.iloc[0]["become orphaned"] == 1 and plan.iloc[0]["new version"] == 2
    with Project.open(project_dir) as p:  # asked, not done
        assert p.store.get_source(P01).version == 1 and len(p.store.list_codings()) == 2
    button(at, "ingest_cancel").click().run()
    assert not any(b.key == "ingest_confirm" for b in at.button)
    with Project.open(project_dir) as p:
        assert p.store.get_source(P01).version == 1
    add()
    button(at, "ingest_confirm").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Project.open(project_dir) as p:
        assert p.store.get_source(P01).version == 2
        assert [c.text for c in p.store.list_codings()] == [keep]
        (orphan,) = p.store.list_codings(status="orphaned")
        assert orphan.text == lose
    notes = " ".join(shown(m.value) for m in at.markdown)
    assert "no longer matches the text; kept as orphaned" in notes  # the ingest notes, after the upload
    assert not any(b.key == "ingest_confirm" for b in at.button)


def test_upload_without_codings_at_risk_ingests_at_once_and_shows_notes(project_dir: Path) -> None:
    text = ("Interviewer: What happens in winter?\n\nAmira: Damp homes, every winter.\n\n"
            "Interviewer: And then?\n\nAmira: The children get ill.\n\nBob: I run the clinic.\n")
    at = app()
    at.file_uploader(key="upload_files").set_value(("P99_new.txt", text.encode(), "text/plain")).run()
    next(b for b in at.button if b.label == "Add uploaded files").click().run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert any("1 added" in s.value for s in at.success)
    with Project.open(project_dir) as p:
        assert p.store.find_source("P99_new.txt") is not None
    notes = " ".join(shown(m.value) for m in at.markdown)
    assert "Read these notes" in notes and "only once" in notes and "'Bob'" in notes


def test_orphan_panel_reattaches_and_dismisses_through_the_library(project_dir: Path) -> None:
    from assistant.coding.orphans import list_orphans
    from assistant.corpus.ingest import ingest_paths
    from index.embeddings import HashingEmbedder

    raw, keep, lose = _code_p01(project_dir)
    docs = project_dir.parent / "v2"
    docs.mkdir()
    (docs / P01).write_text(raw.replace(lose, _altered(lose)).replace(keep, "Other words entirely, nothing alike here."),
                            encoding="utf-8")
    with Project.open(project_dir) as p:
        p.set_embedder(HashingEmbedder(64))
        assert ingest_paths(p, [docs / P01]).ok
        orphans = {c.text: int(c.id) for c in p.store.list_codings(status="orphaned")}  # type: ignore[arg-type]
        suggested = {o.coding_id: o.suggestion for o in list_orphans(p)}
    assert set(orphans) == {keep, lose}
    assert suggested[orphans[lose]] is not None
    words = suggested[orphans[lose]][2]  # type: ignore[index]
    assert "changed4" in words
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["orphans"] = "all"  # the sidebar's link
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("2 orphaned codings to review" in shown(link.proto.label) for link in at.sidebar.get("page_link"))
    assert any("Orphaned codings (2)" in m.value for m in at.markdown)
    bodies = " ".join(h.proto.body for h in at.get("html"))
    assert html.escape(lose) in bodies and f">{html.escape(words)}</mark>" in bodies  # old words, suggested place
    button(at, f"orph_re_{orphans[lose]}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    button(at, f"orph_dis_{orphans[keep]}").click().run()
    with Project.open(project_dir) as p:
        back = p.store.get_coding(orphans[lose])
        assert back.status == "active" and back.text == words
        assert p.store.get_source(P01).text[back.start:back.end] == back.text
        assert p.store.get_coding(orphans[keep]).status == "dismissed"
        events = {e.action: e for e in p.store.list_audit("coding") if e.action.startswith("orphan.")}
    assert events["orphan.reattach"].entity_id == orphans[lose] and events["orphan.reattach"].actor == "tester"
    assert events["orphan.reattach"].details["before"]["text"] == lose
    assert events["orphan.dismiss"].entity_id == orphans[keep]
    assert not any("Orphaned codings" in m.value for m in at.markdown)  # none left: the panel is gone


def test_agreement_page_shows_units_and_that_accepting_the_ai_is_not_independent(project_dir: Path) -> None:
    with Project.open(project_dir) as p:
        for s in p.store.list_suggestions(status="pending")[:12]:
            decisions.accept(p, int(s.id), analyst="tester")  # type: ignore[arg-type]
        first = p.store.list_sources()[0]
    at = app("app_pages/agreement.py")
    assert [e.value for e in at.error if "Not an independent" not in e.value] == []
    assert at.selectbox[0].value == "tester" and str(at.selectbox[1].value).startswith("ai:")
    verdict = next(shown(e.value) for e in at.error)
    assert "Not an independent comparison" in verdict and "accepted suggestions of ai:" in verdict
    units = next(shown(m.value) for m in at.markdown if m.value.startswith("Units"))
    assert "excerpts both coded" in units
    table = next(d.value for d in at.dataframe if "units_basis" in d.value.columns)
    assert list(table.columns[:3]) == ["code", "units", "units_basis"] and set(table["units_basis"]) == {"all"}
    at.radio(key="ag_basis").set_value("assigned").run()
    at.multiselect(key="ag_sources").set_value([int(first.id)]).run()  # type: ignore[arg-type]
    assert not at.exception, [e.message for e in at.exception]
    units = next(shown(m.value) for m in at.markdown if m.value.startswith("Units"))
    assert "sources assigned to both" in units and "1 source(s) assigned to both" in units
    table = next(d.value for d in at.dataframe if "units_basis" in d.value.columns)
    assert set(table["units_basis"]) == {"assigned"}


def test_analyst_is_asked_for_a_name_on_first_use(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    login = getpass.getuser()
    monkeypatch.delenv("THEMATIC_ANALYST", raising=False)
    with Project.open(project_dir) as p:
        p.settings.analyst = login  # a project made without a name: the login's
        p.save_settings()
    at = app()
    box = at.sidebar.text_input(key="analyst_name_input")
    assert box.label == "Your name (recorded in the audit log)"
    box.set_value("Dr Amira Test")
    next(b for b in at.sidebar.button if b.label == "Save my name").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with Project.open(project_dir) as p:
        assert p.settings.analyst == "Dr Amira Test"
        (event,) = p.store.list_audit("analyst")
    assert event.action == "analyst.set" and event.actor == "Dr Amira Test" and event.details["before"] == login
    assert not any(t.key == "analyst_name_input" for t in at.sidebar.text_input)
    assert not any(t.key == "analyst_name_input" for t in app().sidebar.text_input)  # a new session: not asked again
    at = app("app_pages/coding.py")
    button(at, "rv_accept").click().run()
    with Project.open(project_dir) as p:
        assert p.store.list_codings()[-1].coder == "Dr Amira Test"


def test_a_named_analyst_is_not_asked(project_dir: Path) -> None:
    at = app()
    assert not any(t.key == "analyst_name_input" for t in at.sidebar.text_input)
