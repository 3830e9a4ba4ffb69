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
        docs = []
        for rank, h in enumerate(hits, start=1):
            meta = dict(h.meta)
            meta.update(excerpt_id=h.id, rank=rank, score=h.score, dense_rank=h.dense_rank,
                        bm25_rank=h.bm25_rank, dense_score=h.dense_score, bm25_score=h.bm25_score,
                        citation=f"[S{meta['source_id']}:{meta['start']}-{meta['end']}]")
            docs.append(Document(page_content=h.text, metadata=meta, id=str(h.id)))
        return docs
