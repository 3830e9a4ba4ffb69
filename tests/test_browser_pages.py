"""The analysis pages in a real browser (Streamlit on 127.0.0.1, Playwright with the system
Chromium, the harness of tests/test_browser.py): write a memo, retrieve a code's segments from the
code tree and open one in its source, run a text search and code a hit from the list, run a matrix
query and open a cell's segments. Every request must stay on 127.0.0.1. Every page of the
navigation is photographed at 1400x900 into test-artifacts/screenshots/ (`page-<slug>.png`), for a
person to look at."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from _workspace_helpers import open_page
from builders import copy_project
from test_browser import (
    ARTIFACTS,
    SHOTS,
    _go,
    _needs_browser,
    _serve,
    _settled,
    _some_codings,
)

from assistant.coding import matrix as mx
from assistant.coding import segments as sg
from assistant.project import Project

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - environment without playwright
    sync_playwright = None

VIEWPORT = {"width": 1400, "height": 900}
MEMO = "Damp keeps coming up with GPs [check P05] — *not* a heading"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, ui_templates):
    _needs_browser()
    folder = copy_project(ui_templates(full=True, analyst="browser-tester"),
                          tmp_path_factory.mktemp("pages") / "demo-project")
    _some_codings(folder)
    with _serve(folder, tmp_path_factory.mktemp("pages-log")) as url:
        yield url, folder


def _idle(page, timeout: float = 60_000) -> None:
    """Streamlit has finished the run and painted it (no running indicator, no skeletons)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return (!w || !w.innerText.includes('Running')) && !document.querySelector('[data-testid=\"stSkeleton\"]'); }",
        timeout=timeout)
    page.wait_for_timeout(300)


def _all_nav_links(page) -> None:
    """Streamlit folds a long navigation after ten pages ("View 3 more"): unfold it."""
    more = page.locator('[data-testid="stSidebarNavViewButton"], [data-testid="stSidebarNav"] button',
                        has_text=re.compile(r"View \d+ more"))
    if more.count():
        more.first.click()
        page.wait_for_timeout(300)


def _poll(read, until, timeout: float = 20):
    """`read()` once `until(value)` holds or the time is up (a click's rerun may write a moment
    after the page looks settled)."""
    deadline = time.time() + timeout
    while not until(value := read()) and time.time() < deadline:
        time.sleep(0.2)
    return value


def _with_project(folder: Path, fn):
    with Project.open(folder) as p:
        return fn(p)


def test_every_page_photographed_at_1400(served) -> None:
    url, _ = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, VIEWPORT, home=True)
        _all_nav_links(page)
        links = page.locator('[data-testid="stSidebarNav"] a')
        pages = [(links.nth(i).get_attribute("href") or "", links.nth(i).inner_text().strip().splitlines()[-1])
                 for i in range(links.count())]
        assert len(pages) >= 11, pages  # the original seven and the code tree, text search, memos, matrix
        shot = []
        for href, title in pages:
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            page.wait_for_url(re.compile(re.escape(href.rstrip("/")) + r"/?(\?.*)?$"), timeout=30_000)
            _settled(page, title)  # every page's heading is its navigation title
            _idle(page)
            page.wait_for_timeout(700)  # charts and data grids paint a moment after the run
            slug = href.rstrip("/").rsplit("/", 1)[-1] if href.rstrip("/") != url.rstrip("/") else "corpus"
            page.screenshot(path=str(SHOTS / f"page-{slug}.png"))
            shot.append(slug)
        times: dict[str, float] = {}  # after the first load: each page again, timed as test_browser does
        for (href, title), slug in zip(pages, shot):
            t0 = time.perf_counter()
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            page.wait_for_url(re.compile(re.escape(href.rstrip("/")) + r"/?(\?.*)?$"), timeout=30_000)
            _settled(page, title)
            times[slug] = round(time.perf_counter() - t0, 3)
        browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page_times_all.json").write_text(json.dumps(
        {"seconds_after_first_load": times, "budget_s": 2.0,
         "project": "demo corpus (13 sources, 40 accepted codings), HashingEmbedder(64)"}, indent=2), encoding="utf-8")
    assert {"codes", "find", "memos", "matrix"} <= set(shot) and set(times) == set(shot)
    assert leaks == [], "a request left 127.0.0.1"
    assert not errors, errors


def test_memo_tree_search_and_matrix_in_browser(served) -> None:
    url, folder = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, VIEWPORT, home=True)

        # -- write a memo on the project: stored exactly as typed, shown as text -------------------
        _go(page, "Memos")
        page.get_by_label("Memo", exact=True).fill(MEMO)
        page.get_by_role("button", name="Save memo").click()
        _idle(page)
        memos = _poll(lambda: _with_project(folder, lambda p: [m.text for m in p.store.list_memos()]),
                      lambda v: MEMO in v)
        assert memos == [MEMO]
        shown = page.locator(":not(textarea)").get_by_text(MEMO, exact=True).first  # the edit box holds it too
        expect(shown).to_be_visible(timeout=15_000)  # not read as Markdown
        page.screenshot(path=str(SHOTS / "memos-written.png"))

        # -- the code tree: a click lists the code's segments, one opens in its source -------------
        code = "Social prescribing"
        expected = _with_project(folder, lambda p: sg.code_segments(p, code))
        assert expected, "the fixture accepts suggestions of this code"
        _go(page, "Code tree")
        page.locator(".st-key-code_tree").get_by_role("button", name=code, exact=True).click()
        _idle(page)
        n = len(expected)
        expect(page.get_by_role("heading", name=f"{n} coded segment{'s' if n != 1 else ''}")).to_be_visible(timeout=20_000)
        first = expected[0]
        expect(page.get_by_text(f"{first.source} · line {first.line}", exact=False).first).to_be_visible()
        page.screenshot(path=str(SHOTS / "codes-segments.png"))
        page.locator('[data-testid="stPageLink"] a', has_text="Open in source").first.click()
        _settled(page, "Corpus")
        expect(page.locator("#cited")).to_be_in_viewport(timeout=15_000)

        # -- text search: hits in context, code one from the list ---------------------------------
        _go(page, "Text search")
        page.get_by_label("Find", exact=True).fill("damp*")
        page.get_by_role("button", name="Search").click()
        _idle(page)
        expect(page.get_by_text(re.compile(r"\d+ hits? for"))).to_be_visible(timeout=20_000)
        before = _with_project(folder, lambda p: {c.id for c in p.store.list_codings()})
        page.get_by_role("button", name=re.compile(r"^Code as ")).first.click()
        _idle(page)
        after = _poll(lambda: _with_project(folder, lambda p: {c.id: c for c in p.store.list_codings()}),
                      lambda v: len(v) > len(before))
        new = [c for cid, c in after.items() if cid not in before]
        assert len(new) == 1, "one click, one coding"
        text = _with_project(folder, lambda p: p.store.get_source(new[0].source_id).text)
        assert text[new[0].start:new[0].end] == new[0].text and re.fullmatch(r"(?i)damp\w*", new[0].text)
        assert new[0].coder == "browser-tester"
        expect(page.get_by_role("button", name="Coded").first).to_be_visible(timeout=15_000)
        page.screenshot(path=str(SHOTS / "find-coded.png"))

        # -- matrix: codes by sector; a click on a cell lists its segments ------------------------
        _go(page, "Matrix")
        table = _with_project(folder, lambda p: mx.matrix(p, "sector"))
        row, col = max(((r, c) for r in table.rows for c in table.columns), key=lambda rc: rc[0].cells[rc[1]].count)
        count = row.cells[col].count
        assert count > 0
        chart = page.locator("[data-testid='stVegaLiteChart'] svg")
        expect(chart).to_be_visible(timeout=20_000)
        cell = page.locator(f'.mark-rect path[aria-label*="code: {row.path};"][aria-label*="Sector: {col};"]').first
        cell.click()
        _idle(page)
        expect(page.get_by_role("heading", name=f"{row.path} × {col}")).to_be_visible(timeout=20_000)
        expect(page.get_by_text(f"{count} codings · {count} coded segment", exact=False)).to_be_visible()
        page.screenshot(path=str(SHOTS / "matrix-cell.png"))
        browser.close()
    assert leaks == [], "a request left 127.0.0.1"
    assert not errors, errors


def test_hostile_project_pages_leak_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Markup planted in every field (and in a memo) stays text on the new pages: no request to the
    canary host or anywhere else, no live <img>/<style>/<script> from the data."""
    from builders import CANARY_HOST, build_hostile_project, hostile
    from test_browser import _LIVE_FROM_DATA

    from assistant.coding.memos import add_memo

    _needs_browser()
    folder = build_hostile_project(tmp_path_factory.mktemp("hostile-pages") / "proj")
    with Project.open(folder) as p:
        code = p.store.list_codes()[0]
        add_memo(p, hostile("memo"), "code", int(code.id))  # type: ignore[arg-type]
    with _serve(folder, tmp_path_factory.mktemp("hostile-pages-log")) as url, sync_playwright() as pw:
        browser, page, leaks, errors = open_page(pw, url, VIEWPORT, home=True)
        live: dict[str, list[str]] = {}
        for title in ("Code tree", "Memos", "Matrix", "Text search"):
            _go(page, title)
            if title == "Text search":
                page.get_by_label("Find", exact=True).fill("canary")
                page.get_by_role("button", name="Search").click()
                _idle(page)
            _idle(page)
            live[title] = page.evaluate(_LIVE_FROM_DATA)
            page.screenshot(path=str(SHOTS / f"hostile-page-{title.split()[0].lower()}.png"))
        _go(page, "Memos")
        _idle(page)
        memo_text = page.locator("body").inner_text().replace("\u2060", "")
        browser.close()
    assert not [u for u in leaks if CANARY_HOST in u] and leaks == [], leaks
    assert {k: v for k, v in live.items() if v} == {}, "markup from the data is live in the DOM"
    assert "**memo** ![memo](http://canary.invalid/memo-md.png)" in memo_text  # shown as its characters
    assert not errors, errors
