"""Pure maths for merging rankings and spreading results. No I/O, no index objects: plain arrays
and dicts in, plain lists out, so every formula can be checked by hand in tests.

Rank positions are 1-based, as in the RRF paper (Cormack et al. 2009).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np


def rrf(
    rankings: Sequence[Sequence[Hashable]],
    weights: Sequence[float] | None = None,
    k: int = 60,
) -> list[tuple[Hashable, float]]:
    """Weighted reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)).

    Items missing from a ranking get nothing from it. Ties keep first-seen order."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    fused: dict[Hashable, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def normalise(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Put one retriever's scores on a common scale. min-max maps to [0, 1] (all-equal -> 1, so a
    lone candidate still counts fully); z-score centres on the mean in units of std (std 0 -> 0)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    if method == "minmax":
        lo, hi = scores.min(), scores.max()
        if hi == lo:
            return np.ones_like(scores)
        return (scores - lo) / (hi - lo)
    if method == "zscore":
        std = scores.std()
        if std == 0:
            return np.zeros_like(scores)
        return (scores - scores.mean()) / std
    raise ValueError(f"unknown normalisation {method!r}")


def convex(
    score_maps: Sequence[Mapping[Hashable, float]],
    weights: Sequence[float],
    normalization: str = "minmax",
) -> list[tuple[Hashable, float]]:
    """Convex combination of normalised scores: sum_i w_i * norm_i(d).

    Each map is normalised over its own items; an item missing from a map gets that map's lowest
    normalised value (it scored no better than the worst candidate seen there). Bruch et al. 2022
    found this beats RRF when one retriever is much stronger on some queries."""
    if len(weights) != len(score_maps):
        raise ValueError("one weight per score map")
    items: dict[Hashable, None] = {}
    for m in score_maps:
        items.update(dict.fromkeys(m))
    fused = dict.fromkeys(items, 0.0)
    for m, w in zip(score_maps, weights):
        if not m:
            continue
        keys = list(m)
        normed = normalise(np.array([m[key] for key in keys]), normalization)
        floor = float(normed.min())
        own = dict(zip(keys, normed.tolist()))
        for item in fused:
            fused[item] += w * own.get(item, floor)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def mmr(
    relevance: np.ndarray,
    vectors: np.ndarray,
    lambda_: float,
    k: int,
    groups: Sequence[Hashable] | None = None,
    group_penalty: float = 0.3,
) -> list[int]:
    """Maximal marginal relevance: pick k candidates, each maximising

        lambda * rel(d) - (1 - lambda) * (max_{s chosen} cos(d, s) + group_penalty * n_same(d))

    where rel is the relevance min-max scaled to [0, 1] (so it is comparable to cosine) and
    n_same counts already chosen candidates of d's group (e.g. the same interview): without it
    ten quotes from one talkative participant crowd out everyone else. Returns candidate indices
    in pick order. lambda 1 = pure relevance order; lower = more spread."""
    rel = normalise(np.asarray(relevance, dtype=np.float64), "minmax")
    vecs = np.asarray(vectors, dtype=np.float64)
    n = rel.shape[0]
    k = min(k, n)
    chosen: list[int] = []
    max_sim = np.zeros(n)
    group_count: dict[Hashable, int] = {}
    available = np.ones(n, dtype=bool)
    for step in range(k):
        same = np.zeros(n)
        if groups is not None:
            same = np.array([group_count.get(g, 0) for g in groups], dtype=np.float64)
        redundancy = (max_sim if step else np.zeros(n)) + group_penalty * same
        value = lambda_ * rel - (1.0 - lambda_) * redundancy
        value[~available] = -np.inf
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        sims = vecs @ vecs[best]
        max_sim = sims if step == 0 else np.maximum(max_sim, sims)
        if groups is not None:
            group_count[groups[best]] = group_count.get(groups[best], 0) + 1
    return chosen
