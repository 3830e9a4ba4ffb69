"""Helpers shared by the benchmarks: machine description, logging to stderr, the final JSON line,
a caching embedder wrapper, and IR metrics (pytrec_eval, i.e. trec_eval's own code)."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index.embeddings import Embedder, EmbeddingCache, embed_with_cache  # noqa: E402


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        ram_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    for mod in ("torch", "faiss", "bm25s", "sentence_transformers", "numpy", "numba"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional package is just absent
            versions[mod] = "absent"
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "ram_gb": ram_gb, "versions": versions}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(result: dict[str, object]) -> None:
    """The last stdout line: one JSON object."""
    result = dict(result)
    result["machine"] = machine()
    print(json.dumps(result, default=float))


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0


class CachedEmbedder(Embedder):
    """Wraps an embedder so both documents and queries go through an on-disk cache: re-running a
    benchmark to tune fusion costs no model time."""

    def __init__(self, inner: Embedder, cache_path: str | Path):
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.batch_size = inner.batch_size
        self.cache = EmbeddingCache(cache_path)
        self.memo: dict[str, np.ndarray] = {}

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return embed_with_cache(self.inner, list(texts), self.cache)

    def query(self, text: str) -> np.ndarray:
        if text not in self.memo:
            self.memo[text] = embed_with_cache(self.inner, [text], self.cache)[0]
        return self.memo[text]


def trec_metrics(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], qids: Sequence[str]
) -> dict[str, float]:
    """Mean nDCG@10 and recall@100 over `qids` with pytrec_eval (trec_eval's implementation).
    Queries with no results count as 0, as in BEIR."""
    import pytrec_eval

    q = {qid: qrels[qid] for qid in qids}
    r = {qid: run.get(qid) or {"__none__": 0.0} for qid in qids}
    evaluator = pytrec_eval.RelevanceEvaluator(q, {"ndcg_cut.10", "recall.100"})
    per = evaluator.evaluate(r)
    return {
        "ndcg@10": round(float(np.mean([per[x]["ndcg_cut_10"] for x in qids])), 4),
        "recall@100": round(float(np.mean([per[x]["recall_100"] for x in qids])), 4),
    }
