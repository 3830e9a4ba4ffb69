"""Hostile data in the workspace (findings F8, F9, F10), headless with Streamlit's AppTest.

One project carries markup in every field the workspace shows (source names from a CSV id
column, participant attributes, source text, code names and a style-breaking code colour, AI
rationales, proposed codes and definitions, a theme and its AI summary, a basket note, an Ask
answer, the model's name). Every page is rendered and every string Streamlit would read as
Markdown (bodies of markdown, captions, alerts and toasts; every label and help text; radio
options) must carry the payload only escaped, and every `st.html` body only as escaped text:
nothing there could fetch, style or run. The real browser (tests/test_browser.py) checks the same
on the rendered DOM and counts requests."""

from __future__ import annotations

import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from builders import CANARY_HOST, HOSTILE_COLOUR, build_hostile_project
from streamlit.testing.v1 import AppTest

from assistant.project import Project

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")

# what the payload looks like when it is live: any of these raw in a Markdown field is a leak
LIVE_MARKDOWN = ("![", "](http", "<img", "<style", "<script", ":red[", ":material/home:", "$x^2$",
                 f"http://{CANARY_HOST}", f"@{CANARY_HOST}")
MARKDOWN_BODIES = {"markdown", "caption", "header", "subheader", "title", "error", "warning", "info", "success",
                   "toast", "exception", "badge"}
PLAIN_TEXT_OPTIONS = {"selectbox", "multiselect"}  # shown as text by Streamlit


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def markdown_fields(at: AppTest) -> list[tuple[str, str]]:
    """(where, text) for every string on the page that Streamlit renders as Markdown."""
    out = []
    for node in _nodes(at._tree):
        kind, proto = getattr(node, "type", "?"), getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        for field, value in proto.ListFields():
            if field.name in ("label", "help") or (field.name == "body" and kind in MARKDOWN_BODIES):
                out.append((f"{kind}.{field.name}", str(value)))
            elif field.name == "options" and kind == "radio":
                out += [(f"{kind}.option", str(v)) for v in value]
    for t in getattr(at, "toast", []):
        out.append(("toast", t.value))
    return out


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.live: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and CANARY_HOST in value and name != "title":
                self.live.append(f"<{tag} {name}={value[:60]!r}>")
        if tag in ("img", "script", "iframe", "link", "object", "embed"):
            self.live.append(f"<{tag}>")
        self._in = tag

    def handle_data(self, data):
        if self._in in ("style", "script") and (CANARY_HOST in data or "__pwned" in data):
            self.live.append(f"<{self._in}> {data[:60]!r}")


def html_leaks(at: AppTest) -> list[str]:
    out = []
    for h in at.get("html"):
        parser = _Tags()
        parser.feed(h.proto.body)
        out += parser.live
    return out


def unescaped(markdown: str) -> str:
    """The Markdown with every backslash-escaped character blanked out: what is left is what a
    Markdown renderer would read as syntax."""
    return re.sub(r"\\[!-/:-@\[-`{-~]", "\x00", markdown)


def shown(markdown: str) -> str:
    """What escaped Markdown reads as on the page."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "").replace("\u00a0", " ")


def page_text(at: AppTest) -> str:
    """Everything the page shows as text: Markdown fields unescaped, HTML bodies as text."""
    bodies = [re.sub(r"<[^>]+>", "", h.proto.body) for h in at.get("html")]
    return "\n".join([shown(t) for _, t in markdown_fields(at)] + [html.unescape(b) for b in bodies])


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_hostile_project(tmp_path_factory.mktemp("hostile") / "proj")


@pytest.fixture
def open_page(hostile_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("THEMATIC_PROJECT", str(hostile_dir))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")

    def _open(page: str, source: str | None = None, steps: int = 0) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        if source:  # open the Corpus page on the source whose name starts so
            with Project.open(hostile_dir) as p:
                at.query_params["source"] = str(next(s.id for s in p.store.list_sources() if s.name.startswith(source)))
        at.run()
        if page != "app_pages/corpus.py":
            at.switch_page(page).run()
        if steps and page == "app_pages/coding.py":  # document order: each excerpt's known code, then the new one
            at.selectbox(key="rv_order").set_value("source").run()
        for _ in range(steps or 0):  # the Code page's "next suggestion" button
            next(b for b in at.button if b.key == "rv_next").click().run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return _open


# (finding id, page, a source to open on the Corpus page or how many "next" clicks on the Code page,
#  a piece of the payload that must be on the page as text)
CASES = [
    ("F8-source-name-from-csv-id", "app_pages/corpus.py", "responses.csv", "responses.csv#**source** ![source]("),
    ("F8-source-text", "app_pages/corpus.py", 0, f"**text** ![text](http://{CANARY_HOST}/text-md.png)"),
    ("F8-participant-attribute-in-basket-caption", "app_pages/quotes.py", 0, f"![attr](http://{CANARY_HOST}/attr-md.png)"),
    ("F8-code-name-chip", "app_pages/corpus.py", 0, f"**code** ![code](http://{CANARY_HOST}/code-md.png)"),
    ("F8-code-colour-in-style", "app_pages/corpus.py", 0, "Short-term grants"),
    ("F8-code-definition", "app_pages/coding.py", 0, f"![code-definition](http://{CANARY_HOST}/code-definition-md.png)"),
    ("F8-suggestion-rationale", "app_pages/coding.py", 0, "Why the AI suggests it: **rationale** ![rationale]("),
    ("F8-proposed-code-name", "app_pages/coding.py", 1, f"![proposed](http://{CANARY_HOST}/proposed-md.png)"),
    ("F8-proposed-code-definition", "app_pages/coding.py", 1, f"![definition](http://{CANARY_HOST}/definition-md.png)"),
    ("F8-theme-name-and-ai-summary", "app_pages/themes.py", 0, f"![summary](http://{CANARY_HOST}/summary-md.png)"),
    ("F8-ask-answer-markup", "app_pages/ask.py", 0, f"Families say **so**![cited](http://{CANARY_HOST}/answer-cited.png)"),
    ("F8-model-name-in-settings-and-sidebar", "app_pages/settings.py", 0, f"![model](http://{CANARY_HOST}/model-md.png)"),
    ("F8-model-name-in-engine-radio", "app_pages/coding.py", 0, "LLM: ollama · **model**"),
    ("F8-agreement-page", "app_pages/agreement.py", 0, "Agreement"),
]


@pytest.mark.parametrize(("page", "steps", "visible"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_text_is_shown_as_text_never_as_markup(open_page, page: str, steps: int | str, visible: str) -> None:
    at = open_page(page, **({"source": steps} if isinstance(steps, str) else {"steps": steps}))
    live = [(where, text[:120]) for where, text in markdown_fields(at)
            for marker in LIVE_MARKDOWN if marker in unescaped(text)]
    assert live == [], "Markdown from data would render live"
    assert html_leaks(at) == [], "HTML from data would render live"
    assert visible in page_text(at), "the hostile text is shown, as text"


def test_code_colour_is_never_put_into_a_style(open_page) -> None:
    at = open_page("app_pages/corpus.py")
    bodies = " ".join(h.proto.body for h in at.get("html"))
    assert "Short-term grants" in bodies and "#888888" in bodies  # the coding is drawn, in the neutral colour
    assert HOSTILE_COLOUR not in bodies and "url(" not in bodies.replace("url(http", "")  # no data in a style


def test_proposed_code_is_marked_new(open_page) -> None:
    at = open_page("app_pages/coding.py", steps=1)
    bodies = " ".join(h.proto.body for h in at.get("html"))
    assert "NEW CODE" in bodies and "dashed" in bodies
    assert any("not in your codebook" in c.value for c in at.caption)
    queue = next(d for d in at.dataframe)
    assert any(str(v).startswith("new code: ") for v in queue.value["code"])


def test_ask_never_shows_an_uncited_sentence_under_the_checked_caption(open_page) -> None:
    """F9: the invented sentence is not part of the answer; it is listed apart, marked
    unsupported, and the answer's caption claims only what was checked."""
    at = open_page("app_pages/ask.py")
    bodies = [h.proto.body for h in at.get("html")]
    answer = next(b for b in bodies if "Damp homes bring the children in" in b)
    assert "Acacia Road" not in answer and "<sup>[1]</sup>" in answer
    flagged = [b for b in bodies if "Acacia Road" in b]
    assert flagged and all("UNSUPPORTED" in b for b in flagged)
    captions = [shown(c.value) for c in at.caption]
    assert not any("every citation checked" in c for c in captions)
    assert any("each sentence shown cites a passage" in c for c in captions)
    assert any("removed from the answer" in shown(e.label) for e in at.expander)


# -- re-ingest, orphaned codings and the analyst's name (findings W1-W4) ----------------------------
# A hostile coding (its words are the payload planted in the source text) is orphaned by a re-ingest
# that drops those words; a second re-ingest, through the upload box, orphans the hostile code's
# coding, and its note quotes the code and the words. The name prompt gets a name with markup (kept,
# shown as text) and one with control / invisible characters (refused in one line).
P01 = "P01_transcript.txt"
HOSTILE_NAME = f"**Dr** ![n](http://{CANARY_HOST}/name.png) :red[n]"


@pytest.fixture(scope="module")
def orphan_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assistant.coding.decisions import add_coding
    from assistant.corpus.ingest import ingest_paths
    from index.embeddings import HashingEmbedder

    folder = build_hostile_project(tmp_path_factory.mktemp("orphans") / "proj")
    docs = folder.parent / f"{folder.name}-docs"
    with Project.open(folder) as p:
        p.set_embedder(HashingEmbedder(64))
        src = p.store.get_source(P01)
        payload = src.text[src.text.index("**text**"):src.text.index("end-text") + len("end-text")]
        at = src.text.index(payload)
        add_coding(p, src.id, at, at + len(payload), "Short-term funding")  # type: ignore[arg-type]
        v2 = docs / "v2"
        v2.mkdir()
        (v2 / P01).write_text((docs / P01).read_text(encoding="utf-8").replace(payload, "Then the mould."),
                              encoding="utf-8")
        assert ingest_paths(p, [v2 / P01]).ok
        assert [c.text for c in p.store.list_codings(status="orphaned")] == [payload]
    return folder


def _orphans_page(folder: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["orphans"] = "all"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _reingest_through_upload(at: AppTest, folder: Path) -> AppTest:
    docs = folder.parent / f"{folder.name}-docs"
    text = (docs / "v2" / P01).read_text(encoding="utf-8").replace("Damp homes every winter bring the children in. ", "")
    at.file_uploader(key="upload_files").set_value((P01, text.encode(), "text/plain")).run()
    next(b for b in at.button if b.label == "Add uploaded files").click().run()
    confirm = [b for b in at.button if b.key == "ingest_confirm"]
    if confirm:  # not when an earlier case of this module already made this very version
        confirm[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    with Project.open(folder) as p:
        assert p.store.get_source(P01).version == 3
    return at


def _name(at: AppTest, name: str) -> AppTest:
    at.sidebar.text_input(key="analyst_name_input").set_value(name)
    next(b for b in at.sidebar.button if b.label == "Save my name").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


# (finding id, what is done on the Corpus page, a piece of the payload that must be on the page as text)
ORPHAN_CASES = [
    ("W1-orphan-old-words-are-source-text", lambda at, f: at, f"**text** ![text](http://{CANARY_HOST}/text-md.png)"),
    ("W1-orphan-suggested-place-and-source-name", lambda at, f: at, "Orphaned codings (1)"),
    ("W2-ingest-note-quotes-code-and-words", _reingest_through_upload,
     "no longer matches the text; kept as orphaned"),
    ("W2-orphan-of-a-hostile-code", _reingest_through_upload, f"**code** ![code](http://{CANARY_HOST}/code-md.png)"),
    ("W3-analyst-name-with-markup-shown-as-text", lambda at, f: _name(at, HOSTILE_NAME), f"Analyst: {HOSTILE_NAME}"),
]


@pytest.mark.parametrize(("act", "visible"), [c[1:] for c in ORPHAN_CASES], ids=[c[0] for c in ORPHAN_CASES])
def test_reingest_orphans_and_name_show_data_as_text(orphan_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                       act, visible: str) -> None:
    at = act(_orphans_page(orphan_dir, monkeypatch), orphan_dir)
    live = [(where, text[:120]) for where, text in markdown_fields(at)
            for marker in LIVE_MARKDOWN if marker in unescaped(text)]
    assert live == [], "Markdown from data would render live"
    assert html_leaks(at) == [], "HTML from data would render live"
    assert visible in page_text(at), "the hostile text is shown, as text"


# (finding id, a name typed into the first-use prompt, the one line that refuses it)
NAME_CASES = [
    ("W4-analyst-name-zero-width", "Dr\u200bTest", "control or invisible characters"),
    ("W4-analyst-name-terminal-escape", "Dr \x1b[31mTest", "control or invisible characters"),
    ("W4-analyst-name-blank", "   \n ", "say your name"),
    ("W4-analyst-name-ai-coder", "ai:offline:minilm", "how the AI coders are named"),
    ("W4-analyst-name-overlong", "x" * 500, "at most 80 characters"),
]


@pytest.mark.parametrize(("name", "problem"), [c[1:] for c in NAME_CASES], ids=[c[0] for c in NAME_CASES])
def test_a_bad_analyst_name_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                   problem: str) -> None:
    folder = tmp_path / "proj"
    Project.init(folder).close()  # no THEMATIC_ANALYST: the login name, so the workspace asks
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    before = Project.open(folder)
    login, audit = before.settings.analyst, before.store.last_audit_id()
    before.close()
    _name(at, name)
    errors = [shown(e.value) for e in at.error]
    assert len(errors) == 1 and problem in errors[0] and "Traceback" not in errors[0], errors
    with Project.open(folder) as p:
        assert p.settings.analyst == login and p.store.last_audit_id() == audit  # nothing written
    assert any(t.key == "analyst_name_input" for t in at.sidebar.text_input)  # still asked


# -- editing a suggestion's span (issue: "...we just don't c" saved with a success toast) ---------------
# A long turn; the analyst trims the words to code in the review card's text box. The edit must land
# on the analyst's words, whole, wherever they are in the source, or be refused in one line with
# nothing written.
LONG_TURN = (
    "We tried everything that winter. The council sent someone round about the damp twice and nothing "
    "changed, and the landlord said it was our fault for drying clothes inside. " * 3
    + "By March my youngest was on her third course of antibiotics, and the GP wrote a letter. "
    "Honestly, we just don't care about the paperwork any more, we care about the mould on her bedroom wall. "
    "That is what nobody joins up."
)


@pytest.fixture
def long_turn_project(tmp_path: Path):
    from builders import INTERVIEWER, add_turns_source, build_coding_project

    from assistant.models import Suggestion

    p = build_coding_project(tmp_path)
    add_turns_source(p, "P09", [(INTERVIEWER, "What happened that winter?"), ("Mina", LONG_TURN)],
                     {"participant": "Mina"})
    ex = next(e for e in p.store.list_excerpts(source_id=p.store.get_source("P09").id) if not e.is_interviewer)
    code = p.store.get_code("Housing and living conditions")
    (s,) = p.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id, code_id=code.id, score=2.0,
                                               evidence_start=ex.start, evidence_end=ex.start + 32,
                                               evidence_text=ex.text[:32], engine="offline", model="m")])
    yield p, int(s.id), ex  # type: ignore[arg-type]
    p.close()


# (case id, the words the analyst leaves in the box, the stored words, or the problem the one line names)
SPAN_EDITS = [
    ("far-into-the-excerpt", "we just don't care about the paperwork any more", "we just don't care about the paperwork any more"),
    ("cut-last-word-is-taken-whole", "we just don't c", "we just don't care"),
    ("across-a-line-of-spaces", "the GP  wrote\na letter", "the GP wrote a letter"),
    ("slip-inside-the-words-repaired-whole", "By March my youngest was on her thrid course of antibiotics",
     "By March my youngest was on her third course of antibiotics"),
    ("curly-quotes-typed", "we just don\u2019t care", "we just don't care"),
    ("invented-words-at-the-end", "we just don't care about the paperwork any more, we care about the rent arrears",
     "not in the source"),
    ("words-from-another-source", "The damp and black mould in these flats is terrible", "not in the source"),
    ("words-nowhere", "a sentence the participant never said at all", "not in the source"),
    ("blank", "  \n ", "empty"),
]


@pytest.mark.parametrize(("words", "outcome"), [c[1:] for c in SPAN_EDITS], ids=[c[0] for c in SPAN_EDITS])
def test_an_edited_span_lands_on_the_analysts_words_or_is_refused(long_turn_project, words: str, outcome: str) -> None:
    from assistant.coding import decisions
    from assistant.errors import VerificationError

    p, sid, ex = long_turn_project
    src = p.store.get_source(ex.source_id)
    before = p.store.last_audit_id()
    if outcome in ("not in the source", "empty"):
        with pytest.raises(VerificationError) as err:
            decisions.edit(p, sid, start=ex.start, text=words)  # the excerpt's start: where to look first
        message = str(err.value)
        assert "\n" not in message and outcome in message, message
        assert p.store.last_audit_id() == before and p.store.get_suggestion(sid).status == "pending"
        assert [c for c in p.store.list_codings() if c.suggestion_id == sid] == []
        return
    coding = decisions.edit(p, sid, start=ex.start, text=words)
    assert coding.text == src.text[coding.start:coding.end] == outcome
    assert ex.start + 300 < coding.start < ex.end, "the words far into the turn, not a match near its start"
