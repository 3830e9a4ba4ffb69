"""Text search (`thematic find`) over a corpus of about 2M words: the PDPilot transcripts (read in
place from ../shared) repeated into many sources, one excerpt per speaker turn, as an ingest makes
them. Times each query through `assistant.corpus.find.find`, the library call the CLI and the
workspace make (store reads, regex scan, turn lookup, KWIC records), cold and warm.

    python benchmarks/find_speed.py [--words 2000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from _common import Timer, emit, log, peak_rss_mb

from assistant.corpus.find import find
from assistant.models import Excerpt, Source
from assistant.project import Project

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdpilot" / "transcripts"
QUERIES = ["model", "the", '"feature importance"', "interpret*", "pl?t", "data model plot", "zzzzqx",
           "Participant"]


def build(folder: Path, words: int) -> tuple[Project, int]:
    project = Project.init(folder)
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(SHARED.glob("P*.txt"))]
    total, n = 0, 0
    with project.store.transaction():
        while total < words:
            for stem, text in texts:
                src = project.store.add_source(Source(name=f"{stem}-{n:04d}", kind="interview", text=text,
                                                      content_hash=f"{stem}-{n}",
                                                      attributes={"participant": f"{stem}-{n % 40}",
                                                                  "sector": ("NHS", "Council", "Voluntary")[n % 3]}))
                turns = []
                for i, m in enumerate(re.finditer(r"^(\w+): (.+)$", text, re.MULTILINE)):
                    turns.append(Excerpt(source_id=src.id, ordinal=i, start=m.start(2), end=m.end(2), text=m.group(2),
                                         speaker=m.group(1), is_interviewer=m.group(1) == "Dan"))
                project.store.add_excerpts(turns)
                total += len(text.split())
                n += 1
                if total >= words:
                    break
    return project, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with Timer() as t_build:
            project, words = build(Path(tmp) / "p", args.words)
        chars = sum(len(t) for t in project.store.source_texts().values())
        log(f"built {len(project.store.list_sources())} sources, {words:,} words, {chars:,} chars in {t_build.seconds:.1f}s")
        rows = {}
        for q in QUERIES:
            times, res = [], None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = find(project, q, limit=200)
                times.append(time.perf_counter() - t0)
            rows[q] = {"total": res.total, "returned": len(res.hits), "cold_s": round(times[0], 3),
                       "median_s": round(statistics.median(times), 3)}
            log(q, rows[q])
        flt = find(project, "model", filters={"sector": "NHS", "speaker": "Participant"}, limit=200)
        rows["model sector=NHS speaker=Participant"] = {"total": flt.total, "median_s": flt.seconds}
        log("filtered", rows["model sector=NHS speaker=Participant"])
        project.close()
    emit({"benchmark": "find_speed", "words": words, "chars": chars, "queries": rows, "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
