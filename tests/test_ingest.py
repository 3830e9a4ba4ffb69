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
    assert any("no longer matches" in n for n in result.notes)
    new = project.store.get_source("notes.txt")
    assert new.version == 2
    [kept] = project.store.list_codings(source_id=new.id)
    assert new.text[kept.start:kept.end] == kept.text == "First paragraph about damp housing."
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
    assert hits and hits[0].meta["source"] == "b.txt"
    assert verify_index(project).ok
    project.store.update_source_attributes(project.store.get_source("b.txt").id, {"sector": "NHS"})
    assert search(project, "mould", k=1, filters={"sector": "NHS"}, mode="bm25")[0].meta["source"] == "b.txt"
