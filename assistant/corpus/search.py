"""Search over a project's excerpts: the bridge from the store to the corpus index.

Each excerpt becomes an `IndexRecord` whose metadata carries its source's kind and attributes, so
every filter the analyst can name (participant, organisation, sector, speaker, any attribute) works
the same in the CLI, the UI and the LangChain retriever.

The index must hold exactly the store's excerpts. Every sync reads them while holding the index's
writers' lock (so a process that waited for another never publishes an older snapshot) and tags
the index with the store's fingerprint, so one comparison per search or ingest tells whether
anything is missing, and a record-by-record sync fills the gap, whoever left it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from assistant.errors import SearchIndexError
from assistant.project import Project
from index.corpus_index import IndexRecord, Notify, SyncReport, VerifyReport
from index.errors import IndexStateError
from index.records import excerpt_hit, excerpt_meta
from index.types import ExcerptHit

Progress = Callable[[int, int], None]


def excerpt_records(project: Project) -> list[IndexRecord]:
    sources = {s.id: s for s in project.store.list_sources()}
    records: list[IndexRecord] = []
    for e in project.store.list_excerpts():
        src = sources[e.source_id]
        meta = excerpt_meta(
            source_id=e.source_id, source=src.name, kind=src.kind, start=e.start, end=e.end,
            speaker=e.speaker, is_interviewer=e.is_interviewer, page=e.page, ordinal=e.ordinal,
            attributes=src.attributes,
        )
        records.append(IndexRecord(id=e.id, text=e.text, meta=meta))
    return records


def _fingerprint(project: Project) -> str:
    """One aggregate query's summary of everything the index holds (excerpts, sources' kinds and
    attributes) plus the settings and model that shape it."""
    return f"{project.store.corpus_fingerprint()}:{project.settings.search.index_hash()}:{project.embedder.model_id}"


@contextmanager
def _index_errors() -> Iterator[None]:
    """The index layer's errors as the analyst-facing kind the CLI and UI print as one line."""
    try:
        yield
    except IndexStateError as exc:
        raise SearchIndexError(str(exc)) from exc


def _snapshot(project: Project) -> tuple[list[IndexRecord], str | None]:
    """The store's excerpts and the fingerprint they match. Reads that straddle another
    process's write get no fingerprint, so the next check syncs again rather than trust them."""
    before = _fingerprint(project)
    records = excerpt_records(project)
    return records, before if _fingerprint(project) == before else None


def sync_index(project: Project, progress: Progress | None = None,
               notify: Notify | None = None) -> SyncReport:
    """Bring the on-disk index in line with the store; unchanged excerpts cost nothing, excerpts
    the index lacks (whatever left them out) are embedded and added. Waits for another process
    that is updating the index (saying so through `notify`)."""
    index = project.corpus_index
    with _index_errors(), index.updating(notify) as waited:
        records, fingerprint = _snapshot(project)
        report = index.sync(records, progress=progress, tag=fingerprint)
    report.waited = waited
    if report.changed_index:
        project.store.audit(
            project.analyst, "reindex", "index", None,
            model=project.embedder.model_id, added=report.added, removed=report.removed,
            changed=report.changed, embedded=report.embedded,
        )
    return report


def verify_index(project: Project) -> VerifyReport:
    """Compare the index with the store record by record, changing nothing."""
    with _index_errors():
        return project.corpus_index.verify(excerpt_records(project))


def index_is_current(project: Project) -> bool:
    """True when the index was last synced with exactly what the store holds now (one aggregate
    query and one small file read, cheap enough to run before every search)."""
    with _index_errors():
        return project.corpus_index.tag == _fingerprint(project)


def ensure_index(project: Project, progress: Progress | None = None,
                 notify: Notify | None = None) -> SyncReport | None:
    """Search (and an ingest where no file changed) first makes sure the index holds what the
    store holds, so results never point at excerpts that no longer exist and excerpts another
    process stored are never left out. Returns the sync's report when one was needed."""
    if index_is_current(project):
        return None
    return sync_index(project, progress, notify)


@dataclass
class IndexRepair:
    """What `repair_index` found (the record-by-record check) and what it did about it."""

    found: VerifyReport
    fixed: SyncReport | None = None  # None: nothing needed fixing, or only checked


def repair_index(project: Project, progress: Progress | None = None, notify: Notify | None = None,
                 check_only: bool = False) -> IndexRepair:
    """`thematic verify`: check every excerpt against the index, then (unless `check_only`) fill
    in missing ones, re-embed stale ones, drop extra ones, or rebuild an unreadable index."""
    found = verify_index(project)
    if check_only:
        return IndexRepair(found)
    if not found.ok:
        return IndexRepair(found, sync_index(project, progress, notify))
    if not index_is_current(project):  # in step, but not yet tagged as such: a cheap retag
        sync_index(project, progress, notify)
    return IndexRepair(found)


def search(
    project: Project,
    query: str,
    k: int = 10,
    mode: str = "hybrid",
    filters: dict[str, str | list[str]] | None = None,
    exclude_interviewer: bool = True,
    diversify: float | None = None,
    rerank: bool = False,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> list[ExcerptHit]:
    """Ranked excerpts as typed hits (offsets, speaker, page, ranks and scores as fields). An
    index behind the store is brought up to date first, reporting through `progress`."""
    ensure_index(project, progress, notify)
    with _index_errors():
        hits = project.corpus_index.search(
            query, k=k, mode=mode, filters=filters, exclude_interviewer=exclude_interviewer,
            diversify=diversify, rerank=rerank,
        )
    return [excerpt_hit(h) for h in hits]
