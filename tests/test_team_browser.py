"""A team in a real browser: a project with users shows only the sign-in page until someone signs
in; two coders sign in one after the other, each finishes a blind double-coding assignment, and
the lead signs in, sees agreement per code and decides a disagreement, which becomes the consensus
coder's coding. The codings themselves are made through the library between the sign-ins (the
same `decisions.add_coding` the Code page calls), so this test does not depend on how the Code
page's selection works; the assignment too is created through the library, as `thematic assign`
does. Every request must stay on the app's own origin, as in test_browser.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from test_browser import _go, _guard, _launch, _needs_browser, _serve, _settled

from assistant.coding.assignments import CONSENSUS, assign
from assistant.coding.decisions import add_coding
from assistant.people import auth, users
from assistant.project import Project

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

PHRASE_A = "Cold damp housing drives many of our emergency admissions in winter."
PHRASE_B = "Funding for prevention is always the first thing cut."


def _code(folder: Path, who: str, phrase: str, code: str) -> None:
    with Project.open(folder) as p:
        src = p.store.get_source("P01")
        start = src.text.index(phrase)
        add_coding(p.acting_as(who), "P01", start, start + len(phrase), code)


def _wait_for(fn, timeout: float = 30) -> object:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.3)
    return fn()


def _sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url + "/adjudicate", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible(timeout=60_000)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    _settled(page, "Corpus", timeout=60_000)  # signed in: the workspace opens on its first page
    _go(page, "Double coding")


@pytest.fixture
def team_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from builders import build_writing_project

    _needs_browser()
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth, "_HASHER", fast)  # the server re-hashes with the real parameters at sign-in
    p = build_writing_project(tmp_path / "team", codings=False)
    users.add_user(p, "Lena", "lead-password")
    users.add_user(p, "Ann", "ann-password", actor="Lena")
    users.add_user(p, "Ben", "ben-password", actor="Lena")
    assign(p.acting_as("Lena"), ["Ann", "Ben"], ["P01"], name="pilot")
    p.close()
    return tmp_path / "team"


def test_two_coders_double_code_blind_and_the_lead_adjudicates(team_project: Path, tmp_path: Path) -> None:
    folder = team_project
    with _serve(folder, tmp_path) as url, sync_playwright() as pw:
        browser = _launch(pw)
        # no session: only the sign-in page, nothing of the project
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        leaks = _guard(page, url)
        page.goto(url, wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible(timeout=60_000)
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        page.get_by_label("Name", exact=True).fill("Ann")
        page.get_by_label("Password", exact=True).fill("not-her-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("wrong name or password")).to_be_visible(timeout=60_000)
        page.close()

        # Ann codes P01 blind (one code), then marks her part done in the browser
        _code(folder, "Ann", PHRASE_A, "Housing and health")
        _code(folder, "Ann", PHRASE_B, "Short-term funding")
        ann = browser.new_context().new_page()
        leaks += _guard(ann, url)
        _sign_in(ann, url, "Ann", "ann-password")
        expect(ann.get_by_text("Signed in:", exact=False)).to_be_visible(timeout=60_000)
        assert ann.get_by_role("button", name="Assign").count() == 0  # a coder cannot assign
        ann.get_by_role("button", name="I have finished coding these").click()
        with Project.open(folder) as p:
            assert _wait_for(lambda: p.store.assignment_row(1)["coders"]["Ann"] is not None)
        ann.close()

        # Ben codes the same source blind: he agrees on housing, not on funding
        with Project.open(folder) as p:
            from assistant.coding.blind import visible_codings

            assert {c.coder for c in visible_codings(p, "Ben", "P01")} == set()  # Ann's work is hidden from him
        _code(folder, "Ben", PHRASE_A, "Housing and health")
        ben = browser.new_context().new_page()
        leaks += _guard(ben, url)
        _sign_in(ben, url, "Ben", "ben-password")
        ben.get_by_role("button", name="I have finished coding these").click()
        with Project.open(folder) as p:
            assert _wait_for(lambda: not p.store.blind_periods(open_only=True))  # blind coding ended
        ben.close()

        # the lead sees agreement and the disagreement, and keeps Ann's coding
        lead = browser.new_context().new_page()
        leaks += _guard(lead, url)
        _sign_in(lead, url, "Lena", "lead-password")
        expect(lead.get_by_text("Ann vs Ben", exact=False)).to_be_visible(timeout=60_000)
        expect(lead.get_by_text("1 disagreements, 1 to decide", exact=False)).to_be_visible(timeout=60_000)
        lead.get_by_role("button", name="Keep Ann").first.click()
        with Project.open(folder) as p:
            got = _wait_for(lambda: p.store.list_codings(coder=CONSENSUS))
            assert [c.text for c in got] == [PHRASE_B]
            decided = [e for e in p.store.list_audit("adjudication")]
            assert [(e.actor, e.details["decision"]) for e in decided] == [("Lena", "keep_a")]
            assert {e.actor for e in p.store.list_audit("user") if e.action == "user.sign_in"} == {"Ann", "Ben", "Lena"}
        expect(lead.get_by_text("Decided: keep_a by Lena", exact=False)).to_be_visible(timeout=60_000)
        browser.close()
    assert leaks == []
