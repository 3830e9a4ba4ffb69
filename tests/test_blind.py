"""Blind coding: the flag per coder and source (audited periods), what a blind coder may see, and
whether an agreement comparison was independent, with the reason when it was not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _workspace_helpers import make_project, no_audit, one_audit
from builders import excerpt_with
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding import blind
from assistant.errors import NotFound, ThematicError
from assistant.models import Coding, Suggestion
from assistant.project import Project

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and on PostgreSQL

runner = CliRunner()
AI = "ai:offline:m1"
T = "2024-03-01T10:{:02d}:00+00:00"  # minute n of a morning: the order things happened in


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path)
    yield p
    p.close()


def coding(p: Project, coder: str, minute: int, source: str = "P01", phrase: str = "black mould",
           origin: str = "manual", suggestion_id: int | None = None) -> Coding:
    src = p.store.get_source(source)
    start = src.text.index(phrase)
    return p.store.add_coding(Coding(source_id=src.id, code_id=p.store.get_code("Housing and living conditions").id,
                                     start=start, end=start + len(phrase), text=phrase, coder=coder, origin=origin,
                                     suggestion_id=suggestion_id, created_at=T.format(minute)))


def suggestion(p: Project, minute: int, needle: str = "black mould", status: str = "pending") -> Suggestion:
    ex = excerpt_with(p, needle)
    (s,) = p.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id, engine="offline", model="m1",
                                               code_id=p.store.get_code("Housing and living conditions").id,
                                               score=0.9, status=status, created_at=T.format(minute))])  # type: ignore[arg-type]
    return s


def blind_from(p: Project, coder: str, minute: int, source: str = "P01", until: int | None = None) -> None:
    sid = p.store.get_source(source).id
    p.store.open_blind_period(coder, sid, T.format(minute))
    if until is not None:
        p.store.close_blind_period(coder, sid, T.format(until))


def test_the_flag_is_audited_once_per_change(project: Project) -> None:
    changed, ev = one_audit(project, lambda: blind.set_blind(project, "bob", ["P01", "P02", "P01"]), "blind.start")
    assert ev.details == {"coder": "bob", "source_ids": changed} and len(changed) == 2
    assert blind.blind_sources(project, "bob") == set(changed) and blind.is_blind(project, "bob", "P02")
    assert no_audit(project, lambda: blind.set_blind(project, "bob", ["P01"])) == []
    _, ev = one_audit(project, lambda: blind.set_blind(project, "bob", ["P02"], on=False), "blind.end")
    assert not blind.is_blind(project, "bob", "P02")
    periods = blind.blind_periods(project, "bob")
    assert [(x.source, x.ended_at is None) for x in periods] == [("P01", True), ("P02", False)]
    with pytest.raises(NotFound):
        no_audit(project, lambda: blind.set_blind(project, "bob", ["P03"]))
    with pytest.raises(ThematicError, match="the AI"):
        blind.set_blind(project, AI, ["P01"])
    assert blind.blind_sources(project, "bob") == {project.store.get_source("P01").id}


def test_a_blind_coder_sees_no_suggestions_and_only_their_own_codings(project: Project) -> None:
    coding(project, "alice", 1)
    coding(project, "bob", 2, phrase="chest infections")
    suggestion(project, 0)
    assert len(blind.visible_suggestions(project, "bob", "P01")) == 1
    assert {c.coder for c in blind.visible_codings(project, "bob", "P01")} == {"alice", "bob"}
    blind.set_blind(project, "bob", ["P01"])
    assert blind.visible_suggestions(project, "bob", "P01") == []
    assert {c.coder for c in blind.visible_codings(project, "bob", "P01")} == {"bob"}
    assert {c.coder for c in blind.visible_codings(project, "alice", "P01")} == {"alice", "bob"}


def test_two_blind_analysts_are_independent(project: Project) -> None:
    blind_from(project, "alice", 0)
    blind_from(project, "bob", 0)
    coding(project, "alice", 1)
    coding(project, "bob", 2)
    rep = blind.comparison_independence(project, "alice", "bob")
    assert rep.independent and rep.reasons == [] and rep.sources_compared == [project.store.get_source("P01").id]


def test_coding_without_blind_mode_after_the_other_coder_is_not_independent(project: Project) -> None:
    coding(project, "alice", 1)  # nothing of bob's to see yet
    coding(project, "bob", 5)
    coding(project, "bob", 6, source="P02", phrase="lonely older people")  # alice never coded P02: not compared
    rep = blind.comparison_independence(project, "alice", "bob")
    assert not rep.independent
    assert [(i.coder, i.reason, i.source, i.codings) for i in rep.issues] == [("bob", "saw_other_codings", "P01", 1)]
    assert rep.reasons == [("1 of bob's codings on 1 source(s) (P01) were made without blind mode while alice's "
                            "codings were there to see.")]
    assert rep.dependent_sources == [project.store.get_source("P01").id]


def test_blind_mode_that_ended_before_coding_does_not_count(project: Project) -> None:
    blind_from(project, "bob", 0, until=3)
    coding(project, "alice", 1)
    coding(project, "bob", 2)  # blind: fine
    coding(project, "bob", 4, phrase="chest infections")  # blind mode had ended
    rep = blind.comparison_independence(project, "alice", "bob")
    assert [(i.coder, i.codings) for i in rep.issues] == [("bob", 1)]


def test_accepted_ai_suggestions_are_not_a_second_judgement(project: Project) -> None:
    s = suggestion(project, 1, status="accepted")
    coding(project, "alice", 2, origin="suggestion", suggestion_id=s.id)
    rep = blind.comparison_independence(project, "alice", AI)
    assert not rep.independent and {i.reason for i in rep.issues} == {"accepted_ai_suggestions"}
    assert "are accepted suggestions of ai:offline:m1" in rep.reasons[0]


def test_seeing_ai_suggestions_and_the_ai_learning_from_the_coder(project: Project) -> None:
    suggestion(project, 1)
    coding(project, "alice", 2, phrase="chest infections")  # not blind, the AI's suggestion was shown
    suggestion(project, 3, needle="advertised three times")  # P01 again, after alice had coded it
    rep = blind.comparison_independence(project, "alice", AI)
    assert sorted((i.coder, i.reason, i.codings) for i in rep.issues) == [
        (AI, "ai_learned_from_coder", 1), ("alice", "saw_ai_suggestions", 1)]
    assert len(rep.reasons) == 2


def test_blind_analyst_before_the_ai_is_independent(project: Project) -> None:
    blind_from(project, "alice", 0)
    suggestion(project, 1)  # the AI proposed before alice coded: it could not learn from her
    coding(project, "alice", 2)
    assert blind.comparison_independence(project, "alice", AI).independent


def test_imported_codings_are_not_judged(project: Project) -> None:
    coding(project, "alice", 1, origin="import")
    coding(project, "bob", 2, origin="import")
    assert blind.comparison_independence(project, "alice", "bob").independent


def test_unknown_coder(project: Project) -> None:
    coding(project, "alice", 1)
    with pytest.raises(NotFound, match="no coder 'zoe'"):
        blind.comparison_independence(project, "alice", "zoe")


def test_cli_blind_and_independence(project: Project) -> None:
    folder = str(project.folder)
    r = runner.invoke(app, ["blind", "on", "bob", "P01", "-p", folder, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [project.store.get_source("P01").id]
    r = runner.invoke(app, ["blind", "list", "-p", folder])
    assert r.exit_code == 0 and "(blind now)" in r.stdout
    coding(project, "alice", 1)
    coding(project, "bob", 2)
    r = runner.invoke(app, ["independence", "alice", "bob", "-p", folder, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["independent"] is False  # bob coded before his blind period began
    r = runner.invoke(app, ["independence", "alice", "bob", "-p", folder])
    assert "NOT independent" in r.stdout
    r = runner.invoke(app, ["blind", "on", AI, "P01", "-p", folder])
    assert r.exit_code == 1 and "the AI" in r.output
