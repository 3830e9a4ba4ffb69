"""Dense vector search with FAISS: exact inner product below a size threshold, HNSW above.

Vectors are unit length, so inner product is cosine. Exact search over a few hundred thousand
excerpts takes milliseconds and never misses, which matters when an analyst asks "is there any
other quote like this one"; HNSW only takes over where exact search gets slow.
Internally FAISS labels are positions; `ids` maps positions to excerpt ids (int64).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np

from index.config import DenseSettings
from index.storage import load_dir_path, save_dir_atomic

# Filtered searches over at most this many allowed vectors are done exactly with numpy (copying
# a few MB is cheaper than a FAISS pass, and exact even on HNSW, whose filtered walk can come up
# short); larger allowed sets go through FAISS with a bitmap selector.
EXACT_SUBSET_MAX = 4096


def _set_threads(n: int) -> None:
    """Single queries run on one thread on purpose: 0.6 ms vs 16 ms with 2 threads under load."""
    if faiss.omp_get_max_threads() != n:
        faiss.omp_set_num_threads(n)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first (argpartition, then sort only those k)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class DenseIndex:
    """Vectors + ids + a FAISS index over them. Rebuilding is cheap for the flat kind, so removals
    rebuild; HNSW supports appends, removals rebuild the graph (rare in this application)."""

    def __init__(self, dim: int, settings: DenseSettings | None = None):
        self.dim = dim
        self.settings = settings or DenseSettings()
        self.ids = np.zeros(0, dtype=np.int64)
        self._index: faiss.Index = faiss.IndexFlatIP(dim)
        self._pos: dict[int, int] = {}

    # ---- building ----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self._index, faiss.IndexHNSWFlat) else "flat"

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def _new_index(self, n: int) -> faiss.Index:
        s = self.settings
        if n >= s.ann_threshold:
            index = faiss.IndexHNSWFlat(self.dim, s.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = s.ef_construction
            index.hnsw.efSearch = s.ef_search
            return index
        return faiss.IndexFlatIP(self.dim)

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the content with these ids and (unit) vectors; uses all cores."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(set(ids.tolist())) != len(ids):
            raise ValueError("duplicate ids in dense index")
        _set_threads(os.cpu_count() or 1)
        self._index = self._new_index(len(ids))
        if len(ids):
            self._index.add(vectors)
        self.ids = ids.copy()
        self._pos = {int(i): p for p, i in enumerate(self.ids)}

    def vectors(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Stored vectors (all, or at the given positions)."""
        if positions is None:
            positions = np.arange(len(self), dtype=np.int64)
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if isinstance(self._index, faiss.IndexFlatIP):
            flat = faiss.rev_swig_ptr(self._index.get_xb(), len(self) * self.dim)
            return flat.reshape(len(self), self.dim)[positions].copy()
        return self._index.reconstruct_batch(positions)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append vectors; switches to HNSW (rebuild) when growth crosses the threshold."""
        ids = np.asarray(ids, dtype=np.int64)
        if any(int(i) in self._pos for i in ids):
            raise ValueError("id already in dense index")
        if self.kind == "flat" and len(self) + len(ids) >= self.settings.ann_threshold:
            self.build(np.concatenate([self.ids, ids]), np.vstack([self.vectors(), vectors]))
            return
        _set_threads(os.cpu_count() or 1)
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        start = len(self)
        self.ids = np.concatenate([self.ids, ids])
        self._pos.update({int(i): start + p for p, i in enumerate(ids)})

    def remove(self, ids: np.ndarray) -> None:
        drop = {int(i) for i in ids}
        keep = np.array([int(i) not in drop for i in self.ids], dtype=bool)
        if keep.all():
            return
        self.build(self.ids[keep], self.vectors(np.flatnonzero(keep)))

    # ---- searching ---------------------------------------------------------------------------
    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions of known ids (unknown ones are skipped)."""
        pos = [self._pos.get(int(i), -1) for i in ids]
        return np.array([p for p in pos if p >= 0], dtype=np.int64)

    def score(self, qvec: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact cosine of the query to the vectors at `positions`. einsum, not `@`: it stays on
        one thread, while multi-threaded BLAS stalled (0.15 -> 2.5 ms) on the loaded 2-core box."""
        q = np.asarray(qvec, dtype=np.float32).reshape(-1)
        return np.einsum("ij,j->i", self.vectors(positions), q)

    def search(
        self, qvec: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, cosine scores), best first, optionally restricted to `allowed_ids`."""
        mask = None
        if allowed_ids is not None:
            mask = np.zeros(len(self), dtype=bool)
            mask[self.positions(allowed_ids)] = True
        pos, scores = self.search_positions(qvec, k, mask)
        return self.ids[pos], scores

    def search_positions(
        self, qvec: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like `search` but with a boolean mask over positions (what `CorpusIndex` uses, since
        its dense and BM25 indexes share one order)."""
        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(1, self.dim)
        if len(self) == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        _set_threads(1)
        if mask is not None:
            allowed = np.flatnonzero(mask)
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            if len(allowed) <= EXACT_SUBSET_MAX:
                scores = self.score(q[0], allowed)
                order = top_k(scores, k)
                return allowed[order], scores[order]
            want = min(k, len(allowed))
            bits = np.packbits(mask.astype(np.uint8), bitorder="little")  # kept alive for FAISS
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
            scores, labels = self._index.search(q, want, params=self._params(selector, want))
            if self.kind == "hnsw" and int((labels[0] >= 0).sum()) < want:
                # A selective filter can strand HNSW's greedy walk; exact is slow but complete.
                scores = self.score(q[0], allowed)
                order = top_k(scores, k)
                return allowed[order], scores[order]
        else:
            scores, labels = self._index.search(q, min(k, len(self)), params=self._params(None, k))
        keep = labels[0] >= 0
        return labels[0][keep].astype(np.int64), scores[0][keep]

    def _params(self, selector: faiss.IDSelector | None, k: int) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.settings.ef_search, k)  # HNSW returns at most efSearch
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params

    # ---- persistence -------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write atomically (see `storage.save_dir_atomic`)."""
        save_dir_atomic(folder, self.write_into)

    def write_into(self, folder: Path) -> None:
        """Write files into an existing folder (no atomicity: the caller publishes it)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids)
        if self.kind == "flat":
            np.save(folder / "vectors.npy", self.vectors())
        else:
            faiss.write_index(self._index, str(folder / "index.faiss"))
        meta = {"dim": self.dim, "kind": self.kind, "settings": self.settings.model_dump()}
        (folder / "dense.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: str | Path, settings: DenseSettings | None = None) -> DenseIndex:
        folder = load_dir_path(Path(folder))
        meta = json.loads((folder / "dense.json").read_text())
        self = cls(meta["dim"], settings or DenseSettings(**meta["settings"]))
        self.ids = np.load(folder / "ids.npy")
        if meta["kind"] == "flat":
            self._index = faiss.IndexFlatIP(self.dim)
            vecs = np.load(folder / "vectors.npy")
            if len(vecs):
                self._index.add(vecs)
        else:
            self._index = faiss.read_index(str(folder / "index.faiss"))
            self._index.hnsw.efSearch = self.settings.ef_search
        self._pos = {int(i): p for p, i in enumerate(self.ids)}
        return self
