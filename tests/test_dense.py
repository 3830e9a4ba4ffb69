"""DenseIndex: exact and HNSW search, filtered search, add/remove, atomic save/load."""

from __future__ import annotations

import numpy as np

from index.config import DenseSettings
from index.dense import DenseIndex, top_k


def _vecs(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_top_k_sorted() -> None:
    assert top_k(np.array([0.1, 0.9, 0.5, 0.7]), 2).tolist() == [1, 3]
    assert top_k(np.array([0.1]), 5).tolist() == [0]


def test_flat_exact_search_and_filter() -> None:
    v = _vecs(50)
    d = DenseIndex(16)
    d.build(np.arange(100, 150), v)
    assert d.kind == "flat"
    ids, scores = d.search(v[7], 3)
    assert ids[0] == 107 and scores[0] > 0.999
    allowed = np.array([120, 121, 122])
    ids, _ = d.search(v[7], 5, allowed_ids=allowed)
    assert set(ids.tolist()) == set(allowed.tolist())
    expected = allowed[np.argsort(-(v[[20, 21, 22]] @ v[7]))]
    assert ids.tolist() == expected.tolist()


def test_hnsw_above_threshold_and_recall() -> None:
    v = _vecs(400, seed=1)
    d = DenseIndex(16, DenseSettings(ann_threshold=100, hnsw_m=16, ef_search=64))
    d.build(np.arange(400), v)
    assert d.kind == "hnsw"
    hits = sum(int(d.search(v[i], 1)[0][0] == i) for i in range(0, 400, 20))
    assert hits >= 19
    ids, _ = d.search(v[3], 4, allowed_ids=np.array([1, 2, 3, 4]))
    assert ids[0] == 3 and len(ids) == 4


def test_growth_switches_to_hnsw_and_remove() -> None:
    v = _vecs(30, seed=2)
    d = DenseIndex(16, DenseSettings(ann_threshold=20))
    d.build(np.arange(10), v[:10])
    d.add(np.arange(10, 30), v[10:])
    assert d.kind == "hnsw" and len(d) == 30
    d.remove(np.array([5]))
    assert len(d) == 29 and 5 not in d.search(v[5], 29)[0].tolist()
    np.testing.assert_allclose(d.vectors(d.positions(np.array([6])))[0], v[6], rtol=1e-6)


def test_save_load_roundtrip(tmp_path) -> None:
    for threshold in (10_000, 5):
        v = _vecs(20, seed=3)
        d = DenseIndex(16, DenseSettings(ann_threshold=threshold))
        d.build(np.arange(20) * 3, v)
        d.save(tmp_path / f"d{threshold}")
        e = DenseIndex.load(tmp_path / f"d{threshold}")
        assert e.kind == d.kind
        np.testing.assert_array_equal(e.search(v[4], 5)[0], d.search(v[4], 5)[0])


def test_large_filter_uses_bitmap_selector(monkeypatch) -> None:
    import index.dense as dense_mod

    monkeypatch.setattr(dense_mod, "EXACT_SUBSET_MAX", 2)
    v = _vecs(60, seed=4)
    for threshold in (10_000, 10):
        d = DenseIndex(16, DenseSettings(ann_threshold=threshold))
        d.build(np.arange(60), v)
        allowed = np.arange(0, 60, 2)
        ids, _ = d.search(v[10], 5, allowed_ids=allowed)
        exact = allowed[np.argsort(-(v[allowed] @ v[10]))][:5]
        assert ids.tolist() == exact.tolist(), d.kind
