"""Orphaned codings: the analyst's codings a re-ingest could not place in a source's new text.

They are never deleted. Each keeps its code, coder, text and offsets, which refer to the source
version it was made on (kept in `source_versions`). The analyst decides what becomes of it:
`reattach` puts it on a span of the current text (snapped to whole words, verbatim), `dismiss` says
it no longer applies (the row stays, marked dismissed). Each is one transaction with one audit row
holding the before and after, so the history of a coding survives every re-ingest."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.corpus.reanchor import suggest_span
from assistant.errors import ThematicError, VerificationError
from assistant.models import Coding
from assistant.project import Project
from assistant.verbatim import snap_to_words


@dataclass(frozen=True)
class Orphan:
    """One orphaned coding, with what the analyst needs to decide: where it was (`start`/`end`/
    `text` in `source_version`), the source's current version, and a suggested span of the current
    text whose words come closest (`suggestion`: start, end, text, ratio), if any."""

    coding_id: int
    source_id: int
    source: str
    code_id: int
    code: str
    coder: str
    text: str
    start: int
    end: int
    source_version: int
    current_version: int
    suggestion: tuple[int, int, str, float] | None = None


def list_orphans(project: Project, source: int | str | None = None, suggest: bool = True) -> list[Orphan]:
    """Orphaned codings (of one source, or all), by source and old position. With `suggest`, each
    gets the closest span of the current text as a proposal (a bounded search per orphan)."""
    store = project.store
    source_id = store.get_source(source).id if source is not None else None
    codings = store.list_codings(source_id=source_id, status="orphaned")
    if not codings:
        return []
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}
    sources = {s.id: s for s in store.list_sources(with_text=suggest)}
    out = []
    for c in codings:
        src = sources[c.source_id]
        hint = None
        if suggest:
            found = suggest_span(src.text, c.text)
            if found is not None:
                hint = (found[0], found[1], src.text[found[0]:found[1]], found[2])
        out.append(Orphan(
            coding_id=c.id, source_id=c.source_id, source=src.name, code_id=c.code_id,
            code=names.get(c.code_id, str(c.code_id)), coder=c.coder, text=c.text, start=c.start, end=c.end,
            source_version=c.source_version or src.version, current_version=src.version, suggestion=hint,
        ))
    return out


def _orphan(project: Project, coding_id: int) -> Coding:
    c = project.store.get_coding(coding_id)
    if c.status != "orphaned":
        raise ThematicError(f"coding {coding_id} is {c.status}, not orphaned (see `thematic orphans list`)")
    return c


def _before(c: Coding) -> dict:
    return {"start": c.start, "end": c.end, "text": c.text, "source_version": c.source_version}


def reattach(project: Project, coding_id: int, start: int, end: int, analyst: str | None = None,
             note: str = "") -> Coding:
    """Put an orphaned coding on `start:end` of its source's current text, widened to whole words
    and stripped of surrounding blanks; its text becomes the source's own characters there."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        c = _orphan(project, coding_id)
        src = store.get_source(c.source_id)
        snapped = snap_to_words(src.text, start, end)
        st, en = snapped or (0, 0)
        if snapped is None:
            raise VerificationError(f"span {start}:{end} is outside {src.name!r} (length {len(src.text)}) or blank")
        text = src.text[st:en]
        excerpt = next((e.id for e in store.list_excerpts(source_id=src.id) if e.start <= st < e.end), None)
        store.anchor_coding(coding_id, st, en, text, excerpt)
        store.audit(analyst, "orphan.reattach", "coding", coding_id, source_id=src.id, code_id=c.code_id,
                    before=_before(c), after={"start": st, "end": en, "text": text, "source_version": src.version},
                    note=note)
    return store.get_coding(coding_id)


def dismiss(project: Project, coding_id: int, analyst: str | None = None, note: str = "") -> Coding:
    """The analyst's word that an orphaned coding no longer applies. The row stays (status
    `dismissed`, old text and offsets intact), so the decision can be read back from the log."""
    store, analyst = project.store, analyst or project.analyst
    with store.transaction():
        c = _orphan(project, coding_id)
        store.set_coding_status(coding_id, "dismissed")
        store.audit(analyst, "orphan.dismiss", "coding", coding_id, source_id=c.source_id, code_id=c.code_id,
                    before=_before(c), note=note)
    return store.get_coding(coding_id)
