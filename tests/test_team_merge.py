"""Merging another analyst's work: a .qdpx or a project folder, coders and codes mapped
explicitly, every coding listed with where it goes or why it cannot, one audited transaction, and
the same merge never written twice (two leads at once included)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from assistant.coding.codebook import add_code, rename_code
from assistant.coding.memos import add_memo
from assistant.errors import PermissionDenied, ThematicError
from assistant.exchange.merge import apply_merge, parse_maps, plan_merge, read_input
from assistant.exchange.refi import export_qdpx
from assistant.models import Source
from assistant.people import auth, users
from assistant.project import Project

pytestmark = pytest.mark.usefixtures("store_engine")  # every test on SQLite and PostgreSQL

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_HASHER", FAST)


def _code(p: Project, who: str, source: str, phrase: str, code: str) -> None:
    from builders import add_coding

    add_coding(p, source, phrase, code, who)


@pytest.fixture
def pair(tmp_path: Path):
    """A team project and another analyst's copy of the same sources, with their own names."""
    from builders import build_writing_project

    team = build_writing_project(tmp_path / "team", codings=False)
    users.add_user(team, "Lena", "lead-password")
    users.add_user(team, "Ann", "coder-password", actor="Lena")
    users.add_user(team, "Cai", "coder-password", role="coder", actor="Lena")
    other = build_writing_project(tmp_path / "other", codings=False)  # another project, on the same engine
    rename_code(other, "Data sharing", "Information sharing")
    add_code(other, "Trust", definition="Trust between organisations and communities")
    other.store.add_source(Source(name="P99", kind="interview", text="Only the other analyst has this one.\n",
                                  content_hash="p99"))
    _code(other, "annie", "P01", "Cold damp housing drives many of our emergency admissions in winter.",
          "Housing and health")
    _code(other, "annie", "P02", "Data sharing between the council and the hospital is the main barrier.",
          "Information sharing")
    _code(other, "annie", "P03", "Trust with the community took years to build.", "Trust")
    _code(other, "annie", "P99", "Only the other analyst has this one.", "Trust")
    add_memo(other, "Trust keeps coming up", "code", "Trust", author="annie")
    yield team, other, tmp_path
    team.close()
    other.close()


def test_preview_lists_every_coding_and_maps_names(pair) -> None:
    team, other, tmp = pair
    out = tmp / "annie.qdpx"
    export_qdpx(other, out)
    inp = read_input(out)
    coders, codes = parse_maps(["coder:annie=Ann", "code:Information sharing=Data sharing"])
    plan = plan_merge(team, inp, coders, codes)
    codings = [r for r in plan.rows if r.kind == "coding"]
    assert len(codings) == 4  # every coding in the file has a row
    by_action = {r.action: [] for r in codings}
    for r in codings:
        by_action[r.action].append(r)
    assert len(by_action["add"]) == 3
    (lost,) = by_action["unplaceable"]
    assert "P99" in lost.what and "ingest it first" in lost.reason
    assert any(r.to.endswith("Data sharing by Ann") for r in by_action["add"])
    code_rows = {r.what: r for r in plan.rows if r.kind == "code"}
    assert code_rows["Information sharing"].to == "Data sharing" and code_rows["Information sharing"].reason == "mapped by the lead"
    assert code_rows["Trust"].action == "add"
    assert code_rows["Housing and health"].reason == "matched by name"
    assert {r.what: r.to for r in plan.rows if r.kind == "coder"} == {"annie": "Ann"}
    assert team.store.list_codings() == []  # a preview writes nothing
    # without the lead's mapping, the coder comes in under their own name, said so
    plain = plan_merge(team, inp)
    assert [(r.what, r.action, r.reason) for r in plain.rows if r.kind == "coder"] == [("annie", "add", "new coder")]
    with pytest.raises(ThematicError, match="no code 'Nope'"):
        plan_merge(team, inp, {}, {"Trust": "Nope"})


def test_apply_is_one_audited_transaction_and_never_twice(pair) -> None:
    team, other, tmp = pair
    out = tmp / "annie.qdpx"
    export_qdpx(other, out)
    inp = read_input(out)
    maps = ({"annie": "Ann"}, {"Information sharing": "Data sharing"})
    with pytest.raises(PermissionDenied):
        apply_merge(team.acting_as("Cai"), inp, *maps)
    report = apply_merge(team.acting_as("Lena"), inp, *maps)
    assert report.added == {"codes": 1, "codings": 3, "memos": 1}
    assert [r.kind for r in report.unplaceable] == ["source", "coding"]
    got = {(team.store.get_source(c.source_id).name, team.store.get_code(c.code_id).name, c.coder)
           for c in team.store.list_codings()}
    assert got == {("P01", "Housing and health", "Ann"), ("P02", "Data sharing", "Ann"), ("P03", "Trust", "Ann")}
    for c in team.store.list_codings():
        assert team.store.get_source(c.source_id).text[c.start:c.end] == c.text
    (event,) = [e for e in team.store.list_audit("merge")]
    assert event.actor == "Lena" and event.details["added"]["codings"] == 3 and event.details["unplaceable"]
    with pytest.raises(ThematicError, match="applied already, by Lena"):
        apply_merge(team.acting_as("Lena"), inp, *maps)
    assert len(team.store.list_codings()) == 3
    # the same codings under another mapping are recognised as already here
    again = plan_merge(team, inp, *maps)
    assert {r.action for r in again.rows if r.kind == "coding"} == {"present", "unplaceable"}


def test_two_leads_merging_at_once_write_it_once(pair) -> None:
    team, other, _ = pair
    users.set_role(team, "Cai", "lead", actor="Lena")
    inp = read_input(other.folder)  # a project folder this time
    results: list[object] = []
    barrier = threading.Barrier(2)

    def run(who: str) -> None:
        barrier.wait()
        try:
            results.append(apply_merge(team.acting_as(who), inp, {"annie": "Ann"},
                                       {"Information sharing": "Data sharing"}))
        except ThematicError as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in ("Lena", "Cai")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(type(r).__name__ for r in results) == ["MergeReport", "ThematicError"]
    assert len(team.store.list_codings()) == 3
    assert len(team.store.list_audit("merge")) == 1
    assert [c.name for c in team.store.list_codes()].count("Trust") == 1
