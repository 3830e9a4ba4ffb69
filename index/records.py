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
from typing import Any

import numpy as np

MetaValue = str | int | float | bool | None


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
            values = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            column = self._column(key)
            allowed = np.zeros(n, dtype=bool)
            for v in values:
                allowed[column.get(norm_value(v), np.zeros(0, dtype=np.int64))] = True
            mask = allowed if mask is None else mask & allowed
        asked = bool(filters) and ("is_interviewer" in filters or "speaker" in filters)
        if exclude_interviewer and not asked and self.interviewer.any():
            mask = ~self.interviewer if mask is None else mask & ~self.interviewer
        return mask
