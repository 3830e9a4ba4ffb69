"""DenseIndex IVF-PQ kind (survey scale): automatic choice, recall against exact search, exact
filter semantics, memory-mapped save/load through the generation folder, crash safety."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import index.dense as dense_mod
from index.config import DenseSettings, SearchSettings
from index.corpus_index import CorpusIndex, IndexRecord
from index.dense import EXACT_SUBSET_MAX, DenseIndex
from index.embeddings import HashingEmbedder

# 64 dims and 8 sub-quantisers keep PQ training to seconds (at 384/96 it takes minutes on 2 cores)
DIM = 64
N = 20_000
NQ = 100
LOW = DenseSettings(ann_threshold=1_000, ivfpq_threshold=10_000, ivfpq_m=8)  # auto, thresholds lowered


def clustered(n: int, seed: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered around `centres` (like topics in survey answers), and their cluster."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(centres), n)
    v = centres[which] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), which


@pytest.fixture(scope="module")
def data() -> dict:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((200, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs, cluster = clustered(N, 1, centres)
    queries, qcluster = clustered(NQ, 2, centres)
    ids = np.arange(N, dtype=np.int64) * 3 + 7  # ids are not positions
    d = DenseIndex(DIM, LOW)
    t0 = time.perf_counter()
    d.build(ids, vecs)
    build_s = time.perf_counter() - t0
    return {"vecs": vecs, "cluster": cluster, "queries": queries, "qcluster": qcluster, "ids": ids,
            "index": d, "build_s": build_s}


def exact_top(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int,
              allowed: np.ndarray | None = None) -> list[int]:
    s = vecs @ q
    if allowed is not None:
        s = np.where(np.isin(ids, allowed), s, -np.inf)
    order = np.argsort(-s, kind="stable")[:k]
    return ids[order[np.isfinite(s[order])]].tolist()


def recall(d: DenseIndex, data: dict, allowed: np.ndarray | None = None) -> tuple[float, float]:
    hits, t = 0.0, 0.0
    for q in data["queries"]:
        t0 = time.perf_counter()
        got, _ = d.search(q, 10, allowed_ids=allowed)
        t += time.perf_counter() - t0
        truth = exact_top(data["vecs"], data["ids"], q, 10, allowed)
        hits += len(set(got.tolist()) & set(truth)) / len(truth)
    return hits / NQ, t / NQ * 1000


def test_auto_kind_by_size() -> None:
    d = DenseIndex(DIM, LOW)
    assert [d.choose_kind(n) for n in (999, 1_000, 9_999, 10_000)] == ["flat", "hnsw", "hnsw", "ivfpq"]
    assert DenseIndex(DIM).choose_kind(1_000_000) == "ivfpq"  # the default threshold
    assert DenseIndex(DIM).choose_kind(999_999) == "hnsw"
    # an explicit IVF-PQ request too small to train is served exactly instead
    assert DenseIndex(DIM, DenseSettings(kind="ivfpq")).choose_kind(500) == "flat"
    assert DenseIndex(DIM, DenseSettings(kind="flat")).choose_kind(5_000_000) == "flat"


def test_ivfpq_chosen_and_recall(data: dict) -> None:
    d = data["index"]
    assert d.kind == "ivfpq" and len(d) == N
    r, ms = recall(d, data)
    print(f"\nivfpq n={N} dim={DIM} build {data['build_s']:.1f}s recall@10 {r:.4f} {ms:.2f} ms/query")
    assert r >= 0.95
    got, scores = d.search(data["vecs"][123], 5)
    assert got[0] == data["ids"][123]
    # scores are exact cosines (re-ranked from the float32 vectors), not PQ approximations
    pos = d.positions(got)
    np.testing.assert_allclose(scores, data["vecs"][pos] @ data["vecs"][123], rtol=1e-5)
    assert np.all(np.diff(scores) <= 1e-7)
    np.testing.assert_array_equal(d.vectors(np.array([5, 9])), data["vecs"][[5, 9]])


def test_filters_are_exact(data: dict) -> None:
    d = data["index"]
    rng = np.random.default_rng(5)
    # a large allowed set goes through the FAISS selector: every hit is allowed, recall holds
    allowed = np.sort(rng.choice(data["ids"], 6_000, replace=False))
    assert len(allowed) > EXACT_SUBSET_MAX
    for q in data["queries"][:20]:
        got, _ = d.search(q, 10, allowed_ids=allowed)
        assert len(got) == 10 and set(got.tolist()) <= set(allowed.tolist())
    r, _ = recall(d, data, allowed)
    assert r >= 0.95
    # allowed vectors that sit far from the query (other topics) are missed by the probed lists:
    # the result is then computed exactly, never silently short or wrong
    q, qc = data["queries"][0], data["qcluster"][0]
    far = data["ids"][data["cluster"] != qc][:5_000]
    got, _ = d.search(q, 10, allowed_ids=far)
    assert got.tolist() == exact_top(data["vecs"], data["ids"], q, 10, far)
    # a small allowed set is scored exactly
    few = data["ids"][[3, 30, 300]]
    got, _ = d.search(q, 10, allowed_ids=few)
    assert got.tolist() == exact_top(data["vecs"], data["ids"], q, 10, few)
    assert d.search(q, 10, allowed_ids=np.array([-1]))[0].size == 0


def test_save_load_memory_mapped(tmp_path: Path, data: dict) -> None:
    d = data["index"]
    d.save(tmp_path / "dense")
    files = sorted(p.name for p in (tmp_path / "dense").iterdir())
    assert files == ["dense.json", "ids.npy", "index.faiss", "vectors.npy"]  # no temp files left
    loaded = DenseIndex.load(tmp_path / "dense")
    assert loaded.kind == "ivfpq" and isinstance(loaded._vectors, np.memmap)
    assert isinstance(d._vectors, np.memmap)  # the built index now serves from the file too
    for q in data["queries"][:10]:
        a, sa = d.search(q, 10)
        b, sb = loaded.search(q, 10)
        assert a.tolist() == b.tolist()
        np.testing.assert_allclose(sa, sb, rtol=1e-6)
    # damaged: vectors file of the wrong shape is refused, not searched
    np.save(tmp_path / "dense" / "vectors.npy", np.zeros((3, DIM), np.float32))
    with pytest.raises(ValueError, match="do not match"):
        DenseIndex.load(tmp_path / "dense")


def _records(n: int, salt: str) -> list[IndexRecord]:
    words = ["clinic", "funding", "housing", "staff", "wait", "nurse", "parking", "food", "rent", "bus"]
    rng = np.random.default_rng(len(salt))
    out = []
    for i in range(n):
        text = " ".join(rng.choice(words, 6)) + f" {salt} answer {i}"
        out.append(IndexRecord(i + 1, text, {"source_id": f"S{i % 7}", "start": 0, "end": len(text)}))
    return out


@pytest.fixture
def small_ivfpq(monkeypatch: pytest.MonkeyPatch) -> SearchSettings:
    """IVF-PQ on a few hundred records (too few to train well, but enough to exercise the
    generation folder quickly)."""
    monkeypatch.setattr(dense_mod, "IVFPQ_MIN_VECTORS", 300)
    return SearchSettings(dense=DenseSettings(kind="ivfpq", ivfpq_m=16))


def test_generation_round_trip_memory_mapped(tmp_path: Path, small_ivfpq: SearchSettings) -> None:
    idx = CorpusIndex(tmp_path / "idx", small_ivfpq, HashingEmbedder())
    recs = _records(600, "first")
    idx.sync(recs)
    assert idx.manifest["dense_kind"] == "ivfpq"
    gen = tmp_path / "idx" / idx.manifest["generation"]
    assert {"index.faiss", "vectors.npy", "ids.npy"} <= {p.name for p in (gen / "dense").iterdir()}
    again = CorpusIndex(tmp_path / "idx", small_ivfpq, HashingEmbedder())
    assert isinstance(again._state.dense._vectors, np.memmap)
    hits = again.search(recs[42].text, k=3, mode="dense")
    assert hits[0].id == 43
    hits = again.search(recs[42].text, k=5, mode="dense", filters={"source_id": "S3"})
    assert hits and all(h.meta["source_id"] == "S3" for h in hits)
    # an incremental sync reuses exact vectors read from the memory map
    report = again.sync(recs[:-1] + [IndexRecord(999, "parking at the clinic", {"source_id": "S0"})])
    assert (report.added, report.removed, report.embedded) == (1, 1, 1)
    assert again.search("parking at the clinic", k=1, mode="dense")[0].id == 999


def test_crash_mid_write_keeps_old_generation(tmp_path: Path, small_ivfpq: SearchSettings) -> None:
    folder = tmp_path / "idx"
    CorpusIndex(folder, small_ivfpq, HashingEmbedder()).sync(_records(600, "old"))
    before = json.loads((folder / "manifest.json").read_text())
    # a second process is killed (no cleanup at all) half-way through writing the vectors file
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import numpy as np
        import index.dense as dense_mod
        from index.config import DenseSettings, SearchSettings
        from index.corpus_index import CorpusIndex
        from index.embeddings import HashingEmbedder
        from test_dense_ivfpq import _records
        dense_mod.IVFPQ_MIN_VECTORS = 300
        dense_mod._WRITE_ROWS = 100
        real = np.lib.format.open_memmap
        def dying(*a, **kw):
            return _Dying(real(*a, **kw))
        class _Dying:  # the memory map, but the process dies after two blocks are written
            def __init__(self, out):
                self.out, self.n = out, 0
            def __setitem__(self, key, value):
                self.out[key] = value
                self.n += 1
                if self.n == 2:
                    self.out.flush()
                    os._exit(9)
            def flush(self):
                self.out.flush()
        np.lib.format.open_memmap = dying
        s = SearchSettings(dense=DenseSettings(kind="ivfpq", ivfpq_m=16))
        CorpusIndex({str(folder)!r}, s, HashingEmbedder()).sync(_records(650, "new"))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert list(folder.glob("gen-*.tmp"))  # the killed writer left its half-made generation
    assert json.loads((folder / "manifest.json").read_text())["generation"] == before["generation"]
    idx = CorpusIndex(folder, small_ivfpq, HashingEmbedder())
    assert len(idx) == 600 and idx.load_error is None
    assert idx.search(_records(600, "old")[10].text, k=1, mode="dense")[0].id == 11
    # the next sync clears the debris and publishes normally
    idx.sync(_records(650, "new"))
    assert not list(folder.glob("gen-*.tmp")) and len(CorpusIndex(folder, small_ivfpq, HashingEmbedder())) == 650
