"""Learning from the analyst's decisions, on top of the codebook-only scorer.

Why this shape: on PDPilot an analyst's first 20% of excerpts gives ~45 labelled excerpts for 55
codes, so most codes have 0-2 positives. A global learned combiner (one logistic regression over
all (excerpt, code) pairs) learned a code-frequency prior and cut mean kappa by ~0.1; adding the
accepted excerpts as extra "examples" to the similarity features did not help either. What helped
on held-out splits (chosen on split seeds 1-3 of benchmarks/precode_pdpilot.py; w_knn, w_lr, k
from a 36-point grid) was two small, bounded terms
added to the codebook z-score:
  knn - a similarity-weighted vote of the k most similar excerpts the analyst has decided on:
        +1 where they accepted the code, -1 where they rejected it, 0 where they coded the excerpt
        with other codes (an excerpt is never its own neighbour);
  lr  - per code with >= `lr_min_positives` accepted excerpts, a logistic regression on the
        excerpt embedding (scikit-learn, class_weight="balanced"; rejected suggestions are hard
        negatives with extra weight), its decision value z-scored over the project's excerpts so
        it is on the same scale as the codebook score; its weight grows with the positives.
Both are pure numpy/sklearn and cost a matrix product per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ACCEPTED, SEEN, REJECTED = 1, 0, -1


@dataclass
class LearnParams:
    knn_k: int = 10
    knn_temperature: float = 0.05  # softmax temperature over cosine similarities
    w_knn: float = 0.25
    w_lr: float = 0.25
    lr_min_positives: int = 2
    lr_full_weight_at: int = 2  # positives at which the lr term reaches w_lr
    rejected_weight: float = 2.0  # sample weight of a rejected suggestion (hard negative)
    lr_C: float = 1.0


def _keys(ids: Sequence[Any] | None, texts: Sequence[str]) -> list[Any]:
    """Identity used to keep an excerpt from voting for itself: its id, or its text when it has none."""
    if ids is None:
        return [("t", t) for t in texts]
    return [("i", i) if i is not None else ("t", t) for i, t in zip(ids, texts)]


class FeedbackModel:
    """Fitted on labelled excerpts (rows) x codes (columns) with values ACCEPTED / SEEN / REJECTED."""

    def __init__(self, params: LearnParams | None = None):
        self.p = params or LearnParams()
        self.X = np.zeros((0, 0), np.float32)
        self.labels = np.zeros((0, 0), np.int8)
        self.keys: list[Any] = []
        self.coef = np.zeros((0, 0), np.float32)
        self.bias = np.zeros(0, np.float32)
        self.lr_weight = np.zeros(0, np.float32)

    @property
    def n_labelled(self) -> int:
        return len(self.keys)

    def fit(self, X: np.ndarray, keys: list[Any], labels: np.ndarray, background: np.ndarray) -> None:
        self.X, self.keys, self.labels = X.astype(np.float32), list(keys), labels.astype(np.int8)
        C = labels.shape[1]
        self.coef = np.zeros((X.shape[1] if len(X) else background.shape[1], C), np.float32)
        self.bias = np.zeros(C, np.float32)
        self.lr_weight = np.zeros(C, np.float32)
        if not len(X):
            return
        from sklearn.linear_model import LogisticRegression

        for j in range(C):
            y = labels[:, j] == ACCEPTED
            n_pos = int(y.sum())
            if n_pos < self.p.lr_min_positives or n_pos == len(y):
                continue
            w = np.where(labels[:, j] == REJECTED, self.p.rejected_weight, 1.0)
            # liblinear: ~4x faster than lbfgs at these sizes (tens to hundreds of rows)
            lr = LogisticRegression(C=self.p.lr_C, class_weight="balanced", solver="liblinear")
            lr.fit(X, y, sample_weight=w)
            d = background @ lr.coef_[0] + lr.intercept_[0]
            sd = float(d.std()) or 1.0
            # fold the z-scoring over the background into the linear map: one matmul at scoring time
            self.coef[:, j] = lr.coef_[0] / sd
            self.bias[j] = (lr.intercept_[0] - d.mean()) / sd
            self.lr_weight[j] = self.p.w_lr * min(1.0, n_pos / self.p.lr_full_weight_at)

    def adjust(self, X: np.ndarray, keys: list[Any], with_lr: bool = True) -> np.ndarray:
        """Additive score change per (excerpt, code)."""
        C = self.labels.shape[1] if self.labels.size else len(self.bias)
        out = np.zeros((len(X), C), np.float32)
        if not self.n_labelled or not len(X):
            return out
        sim = X @ self.X.T
        own = {k: n for n, k in enumerate(self.keys)}
        for i, k in enumerate(keys):
            if k in own:
                sim[i, own[k]] = -np.inf
        k = min(self.p.knn_k, self.n_labelled - (1 if any(k in own for k in keys) else 0))
        if k > 0:
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            s = np.take_along_axis(sim, top, 1)
            w = np.where(np.isfinite(s), np.exp((s - np.nanmax(np.where(np.isfinite(s), s, np.nan), 1, keepdims=True))
                                                  / self.p.knn_temperature), 0.0)
            w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
            out += self.p.w_knn * np.einsum("nk,nkc->nc", w, self.labels[top].astype(np.float32))
        if with_lr and self.lr_weight.any():
            out += self.lr_weight[None, :] * (X @ self.coef + self.bias[None, :])
        return out
