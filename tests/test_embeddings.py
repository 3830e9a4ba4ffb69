"""Embedder contract, hashing stand-in, SQLite cache and cache-aware embedding."""

from __future__ import annotations

import os

import numpy as np
import pytest

from index.embeddings import (
    CacheStats,
    EmbeddingCache,
    HashingEmbedder,
    embed_with_cache,
)


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=32, batch_size=2)
        self.calls: list[list[str]] = []

    def embed_batch(self, texts):
        self.calls.append(list(texts))
        return super().embed_batch(texts)


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    e = HashingEmbedder(dim=64)
    a = e.embed(["the cat sat", "dogs bark", ""])
    assert a.dtype == np.float32 and a.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(a[:2], axis=1), 1.0, rtol=1e-5)
    assert not a[2].any()  # empty text stays zero rather than NaN
    np.testing.assert_array_equal(a, HashingEmbedder(dim=64).embed(["the cat sat", "dogs bark", ""]))
    assert float(e.query("the cat sat") @ a[0]) == pytest.approx(1.0, abs=1e-5)


def test_batching_reports_progress() -> None:
    e = CountingEmbedder()
    seen = []
    e.embed(["a", "b", "c", "d", "e"], progress=lambda done, total: seen.append((done, total)))
    assert [len(c) for c in e.calls] == [2, 2, 1]
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_cache_embeds_only_misses_and_deduplicates(tmp_path) -> None:
    e = CountingEmbedder()
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    stats = CacheStats()
    first = embed_with_cache(e, ["x y", "z", "x y"], cache, stats=stats)
    assert stats.embedded == 2 and sum(len(c) for c in e.calls) == 2
    e.calls.clear()
    stats = CacheStats()
    second = embed_with_cache(e, ["z", "x y", "new"], cache, stats=stats)
    assert e.calls == [["new"]] and stats.embedded == 1 and stats.from_cache == 2
    np.testing.assert_allclose(second[0], first[1])
    np.testing.assert_allclose(second[1], first[0])
    assert len(cache) == 3
    cache.close()
    reopened = EmbeddingCache(tmp_path / "c.sqlite")  # persisted on disk
    assert len(reopened) == 3


def test_cache_keys_include_model(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    embed_with_cache(HashingEmbedder(dim=16), ["same"], cache)
    stats = CacheStats()
    out = embed_with_cache(HashingEmbedder(dim=8), ["same"], cache, stats=stats)
    assert stats.embedded == 1 and out.shape == (1, 8)


@pytest.mark.slow
def test_real_packaged_model_offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from index.embeddings import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder("default")
    assert e.dim == 384 and e.model_id.endswith("all-MiniLM-L6-v2")
    docs = e.embed(["The nurse changed the patient's dressing.",
                    "Quarterly revenue grew by ten percent.",
                    "Rain is expected over the weekend."])
    q = e.query("hospital wound care")
    assert int(np.argmax(docs @ q)) == 0
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-4)


def test_cache_commits_in_batches_while_embedding(tmp_path) -> None:
    """Each commit is its own transaction as embedding goes on, so another connection (or the
    next run after a kill) sees the vectors long before the last batch is done."""
    path = tmp_path / "c.sqlite"
    cache = EmbeddingCache(path)
    seen_by_reader: list[int] = []

    class Watching(CountingEmbedder):
        def embed_batch(self, texts):
            reader = EmbeddingCache(path)
            seen_by_reader.append(reader.count(self.model_id))
            reader.close()
            return super().embed_batch(texts)

    e = Watching()
    texts = [f"text number {i}" for i in range(10)]
    seen = []
    embed_with_cache(e, texts, cache, progress=lambda d, t: seen.append((d, t)), commit_texts=4)
    assert seen_by_reader == [0, 0, 4, 4, 8]  # batches of 2, committed every 4 texts
    assert seen[0] == (0, 10) and seen[-1] == (10, 10)
    assert cache.count(e.model_id) == 10


def test_finished_batches_survive_an_error(tmp_path) -> None:
    class Failing(CountingEmbedder):
        def embed_batch(self, texts):
            if len(self.calls) == 3:
                raise RuntimeError("model crashed")
            return super().embed_batch(texts)

    cache = EmbeddingCache(tmp_path / "c.sqlite")
    texts = [f"t{i}" for i in range(10)]
    stats = CacheStats()
    with pytest.raises(RuntimeError):
        embed_with_cache(Failing(), texts, cache, stats=stats)
    assert cache.count("hashing-32") == 6 and stats.embedded == 6
    rerun = CountingEmbedder()
    stats = CacheStats()
    embed_with_cache(rerun, texts, cache, stats=stats)
    assert sum(len(c) for c in rerun.calls) == 4 and (stats.embedded, stats.from_cache) == (4, 6)


def test_cached_vector_of_another_size_is_a_miss(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("hashing-32", [b"k"], np.ones((1, 8), dtype=np.float32))
    assert cache.get_many("hashing-32", [b"k"]) and not cache.get_many("hashing-32", [b"k"], dim=32)
