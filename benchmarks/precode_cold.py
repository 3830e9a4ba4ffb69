"""Cold and warm offline pre-coding, beside the excerpt-embedding time it follows.

A fresh project first embeds its excerpts for search (`embedding excerpts`), then pre-codes them
with the offline engine. Before sentence vectors were pooled from the excerpts' own forward pass,
the first pre-coding embedded every sentence again (as long as the first pass); now the index
caches the sentence vectors when it embeds the excerpts, so cold pre-coding should add at most
30% to the embedding time.

    python benchmarks/precode_cold.py --corpus demo
    python benchmarks/precode_cold.py --corpus synthetic --excerpts 20000
    python benchmarks/precode_cold.py --corpus demo --sentences separate   # the old second pass

`cold` = the first pre-coding run in the process that has just built the index (the model is
loaded, the engine's memory caches are empty); `warm` = a second run with a new engine (the on-disk
caches hold everything). Model load time is reported apart. Last stdout line: one JSON object."""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, peak_rss_mb

from assistant.coding.precode import precode
from assistant.coding.suggest.offline import OfflineEngine, ScorerParams, project_embed
from assistant.corpus.ingest import ingest_paths
from assistant.corpus.search import sync_index
from assistant.demo import _import_codebook, corpus_dir, demo_dir
from assistant.project import Project

TOPICS = {
    "housing": "damp mould cold homes landlord repairs tenancy fuel poverty heating",
    "admissions": "emergency admissions winter pressure ambulance beds discharge frailty",
    "data": "data sharing information governance records linkage dashboards consent",
    "funding": "funding budget grants short term money cuts commissioning contracts",
    "community": "voluntary sector community groups trust volunteers faith groups outreach",
    "prevention": "prevention early help screening smoking obesity primary care",
    "partnership": "partnership board integrated care system council NHS joint working",
    "isolation": "loneliness isolation older people carers befriending transport",
}
FILLER = ["we", "think", "that", "really", "it", "is", "the", "case", "honestly", "you", "know", "I", "mean", "across", "the", "city", "there", "are", "some", "people", "who", "would", "say", "that", "in", "practice", "over", "the", "last", "year", "it", "has", "been"]


def _answer(rng: random.Random) -> str:
    topic = rng.choice(list(TOPICS.values())).split()
    sents = []
    for _ in range(rng.randint(1, 4)):
        words = rng.choices(FILLER, k=rng.randint(5, 12)) + rng.choices(topic, k=rng.randint(2, 5))
        rng.shuffle(words)
        sents.append(" ".join(words).capitalize() + rng.choice([".", ".", "?"]))
    return " ".join(sents)


def synthetic_corpus(folder: Path, excerpts: int, seed: int = 0) -> None:
    """Interview transcripts totalling about `excerpts` excerpts (half interviewer questions)."""
    rng = random.Random(seed)
    per_file = 200
    for n in range(max(1, excerpts // per_file)):
        lines = []
        for _ in range(per_file // 2):
            lines.append(f"Interviewer: {_answer(rng).split('.')[0]}?")
            lines.append(f"P{n}: {_answer(rng)}")
        (folder / f"interview_{n:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(corpus: str, excerpts: int, sentences: str, keep: Path | None) -> dict[str, object]:
    from index.embeddings import SentenceTransformerEmbedder

    work = Path(tempfile.mkdtemp(prefix="precode-cold-"))
    try:
        embedder = SentenceTransformerEmbedder("default")
        t = time.perf_counter()
        embedder.embed(["warm up the model"])
        load_s = time.perf_counter() - t
        project = Project.init(work / "project")
        project.set_embedder(embedder)
        if corpus == "demo":
            src, meta = corpus_dir(), demo_dir() / "metadata.csv"
        else:
            src, meta = work / "corpus", None
            src.mkdir()
            synthetic_corpus(src, excerpts)
        t = time.perf_counter()
        ingest_paths(project, [src], meta=meta, index=False)
        read_s = time.perf_counter() - t
        n_ex = len(project.store.list_excerpts())
        log(f"{n_ex} excerpts read in {read_s:.1f}s; embedding them for search ...")
        t = time.perf_counter()
        sync_index(project)
        embed_s = time.perf_counter() - t
        log(f"embedding excerpts: {embed_s:.1f}s ({n_ex / embed_s:.1f}/s)")
        _import_codebook(project)

        def engine() -> OfflineEngine:
            if sentences == "context":
                return OfflineEngine.from_project(project)
            s = project.settings.suggest  # the old path: every sentence embedded on its own
            params = ScorerParams(top_k=s.top_k, threshold=max(s.min_score, 1.0) if s.min_score else 1.0)
            return OfflineEngine(project_embed(project), embedder.model_id, params, None)

        t = time.perf_counter()
        cold = precode(project, engine=engine())
        cold_s = time.perf_counter() - t
        log(f"cold pre-coding: {cold.done} excerpts in {cold_s:.1f}s ({cold.done / cold_s:.1f}/s)")
        t = time.perf_counter()
        warm = precode(project, engine=engine())
        warm_s = time.perf_counter() - t
        log(f"warm pre-coding: {warm.done} excerpts in {warm_s:.1f}s ({warm.done / warm_s:.1f}/s)")
        project.close()
        if keep:
            shutil.copytree(work / "project", keep, dirs_exist_ok=True)
        return {
            "benchmark": "precode_cold", "corpus": corpus, "sentence_vectors": sentences,
            "excerpts": n_ex, "precoded_excerpts": cold.done, "model_load_s": round(load_s, 2),
            "read_s": round(read_s, 2), "embed_excerpts_s": round(embed_s, 2),
            "embed_excerpts_per_s": round(n_ex / embed_s, 1),
            "precode_cold_s": round(cold_s, 2), "precode_cold_per_s": round(cold.done / cold_s, 1),
            "precode_warm_s": round(warm_s, 2), "precode_warm_per_s": round(warm.done / warm_s, 1),
            "cold_precode_over_embedding": round(cold_s / embed_s, 3),
            "goal": "cold pre-coding adds at most 30% to the excerpt-embedding time",
            "goal_met": cold_s <= 0.3 * embed_s, "suggestions": cold.suggestions, "peak_rss_mb": peak_rss_mb(),
            "note": "2-core machine shared with other jobs while measured; rates vary run to run",
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["demo", "synthetic"], default="demo")
    ap.add_argument("--excerpts", type=int, default=20000, help="synthetic corpus size (excerpts, both speakers)")
    ap.add_argument("--sentences", choices=["context", "separate"], default="context")
    ap.add_argument("--keep", type=Path, help="copy the built project here")
    args = ap.parse_args()
    emit(run(args.corpus, args.excerpts, args.sentences, args.keep))


if __name__ == "__main__":
    main()
