"""The code tree that retrieves: counts rolled up from children (sources and participants as
distinct unions), a code's segments with source, speaker, line and verbatim text, attribute
filters, exports, re-parenting through the codebook's audited edit path, and the commands."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from _workspace_helpers import code_phrase, make_project, no_audit, one_audit
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding import blind
from assistant.coding.segments import (
    code_segments,
    export_segments,
    segments_csv,
    segments_for_codings,
)
from assistant.coding.tree import code_tree, reparent_code
from assistant.errors import CodebookError, ThematicError
from assistant.models import Coding, Segment, Source
from assistant.project import Project

runner = CliRunner()
STRATEGY = "Housing strategy.\nDamp homes *must* be fixed [urgent].\n"


@pytest.fixture
def project(tmp_path: Path):
    p = make_project(tmp_path)
    doc = p.store.add_source(Source(name="Strategy", kind="document", text=STRATEGY, content_hash="s",
                                    attributes={"organisation": "City", "sector": "Council"}))
    code_phrase(p, "P01", "damp and black mould", "Housing and living conditions")
    code_phrase(p, "P01", "black mould", "Housing and living conditions", coder="bob")
    code_phrase(p, "P02", "lonely older people", "Frequent attenders")
    code_phrase(p, "P01", "Staff are leaving", "Workforce capacity")
    code_phrase(p, "Strategy", "Damp homes *must* be fixed [urgent].", "Housing and living conditions")
    start = p.store.get_source("P02").text.index("call the ambulance")
    p.store.add_coding(Coding(source_id=p.store.get_source("P02").id, code_id=p.store.get_code("Frequent attenders").id,
                              start=start, end=start + 18, text="call the ambulance", coder="ai:offline:m",
                              origin="import"))
    assert doc.id
    yield p
    p.close()


def check(project: Project, seg: Segment) -> None:
    text = project.store.get_source(seg.source_id).text
    assert text[seg.start:seg.end] == seg.text and not seg.changed
    assert seg.line == text.count("\n", 0, seg.start) + 1


def test_counts_roll_up_as_distinct_unions(project: Project) -> None:
    nodes = {n.name: n for n in code_tree(project)}
    assert [n.path for n in code_tree(project)] == [
        "Drivers", "Drivers > Housing and living conditions", "Drivers > Frequent attenders",
        "Workforce capacity", "Short-term funding"]
    housing, drivers = nodes["Housing and living conditions"], nodes["Drivers"]
    assert (housing.own.codings, housing.own.sources, housing.own.participants) == (3, 2, 1)  # a document is nobody
    assert (drivers.own.codings, drivers.total.codings, drivers.total.sources, drivers.total.participants) == (0, 4, 3, 2)
    assert drivers.children == [housing.id, nodes["Frequent attenders"].id] and housing.parent_id == drivers.id
    assert housing.definition.startswith("Damp, mould") and housing.depth == 1
    with_ai = {n.name: n for n in code_tree(project, include_ai=True)}
    assert with_ai["Frequent attenders"].own.codings == 2
    only_bob = {n.name: n for n in code_tree(project, coders=["bob"])}
    assert only_bob["Drivers"].total.codings == 1
    nhs = {n.name: n for n in code_tree(project, filters={"kind": "interview"})}
    assert nhs["Housing and living conditions"].own.codings == 2


def test_memo_counts_show_on_the_node(project: Project) -> None:
    from assistant.coding.memos import add_memo

    add_memo(project, "why", "code", "Drivers")
    add_memo(project, "both", "code", "Workforce capacity", links=[("code", "Drivers")])
    assert {n.name: n.memos for n in code_tree(project)}["Drivers"] == 2


def test_segments_of_a_code_and_its_children(project: Project) -> None:
    segs = code_segments(project, "Drivers")
    assert [(s.source, s.code, s.coder) for s in segs] == [
        ("P01", "Housing and living conditions", "alice"), ("P01", "Housing and living conditions", "bob"),
        ("P02", "Frequent attenders", "alice"), ("Strategy", "Housing and living conditions", "alice")]
    for s in segs:
        check(project, s)
    assert segs[0].speaker == "Sarah Jones" and segs[0].participant == "Sarah Jones" and segs[0].line == 2
    assert segs[0].excerpt_id is not None and segs[-1].speaker is None and segs[-1].participant == ""
    assert segs[0].code_path == "Drivers > Housing and living conditions"
    assert code_segments(project, "Drivers", include_children=False) == []
    assert [s.source for s in code_segments(project, "Drivers", filters={"sector": "Council"})] == ["Strategy"]
    assert [s.source for s in code_segments(project, "Drivers", filters={"speaker": "Tom Okafor"})] == ["P02"]
    ids = [segs[1].coding_id, segs[3].coding_id]
    assert [s.coding_id for s in segments_for_codings(project, ids)] == ids


def test_a_changed_source_shows_its_own_characters(project: Project) -> None:
    seg = code_segments(project, "Workforce capacity")[0]
    src = project.store.get_source("P01")
    new = src.text.replace("Staff are leaving", "Staff ARE leaving")
    project.store.replace_source(src.id, src.model_copy(update={"text": new}))
    (again,) = code_segments(project, "Workforce capacity")
    assert again.text == new[seg.start:seg.end] == "Staff ARE leaving" and again.changed


def test_blind_viewer_sees_only_their_own_codings(project: Project) -> None:
    blind.set_blind(project, "bob", ["P01"])
    assert [s.coder for s in code_segments(project, "Housing and living conditions", viewer="bob")] == ["bob", "alice"]
    assert {s.source for s in code_segments(project, "Housing and living conditions", viewer="bob")} == {"P01", "Strategy"}
    assert {n.name: n for n in code_tree(project, viewer="bob")}["Workforce capacity"].own.codings == 0


def test_exports_are_verbatim_and_audited(project: Project, tmp_path: Path) -> None:
    segs = code_segments(project, "Housing and living conditions")
    path, ev = one_audit(project, lambda: export_segments(project, segs, tmp_path / "h.csv"), "export")
    assert ev.entity_type == "segments" and ev.details["segments"] == 3
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [r["text"] for r in rows] == [s.text for s in segs] and rows[0]["attr:participant"] == "Sarah Jones"
    md_path, _ = one_audit(project, lambda: export_segments(project, segs, tmp_path / "h.md", title="Housing"), "export")
    md = md_path.read_text(encoding="utf-8")
    assert "> Damp homes \\*must\\* be fixed \\[urgent\\]." in md and "Strategy, line 2" in md
    with pytest.raises(ThematicError, match="csv or .md"):
        no_audit(project, lambda: export_segments(project, segs, tmp_path / "h.xlsx"))
    assert segments_csv([]).startswith("coding_id,code,code_path,source,kind,line")


def test_reparent_goes_through_the_audited_codebook_edit(project: Project) -> None:
    code, ev = one_audit(project, lambda: reparent_code(project, "Workforce capacity", "Drivers"), "code.update")
    assert code.parent_id == project.store.get_code("Drivers").id and ev.details["after"] == {"parent_id": code.parent_id}
    assert {n.name: n for n in code_tree(project)}["Drivers"].total.codings == 5
    no_audit(project, lambda: reparent_code(project, "Workforce capacity", "Drivers"))  # already there
    with pytest.raises(CodebookError, match="cycle"):
        no_audit(project, lambda: reparent_code(project, "Drivers", "Workforce capacity"))
    with pytest.raises(CodebookError, match="own parent"):
        reparent_code(project, "Drivers", "Drivers")
    top, _ = one_audit(project, lambda: reparent_code(project, "Workforce capacity", None), "code.update")
    assert top.parent_id is None


def test_a_damaged_tree_with_a_cycle_still_lists_every_code_once(project: Project) -> None:
    a, b = project.store.get_code("Drivers"), project.store.get_code("Workforce capacity")
    project.store.update_code(a.model_copy(update={"parent_id": b.id}))
    project.store.update_code(b.model_copy(update={"parent_id": a.id}))
    names = [n.name for n in code_tree(project)]
    assert sorted(names) == sorted(c.name for c in project.store.list_codes()) and len(set(names)) == len(names)


def test_cli_tree_segments_reparent(project: Project, tmp_path: Path) -> None:
    folder = str(project.folder)
    r = runner.invoke(app, ["tree", "-p", folder, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["total"] == {"codings": 4, "sources": 3, "participants": 2}
    r = runner.invoke(app, ["segments", "Drivers", "--filter", "kind=document", "-p", folder])
    assert r.exit_code == 0 and "Damp homes *must* be fixed [urgent]." in r.stdout and "Strategy:2" in r.stdout
    out = tmp_path / "seg.md"
    r = runner.invoke(app, ["segments", "Drivers", "--out", str(out), "-p", folder])
    assert r.exit_code == 0 and out.exists() and "wrote 4 segments" in r.stdout
    r = runner.invoke(app, ["reparent", "Short-term funding", "Drivers", "-p", folder])
    assert r.exit_code == 0 and "Drivers > Short-term funding" in r.stdout
    r = runner.invoke(app, ["reparent", "Drivers", "Short-term funding", "-p", folder])
    assert r.exit_code == 1 and "cycle" in r.output
