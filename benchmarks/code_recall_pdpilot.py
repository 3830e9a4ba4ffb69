"""Quote retrieval for a code on PDPilot's real coded interviews (baseline, no tuning).

For each code applied >= 2 times, the query is the code's name (last part of code_path) plus its
definition (`memo` in codebook.csv, when there is one). We report the share of the authors'
segments that overlap (by character span) at least one hit in the top 10 / top 50, for bm25,
dense and hybrid: macro (mean over codes) and micro (over all segments). Interviewer turns are
INCLUDED in the index and in the results here (exclude_interviewer=False), since a few authors'
segments contain them.

    python benchmarks/code_recall_pdpilot.py --data ../shared/data/pdpilot
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import CachedEmbedder, Timer, emit, log

from index.config import SearchSettings
from index.corpus_index import CorpusIndex, IndexRecord
from index.embeddings import SentenceTransformerEmbedder

_TURN = re.compile(r"^(?P<label>[A-Z][\w .'-]{0,40}):\s*", re.MULTILINE)


def simple_chunks(doc: str, text: str) -> list[tuple[int, int, bool]]:
    """One excerpt per speaker line (body only), flagged if the interviewer (Dan) speaks."""
    spans = []
    pos = 0
    for line in text.split("\n"):
        m = _TURN.match(line)
        body = m.end() if m else 0
        if line[body:].strip():
            start = pos + body + (len(line[body:]) - len(line[body:].lstrip()))
            spans.append((start, pos + len(line.rstrip()), bool(m and m.group("label") == "Dan")))
        pos += len(line) + 1
    return spans


def library_chunks(path: Path, raw: str) -> tuple[list[tuple[int, int, bool]], str] | None:
    """index.chunking over index.readers, if present and its text aligns with the raw file."""
    try:
        from index.chunking import chunk
        from index.readers import read_path
    except ImportError:
        return None
    doc = read_path(path)[0]
    if doc.text != raw:
        return None
    return [(s.start, s.end, s.is_interviewer) for s in chunk(doc, interviewer=["Dan"])], "index.chunking"


def load(data: Path):
    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted((data / "transcripts").glob("P*.txt"))}
    memo = {}
    with open(data / "codebook.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            memo[row["code_path"]] = (row.get("memo") or "").strip()
    segs = defaultdict(list)
    with open(data / "coded_segments.jsonl", encoding="utf-8") as fh:
        for line in fh:
            s = json.loads(line)
            segs[s["code_path"]].append((s["doc"], s["char_start"], s["char_end"]))
    return texts, memo, {c: v for c, v in segs.items() if len(v) >= 2}


def build_records(data: Path, texts: dict[str, str]) -> tuple[list[IndexRecord], str]:
    records, how = [], "one excerpt per speaker line (simple)"
    for doc, raw in texts.items():
        got = library_chunks(data / "transcripts" / f"{doc}.txt", raw)
        spans = got[0] if got else simple_chunks(doc, raw)
        if got:
            how = got[1]
        for s, e, iv in spans:
            records.append(IndexRecord(len(records), raw[s:e],
                                       {"source_id": doc, "start": s, "end": e, "is_interviewer": iv}))
    return records, how


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/pdpilot"))
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "thematic_bench")
    ap.add_argument("--settings", default="{}",
                    help='JSON overrides of SearchSettings, e.g. \'{"bm25": {"stopwords": null}}\'')
    args = ap.parse_args()
    settings = SearchSettings.model_validate(json.loads(args.settings))
    args.cache.mkdir(parents=True, exist_ok=True)
    texts, memo, segs = load(args.data)
    records, how = build_records(args.data, texts)
    log(f"{len(records)} excerpts ({how}); {len(segs)} codes used >= 2 times")
    embedder = CachedEmbedder(SentenceTransformerEmbedder("default"), args.cache / "pdpilot_emb.sqlite")
    result: dict[str, object] = {"benchmark": "code_recall_pdpilot", "excerpts": len(records),
                                 "chunking": how, "codes": len(segs),
                                 "segments": sum(len(v) for v in segs.values()),
                                 "interviewer_turns": "included",
                                 "settings": settings.model_dump(include={"bm25", "fusion"})}
    with tempfile.TemporaryDirectory() as tmp:
        idx = CorpusIndex(Path(tmp) / "idx", settings, embedder=embedder)
        with Timer() as t:
            idx.sync(records)
        result["sync_seconds"] = round(t.seconds, 2)
        for mode in ("bm25", "dense", "hybrid"):
            per_code = {10: [], 50: []}
            micro = {10: [0, 0], 50: [0, 0]}
            for code, spans in segs.items():
                name = code.split(">")[-1].strip()
                query = f"{name}: {memo.get(code, '')}".strip(": ")
                hits = idx.search(query, k=50, mode=mode, exclude_interviewer=False)
                for k in (10, 50):
                    top = [(h.meta["source_id"], h.meta["start"], h.meta["end"]) for h in hits[:k]]
                    found = sum(any(d == hd and hs < ce and cs < he for hd, hs, he in top)
                                for d, cs, ce in spans)
                    per_code[k].append(found / len(spans))
                    micro[k][0] += found
                    micro[k][1] += len(spans)
            result[mode] = {f"macro_recall@{k}": round(float(np.mean(per_code[k])), 4) for k in (10, 50)}
            result[mode].update({f"micro_recall@{k}": round(micro[k][0] / micro[k][1], 4) for k in (10, 50)})
            log(f"{mode}: {result[mode]}")
    emit(result)


if __name__ == "__main__":
    main()
