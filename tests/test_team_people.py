"""People on a team project: argon2 hashes (rehash of outdated ones), roles and who may do what,
sessions that expire, and every change audited by the person who made it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from assistant.coding.codebook import add_code, rename_code
from assistant.coding.memos import add_memo, list_memos
from assistant.errors import PermissionDenied, SessionExpired, ThematicError
from assistant.people import auth, users
from assistant.people.roles import can, require_role
from assistant.project import Project

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and PostgreSQL

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # the real parameters cost ~0.3 s a hash


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_HASHER", FAST)
    monkeypatch.setattr(auth, "_DUMMY", FAST.hash("dummy"))


@pytest.fixture
def project(tmp_path: Path):
    from builders import new_project

    p = new_project(tmp_path / "proj", analyst="owner")
    yield p
    p.close()


def _team(p: Project) -> None:
    users.add_user(p, "Lena", "lead-password", actor="owner")
    users.add_user(p, "Cai", "coder-password", role="coder", actor="Lena")
    users.add_user(p, "Vic", "viewer-password", role="viewer", actor="Lena")


def test_password_is_hashed_with_argon2_and_never_stored(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher())  # the real parameters, once
    users.add_user(project, "Lena", "lead-password")
    assert not PasswordHasher().check_needs_rehash(project.store.user_row("Lena")["password_hash"])
    row = project.store.user_row("Lena")
    assert row["password_hash"].startswith("$argon2id$")
    assert "lead-password" not in row["password_hash"]
    assert all("lead-password" not in str(e.details) for e in project.store.list_audit())
    assert auth.authenticate(project, "Lena", "lead-password")["name"] == "Lena"
    with pytest.raises(PermissionDenied, match="wrong name or password"):
        auth.authenticate(project, "Lena", "not-her-password")
    with pytest.raises(PermissionDenied, match="wrong name or password"):  # same words for an unknown name
        auth.authenticate(project, "Nobody", "lead-password")
    with pytest.raises(ThematicError, match="at least 8"):
        users.add_user(project, "Short", "abc", actor="Lena")


def test_an_outdated_hash_is_upgraded_at_sign_in(project: Project) -> None:
    users.add_user(project, "Lena", "lead-password")
    weak = PasswordHasher(time_cost=2, memory_cost=512, parallelism=1).hash("lead-password")
    project.store.set_user_fields(project.store.user_row("Lena")["id"], password_hash=weak)
    auth.authenticate(project, "Lena", "lead-password")
    new = project.store.user_row("Lena")["password_hash"]
    assert new != weak and not FAST.check_needs_rehash(new)
    assert [e.action for e in project.store.list_audit("user")][-1] == "user.rehash"


def test_first_user_is_lead_and_only_a_lead_manages_the_team(project: Project) -> None:
    first = users.add_user(project, "Lena", "lead-password", role="viewer")
    assert first.role == "lead"
    users.add_user(project, "Cai", "coder-password", actor="Lena")
    with pytest.raises(PermissionDenied, match="Cai is a coder.*only a lead may add users"):
        users.add_user(project, "Eve", "eve-password", actor="Cai")
    with pytest.raises(PermissionDenied, match="only lead"):
        users.set_role(project, "Lena", "coder", actor="Lena")
    with pytest.raises(PermissionDenied, match="only lead"):
        users.remove_user(project, "Lena", actor="Lena")
    users.set_role(project, "Cai", "lead", actor="Lena")
    users.set_role(project, "Lena", "coder", actor="Cai")  # now there is another lead
    assert {u.name: u.role for u in users.list_users(project)} == {"Cai": "lead", "Lena": "coder"}
    with pytest.raises(ThematicError, match="already a user"):
        users.add_user(project, "Lena", "another-pass", actor="Cai")
    with pytest.raises(ThematicError, match="AI coders"):
        users.add_user(project, "ai:offline:x", "password-1", actor="Cai")
    audit = [(e.actor, e.action) for e in project.store.list_audit("user")]
    assert ("Lena", "user.add") in audit and ("Lena", "user.role") in audit and ("Cai", "user.role") in audit


def test_roles_guard_codebook_settings_and_every_write(project: Project) -> None:
    _team(project)
    lead, coder, viewer = (project.acting_as(n) for n in ("Lena", "Cai", "Vic"))
    add_code(lead, "Housing")
    with pytest.raises(PermissionDenied, match="Cai is a coder.*change the codebook"):
        rename_code(coder, "Housing", "Homes")
    with pytest.raises(PermissionDenied, match="change the project settings"):
        coder.save_settings()
    lead.save_settings()
    memo = add_memo(coder, "A coder's memo")
    assert memo.memo.author == "Cai"
    with pytest.raises(PermissionDenied, match="Vic is a viewer"):
        add_memo(viewer, "A viewer's memo")
    assert [m.memo.text for m in list_memos(project)] == ["A coder's memo"]
    assert can(project, "Vic", "viewer") and not can(project, "Vic", "coder") and can(project, "Lena", "lead")
    assert require_role(project, "Cai", "coder") == "coder"
    actors = {e.actor for e in project.store.list_audit() if e.action in ("code.add", "memo.add", "settings")}
    assert actors == {"Lena", "Cai"}  # every audit row names the person who acted


def test_a_project_without_users_works_as_before(project: Project) -> None:
    assert require_role(project, "anyone", "lead") is None
    add_code(project, "Housing")
    project.save_settings()
    assert project.acting_as("someone").analyst == "someone"


def test_removed_user_cannot_sign_in_and_their_sessions_end(project: Project) -> None:
    _team(project)
    session = auth.sign_in(project, "Cai", "coder-password")
    users.remove_user(project, "Cai", actor="Lena")
    with pytest.raises(SessionExpired):
        auth.check_session(project, session.token)
    with pytest.raises(PermissionDenied):
        auth.sign_in(project, "Cai", "coder-password")
    with pytest.raises(PermissionDenied, match="removed"):
        add_memo(project.acting_as("Cai"), "after removal")
    users.add_user(project, "Cai", "new-password-1", actor="Lena")  # back, with a new password
    assert auth.sign_in(project, "Cai", "new-password-1").role == "coder"


def test_sessions_are_stored_hashed_and_expire(project: Project) -> None:
    _team(project)
    s = auth.sign_in(project, "Cai", "coder-password", ttl=timedelta(minutes=5))
    assert project.store.session_row(s.token) is None  # the token itself is not a key
    again = auth.check_session(project, s.token)
    assert (again.user, again.role, again.can_write) == ("Cai", "coder", True)
    users.set_role(project, "Cai", "viewer", actor="Lena")
    assert auth.check_session(project, s.token).role == "viewer"  # a role change counts at once
    auth.expire_session(project, s.token, datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(SessionExpired, match="session expired"):
        auth.check_session(project, s.token)
    with pytest.raises(SessionExpired):
        auth.check_session(project, "made-up-token")
    s2 = auth.sign_in(project, "Lena", "lead-password")
    assert auth.sign_out(project, s2.token)
    with pytest.raises(SessionExpired, match="ended"):
        auth.check_session(project, s2.token)
    actions = [e.action for e in project.store.list_audit("user")]
    assert actions.count("user.sign_in") == 2 and "user.sign_out" in actions


def test_audit_rows_refused_for_a_viewer_roll_the_write_back(project: Project) -> None:
    _team(project)
    before = project.store.counts()
    with pytest.raises(PermissionDenied):
        add_code(project.acting_as("Vic"), "Sneaky")
    assert project.store.counts() == before
