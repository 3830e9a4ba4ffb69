"""Replace a source with a changed version without losing the analyst's work.

The old version (text, hash, path, pages) is kept in `source_versions`; every coding on the source
is re-anchored in the new text by its words (`assistant.corpus.reanchor`); one that cannot be is
*orphaned*: kept with its old text and offsets, pointing at the version they belong to, for the
analyst to re-attach or dismiss (`assistant.coding.orphans`). Earlier orphans whose words come back
(a truncated file re-ingested in full) are re-anchored too.

`plan_changes` only reads, so a dry run and the real re-ingest compute the same changes; the real one
then applies them with `replace_source` inside the file's transaction, with one audit row that
names, for every coding, its code, old text and offsets, and what happened to it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from assistant.corpus.excerpting import excerpt_records
from assistant.corpus.reanchor import reanchor
from assistant.models import Source, StoredCoding, StoredExcerpt, StoredSource
from assistant.project import Project
from index.types import ExcerptSpan


@dataclass(frozen=True)
class CodingChange:
    """What a re-ingest does (or, in a dry run, would do) to one coding. `old_*` is where the
    coding was, in version `old_version`; `start`/`end`/`text` where it goes (None if orphaned)."""

    coding_id: int
    code_id: int
    code: str
    coder: str
    old_start: int
    old_end: int
    old_text: str
    old_version: int
    outcome: str  # moved | moved-fuzzy | orphaned
    start: int | None = None
    end: int | None = None
    text: str | None = None
    ratio: float = 0.0
    was_orphaned: bool = False

    @property
    def newly_orphaned(self) -> bool:
        return self.outcome == "orphaned" and not self.was_orphaned


def carried_codings(project: Project, source_id: int) -> list[StoredCoding]:
    """The codings a re-ingest must carry over: the active ones and the earlier orphans."""
    store = project.store
    return store.list_codings(source_id=source_id) + store.list_codings(source_id=source_id, status="orphaned")


def plan_changes(project: Project, old: Source, new_text: str, codings: list[StoredCoding]) -> list[CodingChange]:
    """Where each coding goes when `old`'s text becomes `new_text` (reads only)."""
    if not codings:
        return []
    names = {c.id: c.name for c in project.store.list_codes(include_inactive=True)}
    anchors = reanchor(old.text, new_text, codings)
    return [
        CodingChange(
            coding_id=c.id, code_id=c.code_id, code=names.get(c.code_id, str(c.code_id)), coder=c.coder,
            old_start=c.start, old_end=c.end, old_text=c.text,
            old_version=c.source_version if c.status == "orphaned" and c.source_version else old.version,
            outcome=a.outcome, start=a.start, end=a.end, text=a.text, ratio=a.ratio, was_orphaned=a.was_orphaned,
        )
        for c, a in zip(codings, anchors, strict=True)
    ]


def codings_after(codings: list[StoredCoding], changes: list[CodingChange], old_version: int) -> list[StoredCoding]:
    """The codings as `replace_source` leaves them (what a dry run carries to a later file)."""
    by_id = {ch.coding_id: ch for ch in changes}
    out = []
    for c in codings:
        ch = by_id[c.id]
        if ch.outcome == "orphaned":
            out.append(c.model_copy(update={"status": "orphaned", "excerpt_id": None,
                                            "source_version": c.source_version or old_version}))
        else:
            out.append(c.model_copy(update={"status": "active", "start": ch.start, "end": ch.end,
                                            "text": ch.text, "source_version": None}))
    return out


def replace_source(project: Project, old: StoredSource, new: Source, spans: list[ExcerptSpan],
                   changes: list[CodingChange]) -> list[str]:
    """Swap in the new version (call inside the file's transaction); return notes for the report."""
    store, source_id = project.store, old.id
    version = old.version + 1
    with store.transaction():
        store.add_source_version(old)
        dependents = store.source_dependents(source_id)
        store.delete_excerpts(source_id)  # suggestions on them go too (reported below)
        store.replace_source(source_id, new.model_copy(update={"version": version}))
        updated = new.model_copy(update={"id": source_id, "version": version})
        excerpts = store.add_excerpts(excerpt_records(updated, spans))
        for ch in changes:
            if ch.outcome == "orphaned":
                store.orphan_coding(ch.coding_id, ch.old_version)
            else:
                store.anchor_coding(ch.coding_id, ch.start, ch.end, ch.text, _excerpt_at(excerpts, ch.start))  # type: ignore[arg-type]
        store.audit(
            project.analyst, "reingest", "source", source_id, path=new.path, hash=new.content_hash,
            previous_hash=old.content_hash, version=version, previous_version=old.version,
            excerpts=len(excerpts), suggestions_removed=dependents["suggestions"],
            codings_moved=sum(ch.outcome == "moved" for ch in changes),
            codings_moved_fuzzy=sum(ch.outcome == "moved-fuzzy" for ch in changes),
            codings_orphaned=[ch.coding_id for ch in changes if ch.outcome == "orphaned"],
            codings=[asdict(ch) for ch in changes],
        )
    return change_notes(old.name, old.version, dependents["excerpts"], len(excerpts), dependents["suggestions"], changes)


def change_notes(name: str, old_version: int, old_excerpts: int, new_excerpts: int, suggestions: int,
                 changes: list[CodingChange]) -> list[str]:
    """One line per thing the analyst should know, the same for a dry run and the real thing."""
    notes = [(f"{name}: new version {old_version + 1} (version {old_version} kept); "
              f"{old_excerpts} old excerpts replaced by {new_excerpts}")]
    if suggestions:
        notes.append(f"{name}: {suggestions} suggestions on the old excerpts were removed")
    moved = [ch for ch in changes if ch.outcome != "orphaned" and not ch.was_orphaned]
    if moved:
        fuzzy = sum(ch.outcome == "moved-fuzzy" for ch in moved)
        notes.append(f"{name}: {len(moved)} codings re-anchored onto the new text"
                     + (f" ({fuzzy} by their words, not exactly)" if fuzzy else ""))
    back = [ch for ch in changes if ch.outcome != "orphaned" and ch.was_orphaned]
    if back:
        notes.append(f"{name}: {len(back)} orphaned codings found their words again and are active")
    for ch in changes:
        if ch.newly_orphaned:
            notes.append(f"{name}: coding {ch.coding_id} ({ch.code}: {ch.old_text[:50]!r}) no longer matches "
                         f"the text; kept as orphaned (see `thematic orphans list`)")
    still = sum(ch.outcome == "orphaned" and ch.was_orphaned for ch in changes)
    if still:
        notes.append(f"{name}: {still} earlier orphaned codings are still orphaned")
    return notes


def _excerpt_at(excerpts: list[StoredExcerpt], start: int) -> int | None:
    return next((e.id for e in excerpts if e.start <= start < e.end), None)
