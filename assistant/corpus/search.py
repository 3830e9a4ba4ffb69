"""Search over a project's excerpts: the bridge from the store to the corpus index.

Each excerpt becomes an `IndexRecord` whose metadata carries its source's kind and attributes, so
every filter the analyst can name (participant, organisation, sector, speaker, any attribute) works
the same in the CLI, the UI and the LangChain retriever."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.project import Project
from index.corpus_index import Hit, IndexRecord, SyncReport, VerifyReport

Progress = Callable[[int, int], None]


def excerpt_records(project: Project) -> list[IndexRecord]:
    sources = {s.id: s for s in project.store.list_sources()}
    records: list[IndexRecord] = []
    for e in project.store.list_excerpts():
        src = sources[e.source_id]
        meta: dict[str, Any] = {k: v for k, v in src.attributes.items() if v not in (None, "")}
        meta.update(
            source_id=e.source_id, source=src.name, kind=src.kind, start=e.start, end=e.end,
            speaker=e.speaker, is_interviewer=e.is_interviewer, page=e.page, ordinal=e.ordinal,
        )
        records.append(IndexRecord(id=int(e.id), text=e.text, meta=meta))  # type: ignore[arg-type]
    return records


FINGERPRINT_KEY = "index_fingerprint"


def _fingerprint(project: Project) -> str:
    return f"{project.store.corpus_fingerprint()}:{project.settings.search.index_hash()}:{project.embedder.model_id}"


def sync_index(project: Project, progress: Progress | None = None) -> SyncReport:
    """Bring the on-disk index in line with the store; unchanged excerpts cost nothing."""
    fingerprint = _fingerprint(project)
    report = project.corpus_index.sync(excerpt_records(project), progress=progress)
    project.store.set_meta(FINGERPRINT_KEY, fingerprint)
    project.store.audit(
        project.analyst, "reindex", "index", None,
        model=project.embedder.model_id, added=report.added, removed=report.removed,
        changed=report.changed, embedded=report.embedded,
    )
    return report


def verify_index(project: Project) -> VerifyReport:
    return project.corpus_index.verify(excerpt_records(project))


def ensure_index(project: Project, progress: Progress | None = None) -> None:
    """Search on a project whose index is missing or stale first repairs it, so results never
    point at excerpts that no longer exist. When nothing has changed since the last sync (one
    aggregate query says so) the full record-by-record check is skipped: it is per query."""
    if len(project.corpus_index) and project.store.get_meta(FINGERPRINT_KEY) == _fingerprint(project):
        return
    report = verify_index(project)
    if report.ok:
        project.store.set_meta(FINGERPRINT_KEY, _fingerprint(project))
    else:
        sync_index(project, progress)


def search(
    project: Project,
    query: str,
    k: int = 10,
    mode: str = "hybrid",
    filters: dict[str, str | list[str]] | None = None,
    exclude_interviewer: bool = True,
    diversify: float | None = None,
    rerank: bool = False,
) -> list[Hit]:
    ensure_index(project)
    return project.corpus_index.search(
        query, k=k, mode=mode, filters=filters, exclude_interviewer=exclude_interviewer,
        diversify=diversify, rerank=rerank,
    )
