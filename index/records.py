"""Records as the index stores them, and metadata filtering over them.

Filtering happens before ranking (as a mask shared by the dense and BM25 indexes, which keep one
row order), so "only participants from the NHS" returns the best NHS quotes, not the NHS quotes
that happened to be in an unfiltered top 100.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from index.types import ExcerptHit

MetaValue = str | int | float | bool | None

# The metadata an excerpt record carries besides its source's attributes. Written by
# `excerpt_meta` and read back by `excerpt_hit`, so the key names live here and nowhere else.
EXCERPT_FIELDS = ("source_id", "source", "kind", "start", "end", "speaker", "is_interviewer", "page", "ordinal")
# The ones that describe the excerpt rather than its source (a source-level filter ignores them).
EXCERPT_ONLY_FIELDS = ("start", "end", "speaker", "is_interviewer", "page", "ordinal")


@dataclass(frozen=True)
class IndexRecord:
    """One searchable excerpt. `meta` carries source_id, start, end, speaker, is_interviewer, page,
    kind and attributes (participant, organisation, ...) as plain strings/ints/bools."""

    id: int
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """Hash of text + meta: a change in either makes the stored record stale."""
        blob = json.dumps([self.text, self.meta], sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]


def norm_value(value: Any) -> str:
    """Filter comparison form: strings case-folded and stripped; bools as "true"/"false"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value).strip().casefold()


def wanted_values(wanted: Any) -> set[str]:
    """A filter's accepted values in comparison form: a list (tuple, set) means any of them."""
    values = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
    return {norm_value(v) for v in values}


def meta_matches(meta: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """One record against filters, with exactly the semantics of `MetaFilter.mask` (which does
    the same over many rows at once): every key must be present with one of the wanted values,
    compared case-insensitively."""
    return all(key in meta and norm_value(meta[key]) in wanted_values(wanted)
               for key, wanted in (filters or {}).items())


def excerpt_meta(*, source_id: int, source: str, kind: str, start: int, end: int,
                 speaker: str | None = None, is_interviewer: bool = False, page: int | None = None,
                 ordinal: int | None = None, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata of an excerpt record: its source's non-empty attributes (what analysts filter
    on) overlaid with the excerpt's own fields."""
    meta: dict[str, Any] = {k: v for k, v in (attributes or {}).items() if v not in (None, "")}
    meta.update(source_id=source_id, source=source, kind=kind, start=start, end=end, speaker=speaker,
                is_interviewer=is_interviewer, page=page, ordinal=ordinal)
    return meta


class ScoredRecord(Protocol):
    """What `excerpt_hit` reads from an index hit (`index.corpus_index.Hit`)."""

    id: int
    text: str
    meta: dict[str, Any]
    score: float
    dense_rank: int | None
    bm25_rank: int | None
    dense_score: float | None
    bm25_score: float | None
    rerank_score: float | None


def excerpt_hit(hit: ScoredRecord) -> ExcerptHit:
    """An index hit on an excerpt record (see `excerpt_meta`) as a typed `ExcerptHit`."""
    m = hit.meta
    page, ordinal = m.get("page"), m.get("ordinal")
    return ExcerptHit(
        id=int(hit.id), text=hit.text, source_id=int(m["source_id"]), source=str(m.get("source", "")),
        kind=str(m.get("kind", "")), start=int(m["start"]), end=int(m["end"]), score=float(hit.score),
        speaker=m.get("speaker"), is_interviewer=bool(m.get("is_interviewer", False)),
        page=int(page) if page is not None else None, ordinal=int(ordinal) if ordinal is not None else None,
        attributes={k: str(v) for k, v in m.items() if k not in EXCERPT_FIELDS},
        dense_rank=hit.dense_rank, bm25_rank=hit.bm25_rank, dense_score=hit.dense_score,
        bm25_score=hit.bm25_score, rerank_score=hit.rerank_score,
    )


class MetaFilter:
    """Lazily built inverted lists (meta key -> normalised value -> row positions), so a filter
    over a million rows costs a few array unions instead of a Python loop per search."""

    def __init__(self, metas: Sequence[Mapping[str, Any]]):
        self._metas = metas
        self._inverted: dict[str, dict[str, np.ndarray]] = {}
        self.interviewer = np.fromiter(
            (bool(m.get("is_interviewer", False)) for m in metas), dtype=bool, count=len(metas)
        )

    def _column(self, key: str) -> dict[str, np.ndarray]:
        if key not in self._inverted:
            lists: dict[str, list[int]] = {}
            for pos, meta in enumerate(self._metas):
                if key in meta:
                    lists.setdefault(norm_value(meta[key]), []).append(pos)
            self._inverted[key] = {v: np.array(p, dtype=np.int64) for v, p in lists.items()}
        return self._inverted[key]

    def mask(
        self, filters: Mapping[str, Any] | None, exclude_interviewer: bool
    ) -> np.ndarray | None:
        """Boolean mask of allowed rows, or None when everything is allowed (the fast path)."""
        n = len(self._metas)
        mask: np.ndarray | None = None
        for key, wanted in (filters or {}).items():
            column = self._column(key)
            allowed = np.zeros(n, dtype=bool)
            for v in wanted_values(wanted):
                allowed[column.get(v, np.zeros(0, dtype=np.int64))] = True
            mask = allowed if mask is None else mask & allowed
        asked = bool(filters) and ("is_interviewer" in filters or "speaker" in filters)
        if exclude_interviewer and not asked and self.interviewer.any():
            mask = ~self.interviewer if mask is None else mask & ~self.interviewer
        return mask
