"""AI provenance through REFI-QDA: accepted AI codings are the accepting analyst's, their AI origin
travels as a parseable Note (and the "AI-assisted codings" Set), themes travel as Sets of codes
with their memos, and a re-import gives all of it back as provenance, not as memos."""

from __future__ import annotations

import zipfile

import pytest
from builders import AI_PROMPT_SHA as SHA
from builders import build_ai_project
from lxml import etree

from assistant.exchange.refi import export_qdpx, import_qdpx, validate_qde
from assistant.exchange.refi.provenance import AI_MARKER, AI_SET_NAME, parse_block
from assistant.project import Project

NS = "{urn:QDA-XML:project:1.0}"


def _snapshot(project: Project) -> dict:
    store = project.store
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}
    srcs = {s.id: s.name for s in store.list_sources()}
    codings = []
    for c in store.list_codings():
        prov = None
        if c.suggestion_id is not None:
            s = store.get_suggestion(c.suggestion_id)
            prov = (s.engine, s.model, s.prompt_version, s.score, s.params.get("prompt_sha256"), s.status)
        codings.append((srcs[c.source_id], c.start, c.end, names[c.code_id], c.coder, prov))
    themes = sorted((t.name, t.summary, t.status, t.summary_kind, tuple(sorted(names[i] for i in t.code_ids)),
                     tuple((q.source_name, q.start, q.end, q.text, q.attribution) for q in t.quotes))
                    for t in store.list_themes())
    for t in store.list_themes():  # quotes point at this project's sources, verbatim
        assert all(store.get_source(q.source_id).text[q.start:q.end] == q.text for q in t.quotes)
    tnames = {t.id: t.name for t in store.list_themes()}

    def target(m):
        if m.target_type == "theme":
            return tnames[m.target_id]
        if m.target_type == "code":
            return names[m.target_id]
        if m.target_type == "source":
            return srcs[m.target_id]
        return None

    memos = sorted((m.target_type, target(m), m.text, m.author) for m in store.list_memos())
    return {"codings": sorted(codings, key=repr), "themes": themes, "memos": memos}


@pytest.mark.usefixtures("store_engine")
def test_ai_provenance_round_trip(tmp_path, shared_dir):
    project = build_ai_project(tmp_path / "a")
    before = _snapshot(project)
    ai_before = [c for c in project.store.list_codings() if c.suggestion_id is not None]
    assert len(ai_before) == 3 and {c.coder for c in ai_before} == {"alice", "bob"}
    out = tmp_path / "out.qdpx"
    report = export_qdpx(project, out)
    assert report.counts["ai_codings"] == 3 and report.counts["themes"] == 1
    assert not [w for w in report.warnings if "theme" in w]
    qde = zipfile.ZipFile(out).read("project.qde")
    assert validate_qde(qde, shared_dir / "refi" / "Project-mrt2019.xsd") == []

    root = etree.fromstring(qde)
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{NS}User")}
    notes = {n.get("guid"): n for n in root.iter(f"{NS}Note")}
    ai_codings = [c for c in root.iter(f"{NS}Coding")
                  if any(parse_block(notes[r.get("targetGUID")].findtext(f"{NS}PlainTextContent") or "")
                         for r in c.iter(f"{NS}NoteRef"))]
    assert len(ai_codings) == 3
    for c in ai_codings:  # the creator is the analyst who accepted it, never the AI
        assert users[c.get("creatingUser")] in {"alice", "bob"}
        assert users[c.getparent().get("creatingUser")] == users[c.get("creatingUser")]
        note = notes[c.find(f"{NS}NoteRef").get("targetGUID")]
        assert [r.get("targetGUID") for r in c.getparent().findall(f"{NS}NoteRef")] == [note.get("guid")]
        marker, fields = parse_block(note.findtext(f"{NS}PlainTextContent"))
        assert marker == AI_MARKER and note.get("name").startswith("AI origin: llm openai:gpt-test")
        assert fields["engine"] == "llm" and fields["model"] == "openai:gpt-test" and fields["prompt_version"] == "v2"
        assert fields["prompt_sha256"] == SHA and float(fields["score"]) == 0.75
        assert fields["decided_by"] == users[c.get("creatingUser")] and fields["suggestion"].isdigit()
    sets = {s.get("name"): s for s in root.iter(f"{NS}Set")}
    ai_set = sets[AI_SET_NAME]
    assert {m.get("targetGUID") for m in ai_set.iter(f"{NS}MemberNote")} == {
        c.find(f"{NS}NoteRef").get("targetGUID") for c in ai_codings}
    theme_set = sets["Cold homes <b>and</b> A&E"]
    assert theme_set.findtext(f"{NS}Description") == "Damp housing drives admissions."
    assert len(theme_set.findall(f"{NS}MemberCode")) == 2
    member_notes = [notes[m.get("targetGUID")].findtext(f"{NS}PlainTextContent")
                    for m in theme_set.iter(f"{NS}MemberNote")]
    assert "Theme memo: check against the documents" in member_notes

    imported = import_qdpx(out, tmp_path / "b")
    assert imported.counts["ai_codings"] == 3 and imported.counts["themes"] == 1
    assert imported.counts["sets"] == 0  # the AI set and the theme set are not source sets
    with Project.open(tmp_path / "b") as again:
        after = _snapshot(again)
        assert after == before  # provenance, creators, themes (with status) and memos all back
        assert [q[:4] for q in after["themes"][0][-1]] == [("P01", before["themes"][0][-1][0][1], before["themes"][0][-1][0][2], "black mould")]
        memo_texts = [m.text for m in again.store.list_memos()]
        assert not any(AI_MARKER in t or "theme record" in t for t in memo_texts)  # provenance is no memo
        for c in again.store.list_codings():
            if c.suggestion_id is not None:
                s = again.store.get_suggestion(c.suggestion_id)
                assert c.origin == "suggestion" and s.status in ("accepted", "edited")
                assert s.params["imported_from"]["suggestion"].isdigit()
        assert not again.store.list_suggestions()  # nothing waits in the review queue
        audited = [e for e in again.store.list_audit("coding") if e.action == "import.provenance"]
        assert len(audited) == 3 and {e.details["ai_model"] for e in audited} == {"openai:gpt-test"}

    # and a second round trip is stable: the same provenance, no memo creeps in
    out2 = tmp_path / "out2.qdpx"
    with Project.open(tmp_path / "b") as again:
        export_qdpx(again, out2)
    import_qdpx(out2, tmp_path / "c")
    with Project.open(tmp_path / "c") as third:
        assert _snapshot(third) == before
        origins = {third.store.get_suggestion(c.suggestion_id).params["imported_from"]["suggestion"]
                   for c in third.store.list_codings() if c.suggestion_id is not None}
        assert origins == {str(c.suggestion_id) for c in ai_before}  # the first project's suggestions
        from assistant.exchange.methods_report import build_methods_report

        assert build_methods_report(third).figure("imported_ai_codings").value == 3


def test_foreign_note_in_provenance_shape_only_if_exact(tmp_path):
    """A researcher's own note that merely mentions provenance stays a memo."""
    assert parse_block("thematic AI provenance v1 is what we use\nengine: x") is None
    assert parse_block("Some memo\nengine: llm") is None
    marker, fields = parse_block("thematic AI provenance v1\r\nengine: llm\r\nmodel: m: with colon\r\n")
    assert marker == AI_MARKER and fields == {"engine": "llm", "model": "m: with colon"}
    assert parse_block("thematic AI provenance v1\nnot a field line") is None


def test_foreign_code_sets_and_orphan_provenance_notes(tmp_path):
    """Another tool's Set of codes (no theme record) becomes a draft theme; an AI origin note that
    no coding references any more is kept as a memo, with a warning, so its text is not lost."""
    project = build_ai_project(tmp_path / "a")
    out = tmp_path / "out.qdpx"
    export_qdpx(project, out)
    with zipfile.ZipFile(out) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    root = etree.fromstring(files["project.qde"])
    notes = {n.get("guid"): n for n in root.iter(f"{NS}Note")}
    for ref in list(root.iter(f"{NS}NoteRef", f"{NS}MemberNote")):
        text = notes[ref.get("targetGUID")].findtext(f"{NS}PlainTextContent")
        if parse_block(text):  # as a tool that drops what it does not understand would
            ref.getparent().remove(ref)
    files["project.qde"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    edited = tmp_path / "edited.qdpx"
    with zipfile.ZipFile(edited, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    report = import_qdpx(edited, tmp_path / "b")
    assert report.counts["ai_codings"] == 0 and report.counts["themes"] == 1
    assert sum("AI provenance of no coding" in w for w in report.warnings) == 3
    with Project.open(tmp_path / "b") as again:
        (theme,) = again.store.list_themes()
        assert theme.status == "draft" and len(theme.code_ids) == 2 and theme.summary
        kept = [m for m in again.store.list_memos() if AI_MARKER in m.text]
        assert len(kept) == 3  # the orphaned AI origin notes, kept as text rather than lost
        assert all(c.origin == "import" for c in again.store.list_codings())
