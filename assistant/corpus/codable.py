"""Which excerpts are there to be coded and quoted: not a transcript's header block, a document's
front matter or headings, nor a turn that is only a speaker label (`index.front_matter`). Every
engine (offline and LLM), the validation sample and the quote finder select through here, so no
face can forget the rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from assistant.models import StoredExcerpt
from assistant.project import Project
from index.front_matter import BODY, NOT_CODABLE, excerpt_kinds


def kinds_of(excerpts: Sequence[StoredExcerpt]) -> dict[int, str]:
    """Kind per excerpt id. `excerpts` must hold every excerpt of each source concerned (the
    kind of an excerpt depends on where it stands in its source)."""
    by_source: dict[int, list[StoredExcerpt]] = {}
    for e in excerpts:
        by_source.setdefault(e.source_id, []).append(e)
    out: dict[int, str] = {}
    for items in by_source.values():
        items.sort(key=lambda e: (e.start, e.ordinal))
        for e, k in zip(items, excerpt_kinds([e.text for e in items], [e.speaker for e in items])):
            out[e.id] = k
    return out


def excerpt_kinds_for(project: Project, source_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Kind of every excerpt of the project (or of some sources)."""
    ids = None if source_ids is None else set(source_ids)
    excerpts = [e for e in project.store.list_excerpts() if ids is None or e.source_id in ids]
    return kinds_of(excerpts)


def is_codable(kind: str) -> bool:
    return kind not in NOT_CODABLE


def codable_excerpts(project: Project, excerpts: Sequence[StoredExcerpt] | None = None) -> list[StoredExcerpt]:
    """`excerpts` (default: all the project's) without header blocks, front matter, headings and
    label-only turns. Interviewer turns are NOT dropped here: callers decide that."""
    pool = list(excerpts) if excerpts is not None else project.store.list_excerpts()
    kinds = excerpt_kinds_for(project, {e.source_id for e in pool})
    return [e for e in pool if is_codable(kinds.get(e.id, BODY))]
