"""Pseudonymised display in a real browser (Streamlit on 127.0.0.1, Playwright with the system
Chromium, the harness of tests/test_browser.py), one app start: on a project whose speakers and
participants have real names (as speaker labels, participant attributes and file names, never in
the words they say) and the setting on, the pages that list or label people (Corpus, Code with
its source picker and reading pane, Code tree with its participant filter, Text search, Matrix by
participant and by speaker with its CSV, Quotes with the basket, Memos, Double coding, Agreement)
show the pseudonyms and never a real name: not in the page's text, not in a chart's labels, not
in a dropdown's options, not in the reading pane, not in a download."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import CODES, INTERVIEWER, add_turns_source, checkpoint
from test_browser import _needs_browser, _serve, _settled
from test_browser_coding import _pane

from assistant.coding.codebook import import_specs
from assistant.coding.decisions import add_coding
from assistant.coding.memos import add_memo
from assistant.project import Project
from assistant.settings import Settings
from assistant.verbatim import make_quote
from assistant.writing import basket

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - environment without playwright
    sync_playwright = None

VIEWPORT = {"width": 1400, "height": 900}
REAL = ("Sarah", "Jones", "Tom", "Okafor", "Priya", "Patel")  # every part of every real name
# speaker/participant -> the words said: no name is ever spoken, so any real name on a page is a label
INTERVIEWS = {
    "interview_sarah_jones.txt": ({"participant": "Sarah Jones", "sector": "NHS", "organisation": "City Hospital"}, [
        (INTERVIEWER, "What happens in winter?"),
        ("Sarah Jones", "Damp homes, every winter, and then the children get ill and we see them in clinic."),
        (INTERVIEWER, "And the funding?"),
        ("Sarah Jones", "The funding is short term, a year at a time, so nobody can plan for damp repairs."),
    ]),
    "interview_tom_okafor.txt": ({"participant": "Tom Okafor", "sector": "Council", "organisation": "Northbridge"}, [
        (INTERVIEWER, "What do you see?"),
        ("Tom Okafor", "Frequent attenders come back again and again, often lonely older people in damp flats."),
        ("Dr Priya Patel", "I would add that the damp makes their breathing worse every single year."),
    ]),
}


def build_named_project(folder: Path) -> Path:
    with Project.init(folder, Settings(analyst="browser-tester")) as p:
        assert p.settings.privacy.pseudonymise_display  # on for a new project
        import_specs(p, [c.model_copy() for c in CODES])
        for name, (attrs, turns) in INTERVIEWS.items():
            src = add_turns_source(p, name, turns, attrs)
            for phrase, code in (("damp", "Housing and living conditions"), ("every", "Drivers")):
                at = src.text.index(phrase, src.text.index(":") + 1)
                add_coding(p, src.id, at, at + len(phrase), code)
        src = p.store.get_source("interview_sarah_jones.txt")
        said = "Damp homes, every winter"
        start = src.text.index(said)
        basket.add(p, [make_quote(src, start, start + len(said), attribution="Sarah Jones, City Hospital, interview")])
        add_memo(p, "Winter comes up again here.", "source", int(src.id))  # type: ignore[arg-type]
    checkpoint(folder)
    return folder


@pytest.fixture(scope="module")
def named_server(tmp_path_factory: pytest.TempPathFactory):
    _needs_browser()
    folder = build_named_project(tmp_path_factory.mktemp("pseudo") / "named-project")
    with _serve(folder, tmp_path_factory.mktemp("pseudo-log")) as url:
        yield url, folder


_SEEN_JS = """() => {
  const out = [document.body.innerText];
  for (const el of document.querySelectorAll('[aria-label]')) out.push(el.getAttribute('aria-label'));
  for (const el of document.querySelectorAll('svg text, [title]')) out.push(el.textContent, el.getAttribute('title') || '');
  for (const el of document.querySelectorAll('input')) out.push(el.value || '', el.getAttribute('placeholder') || '');
  return out.join('\\n');
}"""


# from the third character of the first "Participant 1:" label to 16 characters into the words after it
_SELECT_FROM_LABEL = """() => {
  const sp = Array.from(document.querySelectorAll('#lines span.sp')).find((x) => x.textContent.startsWith('Participant 1'));
  const r = document.createRange();
  r.setStart(sp.firstChild, 3);
  r.setEnd(sp.nextSibling.firstChild, 16);
  const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r);
  document.getElementById('lines').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
  return [sp.textContent, sel.toString()];
}"""


def _seen(page) -> str:
    """What a reader can see on the page: its text, chart marks' labels and axis text, tooltips,
    input values, and the text of every frame (the reading pane is one)."""
    parts = [page.evaluate(_SEEN_JS)]
    for frame in page.frames[1:]:
        try:
            parts.append(frame.evaluate("() => document.body ? document.body.innerText : ''"))
        except Exception:  # noqa: BLE001, S110 - a frame that went away between listing and reading
            pass
    return "\n".join(parts).replace("\u2060", "")


def _leaks(text: str) -> list[str]:
    return [w for w in REAL if re.search(rf"(?i)(?<![^\W_]){w}(?![^\W_])", text)]


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return (!w || !w.innerText.includes('Running')) && !document.querySelector('[data-testid=\"stSkeleton\"]'); }",
        timeout=60_000)
    page.wait_for_timeout(300)


def _open(page, url: str, path: str, title: str) -> str:
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    _settled(page, title, timeout=60_000)
    _idle(page)
    return _seen(page)


def _pick(page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label`, as a person does."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    _idle(page)


def _matrix_by(page, attribute: str) -> None:
    """Columns of the matrix by `attribute`, once the chart is redrawn with them."""
    _pick(page, "Columns: codes by", attribute)
    page.wait_for_function(
        "(t) => Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart] [aria-label]'))"
        ".some((e) => e.getAttribute('aria-label').startsWith(\"X-axis titled '\" + t + \"'\"))",
        arg=attribute.capitalize(), timeout=30_000)
    _idle(page)


def _download(page, button: str) -> str:
    with page.expect_download(timeout=20_000) as got:
        page.get_by_role("button", name=button).first.click()
    return Path(got.value.path()).read_text(encoding="utf-8")


def test_real_names_never_shown_with_pseudonymised_display(named_server) -> None:
    url, folder = named_server
    with Project.open(folder) as p:  # the fixture really is named: the library (not the screen) has the names
        assert {s.attributes["participant"] for s in p.store.list_sources()} == {"Sarah Jones", "Tom Okafor"}
    seen: dict[str, str] = {}
    downloads: dict[str, str] = {}
    with sync_playwright() as pw:
        from test_browser import _guard, _launch

        browser = _launch(pw)
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        leaks = _guard(page, url)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        seen["corpus"] = _open(page, url, "", "Corpus")
        seen["code: document"] = _open(page, url, "code?view=document", "Code")  # source picker, reading pane
        # a selection that starts inside a label drawn as its pseudonym still maps to the source's offsets
        label, selected = _pane(page).evaluate(_SELECT_FROM_LABEL)
        assert (label, selected) == ("Participant 1:", "ticipant 1: Damp homes, eve")
        # the edge inside the label counts as the label's end: the words "Damp homes, every" (snapped), line 2
        expect(page.get_by_text("3 words · line 2", exact=False)).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Damp homes, every", exact=False).first).to_be_visible(timeout=20_000)
        seen["code: review"] = _open(page, url, "code?view=review", "Code")

        seen["code tree"] = _open(page, url, "codes", "Code tree")
        page.get_by_label("Participant", exact=True).first.click()  # the filter's options, opened
        page.wait_for_timeout(400)
        seen["code tree: participant filter"] = _seen(page)
        page.keyboard.press("Escape")
        _idle(page)
        downloads["code tree segments"] = _download(page, "Download CSV")

        _open(page, url, "find", "Text search")
        page.get_by_label("Find", exact=True).fill("damp")
        page.get_by_role("button", name="Search").click()
        _idle(page)
        expect(page.get_by_text(re.compile(r"\d+ hits? for"))).to_be_visible(timeout=20_000)
        seen["text search"] = _seen(page)

        _open(page, url, "matrix", "Matrix")
        for by in ("participant", "speaker"):
            _matrix_by(page, by)
            seen[f"matrix by {by}"] = _seen(page)
            downloads[f"matrix by {by}"] = _download(page, "Download CSV")
        # a click on a cell (by participant) opens its segments, named by pseudonym too
        _matrix_by(page, "participant")
        cell = page.locator('.mark-rect path[aria-label*="Participant: Participant 1;"]').first
        cell.click()
        _idle(page)
        expect(page.get_by_role("button", name="Download these segments (CSV)")).to_be_visible(timeout=20_000)
        seen["matrix cell"] = _seen(page)
        downloads["matrix cell"] = _download(page, "Download these segments (CSV)")

        seen["quotes"] = _open(page, url, "quotes", "Quotes")
        page.get_by_text("Preview (Markdown)").click()
        _idle(page)
        seen["quotes: write-up preview"] = _seen(page)
        downloads["write-up"] = _download(page, "Download Markdown")

        seen["memos"] = _open(page, url, "memos", "Memos")
        page.get_by_text("A source", exact=True).first.click()  # a memo about a source: the picker lists them
        _idle(page)
        page.get_by_label("Source", exact=True).click()
        page.wait_for_timeout(400)
        seen["memos: source picker"] = _seen(page)
        page.keyboard.press("Escape")
        _idle(page)
        downloads["memos"] = _download(page, "Download these memos (Markdown)")

        seen["themes"] = _open(page, url, "themes", "Themes")
        seen["double coding"] = _open(page, url, "adjudicate", "Double coding")
        seen["agreement"] = _open(page, url, "agreement", "Agreement & export")
        browser.close()

    shown = {where: _leaks(text) for where, text in {**seen, **{f"download: {k}": v for k, v in downloads.items()}}.items()}
    assert {where: bad for where, bad in shown.items() if bad} == {}, "a real name is shown"
    for where in ("corpus", "code: document", "code tree: participant filter", "text search", "matrix by participant",
                  "matrix cell", "quotes", "memos", "download: matrix by participant", "download: write-up",
                  "download: code tree segments"):
        assert "Participant 1" in (seen.get(where) or downloads.get(where.removeprefix("download: "), "")), where
    assert "Participant 2" in seen["matrix by participant"] and "Speaker 1" in seen["matrix by speaker"]
    assert "Speaker 1" in downloads["matrix by speaker"]
    assert leaks == [], "a request left 127.0.0.1"
    assert not errors, errors
