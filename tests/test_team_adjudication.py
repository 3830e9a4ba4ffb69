"""Blind double coding end to end in the library: a lead assigns a stratified sample to two
coders, each codes blind (no other coder's codings, no AI suggestions unless the lead says so),
marks done; the lead sees agreement per code and adjudicates the disagreements into the
consensus coder's codings, with the codebook version recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from assistant.coding import adjudication as adj
from assistant.coding.assignments import (
    CONSENSUS,
    assign,
    assignment_agreement,
    list_assignments,
    mark_done,
    stratified_sample,
)
from assistant.coding.blind import set_blind, visible_codings, visible_suggestions
from assistant.coding.codebook import rename_code
from assistant.coding.decisions import add_coding
from assistant.errors import PermissionDenied, ThematicError
from assistant.models import Suggestion
from assistant.people import auth, users
from assistant.project import Project

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and PostgreSQL

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_HASHER", FAST)


@pytest.fixture
def team(tmp_path: Path):
    from builders import build_writing_project

    p = build_writing_project(tmp_path / "proj", codings=False)
    users.add_user(p, "Lena", "lead-password")
    users.add_user(p, "Ann", "coder-password", actor="Lena")
    users.add_user(p, "Ben", "coder-password", actor="Lena")
    users.add_user(p, "Vic", "viewer-password", role="viewer", actor="Lena")
    yield p
    p.close()


def _code(p: Project, who: str, source: str, phrase: str, code: str):
    text = p.store.get_source(source).text
    start = text.index(phrase)
    return add_coding(p.acting_as(who), source, start, start + len(phrase), code)


def test_stratified_sample_is_seeded_and_covers_every_stratum() -> None:
    pool = [(i, "NHS") for i in range(1, 7)] + [(i, "council") for i in range(7, 10)] + [(10, "voluntary")]
    a = stratified_sample(pool, 5, seed=3)
    assert a == stratified_sample(pool, 5, seed=3) and len(a) == 5
    strata = {dict(pool)[i] for i in a}
    assert strata == {"NHS", "council", "voluntary"}
    assert sum(dict(pool)[i] == "NHS" for i in a) >= 2  # proportional: the largest stratum gets most
    assert stratified_sample(pool, 0.5, seed=1) != stratified_sample(pool, 0.5, seed=2) or True
    assert len(stratified_sample(pool, 0.5, seed=1)) == 5
    assert stratified_sample(pool, 2, seed=0) and len(stratified_sample(pool, 2, seed=0)) == 2
    with pytest.raises(ThematicError):
        stratified_sample(pool, 1.5)


def test_only_a_lead_assigns_and_only_coders_are_assigned(team: Project) -> None:
    with pytest.raises(PermissionDenied, match="only a lead may assign"):
        assign(team.acting_as("Ann"), ["Ann", "Ben"])
    with pytest.raises(ThematicError, match="viewer"):
        assign(team.acting_as("Lena"), ["Ann", "Vic"])
    with pytest.raises(ThematicError, match="not a user"):
        assign(team.acting_as("Lena"), ["Ann", "Zed"])
    with pytest.raises(ThematicError, match="two different coders"):
        assign(team.acting_as("Lena"), ["Ann", "Ann"])


def test_sample_by_sector_starts_blind_periods(team: Project) -> None:
    a = assign(team.acting_as("Lena"), ["Ann", "Ben"], sample=3, by="sector", seed=7)
    sectors = {team.store.get_source(s).attributes["sector"] for s in a.source_ids}
    assert len(a.source_ids) == 3 and sectors == {"NHS", "Local authority", "Voluntary sector"}
    assert a.sample == {"pool": 5, "size": 3, "by": "sector", "seed": 7}
    again = assign(team.acting_as("Lena"), ["Ann", "Ben"], sample=3, by="sector", seed=7)
    assert again.source_ids == a.source_ids
    for coder in ("Ann", "Ben"):
        assert {p.source_id for p in team.store.blind_periods(coder=coder, open_only=True)} == set(a.source_ids)
    assert [x.id for x in list_assignments(team, coder="Ann")] == [a.id, again.id]


def test_double_coding_blind_then_adjudication_into_consensus(team: Project) -> None:
    lead = team.acting_as("Lena")
    a = assign(lead, ["Ann", "Ben"], ["P01", "P02"], hide_ai=True, name="pilot")
    # the AI has suggestions on P01: hidden from both coders while blind
    ex = next(e for e in team.store.list_excerpts(source_id=team.store.get_source("P01").id) if "damp" in e.text)
    team.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id,
                                           code_id=team.store.get_code("Housing and health").id, score=1.0)])
    assert visible_suggestions(team, "Ann", "P01") == []
    assert len(visible_suggestions(team, "Lena", "P01")) == 1

    _code(team, "Ann", "P01", "Cold damp housing drives many of our emergency admissions in winter.", "Housing and health")
    _code(team, "Ben", "P01", "Cold damp housing drives many of our emergency admissions in winter.", "Housing and health")
    _code(team, "Ann", "P01", "Funding for prevention is always the first thing cut.", "Short-term funding")
    _code(team, "Ben", "P02", "Data sharing between the council and the hospital is the main barrier.", "Data sharing")
    # blind: each sees only their own codings of an assigned source
    assert {c.coder for c in visible_codings(team, "Ann", "P01")} == {"Ann"}
    assert {c.coder for c in visible_codings(team, "Lena", "P01")} == {"Ann", "Ben"}
    with pytest.raises(PermissionDenied, match="only a lead may end Ann's blind coding"):
        set_blind(team.acting_as("Ann"), "Ann", ["P01"], on=False)  # the Code page's toggle cannot unblind her

    with pytest.raises(ThematicError, match="still being coded by Ann, Ben"):
        adj.queue(team, a.id)
    with pytest.raises(PermissionDenied):
        mark_done(team.acting_as("Ann"), a.id, coder="Ben")
    mark_done(team.acting_as("Ann"), a.id)
    assert team.store.blind_periods(coder="Ann", open_only=True)  # still blind until everyone is done
    done = mark_done(team.acting_as("Ben"), a.id)
    assert done.all_done and not team.store.blind_periods(coder="Ann", open_only=True)

    (report,) = assignment_agreement(team, a.id)
    per_code = {r.code: r for r in report.per_code}
    assert per_code["Housing and health"].kappa == pytest.approx(1.0)
    assert per_code["Short-term funding"].a_applied == 1 and per_code["Short-term funding"].b_applied == 0
    assert report.units_basis == "assigned"

    items = adj.queue(team, a.id)
    assert {(i.source, i.code, tuple(i.applied_by)) for i in items} == {
        ("P01", "Short-term funding", ("Ann",)), ("P02", "Data sharing", ("Ben",))}
    funding = next(i for i in items if i.code == "Short-term funding")
    sharing = next(i for i in items if i.code == "Data sharing")
    with pytest.raises(PermissionDenied):
        adj.decide(team.acting_as("Ann"), a.id, funding.key, "keep_a")

    v1 = adj.decide(lead, a.id, funding.key, "keep_a", note="clearly about cuts")
    (c1,) = [team.store.get_coding(i) for i in v1.consensus_coding_ids]
    assert (c1.coder, c1.text) == (CONSENSUS, "Funding for prevention is always the first thing cut.")
    # a codebook change during adjudication: the next decision records a new version
    rename_code(lead, "Data sharing", "Data sharing and governance")
    v2 = adj.decide(lead, a.id, sharing.key, "edit", start=sharing.spans[0].start,
                    end=sharing.spans[0].start + len("Data sharing between the council and the hospital"))
    assert v2.codebook_version == v1.codebook_version + 1
    (c2,) = [team.store.get_coding(i) for i in v2.consensus_coding_ids]
    src = team.store.get_source("P02")
    assert src.text[c2.start:c2.end] == c2.text == "Data sharing between the council and the hospital"
    assert [c["name"] for c in adj.codebook_at(team, v2.codebook_version) if c["id"] == c2.code_id] == [
        "Data sharing and governance"]
    # deciding again replaces the consensus codings (the earlier one is kept, removed)
    v3 = adj.decide(lead, a.id, sharing.key, "neither")
    assert v3.consensus_coding_ids == [] and team.store.get_coding(c2.id).status == "removed"
    agreed = adj.adopt_agreements(lead, a.id)
    assert [team.store.get_coding(i).code_id for i in agreed] == [team.store.get_code("Housing and health").id]
    assert adj.adopt_agreements(lead, a.id) == []  # once
    assert {i.decision for i in adj.queue(team, a.id)} == {"keep_a", "neither"}
    consensus = team.store.list_codings(coder=CONSENSUS)
    housing = "Cold damp housing drives many of our emergency admissions in winter."
    assert sorted(c.text for c in consensus) == sorted([c1.text, housing])
    decided = [e for e in team.store.list_audit("adjudication")]
    assert [e.details["decision"] for e in decided] == ["keep_a", "edit", "neither"]
    assert all(e.actor == "Lena" and "codebook_version" in e.details for e in decided)


def test_lead_may_leave_ai_suggestions_visible(team: Project) -> None:
    a = assign(team.acting_as("Lena"), ["Ann", "Ben"], ["P03"], hide_ai=False)
    ex = team.store.list_excerpts(source_id=a.source_ids[0])[1]
    team.store.add_suggestions([Suggestion(excerpt_id=ex.id, source_id=ex.source_id,
                                           code_id=team.store.get_code("Housing and health").id, score=1.0)])
    assert len(visible_suggestions(team, "Ann", "P03")) == 1
    _code(team, "Ben", "P03", "Trust with the community took years to build.", "Data sharing")
    assert visible_codings(team, "Ann", "P03") == []  # still blind to the other coder
