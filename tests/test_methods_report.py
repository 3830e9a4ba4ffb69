"""The methods report: produced in Markdown and DOCX, its figures recounted straight from the audit
log (raw rows, not the report's own helpers), project text escaped as data."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from builders import AI_PROMPT_SHA, build_ai_project
from docx import Document
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding import decisions
from assistant.coding.suggest import list_suggestions
from assistant.exchange.methods_report import (
    build_methods_report,
    id_ranges,
    to_markdown,
    write_methods_report,
)
from assistant.project import Project

HEADINGS = ["Suggested paragraph for the methods section", "Corpus", "Sources by attribute", "Codebook versions", "Engines and models",
            "Suggestions and decisions per code", "Decisions per analyst", "Agreement between coders",
            "Pseudonymisation and what left the machine", "Appendix: where each figure comes from"]


def recount(project: Project) -> dict:
    """The figures, from the audit_log table directly: decisions undone later are not counted."""
    rows = [dict(r) for r in project.store.conn.execute(
        "SELECT id, actor, action, entity_id, details FROM audit_log ORDER BY id").fetchall()]
    for r in rows:
        r["details"] = json.loads(r["details"])
    undone = {r["details"]["decision_id"] for r in rows if r["action"] == "decision.undo"}

    def live(action):
        return [r for r in rows if r["action"] == action and r["details"].get("decision_id") not in undone]

    created = {r["entity_id"]: r["details"].get("code_id") for r in rows if r["action"] == "suggestion.create"}
    names = {c.id: c.name for c in project.store.list_codes(include_inactive=True)}
    per_code: Counter = Counter()
    per_analyst: Counter = Counter()
    for action in ("decision.accept", "decision.edit", "decision.reject"):
        for r in live(action):
            per_code[(names[created[r["entity_id"]]], action)] += 1
            per_analyst[(r["actor"], action)] += 1
    for r in live("decision.add"):
        per_analyst[(r["actor"], "decision.add")] += 1
    items = [r for r in rows if r["action"] == "suggestion.run_item" and r["details"].get("call")]
    return {
        "suggestions_made": len(created),
        "accepted": len(live("decision.accept")), "edited": len(live("decision.edit")),
        "rejected": len(live("decision.reject")), "hand_codings": len(live("decision.add")),
        "undone": len(undone),
        "model_calls": sum(r["details"]["call"]["model_calls"] for r in items),
        "pseudonymised_calls": sum(r["details"]["call"]["model_calls"] for r in items
                                   if r["details"]["call"].get("pseudonymised")),
        "codebook_versions": sum(r["action"].startswith("code.") for r in rows),
        "per_code": per_code, "per_analyst": per_analyst,
        "ids": {"accepted": [r["id"] for r in live("decision.accept")],
                "suggestions_made": [r["id"] for r in rows if r["action"] == "suggestion.create"]},
    }


def _check_against_audit(project: Project, rep) -> None:
    want = recount(project)
    for key in ("suggestions_made", "accepted", "edited", "rejected", "hand_codings", "undone", "model_calls",
                "pseudonymised_calls", "codebook_versions"):
        assert rep.figure(key).value == want[key], key
        assert len(rep.figure(key).ids) == (want[key] if key not in ("model_calls", "pseudonymised_calls")
                                            else len(rep.figure(key).ids))
    for key, ids in want["ids"].items():
        assert rep.figure(key).ids == ids
    got_code = Counter()
    for row in rep.per_code:
        for col, action in (("accepted", "decision.accept"), ("edited", "decision.edit"),
                            ("rejected", "decision.reject")):
            if row[col]:
                got_code[(row["code"], action)] = row[col]
    assert got_code == want["per_code"]
    got_analyst = Counter()
    for row in rep.per_analyst:
        for col, action in (("accepted", "decision.accept"), ("edited", "decision.edit"),
                            ("rejected", "decision.reject"), ("hand", "decision.add")):
            if row[col]:
                got_analyst[(row["analyst"], action)] = row[col]
    assert got_analyst == want["per_analyst"]


@pytest.mark.usefixtures("store_engine")
def test_figures_match_the_audit_log(tmp_path):
    project = build_ai_project(tmp_path)
    rep = build_methods_report(project)
    _check_against_audit(project, rep)
    # and the absolute numbers of the scenario: 4 made; alice accepted 1 (a second was undone) and
    # rejected 1; bob edited 1, accepted 1 and coded 1 by hand
    assert [rep.figure(k).value for k in ("suggestions_made", "accepted", "edited", "rejected", "hand_codings",
                                          "undone")] == [4, 2, 1, 1, 1, 1]
    assert {r["analyst"]: (r["accepted"], r["edited"], r["rejected"], r["hand"]) for r in rep.per_analyst} == {
        "alice": (1, 0, 1, 0), "bob": (1, 1, 0, 1)}
    (eng,) = rep.engines
    assert (eng.engine, eng.model, eng.prompt_version, eng.prompt_sha256, eng.suggestions) == (
        "llm", "openai:gpt-test", "v2", AI_PROMPT_SHA, 4)
    assert eng.settings == {"combine": "confirm", "top_k": 3}
    assert rep.privacy["remote_calls"] == 4 and rep.privacy["providers"] == {"openai": 4}
    assert rep.corpus["kinds"] == {"interview": 2}
    assert rep.corpus["attributes"]["participant"] == {"Sarah Jones": 1, "Tom Okafor": 1}
    (pair,) = rep.agreement
    assert (pair["coder_a"], pair["coder_b"]) == ("alice", "bob") and pair["independent"] is False
    assert "4 suggestions were made" in rep.paragraph and "2 accepted as proposed" in rep.paragraph
    assert "1 accepted after editing and 1 rejected" in rep.paragraph and "openai" in rep.paragraph
    # a later decision changes the figures and is traced like the others
    pending = list_suggestions(project)
    assert not pending  # every suggestion of the scenario is decided
    decisions.undo(project, decisions.undoable(project, "bob")[0].id, analyst="bob")
    rep2 = build_methods_report(project)
    _check_against_audit(project, rep2)
    assert rep2.figure("undone").value == 2


def test_markdown_and_docx(tmp_path):
    project = build_ai_project(tmp_path)
    src = project.store.get_source("P01")
    hostile = "*Council* <b>x</b> | [link](http://canary.invalid)"
    project.store.update_source_attributes(src.id, {**src.attributes, "organisation": hostile,
                                                    "note": "vertical\x0btab"}, src.kind)
    md_path, docx_path = tmp_path / "methods.md", tmp_path / "methods.docx"
    rep, _ = write_methods_report(project, md_path)
    md = md_path.read_text(encoding="utf-8")
    for h in HEADINGS:
        assert f"## {h}" in md
    assert hostile not in md and "<b>" not in md and "\\*Council\\* \\<b\\>x\\</b\\> \\| \\[link\\]" in md
    assert "| Suggestions accepted | 2 | action = decision.accept, not undone | 2 |" in md
    rep, _ = write_methods_report(project, docx_path)
    doc = Document(str(docx_path))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert [h for h in headings if h in HEADINGS] == HEADINGS
    assert set(headings) - set(HEADINGS) <= {"Validation gate"}
    cells = [[c.text for c in row.cells] for t in doc.tables for row in t.rows]
    assert [hostile, "1"] == next(r[1:] for r in cells if r[0] == "organisation" and r[1] == hostile)
    assert ["note", "vertical\\x0btab", "1"] in cells  # a control character XML cannot hold, shown
    appendix = {r[0]: r for r in cells if len(r) == 5}
    assert appendix["Suggestions made by engines"][1] == "4"
    assert appendix["Suggestions accepted"][1:4] == ["2", "action = decision.accept, not undone", "2"]
    assert appendix["Suggestions accepted"][4] == id_ranges(rep.figure("accepted").ids)
    assert any(rep.paragraph == p.text for p in doc.paragraphs)
    exports = [e for e in project.store.list_audit() if e.entity_type == "methods_report"]
    assert [e.details["format"] for e in exports] == ["md", "docx"]


def test_cli_writes_both_formats(tmp_path):
    build_ai_project(tmp_path).close()
    runner = CliRunner()
    p = ["--project", str(tmp_path / "proj")]
    r = runner.invoke(app, ["report", "methods", "--out", str(tmp_path / "m.docx"), *p])
    assert r.exit_code == 0, r.output
    assert Document(str(tmp_path / "m.docx")).paragraphs
    r = runner.invoke(app, ["report", "methods", *p])
    assert r.exit_code == 0 and "## Appendix: where each figure comes from" in r.output
    r = runner.invoke(app, ["report", "methods", "--out", str(tmp_path / "m.pdf"), *p])
    assert r.exit_code == 1 and "use .md or .docx" in r.output
    r = runner.invoke(app, ["report", "methods", "--json", *p])
    assert r.exit_code == 0 and json.loads(r.output)["figures"]


def test_no_ai_and_validation_gate(tmp_path):
    """A project coded by hand only says so, and the gate's section says it was not run."""
    from builders import build_coding_project

    project = build_coding_project(tmp_path)
    src = project.store.get_source("P01")
    decisions.add_coding(project, "P01", 0, 20, "Drivers")
    rep = build_methods_report(project)
    assert rep.figure("suggestions_made").value == 0 and rep.figure("hand_codings").value == 1
    assert "No AI code suggestions were used" in rep.paragraph
    assert "no text was sent to an external service" in rep.paragraph
    md = to_markdown(rep)
    if rep.validation is not None:
        assert "The validation gate was not run." in md
    assert src.text  # the source is there; nothing else changed


def test_id_ranges():
    assert id_ranges([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    assert id_ranges([]) == "none"
    assert id_ranges(range(0, 200, 2), limit=3) == "0, 2, 4, ... (97 more ranges)"


def test_demo_like_project(ui_project):
    """The packaged demo sources with offline suggestions: some accepted, some rejected."""
    with Project.open(ui_project) as project:
        pending = list_suggestions(project)[:6]
        assert len(pending) >= 4
        for v in pending[:3]:
            decisions.accept(project, v.suggestion.id)
        decisions.reject(project, pending[3].suggestion.id)
        rep = build_methods_report(project)
        _check_against_audit(project, rep)
        assert rep.figure("accepted").value == 3 and rep.figure("rejected").value == 1
        assert rep.corpus["sources"] == 3 and set(rep.corpus["kinds"]) == {"interview", "document"}
        assert {e.engine for e in rep.engines} == {"offline"}
        assert rep.privacy["remote_calls"] == 0
        md = to_markdown(rep)
        assert "offline" in md and "All models ran on the researchers' own machine" in md


@pytest.mark.parametrize("fmt", ["md", "docx"])
def test_docx_needs_a_path(tmp_path, fmt):
    project = build_ai_project(tmp_path)
    if fmt == "docx":
        from assistant.errors import ThematicError

        with pytest.raises(ThematicError, match="needs --out"):
            write_methods_report(project, None, "docx")
    else:
        _, text = write_methods_report(project, None, "md")
        assert text and text.startswith("# Methods report")


def test_validation_gate_figures(tmp_path):
    """The gate's saved report is in the report, and a gate run on a remote model counts as text
    that left the machine."""
    from builders import build_coding_project, scripted_engine

    from assistant.coding import validation

    project = build_coding_project(tmp_path)
    codes = {c.name: c.id for c in project.store.list_codes()}
    vid = validation.draw_sample(project, size=4, seed=1, coder="alice")
    for e in validation.sample_excerpts(project, vid):
        if "mould" in e.text:
            decisions.add_coding(project, e.source_id, e.start, e.end, "Housing and living conditions", analyst="alice")
        else:
            validation.mark_no_code(project, vid, [e.id])
    engine = scripted_engine({"mould": codes["Housing and living conditions"], "staff": codes["Workforce capacity"]})
    saved = validation.run_validation(project, vid, engine=engine, n_boot=50)
    rep = build_methods_report(project)
    (v,) = rep.validation
    assert v["id"] == vid and v["summary"] == saved["summary"] and v["units"] == 4
    runs = [e.id for e in project.store.list_audit("validation") if e.action == "validation.run"]
    assert v["audit_ids"] == runs and rep.figure("validation_runs").ids == runs
    assert rep.figure("remote_validation_excerpts").value == 4
    s = saved["summary"]
    assert f"{s['passes']} of {s['assessed']} assessed codes met the agreement bar" in rep.paragraph
    assert "The validation gate sent 4 excerpts to a hosted model (openai)" in rep.paragraph
    md = to_markdown(rep)
    assert "## Validation gate" in md and "The validation gate was not run." not in md


def test_workspace_offers_the_report(ui_project, monkeypatch):
    """The Agreement & export page offers the methods report in both formats."""
    from pathlib import Path as _Path

    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("THEMATIC_ANALYST", "tester")
    monkeypatch.setenv("THEMATIC_PROJECT", str(ui_project))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    at = AppTest.from_file(str(_Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/agreement.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Methods report (Word)", "Methods report (Markdown)"} <= set(labels)
