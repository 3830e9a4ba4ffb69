"""Optional cross-encoder reranking of the top candidates.

Off by default: no PyPI package ships a trained cross-encoder, and ones that "download on first
use" fail offline. A user who has one locally names it in `RerankSettings.model`. Anything with a
`predict(pairs) -> scores` method works, which keeps tests free of models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Reranker(Protocol):
    def predict(self, pairs: list[tuple[str, str]]) -> Sequence[float]:
        """Relevance of each (query, passage) pair; higher is better."""
        ...


def load_cross_encoder(model: str) -> Reranker:
    """A sentence-transformers CrossEncoder from a local path or cached name (offline)."""
    from sentence_transformers import CrossEncoder

    return CrossEncoder(model)


def rerank_scores(reranker: Reranker, query: str, texts: Sequence[str]) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=np.float32)
    scores = reranker.predict([(query, t) for t in texts])
    return np.asarray(scores, dtype=np.float32).reshape(-1)
