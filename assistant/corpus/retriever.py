"""A LangChain retriever over a project's hybrid search, so LangChain chains and agents can use
the corpus. Documents carry their offsets and ranks in metadata, so anything built on them can
still cite `source.text[start:end]`."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from assistant.project import Project
from index.types import ExcerptHit


class ThematicRetriever(BaseRetriever):
    """`ThematicRetriever(project_folder="study", k=8)`, or `project=` an open Project (tests, the
    UI). `settings` optionally overrides the project's search settings (an index.config
    SearchSettings)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    project_folder: str | None = None
    project: Any = None
    settings: Any = None
    k: int = 8
    mode: str = "hybrid"
    filters: dict[str, Any] | None = None
    exclude_interviewer: bool = True
    _project: Project | None = PrivateAttr(default=None)

    def _open(self) -> Project:
        if self.project is not None:
            return self.project
        if self._project is None:
            if not self.project_folder:
                raise ValueError("ThematicRetriever needs project_folder or project")
            self._project = Project.open(self.project_folder)
            if self.settings is not None:
                self._project.settings.search = self.settings
        return self._project

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        from assistant.corpus.search import search

        project = self._open()
        hits = search(project, query, k=self.k, mode=self.mode, filters=self.filters,
                      exclude_interviewer=self.exclude_interviewer)
        return [Document(page_content=h.text, metadata=document_metadata(h, rank), id=str(h.id))
                for rank, h in enumerate(hits, start=1)]


def document_metadata(hit: ExcerptHit, rank: int) -> dict[str, Any]:
    """A LangChain document's metadata is a flat dict: the source's attributes, then the hit's
    typed fields (offsets, speaker, page, ranks, scores) and a citation token."""
    meta: dict[str, Any] = dict(hit.attributes)
    meta.update(
        excerpt_id=hit.id, source_id=hit.source_id, source=hit.source, kind=hit.kind, start=hit.start,
        end=hit.end, speaker=hit.speaker, is_interviewer=hit.is_interviewer, page=hit.page,
        ordinal=hit.ordinal, rank=rank, score=hit.score, dense_rank=hit.dense_rank, bm25_rank=hit.bm25_rank,
        dense_score=hit.dense_score, bm25_score=hit.bm25_score, rerank_score=hit.rerank_score,
        citation=f"[S{hit.source_id}:{hit.start}-{hit.end}]",
    )
    return meta
