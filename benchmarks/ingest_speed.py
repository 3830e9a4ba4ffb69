"""Ingest throughput without embedding: read + speaker turns + excerpts + store, on a synthetic
corpus (default two million words: interview transcripts in several label styles and documents).

    python benchmarks/ingest_speed.py [--words 2000000] [--keep DIR]

Prints progress to stderr and one JSON object as the last stdout line."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, peak_rss_mb  # noqa: E402

from assistant.corpus.ingest import ingest_paths  # noqa: E402
from assistant.project import Project  # noqa: E402

VOCAB = (
    "the a and of to in that is was it for on with as people we they you I but health housing care "
    "services community funding data council hospital emergency admissions prevention primary social "
    "workers patients families support winter pressure trust partnership sharing information strategy "
    "board report evidence deprivation damp cold fuel poverty isolation loneliness carers discharge "
    "um er you know I mean really actually basically quite very little more less often never always"
).split()
LABELS = [("Interviewer: ", "P{n}: "), ("[00:{m:02d}:{s:02d}] Interviewer: ", "[00:{m:02d}:{s:02d}] P{n}: "),
          ("INTERVIEWER: ", "RESPONDENT: ")]


def sentence(rng: random.Random) -> str:
    words = rng.choices(VOCAB, k=rng.randint(6, 22))
    return " ".join(words).capitalize() + rng.choice([".", ".", ".", "?", "!"])


def transcript(rng: random.Random, n: int, words: int) -> str:
    q_label, a_label = LABELS[n % len(LABELS)]
    lines, count, minute = [f"Synthetic interview {n}", ""], 0, 0
    while count < words:
        minute += 1
        q = sentence(rng)
        a = " ".join(sentence(rng) for _ in range(rng.randint(1, 8)))
        lines.append(q_label.format(m=minute % 60, s=rng.randint(0, 59)) + q)
        lines.append(a_label.format(m=minute % 60, s=rng.randint(0, 59), n=n) + a)
        count += len(q.split()) + len(a.split())
    return "\n".join(lines) + "\n"


def document(rng: random.Random, words: int) -> str:
    paras, count = ["# Synthetic strategy", ""], 0
    while count < words:
        p = " ".join(sentence(rng) for _ in range(rng.randint(2, 7)))
        paras.append(p)
        paras.append("")
        count += len(p.split())
    return "\n".join(paras)


def build_corpus(folder: Path, total_words: int, seed: int = 7) -> int:
    rng, written, n = random.Random(seed), 0, 0
    while written < total_words:
        size = rng.randint(3_000, 8_000)
        if n % 4 == 3:
            text = document(rng, size)
            (folder / f"doc_{n:04d}.md").write_text(text)
        else:
            text = transcript(rng, n, size)
            (folder / f"int_{n:04d}.txt").write_text(text)
        written += len(text.split())
        n += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="keep the corpus and project here")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="thematic-ingest-"))
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    words = build_corpus(corpus, args.words)
    files = len(list(corpus.iterdir()))
    log(f"built {files} files, {words} words in {time.perf_counter() - t0:.1f}s")
    project = Project.init(root / "project")
    t1 = time.perf_counter()
    report = ingest_paths(project, [corpus], index=False,
                          progress=lambda d, t: log(f"  {d}/{t} files") if d % 50 == 0 else None)
    first = time.perf_counter() - t1
    t2 = time.perf_counter()
    again = ingest_paths(project, [corpus], index=False)
    rerun = time.perf_counter() - t2
    counts = project.store.counts()
    assert report.ok and again.count("unchanged") == files
    emit({
        "benchmark": "ingest_speed", "words": words, "files": files, "excerpts": counts["excerpts"],
        "seconds": round(first, 2), "words_per_second": round(words / first),
        "excerpts_per_second": round(counts["excerpts"] / first),
        "rerun_unchanged_seconds": round(rerun, 2), "peak_rss_mb": peak_rss_mb(),
        "embedding": "not included (index=False)",
    })


if __name__ == "__main__":
    main()
