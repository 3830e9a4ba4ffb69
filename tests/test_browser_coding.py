"""Hand coding in a real browser (Playwright, the SYSTEM Chromium): select words in the reading
pane (a custom component in its own iframe), apply a code, check the stored coding is exactly the
selected words snapped to whole words with its audit row; select the coding's stripe and remove it;
edit a suggestion's span to words far into a long excerpt and check the stored text is exactly
those words. Every request is recorded: none may leave 127.0.0.1. Screenshots of the Code page at
1400x900 go to test-artifacts/screenshots/.

The selection is made the way the browser makes one (a DOM Range over the pane's text nodes, then
the mouse-up the pane listens for), deliberately cutting words at both ends, so the offsets the
pane computes and the snapping the library does are both exercised."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _workspace_helpers import open_page
from builders import CANARY_HOST, build_hostile_project, copy_project
from test_browser import (
    _LIVE_FROM_DATA,
    SHOTS,
    _needs_browser,
    _serve,
    _settled,
)

from assistant.models import Suggestion
from assistant.project import Project
from assistant.verbatim import snap_to_words

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - environment without playwright
    sync_playwright = None

VIEWPORT = {"width": 1400, "height": 900}
ANALYST = "browser-tester"


def _poll(fn, timeout: float = 20.0):
    """`fn()` once it is truthy, or its last value when the time is up (the store is written by
    the app's rerun a moment after the click)."""
    deadline = time.time() + timeout
    while True:
        out = fn()
        if out or time.time() > deadline:
            return out
        time.sleep(0.2)


def _longest_turn(folder: Path) -> tuple[int, int, str]:
    """(source id, excerpt id, source name) of the longest participant turn in the project."""
    with Project.open(folder) as p:
        ex = max((e for e in p.store.list_excerpts() if not e.is_interviewer), key=lambda e: e.end - e.start)
        return int(ex.source_id), int(ex.id), p.store.get_source(ex.source_id).name  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def coding_server(tmp_path_factory: pytest.TempPathFactory, ui_templates):
    _needs_browser()
    folder = copy_project(ui_templates(full=True, analyst=ANALYST), tmp_path_factory.mktemp("hc") / "demo-project")
    sid, eid, _ = _longest_turn(folder)
    with Project.open(folder) as p:  # top of the queue (highest score): a suggestion on the longest turn
        code = p.store.list_codes()[0]
        p.store.add_suggestions([Suggestion(excerpt_id=eid, source_id=sid, code_id=code.id, score=99.0,
                                            rationale="test: long turn", engine="offline", model="test")])
        # overlapping codings near the top of that source, so the stripes have lanes to show
        from assistant.coding.decisions import add_coding

        turns = [e for e in p.store.list_excerpts(source_id=sid) if not e.is_interviewer][:3]
        first, second = turns[0], turns[1]
        add_coding(p, sid, first.start, first.end, p.store.list_codes()[2].name, analyst=ANALYST)
        add_coding(p, sid, first.start + (first.end - first.start) // 2, second.end, p.store.list_codes()[3].name,
                   analyst=ANALYST)
        add_coding(p, sid, second.start, second.start + 30, p.store.list_codes()[4].name, analyst=ANALYST)
    with _serve(folder, tmp_path_factory.mktemp("hc-log")) as url:
        yield url, folder


def _pane(page):
    """The reading pane's frame, once its text is drawn."""
    deadline = time.time() + 30
    while time.time() < deadline:
        for f in page.frames:
            if "thematic_reading_pane" in f.url:
                try:
                    if f.evaluate("() => document.querySelectorAll('#lines .tx').length") > 0:
                        return f
                except Exception:  # noqa: BLE001, S112 - the frame is still loading: look again
                    continue
        page.wait_for_timeout(200)
    raise AssertionError("the reading pane did not draw the source")


_SELECT = """([s, e]) => {
  const spans = Array.from(document.querySelectorAll('#lines [data-o]'));
  function point(o) {
    let best = spans[0];
    for (const sp of spans) { if (Number(sp.dataset.o) <= o) best = sp; else break; }
    const node = best.firstChild;
    return [node, Math.min(o - Number(best.dataset.o), node.length)];
  }
  const r = document.createRange();
  const a = point(s), b = point(e);
  r.setStart(a[0], a[1]); r.setEnd(b[0], b[1]);
  const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r);
  document.getElementById('lines').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
  return sel.toString();
}"""


def _open_document(page, url: str, sid: int) -> None:
    page.goto(f"{url}/code?view=document&source={sid}", wait_until="domcontentloaded")
    _settled(page, "Code", timeout=60_000)


def _shot(page, name: str) -> None:
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_hand_coding_in_the_reading_pane(coding_server) -> None:
    url, folder = coding_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    sid, eid, _name = _longest_turn(folder)
    with Project.open(folder) as p:
        text = p.store.get_source(sid).text
        ex = p.store.get_excerpt(eid)
        code = p.store.list_codes()[1]
        audit_before = p.store.last_audit_id()
    # words in the middle of the long turn, the selection cutting a word at each end
    words = ex.text.split()
    lo = text.index(" ".join(words[5:12]), ex.start)
    hi = lo + len(" ".join(words[5:12]))
    cut = (lo + 2, hi - 2)
    expected = snap_to_words(text, *cut)
    assert expected == (lo, hi)

    with sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, VIEWPORT)
        _open_document(page, url, sid)
        pane = _pane(page)
        _shot(page, "code-document")

        assert pane.evaluate(_SELECT, list(cut)) == text[cut[0]:cut[1]]
        expect(page.get_by_text(text[lo:hi][:40], exact=False).first).to_be_visible(timeout=20_000)  # the snapped words
        page.get_by_label("Codes", exact=True).click()
        page.get_by_role("option", name=code.name).click()
        page.keyboard.press("Escape")
        page.locator("h2").first.click()  # leave the picker: it shrinks, and the button moves up
        _settled(page, "Code")
        expect(page.locator(".st-key-hc_apply button")).to_be_enabled(timeout=20_000)
        _shot(page, "code-document-selection")
        page.locator(".st-key-hc_apply button").click()
        _settled(page, "Code")

        def made():
            with Project.open(folder) as p:
                return [c for c in p.store.list_codings(source_id=sid) if c.origin == "manual" and c.code_id == code.id]
        (coding,) = _poll(made)
        assert (coding.start, coding.end) == expected and coding.text == text[lo:hi]
        with Project.open(folder) as p:
            adds = [e for e in p.store.list_audit("coding", coding.id) if e.action == "decision.add"]
            assert adds and adds[0].id > audit_before and adds[0].actor == ANALYST

        # the new stripe is drawn; selecting it offers Remove
        pane = _pane(page)
        tag = pane.locator(f'.tag[data-coding="{coding.id}"]')
        expect(tag).to_be_visible(timeout=20_000)
        assert code.name in tag.inner_text()
        tag.click()
        expect(page.locator(".st-key-hc_remove button")).to_be_visible(timeout=20_000)
        _shot(page, "code-document-coding")
        page.locator(".st-key-hc_remove button").click()
        _settled(page, "Code")

        def removed():
            with Project.open(folder) as p:
                c = p.store.get_coding(coding.id)
                return c.status == "removed" and any(e.action == "coding.remove" for e in p.store.list_audit("coding", c.id))
        assert _poll(removed), "Remove marks the coding removed, with its audit row"

        # Undo takes the remove back: the coding is active again, through a new audit row
        undo = page.locator(".st-key-hc_undo button", has_text="Undo removing").first  # once the rerun drew it
        expect(undo).to_be_visible(timeout=30_000)
        undo.click()
        _settled(page, "Code")

        def restored():
            with Project.open(folder) as p:
                c = p.store.get_coding(coding.id)
                return c.status == "active" and any(e.action == "coding.undo" for e in p.store.list_audit("coding", c.id))
        assert _poll(restored), "Undo restores the removed coding, with its own audit row"

        # find in the document: the matches are counted
        pane = _pane(page)
        needle = words[8]
        pane.locator("#find").fill(needle)
        expect(pane.locator("#count")).to_contain_text("of", timeout=10_000)

        # edit a span far into the long turn: the stored words are exactly the ones typed
        page.goto(f"{url}/code?view=review", wait_until="domcontentloaded")
        _settled(page, "Code", timeout=60_000)
        with Project.open(folder) as p:
            (s,) = [x for x in p.store.list_suggestions(status="pending") if x.score == 99.0]
        tail = ex.text.split()
        far = " ".join(tail[-9:-2])  # seven whole words near the end of the turn
        assert ex.text.index(far) > 300, "the edited words are far into the excerpt"
        expect(page.locator(".st-key-rv_accept button")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("test: long turn", exact=False)).to_be_visible(timeout=30_000)  # our suggestion, first
        _shot(page, "code-review")
        page.get_by_text("Edit before accepting", exact=False).click()
        box = page.get_by_label("Words to code", exact=False)
        expect(box).to_be_visible(timeout=10_000)
        box.fill(far)
        _shot(page, "code-review-edit")
        page.get_by_role("button", name="Save edit").click()
        _settled(page, "Code")

        def edited():
            with Project.open(folder) as p:
                return [c for c in p.store.list_codings(source_id=sid) if c.suggestion_id == s.id]
        (ec,) = _poll(edited)
        assert ec.text == far and text[ec.start:ec.end] == far and ec.start > ex.start + 300
        _shot(page, "code-review-after-edit")
        browser.close()
    assert not errors, errors
    assert leaks == [], "a request left 127.0.0.1"


def test_reading_pane_shows_hostile_text_as_text(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Markup planted in the source text and the code names is drawn as characters in the pane:
    nothing fetched, nothing styled, nothing run, inside the component's frame too."""
    _needs_browser()
    folder = build_hostile_project(tmp_path_factory.mktemp("hc-hostile") / "proj")
    with Project.open(folder) as p:
        src = next(s for s in p.store.list_sources() if "**text**" in p.store.get_source(s.id).text)
        sid, text = int(src.id), p.store.get_source(src.id).text  # type: ignore[arg-type]
        coded = [c for c in p.store.list_codings() if c.source_id == sid]
    with _serve(folder, tmp_path_factory.mktemp("hc-hostile-log")) as url, sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, VIEWPORT)
        _open_document(page, url, sid)
        pane = _pane(page)
        shown = pane.evaluate("() => document.getElementById('lines').innerText")
        live = pane.evaluate(_LIVE_FROM_DATA) + page.evaluate(_LIVE_FROM_DATA)
        tags = pane.evaluate("() => Array.from(document.querySelectorAll('.tag')).map(t => t.textContent)")
        _shot(page, "hostile-code-document")
        browser.close()
    payload = text[text.index("**text**"):text.index("**text**") + 40]
    assert payload in shown.replace("\u00a0", " "), "the source's markup is shown as its characters"
    assert live == [], "markup from the data is live in the pane"
    assert len(tags) == len(coded) and all(t for t in tags)
    assert not [u for u in leaks if CANARY_HOST in u] and leaks == [], "a request left 127.0.0.1"
    assert not errors, errors
