"""Ingest: the demo corpus, incremental re-ingest, changed sources, bad input in a batch."""

from __future__ import annotations

import shutil

import pytest

from assistant.corpus.ingest import ingest_paths, read_metadata, remove_source
from assistant.demo import corpus_dir, demo_dir
from assistant.errors import IngestError
from assistant.models import Code, Coding
from assistant.project import Project
from index.embeddings import HashingEmbedder


@pytest.fixture
def project(tmp_path):
    p = Project.init(tmp_path / "study")
    p.set_embedder(HashingEmbedder(128))
    yield p
    p.close()


def test_demo_corpus_ingests_with_metadata(project):
    report = ingest_paths(project, [corpus_dir()], meta=demo_dir() / "metadata.csv")
    assert report.ok, [r.error for r in report.failed]
    sources = {s.name: s for s in project.store.list_sources(with_text=True)}
    assert len(sources) == 13
    interviews = [s for s in sources.values() if s.kind == "interview"]
    assert len(interviews) == 8
    assert {s.attributes["sector"] for s in interviews} == {"Local authority", "NHS", "Voluntary sector"}
    for source in sources.values():
        for e in project.store.list_excerpts(source_id=source.id):
            assert source.text[e.start:e.end] == e.text
    # speaker turns were found in every interview, whatever its transcript format
    for s in interviews:
        excerpts = project.store.list_excerpts(source_id=s.id)
        assert any(e.is_interviewer for e in excerpts), s.name
        assert len({e.speaker for e in excerpts if not e.is_interviewer}) >= 1, s.name
    assert report.index and report.index["added"] == sum(r.excerpts for r in report.results)


def test_reingesting_unchanged_files_does_nothing(project):
    ingest_paths(project, [corpus_dir()], meta=demo_dir() / "metadata.csv")
    before = project.store.counts()
    report = ingest_paths(project, [corpus_dir()])  # no metadata this time: attributes kept
    assert {r.status for r in report.results} == {"unchanged"}
    assert project.store.counts()["excerpts"] == before["excerpts"]
    assert project.store.get_source("P01_public_health_consultant.txt").attributes["participant"] == "P01"


def test_changed_file_replaces_old_version_and_reports_codings(project, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph about damp housing.\n\nSecond paragraph about funding cuts.\n")
    ingest_paths(project, [path])
    source = project.store.get_source("notes.txt")
    code = project.store.add_code(Code(name="Housing"))
    for start, text in ((0, "First paragraph about damp housing."), (37, "Second paragraph about funding cuts.")):
        assert source.text[start:start + len(text)] == text
        project.store.add_coding(Coding(source_id=source.id, code_id=code.id, start=start,
                                        end=start + len(text), text=text, coder="alice"))
    path.write_text("A new opening line.\n\nFirst paragraph about damp housing.\n\nThe funding story changed.\n")
    report = ingest_paths(project, [path])
    [result] = report.results
    assert result.status == "updated"
    assert any("1 codings re-anchored" in n for n in result.notes)
    assert any("no longer matches" in n and "kept as orphaned" in n for n in result.notes)
    new = project.store.get_source("notes.txt")
    assert new.version == 2
    [kept] = project.store.list_codings(source_id=new.id)
    assert new.text[kept.start:kept.end] == kept.text == "First paragraph about damp housing."
    # the other coding is not removed: kept, orphaned, with its text and offsets into version 1
    [orphan] = project.store.list_codings(source_id=new.id, status="orphaned")
    assert orphan.text == "Second paragraph about funding cuts." and orphan.source_version == 1
    assert project.store.get_source_version(new.id, 1).text[orphan.start:orphan.end] == orphan.text
    assert [e.action for e in project.store.list_audit("source")][-1] == "reingest"


def test_bad_files_are_named_and_the_rest_goes_on(project, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("Interviewer: How are things?\nP1: Fine, mostly.\nInterviewer: And work?\nP1: Busy.\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n")  # truncated
    missing = tmp_path / "nope.docx"
    report = ingest_paths(project, [good, empty, binary, pdf, missing])
    assert [r.status for r in report.results] == ["added", "failed", "failed", "failed", "failed"]
    for r in report.failed:
        assert r.error and r.path in r.error
    assert [s.name for s in project.store.list_sources()] == ["good.txt"]


def test_csv_with_missing_column_is_reported(project, tmp_path):
    from index.readers import ReadOptions

    survey = tmp_path / "survey.csv"
    survey.write_text("id,answer\n1,It was fine\n")
    report = ingest_paths(project, [survey], read_options=ReadOptions(id_column="id", text_column="response"))
    [result] = report.failed
    assert "response" in result.error and "survey.csv" in result.error


def test_metadata_without_file_column_is_a_clear_error(tmp_path):
    meta = tmp_path / "metadata.csv"
    meta.write_text("name,kind\na.txt,interview\n")
    with pytest.raises(IngestError, match="'file' column"):
        read_metadata(meta)


def test_remove_source_reports_and_audits(project, tmp_path):
    shutil.copy(corpus_dir() / "P05_gp_partner.txt", tmp_path / "P05.txt")
    ingest_paths(project, [tmp_path / "P05.txt"], index=False)
    result = remove_source(project, "P05.txt")
    assert result["source"] == "P05.txt" and result["excerpts"] > 10
    assert project.store.list_sources() == []
    assert project.store.list_audit("source")[-1].action == "remove"


def test_naming_the_interviewer_later_rebuilds_the_excerpts(project, tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text("Sam: Hello, how long have you lived here?\nAlex: Ten years.\n"
                    "Sam: And the flat?\nAlex: Damp, always damp.\nSam: Anything else?\nAlex: No.\n")
    ingest_paths(project, [path], index=False, attributes={"interviewer": "Alex"})
    src = project.store.get_source("chat.txt")
    assert {e.speaker for e in project.store.list_excerpts(source_id=src.id) if e.is_interviewer} == {"Alex"}
    [result] = ingest_paths(project, [path], index=False, attributes={"interviewer": "Sam"}).results
    assert result.status == "updated"
    assert {e.speaker for e in project.store.list_excerpts(source_id=src.id) if e.is_interviewer} == {"Sam"}
    [again] = ingest_paths(project, [path], index=False).results
    assert again.status == "unchanged"


def test_unknown_kind_in_metadata_names_the_file_and_stores_nothing(project, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("A short note about funding.")
    [result] = ingest_paths(project, [path], index=False, meta={"a.txt": {"kind": "podcast"}}).results
    assert result.status == "failed" and "a.txt" in result.error and "podcast" in result.error
    assert "could not be stored" not in result.error
    assert project.store.list_sources() == []


def test_search_repairs_an_index_the_store_has_moved_past(project, tmp_path):
    """Excerpts added without indexing are found by the next search (the cheap fingerprint check
    must notice them), and an unchanged corpus is not re-verified record by record."""
    from assistant.corpus.search import search, verify_index

    first = tmp_path / "a.txt"
    first.write_text("A note about winter pressures in the emergency department.")
    ingest_paths(project, [first])
    second = tmp_path / "b.txt"
    second.write_text("Mould and damp in private rented flats in Millfield.")
    ingest_paths(project, [second], index=False)
    assert not verify_index(project).ok
    hits = search(project, "mould damp Millfield", k=2, mode="bm25")
    assert hits and hits[0].source == "b.txt"
    assert verify_index(project).ok
    project.store.update_source_attributes(project.store.get_source("b.txt").id, {"sector": "NHS"})
    assert search(project, "mould", k=1, filters={"sector": "NHS"}, mode="bm25")[0].source == "b.txt"


# -- re-ingest keeps the analyst's work (hostile trial F1) ------------------------------------------

TRANSCRIPT = (
    "Interviewer: What changed for you after the budget?\n"
    "P3: The short-term funding cuts hurt us badly. We lost two posts in the spring.\n"
    "Interviewer: And the families you work with?\n"
    "P3: Damp housing is the big one [laughs]. Families move every year, sometimes twice.\n"
    "Interviewer: Anything else?\n"
    "P3: The council says it will fix the flats, but nothing happens.\n"
)
CODED = (
    ("Funding", "The short-term funding cuts hurt us badly."),
    ("Staffing", "We lost two posts in the spring."),
    ("Housing", "Damp housing is the big one [laughs]."),
    ("Council", "The council says it will fix the flats, but nothing happens."),
)


def _coded_transcript(project, tmp_path, text=TRANSCRIPT):
    """The F1 set-up: one interview, four spans coded by the analyst through the library."""
    from assistant.coding.decisions import add_coding

    path = tmp_path / "P3.txt"
    path.write_text(text)
    ingest_paths(project, [path], index=False)
    source = project.store.get_source("P3.txt")
    for code, quote in CODED:
        project.store.add_code(Code(name=code))
        start = source.text.index(quote)
        add_coding(project, "P3.txt", start, start + len(quote), code)
    return path, source


def _state(project):
    """Everything a dry run must leave exactly as it was."""
    rows = {t: project.store.conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("sources", "excerpts", "codings", "source_versions", "audit_log")}
    return {t: [tuple(r) for r in v] for t, v in rows.items()}


def test_light_edit_keeps_every_coding_on_its_words(project, tmp_path):
    path, _ = _coded_transcript(project, tmp_path)
    edited = (TRANSCRIPT.replace("short-term", "short term").replace("sometimes twice", "sometimes  twice")
              .replace("Damp housing", "damp housing"))
    path.write_text(edited)
    [result] = ingest_paths(project, [path], index=False).results
    assert result.status == "updated"
    source = project.store.get_source("P3.txt")
    codings = project.store.list_codings(source_id=source.id)
    assert len(codings) == 4 and project.store.list_codings(source_id=source.id, status="orphaned") == []
    for c in codings:  # verbatim in the new text, on whole words
        assert source.text[c.start:c.end] == c.text
        assert c.excerpt_id is not None
    assert {c.text for c in codings} == {"The short term funding cuts hurt us badly.", "We lost two posts in the spring.",
                                         "damp housing is the big one [laughs].",
                                         "The council says it will fix the flats, but nothing happens."}
    audit = project.store.list_audit("source", source.id)[-1]
    assert audit.action == "reingest"
    outcomes = {d["code"]: (d["outcome"], d["old_text"]) for d in audit.details["codings"]}
    assert outcomes["Funding"] == ("moved-fuzzy", "The short-term funding cuts hurt us badly.")
    assert outcomes["Staffing"][0] == "moved" and outcomes["Council"][0] == "moved"
    assert audit.details["codings_orphaned"] == []


def test_truncation_orphans_only_the_codings_whose_words_are_gone(project, tmp_path):
    path, old = _coded_transcript(project, tmp_path)
    path.write_text(TRANSCRIPT[:TRANSCRIPT.index("Interviewer: And the families")])
    [result] = ingest_paths(project, [path], index=False).results
    assert any("coding" in n and "kept as orphaned" in n for n in result.notes)
    source = project.store.get_source("P3.txt")
    active = project.store.list_codings(source_id=source.id)
    orphans = project.store.list_codings(source_id=source.id, status="orphaned")
    assert sorted(c.text for c in active) == sorted(q for _, q in CODED[:2])
    assert sorted(c.text for c in orphans) == sorted(q for _, q in CODED[2:])
    assert project.store.list_codings(source_id=source.id, status="removed") == []
    # the earlier version is in the store, and each orphan's offsets still point at its words there
    earlier = project.store.get_source_version(source.id, 1)
    assert earlier.text == old.text and earlier.content_hash == old.content_hash
    for c in orphans:
        assert c.source_version == 1 and earlier.text[c.start:c.end] == c.text and c.excerpt_id is None
    assert [v.version for v in project.store.list_source_versions(source.id)] == [1]
    assert project.store.counts()["codings_orphaned"] == 2
    details = project.store.list_audit("source", source.id)[-1].details
    assert sorted(details["codings_orphaned"]) == sorted(c.id for c in orphans)
    assert {d["old_text"] for d in details["codings"] if d["outcome"] == "orphaned"} == {q for _, q in CODED[2:]}


def test_an_orphan_comes_back_when_its_words_do(project, tmp_path):
    path, _ = _coded_transcript(project, tmp_path)
    path.write_text(TRANSCRIPT[:TRANSCRIPT.index("Interviewer: And the families")])
    ingest_paths(project, [path], index=False)
    path.write_text(TRANSCRIPT)  # the truncated file is re-ingested in full
    [result] = ingest_paths(project, [path], index=False).results
    assert any("2 orphaned codings found their words again" in n for n in result.notes)
    source = project.store.get_source("P3.txt")
    assert source.version == 3 and len(project.store.list_codings(source_id=source.id)) == 4
    for c in project.store.list_codings(source_id=source.id):
        assert source.text[c.start:c.end] == c.text and c.source_version is None


def test_reattach_and_dismiss_are_the_analysts_and_audited(project, tmp_path):
    from assistant.coding.orphans import dismiss, list_orphans, reattach
    from assistant.errors import ThematicError

    path, _ = _coded_transcript(project, tmp_path)
    path.write_text(TRANSCRIPT.replace("Damp housing is the big one [laughs].", "Mould, mostly.")
                    .replace("The council says it will fix the flats, but nothing happens.", "The landlord is slow."))
    ingest_paths(project, [path], index=False)
    orphans = {o.code: o for o in list_orphans(project)}
    assert set(orphans) == {"Housing", "Council"}
    assert orphans["Housing"].text == "Damp housing is the big one [laughs]." and orphans["Housing"].source_version == 1
    source = project.store.get_source("P3.txt")
    before = len(project.store.list_audit())
    cut = source.text.index("ould, mostly")  # mid-word: snapped to "Mould"
    coding = reattach(project, orphans["Housing"].coding_id, cut, cut + len("ould, mostly"), note="same point")
    assert coding.status == "active" and coding.text == "Mould, mostly" == source.text[coding.start:coding.end]
    assert coding.source_version is None and coding.excerpt_id is not None
    dismissed = dismiss(project, orphans["Council"].coding_id, note="no longer said")
    assert dismissed.status == "dismissed" and dismissed.text == CODED[3][1]  # kept, with its old text
    events = project.store.list_audit()[before:]
    assert [e.action for e in events] == ["orphan.reattach", "orphan.dismiss"]
    assert events[0].details["before"]["text"] == CODED[2][1] and events[0].details["after"]["text"] == "Mould, mostly"
    assert events[1].details["before"]["source_version"] == 1
    assert list_orphans(project) == []
    with pytest.raises(ThematicError, match="not orphaned"):
        dismiss(project, coding.id)
    with pytest.raises(ThematicError, match="not orphaned"):
        reattach(project, dismissed.id, 0, 5)
    assert len(project.store.list_audit()) == before + 2  # refusals write nothing


def test_reattach_refuses_a_blank_or_outside_span(project, tmp_path):
    from assistant.coding.orphans import list_orphans, reattach
    from assistant.errors import VerificationError

    path, _ = _coded_transcript(project, tmp_path)
    path.write_text(TRANSCRIPT[:60])
    ingest_paths(project, [path], index=False)
    orphan = list_orphans(project)[0]
    before = _state(project)
    with pytest.raises(VerificationError):
        reattach(project, orphan.coding_id, 500, 600)
    assert _state(project) == before


def test_dry_run_writes_nothing_and_predicts_the_real_run(project, tmp_path):
    from assistant.corpus.ingest import plan_ingest

    path, _ = _coded_transcript(project, tmp_path)
    other = tmp_path / "new.txt"
    other.write_text("A field note about the food bank queue on Tuesday.")
    path.write_text("Interviewer: A new first question?\nP3: A new first answer.\n"
                    + TRANSCRIPT.replace("short-term", "short term")[:TRANSCRIPT.index("Interviewer: Anything")])
    before = _state(project)
    plan = plan_ingest(project, [path, other, tmp_path / "missing.txt"])
    assert _state(project) == before  # not a row, not an audit entry
    assert [f.status for f in plan.files] == ["updated", "added", "failed"]
    [changed] = plan.at_risk
    assert changed.name == "P3.txt" and changed.version == 2
    assert changed.outcomes() == {"moved": 2, "moved-fuzzy": 1, "orphaned": 1}
    report = ingest_paths(project, [path, other, tmp_path / "missing.txt"], index=False)
    assert [r.status for r in report.results] == [f.status for f in plan.files]
    assert report.results[0].codings == changed.codings  # exactly what was predicted
    assert report.results[0].notes == changed.notes
    source = project.store.get_source("P3.txt")
    for ch in changed.codings:
        c = project.store.get_coding(ch.coding_id)
        if ch.outcome == "orphaned":
            assert c.status == "orphaned" and c.text == ch.old_text
        else:
            assert (c.start, c.end, c.text) == (ch.start, ch.end, ch.text) == (ch.start, ch.end, source.text[ch.start:ch.end])
    # once applied, the same plan says nothing would change
    assert [f.status for f in plan_ingest(project, [path, other]).files] == ["unchanged", "unchanged"]


def test_dry_run_of_a_batch_plans_each_file_against_what_the_earlier_ones_leave(project, tmp_path):
    from assistant.corpus.ingest import plan_ingest

    path, _ = _coded_transcript(project, tmp_path)
    twin = tmp_path / "again" / "P3.txt"  # same source name: the second file replaces the first
    twin.parent.mkdir()
    twin.write_text(TRANSCRIPT)
    path.write_text(TRANSCRIPT[:TRANSCRIPT.index("Interviewer: And the families")])
    plan = plan_ingest(project, [path, twin])
    report = ingest_paths(project, [path, twin], index=False)
    assert [r.codings for r in report.results] == [f.sources[0].codings for f in plan.files]
    assert plan.files[1].sources[0].outcomes()["orphaned"] == 0  # the orphans of file 1 come back


def test_a_project_made_before_source_versions_upgrades_in_place(tmp_path):
    """An existing project database gains the versions table and the orphan column, keeping its
    codings as they were (active, anchored in the current text)."""
    import sqlite3

    from assistant.store import ProjectStore
    from assistant.store.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    name, first = MIGRATIONS[0]
    first(conn)
    conn.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", (name,))
    conn.execute("INSERT INTO sources (name, kind, content_hash, text, added_at) VALUES ('a.txt', 'document', 'h', "
                 "'Damp flats.', 'now')")
    conn.execute("INSERT INTO codes (name, created_at) VALUES ('Housing', 'now')")
    conn.execute("INSERT INTO codings (source_id, code_id, start, \"end\", text, coder, created_at) "
                 "VALUES (1, 1, 0, 4, 'Damp', 'alice', 'now')")
    conn.commit()
    conn.close()
    store = ProjectStore.open(path)
    assert "m002_source_versions" in store.applied_migrations
    [c] = store.list_codings()
    assert c.status == "active" and c.source_version is None and c.text == "Damp"
    assert store.list_source_versions(1) == []
    store.close()
