"""Which excerpts a coding run takes: the codable ones (`corpus.codable`: no header blocks, front
matter, headings or label-only turns) of the sources matching the run's filters, without the
interviewer's turns unless asked. Pre-coding, batch pre-coding and the validation sample all draw
through here, so a sample is of the very excerpts a run would code."""

from __future__ import annotations

from typing import Any

from assistant.coding.codebook import code_applies
from assistant.corpus.codable import codable_excerpts
from assistant.models import Code, StoredExcerpt
from assistant.project import Project


def matches_filters(filters: dict[str, Any] | None, src: Any) -> bool:
    """A source matches a run's attribute filters as a code's scope would."""
    return not filters or code_applies(Code(name="_", scope={"filters": filters}), src)


def select_excerpts(project: Project, filters: dict[str, Any] | None = None, include_interviewer: bool = False,
                    ) -> tuple[list[StoredExcerpt], int]:
    """(excerpts to code, number of interviewer excerpts skipped)."""
    sources = {s.id: s for s in project.store.list_sources()}
    out, skipped = [], 0
    for e in codable_excerpts(project):
        if not matches_filters(filters, sources[e.source_id]):
            continue
        if e.is_interviewer and not include_interviewer:
            skipped += 1
            continue
        out.append(e)
    return out, skipped
