"""Dense vector search with FAISS: exact inner product below a size threshold, HNSW above, and
IVF-PQ with an exact re-rank at survey scale (millions of answers).

Vectors are unit length, so inner product is cosine. Exact search over a few hundred thousand
excerpts takes milliseconds and never misses, which matters when an analyst asks "is there any
other quote like this one"; HNSW only takes over where exact search gets slow. Past a million
vectors HNSW's graph plus vectors needs gigabytes of RAM, so the IVF-PQ kind keeps only compact
codes in memory, finds `rerank` candidates with them, and re-scores those exactly against the
float32 vectors memory-mapped from the generation folder (recall@10 0.9965 at 1M, see config).
Internally FAISS labels are positions; `ids` maps positions to excerpt ids (int64).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.config import DenseSettings
from index.storage import load_dir_path, save_dir_atomic, write_file_atomic

if TYPE_CHECKING:
    import faiss
else:  # imported on first use: BM25-only search and `--help` never pay for FAISS
    from index.lazy import LazyModule

    faiss = LazyModule("faiss")

# Filtered searches over at most this many allowed vectors are done exactly with numpy (copying
# a few MB is cheaper than a FAISS pass, and exact even on HNSW, whose filtered walk can come up
# short); larger allowed sets go through FAISS with a bitmap selector.
EXACT_SUBSET_MAX = 4096
# Below this many vectors IVF-PQ cannot train its 256-centroid sub-quantisers well; an IVF-PQ
# request that small is served exactly (flat) instead, which is both faster and never misses.
IVFPQ_MIN_VECTORS = 10_000
# Rows copied per step when writing the memory-mapped vectors file (bounded extra memory).
_WRITE_ROWS = 65_536


def _nlist(n: int, wanted: int | None) -> int:
    """Inverted lists: 4*sqrt(n) (2048 at ~260k, 4000 at 1M) clamped to [16, 16384], and never
    more than n/39 so k-means has the ~39 points per centroid FAISS asks for."""
    nlist = wanted if wanted is not None else int(min(16384, max(16, 4 * np.sqrt(n))))
    return max(1, min(nlist, n // 39))


def _pq_m(dim: int, wanted: int) -> int:
    """PQ sub-quantisers must divide the dimension: the largest divisor of `dim` <= `wanted`."""
    return next(m for m in range(min(wanted, dim), 0, -1) if dim % m == 0)


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
        self._kind = "flat"
        # IVF-PQ only: the exact float32 vectors (in memory after a build, memory-mapped after a
        # save or load); the codes in `_index` find candidates, these re-score them exactly.
        self._vectors: np.ndarray | None = None
        self._pos: dict[int, int] = {}

    # ---- building ----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self._kind

    def choose_kind(self, n: int) -> str:
        """The index kind for `n` vectors under these settings."""
        s = self.settings
        kind = s.kind
        if kind == "auto":
            kind = "ivfpq" if n >= s.ivfpq_threshold else "hnsw" if n >= s.ann_threshold else "flat"
        if kind == "ivfpq" and n < IVFPQ_MIN_VECTORS:
            kind = "flat"
        return kind

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def _new_index(self, kind: str) -> faiss.Index:
        s = self.settings
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, s.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = s.ef_construction
            index.hnsw.efSearch = s.ef_search
            return index
        return faiss.IndexFlatIP(self.dim)

    def _train_ivfpq(self, vectors: np.ndarray) -> faiss.Index:
        """An IVF-PQ index trained on (a fixed-seed sample of) `vectors`; the factory owns its
        quantiser. 10 k-means rounds, as measured in benchmarks/dense_scale.py (train time
        dominates the build at 1M; more rounds did not lift recall after the exact re-rank).
        "np": no polysemous training. The factory does it by default, but it only serves
        Hamming-distance filtering, which this index never uses (candidates are re-ranked
        exactly); with it, training took 106 s instead of 2.4 s (20k vectors, 64 dims, PQ8)."""
        n = len(vectors)
        nlist = _nlist(n, self.settings.nlist)
        m = _pq_m(self.dim, self.settings.ivfpq_m)
        index = faiss.index_factory(self.dim, f"IVF{nlist},PQ{m}np", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(index).cp.niter = 10
        size = min(n, max(40 * nlist, 100_000))
        sample = vectors if size == n else vectors[np.sort(np.random.default_rng(0).choice(n, size, replace=False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return index

    def build(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the content with these ids and (unit) vectors; uses all cores."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(set(ids.tolist())) != len(ids):
            raise ValueError("duplicate ids in dense index")
        _set_threads(os.cpu_count() or 1)
        kind = self.choose_kind(len(ids))
        if kind == "ivfpq":
            self._index = self._train_ivfpq(vectors)
            self._vectors = vectors  # held by reference: swapped for a memory map once saved
        else:
            self._index = self._new_index(kind)
            self._vectors = None
        self._kind = kind
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
        if self._vectors is not None:  # IVF-PQ: exact vectors, not lossy reconstructions
            return np.asarray(self._vectors[positions], dtype=np.float32)
        if isinstance(self._index, faiss.IndexFlatIP):
            flat = faiss.rev_swig_ptr(self._index.get_xb(), len(self) * self.dim)
            return flat.reshape(len(self), self.dim)[positions].copy()
        return self._index.reconstruct_batch(positions)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append vectors; switches to HNSW (rebuild) when growth crosses the threshold."""
        ids = np.asarray(ids, dtype=np.int64)
        if any(int(i) in self._pos for i in ids):
            raise ValueError("id already in dense index")
        if self.choose_kind(len(self) + len(ids)) != self.kind:  # crossed a threshold: rebuild
            self.build(np.concatenate([self.ids, ids]), np.vstack([self.vectors(), vectors]))
            return
        _set_threads(os.cpu_count() or 1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self._index.add(vectors)
        if self._vectors is not None:  # appending leaves the memory map: saving maps it again
            self._vectors = np.concatenate([np.asarray(self._vectors), vectors])
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
            if self.kind == "ivfpq":
                return self._search_ivfpq(q, k, want, selector, mask, allowed)
            scores, labels = self._index.search(q, want, params=self._params(selector, want))
            if self.kind == "hnsw" and int((labels[0] >= 0).sum()) < want:
                # A selective filter can strand HNSW's greedy walk; exact is slow but complete.
                scores = self.score(q[0], allowed)
                order = top_k(scores, k)
                return allowed[order], scores[order]
        elif self.kind == "ivfpq":
            return self._search_ivfpq(q, k, min(k, len(self)), None, None, None)
        else:
            scores, labels = self._index.search(q, min(k, len(self)), params=self._params(None, k))
        keep = labels[0] >= 0
        return labels[0][keep].astype(np.int64), scores[0][keep]

    def _search_ivfpq(self, q: np.ndarray, k: int, want: int, selector: faiss.IDSelector | None,
                      mask: np.ndarray | None, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """IVF-PQ finds `rerank` candidates (only allowed ones, through the selector), which are
        re-scored exactly, so returned scores are true cosines. If the probed lists hold fewer
        than `want` allowed vectors, the answer is computed exactly over the allowed set: a
        filter never silently shortens the result list."""
        shortlist = min(max(self.settings.rerank, k), len(self) if allowed is None else len(allowed))
        _, labels = self._index.search(q, shortlist, params=self._params(selector, shortlist))
        cand = labels[0][labels[0] >= 0].astype(np.int64)
        if mask is not None:
            cand = cand[mask[cand]]  # belt and braces: exact filter semantics
        if len(cand) < want:
            cand = allowed if allowed is not None else np.arange(len(self), dtype=np.int64)
        cand = np.sort(cand)  # sequential reads from the memory map
        scores = self.score(q[0], cand)
        order = top_k(scores, k)
        return cand[order], scores[order]

    def _params(self, selector: faiss.IDSelector | None, k: int) -> faiss.SearchParameters:
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.settings.ef_search, k)  # HNSW returns at most efSearch
        elif self.kind == "ivfpq":
            params = faiss.SearchParametersIVF()
            params.nprobe = min(self.settings.nprobe, faiss.extract_index_ivf(self._index).nlist)
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
        if self.kind == "ivfpq":
            self._write_ivfpq(folder)
        elif self.kind == "flat":
            np.save(folder / "vectors.npy", self.vectors())
        else:
            faiss.write_index(self._index, str(folder / "index.faiss"))
        meta = {"dim": self.dim, "kind": self.kind, "settings": self.settings.model_dump()}
        (folder / "dense.json").write_text(json.dumps(meta))

    def _write_ivfpq(self, folder: Path) -> None:
        """The codes (index.faiss) and the exact vectors (vectors.npy, a plain .npy that is
        memory-mapped on load), each through the one atomic writer; the vectors are streamed in
        bounded blocks so a multi-GB file never needs a second copy in RAM. Afterwards this index
        serves from the file just written, so a fresh build costs RAM like a loaded one."""
        assert self._vectors is not None
        src = self._vectors

        def write_vectors(tmp: Path) -> None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(self), self.dim))
            try:
                for start in range(0, len(self), _WRITE_ROWS):
                    out[start:start + _WRITE_ROWS] = src[start:start + _WRITE_ROWS]
                out.flush()
            finally:
                del out

        write_file_atomic(folder / "index.faiss", lambda tmp: faiss.write_index(self._index, str(tmp)))
        path = write_file_atomic(folder / "vectors.npy", write_vectors)
        if os.name != "nt":  # an open map would block renaming the folder on Windows
            self._vectors = np.load(path, mmap_mode="r")

    @classmethod
    def load(cls, folder: str | Path, settings: DenseSettings | None = None) -> DenseIndex:
        folder = load_dir_path(Path(folder))
        meta = json.loads((folder / "dense.json").read_text())
        self = cls(meta["dim"], settings or DenseSettings(**meta["settings"]))
        self.ids = np.load(folder / "ids.npy")
        self._kind = meta["kind"]
        if meta["kind"] == "flat":
            self._index = faiss.IndexFlatIP(self.dim)
            vecs = np.load(folder / "vectors.npy")
            if len(vecs):
                self._index.add(vecs)
        elif meta["kind"] == "ivfpq":
            self._index = faiss.read_index(str(folder / "index.faiss"))
            vecs = np.load(folder / "vectors.npy", mmap_mode="r")
            if vecs.shape != (len(self.ids), self.dim) or self._index.ntotal != len(self.ids):
                raise ValueError(f"{folder}: dense vectors do not match the index "
                                 f"({vecs.shape} vs {len(self.ids)} x {self.dim})")
            self._vectors = vecs
        else:
            self._index = faiss.read_index(str(folder / "index.faiss"))
            self._index.hnsw.efSearch = self.settings.ef_search
        self._pos = {int(i): p for p, i in enumerate(self.ids)}
        return self
