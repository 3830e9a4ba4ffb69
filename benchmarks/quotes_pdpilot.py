"""Quote retrieval vs plain hybrid search on PDPilot (7 transcripts coded by the study's authors).

For every code the authors used at least twice, we retrieve quotes for the code and score them
against the authors' coded segments:
  A: no accepted codings; gold = all the code's segments.
  B: half of the code's segments (fixed seed) accepted as analyst codings; gold = the other half.
     Quotes are asked for with include_coded=False (new evidence only), and the baseline's hits
     overlapping an accepted segment are dropped too, so neither side is credited for echoing
     what the analyst already coded.
Metrics: precision@5 (a result counts if it overlaps a gold segment of the code), recall@10 (share
of gold segments overlapped by a top-10 result), distinct participants (transcripts) in the top 5.
Baseline: plain hybrid search (top-k excerpts) for the same query text (name + definition).

Usage: python benchmarks/quotes_pdpilot.py --data ../shared/data/pdpilot
Last stdout line: one JSON object with all figures and the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.corpus.search import search, sync_index  # noqa: E402
from assistant.models import Code, Coding, Excerpt, Source  # noqa: E402
from assistant.project import Project  # noqa: E402
from assistant.writing.quotes import QuoteContext, find_quotes  # noqa: E402
from benchmarks._common import CachedEmbedder, emit, log, peak_rss_mb  # noqa: E402
from index.embeddings import SentenceTransformerEmbedder  # noqa: E402

SEED = 13


def build(project: Project, data: Path) -> str:
    paths = sorted((data / "transcripts").glob("P*.txt"))
    try:
        from assistant.corpus.ingest import ingest_paths

        report = ingest_paths(project, paths, kind="interview", index=False)
        if not report.ok:
            raise RuntimeError(f"ingest failed: {[r for r in report.failed]}")
        return "ingest_paths"
    except ImportError:  # pragma: no cover - ingest not available
        from index.chunking import chunk
        from index.text import canonicalise
        from index.types import Document

        for p in paths:
            text = canonicalise(p.read_text(encoding="utf-8"))
            src = project.store.add_source(Source(name=p.stem, kind="interview", text=text, content_hash=p.stem))
            spans = chunk(Document(name=p.stem, text=text), project.settings.ingest.interviewer)
            project.store.add_excerpts([Excerpt(source_id=src.id, ordinal=i, start=s.start, end=s.end,
                                                text=text[s.start:s.end], speaker=s.speaker,
                                                is_interviewer=s.is_interviewer) for i, s in enumerate(spans)])
        return "readers+chunking"


def import_codebook(project: Project, data: Path) -> dict[str, str]:
    """code_path -> code name in the project (leaf name; the path when a leaf name repeats)."""
    rows = list(csv.DictReader(open(data / "codebook.csv", encoding="utf-8")))
    leaves = [r["code"] for r in rows]
    names: dict[str, str] = {}
    for r in rows:
        name = r["code"] if leaves.count(r["code"]) == 1 else r["code_path"]
        project.store.add_code(Code(name=name, definition=r.get("memo") or ""))
        names[r["code_path"]] = name
    return names


def overlaps(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def score(results: list[tuple[int, int, int]], gold: list[tuple[int, int, int]]) -> dict[str, float]:
    top5, top10 = results[:5], results[:10]
    p5 = sum(any(overlaps(r, g) for g in gold) for r in top5) / 5
    r10 = sum(any(overlaps(r, g) for r in top10) for g in gold) / len(gold) if gold else 0.0
    return {"p@5": p5, "r@10": r10, "participants@5": len({r[0] for r in top5})}


def mean(rows: list[dict[str, float]], key: str) -> float:
    return round(sum(r[key] for r in rows) / len(rows), 4) if rows else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/pdpilot")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "thematic-bench-cache")
    ap.add_argument("--limit", type=int, default=0, help="only the first N codes (quick runs)")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    embedder = CachedEmbedder(SentenceTransformerEmbedder("default"), args.cache / "pdpilot_emb.sqlite")
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.init(Path(tmp) / "proj")
        project.settings.analyst = "bench"
        project.set_embedder(embedder)
        how = build(project, args.data)
        names = import_codebook(project, args.data)
        log(f"built project via {how}; indexing...")
        sync_index(project)
        t_build = time.perf_counter() - t0
        sources = {Path(s.name).stem: s for s in project.store.list_sources(with_text=True)}
        segs: dict[str, list[tuple[int, int, int]]] = {}
        for line in open(args.data / "coded_segments.jsonl", encoding="utf-8"):
            seg = json.loads(line)
            src = sources[seg["doc"]]
            span = (int(src.id), seg["char_start"], seg["char_end"])  # type: ignore[arg-type]
            if span not in segs.setdefault(seg["code_path"], []):
                segs[seg["code_path"]].append(span)
        codes = sorted(p for p, s in segs.items() if len(s) >= 2)
        if args.limit:
            codes = codes[: args.limit]
        log(f"{len(codes)} codes used at least twice")
        ctx = QuoteContext(project)
        rows: dict[str, list[dict[str, float]]] = {k: [] for k in ("A_quotes", "A_search", "B_quotes", "B_search")}
        rng = random.Random(SEED)
        t1 = time.perf_counter()
        for n, path in enumerate(codes, 1):
            code = project.store.get_code(names[path])
            query = " ".join(x for x in (code.name, code.definition, code.include) if x)
            gold = segs[path]
            # A: no accepted codings
            q = find_quotes(project, code=code.name, k=10, ctx=ctx)
            rows["A_quotes"].append(score([(x.source_id, x.start, x.end) for x in q.quotes], gold))
            hits = search(project, query, k=10)
            rows["A_search"].append(score([(h.source_id, h.start, h.end) for h in hits], gold))
            # B: half the segments accepted (at least one), the rest held out
            shuffled = gold[:]
            rng.shuffle(shuffled)
            half = max(1, len(shuffled) // 2)
            accepted, held = shuffled[:half], shuffled[half:]
            added = []
            for sid, s, e in accepted:
                text = next(x for x in sources.values() if x.id == sid).text
                added.append(project.store.add_coding(Coding(source_id=sid, code_id=int(code.id), start=s, end=e,  # type: ignore[arg-type]
                                                             text=text[s:e], coder="bench", origin="import")))
            q = find_quotes(project, code=code.name, k=10, include_coded=False, ctx=ctx)
            rows["B_quotes"].append(score([(x.source_id, x.start, x.end) for x in q.quotes], held))
            hits = search(project, query, k=10 + 3 * len(accepted))
            spans = [(h.source_id, h.start, h.end) for h in hits]
            spans = [sp for sp in spans if not any(overlaps(sp, a) for a in accepted)][:10]
            rows["B_search"].append(score(spans, held))
            for c in added:
                project.store.set_coding_status(int(c.id), "removed")  # type: ignore[arg-type]
            if n % 10 == 0:
                log(f"{n}/{len(codes)} codes; B p@5 quotes {mean(rows['B_quotes'], 'p@5')} "
                    f"vs search {mean(rows['B_search'], 'p@5')}")
        t_eval = time.perf_counter() - t1
        project.close()
    summary = {name: {m: mean(r, m) for m in ("p@5", "r@10", "participants@5")} for name, r in rows.items()}
    for cond in ("A", "B"):
        qs, ss = summary[f"{cond}_quotes"], summary[f"{cond}_search"]
        log(f"{cond}: quotes p@5 {qs['p@5']} r@10 {qs['r@10']} part@5 {qs['participants@5']} | "
            f"search p@5 {ss['p@5']} r@10 {ss['r@10']} part@5 {ss['participants@5']}")
    emit({
        "benchmark": "quotes_pdpilot", "codes": len(codes), "seed": SEED, "built_with": how,
        "embedding_model": embedder.model_id, "results": summary,
        "quotes_beat_search_B": summary["B_quotes"]["p@5"] > summary["B_search"]["p@5"]
        and summary["B_quotes"]["r@10"] >= summary["B_search"]["r@10"],
        "seconds": {"build": round(t_build, 1), "eval": round(t_eval, 1)}, "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
