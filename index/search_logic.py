"""One query's path through the indexes: candidates from each retriever, fusion, optional
reranking and diversification. Separate from `CorpusIndex` so benchmarks run the very same code
on indexes they build themselves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.config import SearchSettings
from index.dense import DenseIndex
from index.embeddings import Embedder
from index.fusion import convex, mmr, rrf
from index.lexical import Bm25Index
from index.rerank import rerank_scores


@dataclass
class Candidate:
    pos: int
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    rerank_score: float | None = None


def _fuse(qvec: np.ndarray, dpos: np.ndarray, bpos: np.ndarray, bm25_all: np.ndarray,
          dense: DenseIndex, settings: SearchSettings) -> list[Candidate]:
    """Hybrid fusion. Both scores are known exactly for every candidate (a dot product and a
    lookup in BM25's full score array), so convex fusion needs no guessing for missing ones."""
    f = settings.fusion
    union = np.array(list(dict.fromkeys([*dpos.tolist(), *bpos.tolist()])), dtype=np.int64)
    dscore = dict(zip(union.tolist(), dense.score(qvec, union).tolist()))
    bscore = dict(zip(union.tolist(), bm25_all[union].tolist()))
    if f.method == "rrf":
        fused = rrf([dpos.tolist(), bpos.tolist()], [f.dense_weight, f.bm25_weight], f.rrf_k)
    else:
        fused = convex([dscore, bscore], [f.dense_weight, f.bm25_weight], f.normalization)
    drank = {p: r for r, p in enumerate(dpos.tolist(), start=1)}
    brank = {p: r for r, p in enumerate(bpos.tolist(), start=1)}
    return [Candidate(int(p), float(s), drank.get(p), brank.get(p), dscore[p], bscore[p])
            for p, s in fused]


def rank_candidates(
    query: str,
    k: int,
    mode: str,
    mask: np.ndarray | None,
    dense: DenseIndex,
    bm25: Bm25Index,
    settings: SearchSettings,
    embedder: Embedder | None,
    reranker: Any | None = None,
    texts: Callable[[list[int]], list[str]] | None = None,
    diversify: float | None = None,
    groups: Callable[[list[int]], list[Any]] | None = None,
    qvec: np.ndarray | None = None,
) -> list[Candidate]:
    """Ranked candidates (row positions) for one query, best first, at most k."""
    extra = diversify is not None or reranker is not None
    n = max(k, settings.fusion.candidates) if (mode == "hybrid" or extra) else k
    if reranker is not None:
        n = max(n, settings.rerank.top_n)
    if mode != "bm25" and qvec is None:
        qvec = embedder.query(query)
    if mode == "dense":
        dpos, dsc = dense.search_positions(qvec, n, mask)
        cands = [Candidate(int(p), float(s), r, None, float(s))
                 for r, (p, s) in enumerate(zip(dpos, dsc), start=1)]
    elif mode == "bm25":
        bpos, bsc, _ = bm25.search_positions(query, n, mask)
        cands = [Candidate(int(p), float(s), None, r, None, float(s))
                 for r, (p, s) in enumerate(zip(bpos, bsc), start=1)]
    else:
        dpos, _ = dense.search_positions(qvec, n, mask)
        bpos, _, bm25_all = bm25.search_positions(query, n, mask)
        cands = _fuse(qvec, dpos, bpos, bm25_all, dense, settings)
    tail: list[Candidate] = []
    if reranker is not None and cands:
        top = cands[: settings.rerank.top_n]
        scores = rerank_scores(reranker, query, texts([c.pos for c in top]))
        for c, s in zip(top, scores.tolist()):
            c.rerank_score = c.score = float(s)
        # The tail keeps fused scores, which are on another scale than cross-encoder logits:
        # it is never mixed into the reranked top, only used to fill up to k after it.
        cands, tail = sorted(top, key=lambda c: -c.score), cands[len(top):]
    if diversify is not None and len(cands) > 1:
        vecs = dense.vectors(np.array([c.pos for c in cands], dtype=np.int64))
        grp = groups([c.pos for c in cands]) if groups is not None else None
        order = mmr(np.array([c.score for c in cands]), vecs, diversify, k, grp)
        cands = [cands[i] for i in order]
    return (cands + tail)[:k]
