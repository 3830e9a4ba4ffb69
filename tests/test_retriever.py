"""The LangChain retriever over a project's hybrid search."""

from __future__ import annotations

from builders import build_writing_project as build_project

from assistant.corpus.retriever import ThematicRetriever


def test_documents_carry_offsets_and_ranks(tmp_path):
    project = build_project(tmp_path / "proj")
    retriever = ThematicRetriever(project=project, k=3, filters={"kind": "interview"})
    docs = retriever.invoke("data sharing between council and hospital")
    assert docs and len(docs) <= 3
    texts = project.store.source_texts()
    for d in docs:
        m = d.metadata
        assert texts[m["source_id"]][m["start"]:m["end"]] == d.page_content
        assert m["kind"] == "interview" and not m["is_interviewer"]
        assert {"source", "speaker", "page", "dense_rank", "bm25_rank", "score", "excerpt_id"} <= set(m)
    assert docs[0].metadata["source"] == "P02" and docs[0].metadata["citation"].startswith("[S")
    project.close()


def test_opens_a_project_by_folder(tmp_path, monkeypatch):
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    build_project(tmp_path / "proj").close()
    monkeypatch.setattr(Project, "embedder", property(lambda self: HashingEmbedder(256)))
    docs = ThematicRetriever(project_folder=str(tmp_path / "proj"), k=2).invoke("prevention funding")
    assert len(docs) == 2 and all(d.metadata["excerpt_id"] for d in docs)
