"""BEIR SciFact: nDCG@10 and recall@100 for BM25, dense and hybrid search, with honest tuning.

Tokenisation, BM25 variant/parameters and fusion are tuned on the ODD-indexed test queries only
(by position in qrels/test.tsv) and reported on the EVEN half and on all. Metrics come from
pytrec_eval (trec_eval's code). Embeddings are cached in --cache (default /tmp) between runs.

    python benchmarks/retrieval_scifact.py --data ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
from _common import CachedEmbedder, Timer, emit, log, trec_metrics

from index.config import Bm25Settings, FusionSettings, SearchSettings
from index.corpus_index import CorpusIndex, IndexRecord
from index.dense import DenseIndex
from index.embeddings import SentenceTransformerEmbedder
from index.lexical import Bm25Index, Tokenizer
from index.search_logic import rank_candidates


def load(data: Path) -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]], list[str]]:
    doc_ids, texts = [], []
    with open(data / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            doc_ids.append(str(d["_id"]))
            texts.append((d.get("title", "") + " " + d.get("text", "")).strip())
    queries = {}
    with open(data / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    qrels: dict[str, dict[str, int]] = {}
    order: list[str] = []
    for i, line in enumerate((data / "qrels" / "test.tsv").read_text().splitlines()):
        parts = line.split("\t")
        if i == 0 and not parts[-1].strip().lstrip("-").isdigit():
            continue  # header
        qid, did, rel = parts[0], parts[1], int(parts[-1])
        if qid not in qrels:
            order.append(qid)
        qrels.setdefault(qid, {})[did] = rel
    return doc_ids, texts, queries, qrels, order


class Bench:
    """Indexes built once; each config runs every query through the library's own search path."""

    def __init__(self, doc_ids, texts, queries, qrels, order, embedder):
        self.doc_ids, self.texts, self.queries, self.qrels = doc_ids, texts, queries, qrels
        self.order = order
        self.odd = order[1::2]
        self.even = order[0::2]
        self.embedder = embedder
        with Timer() as t:
            vecs = embedder.embed(texts, progress=lambda d, n: d % 1024 < 64 and log(f"  embedded {d}/{n}"))
        log(f"corpus embeddings ready in {t.seconds:.1f}s")
        self.dense = DenseIndex(vecs.shape[1])
        self.dense.build(np.arange(len(texts)), vecs)
        self.qvec = {q: embedder.query(queries[q]) for q in order}
        self._tok_cache: dict[tuple, list[list[str]]] = {}

    def bm25(self, s: Bm25Settings) -> Bm25Index:
        key = (s.stemmer, json.dumps(s.stopwords))
        if key not in self._tok_cache:
            self._tok_cache[key] = Tokenizer(s).many(self.texts)
        idx = Bm25Index(s)
        idx.build_tokens(np.arange(len(self.texts)), self._tok_cache[key])
        return idx

    def run(self, mode: str, settings: SearchSettings, bm25: Bm25Index, qids) -> dict[str, float]:
        run = {}
        for q in qids:
            cands = rank_candidates(self.queries[q], 100, mode, None, self.dense, bm25, settings,
                                    self.embedder, qvec=self.qvec[q])
            run[q] = {self.doc_ids[c.pos]: float(len(cands) - r) for r, c in enumerate(cands)}
        return trec_metrics(self.qrels, run, qids)


def tune_bm25(b: Bench, base: Bm25Settings) -> tuple[Bm25Settings, list]:
    """Stage-wise: tokeniser, then variant, then k1 x b; each stage keeps the best on odd."""
    trail = []
    best, best_score = base, -1.0

    def try_(s: Bm25Settings) -> None:
        nonlocal best, best_score
        score = b.run("bm25", SearchSettings(bm25=s), b.bm25(s), b.odd)["ndcg@10"]
        trail.append({"bm25": s.model_dump(), "odd_ndcg@10": score})
        log(f"  bm25 {s.model_dump()} odd nDCG@10={score}")
        if score > best_score:
            best, best_score = s, score

    for stem, stop in itertools.product(["english", None], ["en", None]):
        try_(base.model_copy(update={"stemmer": stem, "stopwords": stop}))
    top = best
    for method in ["robertson", "atire", "bm25l", "bm25+"]:
        try_(top.model_copy(update={"method": method}))
    top = best
    for k1, bb in itertools.product([0.6, 0.9, 1.2, 1.5], [0.3, 0.4, 0.6, 0.75, 0.9]):
        if (k1, bb) != (top.k1, top.b):
            try_(top.model_copy(update={"k1": k1, "b": bb}))
    return best, trail


def tune_fusion(b: Bench, bm25_s: Bm25Settings) -> tuple[FusionSettings, list]:
    bm25 = b.bm25(bm25_s)
    configs = []
    for norm in ["minmax", "zscore"]:
        for w in [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]:
            configs.append(FusionSettings(method="convex", normalization=norm,
                                          dense_weight=w, bm25_weight=round(1 - w, 2)))
    for rk, w in itertools.product([10, 30, 60], [0.3, 0.5, 0.7]):
        configs.append(FusionSettings(method="rrf", rrf_k=rk, dense_weight=w,
                                      bm25_weight=round(1 - w, 2)))
    trail, best, best_score = [], configs[0], -1.0
    for f in configs:
        score = b.run("hybrid", SearchSettings(bm25=bm25_s, fusion=f), bm25, b.odd)["ndcg@10"]
        trail.append({"fusion": f.model_dump(), "odd_ndcg@10": score})
        log(f"  fusion {f.model_dump()} odd nDCG@10={score}")
        if score > best_score:
            best, best_score = f, score
    return best, trail


def report(b: Bench, settings: SearchSettings) -> dict[str, dict[str, dict[str, float]]]:
    bm25 = b.bm25(settings.bm25)
    out = {}
    for mode in ["bm25", "dense", "hybrid"]:
        out[mode] = {half: b.run(mode, settings, bm25, qids)
                     for half, qids in [("even", b.even), ("odd", b.odd), ("all", b.order)]}
    return out


def end_to_end(b: Bench, settings: SearchSettings) -> dict[str, float]:
    """The chosen settings through CorpusIndex.sync + search, exactly as the app uses them."""
    with tempfile.TemporaryDirectory() as tmp:
        ci = CorpusIndex(Path(tmp) / "idx", settings, b.embedder)
        with Timer() as t:
            ci.sync(IndexRecord(i, text, {"doc": d}) for i, (d, text) in enumerate(zip(b.doc_ids, b.texts)))
        run = {}
        for q in b.order:
            hits = ci.search(b.queries[q], k=100)
            run[q] = {h.meta["doc"]: float(100 - r) for r, h in enumerate(hits)}
        m = trec_metrics(b.qrels, run, b.order)
        m["sync_seconds_from_cache"] = round(t.seconds, 2)
        return m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/scifact"))
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "thematic_bench")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    doc_ids, texts, queries, qrels, order = load(args.data)
    log(f"{len(texts)} docs, {len(order)} judged queries")
    embedder = CachedEmbedder(SentenceTransformerEmbedder("default"), args.cache / "scifact_emb.sqlite")
    b = Bench(doc_ids, texts, queries, qrels, order, embedder)
    before = SearchSettings()
    baseline = report(b, before)
    log(f"current defaults: {json.dumps(baseline)}")
    bm25_s, bm25_trail = tune_bm25(b, Bm25Settings(method="lucene", k1=0.9, b=0.4))
    fusion_s, fusion_trail = tune_fusion(b, bm25_s)
    chosen = SearchSettings(bm25=bm25_s, fusion=fusion_s)
    log(f"chosen: bm25={bm25_s.model_dump()} fusion={fusion_s.model_dump()}")
    tuned = report(b, chosen)
    log(f"tuned: {json.dumps(tuned)}")
    emit({
        "benchmark": "retrieval_scifact", "docs": len(texts), "queries": len(order),
        "metrics_impl": "pytrec_eval (trec_eval) ndcg_cut.10, recall.100",
        "tuned_on": "odd-indexed queries (by order in qrels/test.tsv); report on even",
        "config_defaults": {"settings": before.model_dump(include={"bm25", "fusion"}),
                            "metrics": baseline},
        "odd_tuned": {"settings": chosen.model_dump(include={"bm25", "fusion"}), "metrics": tuned},
        "end_to_end_corpus_index_defaults_all": end_to_end(b, before),
        "bm25_trail": bm25_trail, "fusion_trail": fusion_trail,
    })


if __name__ == "__main__":
    main()
