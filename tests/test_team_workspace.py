"""The workspace on a team project (headless, `AppTest`): nothing but the sign-in page until
someone signs in; then every page acts as that person; a session that expires while a memo is being
typed refuses the save, keeps the text, and the memo is saved once after signing in again."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from assistant.coding.memos import list_memos
from assistant.people import auth, users
from assistant.project import Project

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def team_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from builders import build_writing_project

    monkeypatch.setattr(auth, "_HASHER", FAST)
    p = build_writing_project(tmp_path / "team", codings=False)
    users.add_user(p, "Lena", "lead-password")
    users.add_user(p, "Ann", "ann-password", actor="Lena")
    users.add_user(p, "Vic", "vic-password", role="viewer", actor="Lena")
    p.close()
    monkeypatch.setenv("THEMATIC_PROJECT", str(tmp_path / "team"))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    return tmp_path / "team"


def _sign_in(at: AppTest, name: str, password: str) -> None:
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]


def test_sign_in_gate_and_expiry_mid_edit_keeps_the_text(team_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert [t.value for t in at.title] == ["Sign in"] and not at.header  # no page of the project
    _sign_in(at, "Ann", "wrong-password")
    assert any("wrong name or password" in e.value for e in at.error)
    _sign_in(at, "Ann", "ann-password")
    assert any("Signed in:" in m.value and "Ann" in m.value for m in at.sidebar.markdown)
    at.switch_page("app_pages/memos.py")
    at.run()
    typed = "Housing keeps coming up, and a thought typed as the session ran out"
    at.text_area(key="memo_add_text").input(typed)
    with Project.open(team_dir) as p:
        (row,) = [r for r in p.store._all("SELECT token_hash FROM sessions s JOIN users u ON u.id = s.user_id "
                                          "WHERE u.name = 'Ann'")]
        p.store.set_session_expiry(row[0], "2000-01-01T00:00:00+00:00")  # expires while she types
    next(b for b in at.button if b.label == "Save memo").click()
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    assert any("session expired" in w.value for w in at.warning)
    with Project.open(team_dir) as p:
        assert list_memos(p) == []  # refused: nothing saved under the expired session
    _sign_in(at, "Ann", "ann-password")
    at.switch_page("app_pages/memos.py")
    at.run()
    box = at.text_area(key="memo_add_text")
    assert box.value == typed  # the text is back in the box
    # AppTest replays the form's clear_on_submit from the refused submit on the next one; a browser
    # submits what the box shows, so the test submits that
    box.input(box.value)
    next(b for b in at.button if b.label == "Save memo").click()
    at.run()
    with Project.open(team_dir) as p:
        memos = list_memos(p)
        assert [(m.memo.text, m.memo.author) for m in memos] == [(typed, "Ann")]
        assert [e.actor for e in p.store.list_audit("memo")] == ["Ann"]


def test_a_viewer_sees_the_pages_but_cannot_write(team_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    _sign_in(at, "Vic", "vic-password")
    at.switch_page("app_pages/adjudicate.py")
    at.run()
    assert not at.exception
    assert any("viewer" in c.value for c in at.sidebar.caption)
    at.switch_page("app_pages/memos.py")
    at.run()
    at.text_area(key="memo_add_text").input("a viewer's note")
    next(b for b in at.button if b.label == "Save memo").click()
    at.run()
    assert any("Vic is a viewer" in e.value for e in at.error)
    with Project.open(team_dir) as p:
        assert list_memos(p) == []


def test_agreement_page_is_closed_to_a_coder_still_coding_blind(team_dir: Path) -> None:
    """Agreement figures and disagreements show the other coder's work: a coder who is still blind
    on a source sees neither, and the lead, who adjudicates, still does."""
    from assistant.coding.blind import set_blind

    with Project.open(team_dir) as p:
        sid = p.store.list_sources()[0].id
        set_blind(p.acting_as("Lena"), "Ann", [sid], actor="Lena")

    def agreement_as(name: str, password: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        _sign_in(at, name, password)
        at.switch_page("app_pages/agreement.py")
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    ann = agreement_as("Ann", "ann-password")
    shown = [i.value.replace("\\", "") for i in ann.info]  # drawn as escaped Markdown
    assert any("coding 1 source(s) blind" in v for v in shown), shown
    lena = agreement_as("Lena", "lead-password")
    assert not any("blind" in i.value for i in lena.info)
