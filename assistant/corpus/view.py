"""The corpus as quotes, themes, ask and agreement read it: sources and their excerpts loaded once
per call, the analysts' accepted codings, attribute filters, the question an excerpt answers, and
cached embeddings of the sentences they all re-embed.

Why one module: these were first written inside the quote finder and then imported from there by
themes and ask, so "what a filter means" or "which codings count as the analyst's" could drift
between features. Filters use the index's own matching (`index.records.meta_matches`), so a filter
keeps exactly the same meaning whether the index applies it to search hits or a feature applies it
to codings and sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from assistant.models import Coding, Excerpt, Source, is_ai_coder
from assistant.project import Project
from index.records import EXCERPT_ONLY_FIELDS, excerpt_meta, meta_matches

Filters = Mapping[str, Any]
Span = tuple[int, int]

_VEC_CACHE: dict[tuple[str, str], np.ndarray] = {}
_VEC_CACHE_MAX = 50_000


# --- sources, attributes and filters -------------------------------------------------------------


def participant_key(source: Source) -> str:
    """Who speaks in a source: its `participant` attribute, else the source itself (one
    transcript per participant is the common case; a document is its own "participant")."""
    return (source.attributes.get("participant") or source.name).strip()


def source_meta(source: Source) -> dict[str, Any]:
    """What a source-level filter sees: the source's non-empty attributes, its name and kind."""
    meta: dict[str, Any] = {k: v for k, v in source.attributes.items() if v not in (None, "")}
    meta.update(source_id=source.id, source=source.name, kind=source.kind)
    return meta


def excerpt_filter_meta(source: Source, excerpt: Excerpt) -> dict[str, Any]:
    """What the search index filters an excerpt on (the very same record metadata), so codings
    and search hits obey a filter such as `speaker=...` or `sector=NHS` identically."""
    return excerpt_meta(source_id=int(source.id), source=source.name, kind=source.kind,  # type: ignore[arg-type]
                        start=excerpt.start, end=excerpt.end, speaker=excerpt.speaker,
                        is_interviewer=excerpt.is_interviewer, page=excerpt.page, ordinal=excerpt.ordinal,
                        attributes=source.attributes)


def matches_filters(meta: Mapping[str, Any], filters: Filters | None) -> bool:
    """The index's filter semantics: case-insensitive equality, a list means any-of."""
    return meta_matches(meta, filters)


def source_matches(source: Source, filters: Filters | None) -> bool:
    """A source against filters, ignoring the keys that only an excerpt has (speaker, page, ...):
    "how many participants are in scope" must not drop to zero because a filter names a speaker."""
    own = {k: v for k, v in (filters or {}).items() if k not in EXCERPT_ONLY_FIELDS}
    return meta_matches(source_meta(source), own)


def excerpt_question(excerpt: Excerpt, source: Source, text: str | None = None) -> str | None:
    """The question an excerpt answers, whitespace-collapsed: the question turn it responds to
    (its `context`, as survey answers and interview answers carry it; read from `text`, the
    source's text, or `source.text`), else the source's `question` attribute (a survey read with
    one row per answer and the question as an attribute). None when nothing says."""
    text = text if text is not None else source.text
    if excerpt.context_start is not None and excerpt.context_end is not None and text:
        q = " ".join(text[excerpt.context_start:excerpt.context_end].split())
        if q:
            return q
    for key, value in source.attributes.items():
        if key.strip().casefold() == "question" and value and value.strip():
            return " ".join(value.split())
    return None


# --- the analysts' codings -----------------------------------------------------------------------


def accepted_codings_by_code(project: Project) -> dict[int, list[Coding]]:
    """Every active analyst (non-AI) coding, grouped by code id, from one query. AI codings are
    proposals, not evidence, and never count as the analyst's."""
    out: dict[int, list[Coding]] = {}
    for c in project.store.list_codings():
        if not is_ai_coder(c.coder):
            out.setdefault(int(c.code_id), []).append(c)
    return out


def accepted_codings(project: Project, code_ids: Iterable[int]) -> list[Coding]:
    out: list[Coding] = []
    for cid in code_ids:
        out += [c for c in project.store.list_codings(code_id=cid) if not is_ai_coder(c.coder)]
    return out


# --- embeddings ----------------------------------------------------------------------------------


def embed_texts(project: Project, texts: Sequence[str]) -> np.ndarray:
    """Embed with a per-process cache: quotes, themes and ask re-embed the same sentences."""
    emb = project.embedder
    keys = [(emb.model_id, t) for t in texts]
    missing = list(dict.fromkeys(t for key, t in zip(keys, texts) if key not in _VEC_CACHE))
    if missing:
        if len(_VEC_CACHE) + len(missing) > _VEC_CACHE_MAX:
            _VEC_CACHE.clear()
        for t, v in zip(missing, emb.embed(missing)):
            _VEC_CACHE[(emb.model_id, t)] = v
    if not texts:
        return np.zeros((0, emb.dim), dtype=np.float32)
    return np.stack([_VEC_CACHE[key] for key in keys])


def unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


# --- the view ------------------------------------------------------------------------------------


class CorpusView:
    """Sources (with text) and their excerpts, loaded once per call and shared by everything the
    call does (a theme draft finds quotes for several groups of codes from one view)."""

    def __init__(self, project: Project):
        self.project = project
        self.sources: dict[int, Source] = {s.id: s for s in project.store.list_sources(with_text=True)}
        self.excerpts: dict[int, list[Excerpt]] = {}
        for e in project.store.list_excerpts():
            self.excerpts.setdefault(e.source_id, []).append(e)

    def participants_total(self, filters: Filters | None = None) -> int:
        return len({participant_key(s) for s in self.sources.values()
                    if s.kind == "interview" and source_matches(s, filters)})

    def pieces(self, source_id: int, span: Span, include_interviewer: bool) -> list[tuple[Span, Excerpt | None]]:
        """`span` cut to the excerpts it overlaps (leaving out interviewer turns and speaker
        labels, which lie outside excerpts), each paired with its excerpt."""
        out: list[tuple[Span, Excerpt | None]] = []
        for e in self.excerpts.get(source_id, []):
            if e.is_interviewer and not include_interviewer:
                continue
            s, t = max(span[0], e.start), min(span[1], e.end)
            if s < t:
                out.append(((s, t), e))
        if not out and not self.excerpts.get(source_id):
            out.append((span, None))
        return out

    def excerpt_matches(self, source_id: int, excerpt: Excerpt | None, filters: Filters | None) -> bool:
        """Whether an excerpt (or, for a source without excerpts, the source) passes filters."""
        src = self.sources.get(source_id)
        if src is None:
            return False
        if not filters:
            return True
        if excerpt is None:  # nothing known of speakers or pages here: every key must match the source
            return meta_matches(source_meta(src), filters)
        return meta_matches(excerpt_filter_meta(src, excerpt), filters)
