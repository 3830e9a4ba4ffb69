"""Search latency, build time and memory at corpus sizes the app may meet.

Synthetic excerpts: 20-80 words drawn from a 30k-word vocabulary with a Zipf(1.1) distribution.
Document vectors are synthetic (clustered: 2,000 random centres plus noise, normalised, which is
closer to real embeddings than uniform noise) rather than embedded; queries ARE encoded by the
real model (one thread), so hybrid latency includes real query encoding. HNSW recall@10 is
measured against exact search on held-out synthetic vectors from the same distribution.
Embedding throughput: raw `model.encode` vs our pipeline (embed_with_cache, cold then warm).

    python benchmarks/search_speed.py --sizes 10000 100000 [1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import Timer, emit, log, peak_rss_mb

from index.config import DenseSettings, SearchSettings
from index.corpus_index import CorpusIndex, IndexRecord
from index.dense import DenseIndex
from index.embeddings import (
    Embedder,
    EmbeddingCache,
    SentenceTransformerEmbedder,
    embed_with_cache,
    l2_normalise,
)

DIM = 384


def vocabulary(n: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return np.array(["".join(rng.choice(letters, rng.integers(3, 10))) for _ in range(n)])


def zipf_texts(n: int, vocab: np.ndarray, rng: np.random.Generator) -> list[str]:
    ranks = np.arange(1, len(vocab) + 1)
    p = 1 / ranks**1.1
    p /= p.sum()
    lengths = rng.integers(20, 81, n)
    words = vocab[rng.choice(len(vocab), int(lengths.sum()), p=p)]
    out, i = [], 0
    for ln in lengths:
        out.append(" ".join(words[i : i + ln]))
        i += ln
    return out


class ClusteredVectors:
    """Deterministic clustered unit vectors: centre (by row) + noise."""

    def __init__(self, seed: int = 0, centres: int = 2000):
        rng = np.random.default_rng(seed)
        self.centres = l2_normalise(rng.standard_normal((centres, DIM)))

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        c = self.centres[rng.integers(0, len(self.centres), n)]
        return l2_normalise(c + 0.08 * rng.standard_normal((n, DIM)).astype(np.float32))


class SyntheticEmbedder(Embedder):
    """Documents get synthetic vectors (fast); queries go through the real model."""

    def __init__(self, real: SentenceTransformerEmbedder, gen: ClusteredVectors):
        self.real, self.gen = real, gen
        self.dim, self.model_id, self.batch_size = DIM, "synthetic+" + real.model_id, 65536
        self.calls = 0

    def embed_batch(self, texts):
        self.calls += 1
        return self.gen.sample(len(texts), seed=self.calls)

    def query(self, text: str) -> np.ndarray:
        return self.real.query(text)


def percentiles(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(xs, 50)) * 1000, 2),
            "p95_ms": round(float(np.percentile(xs, 95)) * 1000, 2)}


def hnsw_recall(dense: DenseIndex, gen: ClusteredVectors, nq: int, s: DenseSettings,
                ef_values: list[int] | None = None) -> dict:
    """Recall@10 of HNSW vs exact; reuses the index's own HNSW when it already is one. With
    `ef_values`, the same graph is also measured at each efSearch (recall bought with latency)."""
    vectors = dense.vectors()
    exact = DenseIndex(DIM, DenseSettings(ann_threshold=10**12))
    exact.build(np.arange(len(vectors)), vectors)
    with Timer() as t:
        if dense.kind == "hnsw":
            hnsw = dense
        else:
            hnsw = DenseIndex(DIM, s.model_copy(update={"ann_threshold": 1}))
            hnsw.build(dense.ids, vectors)
    queries = gen.sample(nq, seed=999)
    truths = [{int(dense.ids[i]) for i in exact.search(q, 10)[0]} for q in queries]

    def measure() -> dict:
        rec, lat = [], []
        for q, truth in zip(queries, truths):
            t0 = time.perf_counter()
            got = hnsw.search(q, 10)[0]
            lat.append(time.perf_counter() - t0)
            rec.append(len(truth & set(got.tolist())) / 10)
        return {"recall@10": round(float(np.mean(rec)), 4), "search": percentiles(lat)}

    out = {**measure(), "build_s": round(t.seconds, 1), "ef_search": hnsw.settings.ef_search}
    base = hnsw.settings
    sweep = {}
    for ef in ef_values or []:
        hnsw.settings = base.model_copy(update={"ef_search": ef})
        sweep[ef] = measure()
        log(f"  efSearch {ef}: {sweep[ef]}")
    hnsw.settings = base
    if sweep:
        out["ef_sweep"] = sweep
    return out


def search_settings(args) -> SearchSettings:
    base = SearchSettings()
    return base.model_copy(update={"dense": base.dense.model_copy(update=json.loads(args.dense))})


def run_size(n: int, real, gen, vocab, queries, args) -> dict:
    rng = np.random.default_rng(n)
    with Timer() as tt:
        texts = zipf_texts(n, vocab, rng)
    log(f"[{n}] generated texts in {tt.seconds:.1f}s")
    out: dict = {"n": n}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        settings = search_settings(args)
        idx = CorpusIndex(Path(tmp) / "idx", settings, SyntheticEmbedder(real, gen), use_cache=False)
        with Timer() as t:
            idx.sync(IndexRecord(i, text, {"source_id": f"S{i % 200}"}) for i, text in enumerate(texts))
        out["build_s"] = round(t.seconds, 1)
        out["dense_kind"] = idx.manifest["dense_kind"]
        out["peak_rss_mb_so_far"] = peak_rss_mb()
        log(f"[{n}] built in {t.seconds:.1f}s ({out['dense_kind']}), peak RSS {out['peak_rss_mb_so_far']} MB")
        with Timer() as t:
            CorpusIndex(Path(tmp) / "idx", settings, SyntheticEmbedder(real, gen))
        out["load_s"] = round(t.seconds, 1)
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            real.query(q)
            lat.append(time.perf_counter() - t0)
        out["query_encoding_only"] = percentiles(lat)
        for mode in ("bm25", "dense", "hybrid"):
            for q in queries[:5]:
                idx.search(q, k=10, mode=mode)  # warm-up
            lat = []
            for q in queries:
                t0 = time.perf_counter()
                idx.search(q, k=10, mode=mode)
                lat.append(time.perf_counter() - t0)
            out[mode] = percentiles(lat)
            log(f"[{n}] {mode}: {out[mode]}")
        lat = []
        for q in queries[:50]:
            t0 = time.perf_counter()
            idx.search(q, k=10, filters={"source_id": ["S1", "S2", "S3"]})
            lat.append(time.perf_counter() - t0)
        out["hybrid_filtered_1.5pct"] = percentiles(lat)
        if args.hnsw_recall and n <= args.hnsw_recall_max:
            out["hnsw"] = hnsw_recall(idx._state.dense, gen, 200, settings.dense, args.ef_sweep)
            log(f"[{n}] hnsw: {out['hnsw']}")
        del idx
    return out


def throughput(real: SentenceTransformerEmbedder, vocab, n: int, tmp: str, rounds: int = 2) -> dict:
    """Raw model.encode vs the pipeline (batching + cache) on the same fresh texts. Rounds
    alternate and the best of each is kept, since other jobs share this machine."""
    texts = zipf_texts(n, vocab, np.random.default_rng(7))
    real._encode(texts[:64], real.batch_threads)  # warm-up, and sets batch threads
    raw_s, cold_s, warm_s = [], [], []
    for r in range(rounds):
        with Timer() as raw:
            real.model.encode(texts, batch_size=real.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=False)
        cache = EmbeddingCache(Path(tmp) / f"tp-{time.time_ns()}-{r}.sqlite")
        with Timer() as cold:
            embed_with_cache(real, texts, cache)
        with Timer() as warm:
            embed_with_cache(real, texts, cache)
        cache.close()
        cache.path.unlink(missing_ok=True)
        raw_s.append(raw.seconds)
        cold_s.append(cold.seconds)
        warm_s.append(warm.seconds)
    return {"texts": n, "rounds": rounds, "raw_texts_per_s": round(n / min(raw_s), 1),
            "pipeline_cold_texts_per_s": round(n / min(cold_s), 1),
            "pipeline_warm_texts_per_s": round(n / min(warm_s), 1),
            "ratio_cold_vs_raw": round(min(raw_s) / min(cold_s), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--throughput-texts", type=int, default=512)
    ap.add_argument("--hnsw-recall", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--hnsw-recall-max", type=int, default=1_000_000)
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    ap.add_argument("--ef-sweep", type=int, nargs="*", default=[], help="also measure HNSW at these efSearch")
    ap.add_argument("--dense", default="{}", help='DenseSettings overrides as JSON, e.g. {"hnsw_m": 16}')
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    vocab = vocabulary(30_000, rng)
    queries = [" ".join(rng.choice(vocab[50:3000], rng.integers(2, 7))) for _ in range(args.queries)]
    real = SentenceTransformerEmbedder("default")
    gen = ClusteredVectors()
    result: dict = {"benchmark": "search_speed", "queries": args.queries,
                    "doc_vectors": "synthetic clustered (2000 centres + noise)",
                    "query_vectors": "real model, 1 thread", "settings": search_settings(args).model_dump()}
    result["embedding_throughput"] = throughput(real, vocab, args.throughput_texts, args.tmp)
    log(f"throughput: {result['embedding_throughput']}")
    result["sizes"] = [run_size(n, real, gen, vocab, queries, args) for n in sorted(args.sizes)]
    emit(result)


if __name__ == "__main__":
    main()
