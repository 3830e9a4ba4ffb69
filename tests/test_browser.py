"""The workspace in a real browser: `streamlit run` as a subprocess on a free local port, driven by
Playwright with the SYSTEM Chromium (never a downloaded one). Opens the demo project, visits every
page (screenshots to test-artifacts/screenshots/), accepts a suggestion with a click and another
with the keyboard shortcut, finds a quote and adds it to the basket, and measures each page's render
time after the first load (navigation -> main heading visible and Streamlit's running indicator
gone), writing the figures to test-artifacts/page_times.json.

Nothing may leave the machine, the browser included: every request the page makes is routed
through a guard that lets through only the app's own origin (http://127.0.0.1:PORT) and aborts
and records anything else, so a font, icon or image fetched from a public host fails the test.
A second project, hostile in every field (tests/builders.build_hostile_project), is visited
page by page: no request may go to the canary host, and no <img>, <style>, <script>, link or
style attribute from the data may exist in the DOM: the payload must show as text.

The project is indexed with HashingEmbedder(64) and the app started with THEMATIC_FAKE_EMBEDDER=1
(honoured for tests only, see assistant.ui_support.fake_embedder_dim), so no model load is timed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _workspace_helpers import open_page
from builders import CANARY_HOST, build_hostile_project, copy_project

from assistant.project import Project

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
PAGES = [("corpus", "Corpus"), ("code", "Code"), ("quotes", "Quotes"), ("themes", "Themes"), ("ask", "Ask"),
         ("agreement", "Agreement & export"), ("settings", "Settings")]
BUDGET_S = 2.0

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - environment without playwright
    sync_playwright = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _needs_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); never downloaded by tests")
    if sync_playwright is None:
        pytest.skip("python playwright is not installed")


@contextmanager
def _serve(folder: Path, logdir: Path) -> Iterator[str]:
    """`streamlit run` on a free port of 127.0.0.1 over `folder`; yields the app's URL."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "THEMATIC_FAKE_EMBEDDER": "1", "THEMATIC_ANALYST": "browser-tester"}
    env.pop("THEMATIC_PROJECT", None)
    log = open(logdir / "streamlit.log", "w")  # noqa: SIM115 - open for the server's life
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--", "--project", str(folder)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"streamlit did not start; see {log.name}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ui_templates):
    _needs_browser()
    folder = copy_project(ui_templates(full=True, analyst="browser-tester"),
                          tmp_path_factory.mktemp("ui") / "demo-project")  # the demo, built once per run
    _some_codings(folder)
    with _serve(folder, tmp_path_factory.mktemp("log")) as url:
        yield url, folder


def _launch(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--disable-quic"])


def _guard(page, url: str) -> list[str]:
    """Let through only requests to the app's own origin (and inline data: / blob: URLs); abort
    and record every other one. Web sockets are recorded too (Streamlit's own goes to the origin)."""
    origin = url.rstrip("/")
    leaks: list[str] = []

    def handle(route) -> None:
        req = route.request.url
        if req == origin or req.startswith((origin + "/", "data:", "blob:")):
            route.continue_()
        else:
            leaks.append(req)
            route.abort()

    page.route("**/*", handle)
    ws_origin = origin.replace("http://", "ws://", 1)
    page.on("websocket", lambda ws: None if ws.url.startswith(ws_origin + "/") else leaks.append(ws.url))
    return leaks


def _some_codings(folder: Path, n: int = 40) -> None:
    """An analyst part-way through: the best-scoring suggestions accepted, so the corpus shows
    highlights and the heat map has something to draw."""
    from assistant.coding import decisions

    with Project.open(folder) as p:
        best = sorted(p.store.list_suggestions(status="pending"), key=lambda s: -s.score)
        for s in best[:n]:
            decisions.accept(p, int(s.id), analyst="browser-tester")


def _codings_reach(folder: Path, n: int, timeout: float = 45) -> int:
    """The number of codings once it reaches `n` or the time is up: a click's rerun may start a
    moment after the status widget was last read, so the store is polled rather than read once."""
    deadline = time.time() + timeout
    while (count := _codings(folder)) < n and time.time() < deadline:
        time.sleep(0.2)
    return count


def _settled(page, title: str, timeout: float = 30_000) -> None:
    """The page's main heading is visible and Streamlit is no longer running the script."""
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)
    page.wait_for_timeout(150)  # let the last delta paint before the next action
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=timeout)


def _go(page, title: str) -> float:
    """Navigate with the sidebar (as a user would) and return the seconds until settled."""
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=title).first
    t0 = time.perf_counter()
    link.click()
    _settled(page, title)
    return time.perf_counter() - t0


def _shot(page, name: str, height: int = 1600) -> None:
    """Streamlit scrolls inside its main section, so a tall viewport shows more than full_page would."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(size)


def _codings(folder: Path) -> int:
    with Project.open(folder) as p:
        return len(p.store.list_codings())


def test_workspace_in_browser(server) -> None:
    url, folder = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, {"width": 1440, "height": 900}, home=True)

        # first load of every page (warms caches and imports)
        for _, title in PAGES:
            _go(page, title)
        # then the measured pass, with a screenshot of each page
        times: dict[str, float] = {}
        for slug, title in PAGES:
            times[slug] = round(_go(page, title), 3)
            _shot(page, slug)

        # accept a suggestion with a click, then one with the keyboard shortcut
        _go(page, "Code")
        before = _codings(folder)
        page.locator(".st-key-rv_accept button").click()
        _settled(page, "Code")
        assert _codings_reach(folder, before + 1) == before + 1, "the Accept button accepts"
        # the rerun after the click draws the next suggestion's buttons (and their shortcuts) a
        # moment after the status settles: press only once its Accept button is there again
        expect(page.locator(".st-key-rv_accept button")).to_be_enabled(timeout=30_000)
        page.wait_for_timeout(500)
        page.locator("h2").first.click()  # focus the page, not an input
        page.keyboard.press("a")
        _settled(page, "Code")
        assert _codings_reach(folder, before + 2) == before + 2, "the A shortcut accepts"
        _shot(page, "code-after-accept")

        # find a quote and put it in the basket
        _go(page, "Quotes")
        page.get_by_text("Free text", exact=True).first.click()
        page.get_by_label("Free text (when finding for free text)").fill("social prescribing link workers")
        page.get_by_role("button", name="Find quotes").click()
        _settled(page, "Quotes")
        add = page.get_by_role("button", name="Add to basket").first
        expect(add).to_be_visible(timeout=30_000)
        add.click()
        _settled(page, "Quotes")
        expect(page.get_by_role("button", name="Download Markdown")).to_be_visible(timeout=15_000)
        with Project.open(folder) as p:
            assert len(p.store.list_basket()) == 1
        _shot(page, "quotes-with-basket")

        # draft themes from the accepted codings: the heat map and the theme cards
        _go(page, "Themes")
        page.get_by_role("button", name="Draft themes").click()
        _settled(page, "Themes")
        expect(page.get_by_text("draft ·", exact=False).first).to_be_visible(timeout=30_000)
        _shot(page, "themes-drafted")

        # a citation link opens the source at the cited words
        _go(page, "Ask")
        page.get_by_placeholder("Ask the corpus", exact=False).fill("What do participants say about damp housing?")
        page.keyboard.press("Enter")
        _settled(page, "Ask")
        link = page.locator('[data-testid="stPageLink"] a').first
        expect(link).to_be_visible(timeout=30_000)
        _shot(page, "ask-answer")
        link.click()
        _settled(page, "Corpus")
        expect(page.locator("#cited")).to_be_in_viewport(timeout=10_000)  # scrolled to the cited words
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / "corpus-cited.png"))
        browser.close()

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page_times.json").write_text(json.dumps(
        {"seconds_after_first_load": times, "budget_s": BUDGET_S, "project": "demo corpus (13 sources), HashingEmbedder(64)"},
        indent=2), encoding="utf-8")
    assert not errors, errors
    assert leaks == [], "the workspace fetched from outside this machine"  # F10: fonts, icons, favicon all local
    # Speed is measured, not asserted (a loaded CI box must not turn a timing into a red build):
    # benchmarks/page_speed.py runs this test and reports these figures against the budget.
    assert all(v > 0 for v in times.values()) and len(times) == 7


# -- hostile data: nothing fetched, nothing live ---------------------------------------------------
_LIVE_FROM_DATA = """() => {
  const bad = [];
  const inert = new Set(['title', 'aria-label', 'aria-valuetext', 'value', 'placeholder', 'data-testid']);
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName;
    if ((tag === 'STYLE' || tag === 'SCRIPT') && /canary|__pwned/.test(el.textContent)) {
      bad.push(tag + ': ' + el.textContent.slice(0, 80));
    }
    for (const a of el.attributes) {
      if (/canary/i.test(a.value) && !inert.has(a.name)) bad.push(tag + '@' + a.name + '=' + a.value.slice(0, 80));
    }
  }
  if (window.__pwned) bad.push('a script from the data ran: ' + window.__pwned);
  return bad;
}"""

# page title -> pieces of the payload that must be visible on it, as text
_HOSTILE_PAGES = [
    ("Corpus", ["**text** ![text](http://canary.invalid/text-md.png)", "**code** ![code]("]),
    ("Code", ["Why the AI suggests it: **rationale** ![rationale](", "<style>body{background:url("]),
    ("Quotes", ["![attr](http://canary.invalid/attr-md.png)"]),
    ("Themes", ["**theme** ![theme]("]),
    ("Ask", ["Families say **so**![cited](http://canary.invalid/answer-cited.png)"]),
    ("Agreement & export", []),
    ("Settings", ["![model](http://canary.invalid/model-md.png)"]),
]


def _visible_text(page) -> str:
    """The page's text as a reader sees it (the invisible word joiners that break link shapes
    removed)."""
    return page.locator("body").inner_text().replace("\u2060", "").replace("\u00a0", " ")


def _text_when(page, expected: list[str], timeout: float = 15) -> str:
    """The visible text once every expected string is in it, or when the time is up (a loaded
    machine may paint a card a moment after the script run ends); the caller asserts on it."""
    deadline = time.time() + timeout
    while True:
        text = _visible_text(page)
        if all(e in text for e in expected) or time.time() > deadline:
            return text
        page.wait_for_timeout(250)


def test_hostile_project_leaks_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    """F8/F9/F10 in a real browser: markup planted in every field fetches nothing, styles
    nothing, runs nothing, and reads as the characters it is."""
    _needs_browser()
    SHOTS.mkdir(parents=True, exist_ok=True)
    folder = build_hostile_project(tmp_path_factory.mktemp("hostile") / "proj")
    with _serve(folder, tmp_path_factory.mktemp("hostile-log")) as url, sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, {"width": 1440, "height": 900}, home=True)
        live: dict[str, list[str]] = {}
        missing: dict[str, list[str]] = {}
        for title, expected in _HOSTILE_PAGES:
            _go(page, title)
            if title == "Ask":  # open the list of unsupported sentences: they must be inert too
                page.get_by_text("removed from the answer", exact=False).first.click()
                page.wait_for_timeout(300)
            text = ""
            if title == "Code":  # the first suggestion, then the model's proposed new code
                text = _text_when(page, expected)
                live["Code (first)"] = page.evaluate(_LIVE_FROM_DATA)
                page.get_by_label("Order", exact=True).click()  # document order: each known code, then the new one
                page.get_by_role("option", name="By source").click()
                _settled(page, "Code")
                page.locator(".st-key-rv_next button").first.click()
                _settled(page, "Code")
                extra = ["NEW CODE", "![proposed](http://canary.invalid/proposed-md.png)",
                         "![definition](http://canary.invalid/definition-md.png)"]
                text += _text_when(page, extra)
                expected = [*expected, *extra]
            else:
                text = _text_when(page, expected)
            live[title] = page.evaluate(_LIVE_FROM_DATA)
            missing[title] = [e for e in expected if e not in text]
            _shot(page, "hostile-" + title.split()[0].lower())
        # a citation opens the source at the cited words, still inert
        _go(page, "Ask")
        page.locator('[data-testid="stPageLink"] a').first.click()
        _settled(page, "Corpus")
        live["Corpus (cited)"] = page.evaluate(_LIVE_FROM_DATA)
        ask_text = ""
        _go(page, "Ask")
        ask_text = _visible_text(page)
        browser.close()
    assert not [u for u in leaks if CANARY_HOST in u], "the data made the browser fetch the canary"
    assert leaks == [], "a request left 127.0.0.1"
    assert {k: v for k, v in live.items() if v} == {}, "markup from the data is live in the DOM"
    assert {k: v for k, v in missing.items() if v} == {}, "the hostile text is shown as text"
    assert "every citation checked" not in ask_text  # F9: the caption claims only what was checked
    assert not errors, errors
