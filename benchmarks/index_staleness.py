"""How long can two app servers sharing one PostgreSQL store serve different corpora?

Two processes, each with its own project folder (so its own local FAISS/BM25 index) on the same
PostgreSQL database, as two servers behind a load balancer would be. The writer ("server A") adds
`--updates` sources one after another, each holding a word no other source has, and notes when each
commit returned. The reader ("server B") searches without pause for the next word, as users would;
every search first compares the database's corpus generation with its index's (one single-row read)
and syncs when stale. Reported:

- `stale_searches_started_after_commit`: searches on B that began after A's commit yet did not find
  the new source (the corpora B served differently from A's): must be 0;
- `visible_after_ms`: from A's commit to the end of B's first search that finds it (the check, the
  incremental sync of the new excerpts, the search), p50/p95/max;
- `check_ms`: the cost of the staleness check alone (the corpus generation read plus the index
  manifest's stat), p50/p95, measured separately when nothing changed.

    python benchmarks/index_staleness.py [--updates 30] [--interval 0.3] [--database postgresql://...]

Without --database it starts a throwaway PostgreSQL cluster (tests/pg_cluster.py) and removes it.
The embedder is the hashing one (no model), so the sync time is the index's, not a model's. The
machine may be shared with other work: the timings say so in "note". Prints progress to stderr and
one JSON object as the last stdout line."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "zqxstale{:04d}"
SEED_TEXT = ("Interviewer: How is housing in the area?\nP{n}: Damp flats and cold homes, every winter the same. "
             "People end up in A&E with chest infections.\nInterviewer: And funding?\nP{n}: Short term, a year "
             "at a time, so nobody can plan anything.\n")


def _project(folder: Path):
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    project = Project.open(folder)
    project.set_embedder(HashingEmbedder(256))
    return project


def _add_source(project, i: int) -> None:
    """A new source whose one excerpt holds TOKEN(i): stored as an ingest stores it (source, its
    excerpts, the audit row) in one transaction."""
    from assistant.models import Excerpt, Source

    said = f"The new word is {TOKEN.format(i)} and it appears nowhere else in the corpus."
    text = f"P{i}: {said}\n"
    with project.store.transaction():
        src = project.store.add_source(Source(name=f"update-{i:04d}.txt", kind="interview", text=text,
                                              content_hash=f"u{i}"))
        start = text.index(said)
        project.store.add_excerpts([Excerpt(source_id=src.id, ordinal=0, start=start, end=start + len(said),
                                            text=said, speaker=f"P{i}")])
        project.store.audit(project.analyst, "ingest", "source", src.id)


def writer(folder: Path, updates: int, interval: float, out: Path) -> None:
    project = _project(folder)
    commits = []
    time.sleep(1.0)  # let the reader start its loop
    for i in range(updates):
        _add_source(project, i)
        commits.append(time.time())
        time.sleep(interval)
    out.write_text(json.dumps({"commits": commits}))
    project.close()


def reader(folder: Path, updates: int, timeout: float, out: Path) -> None:
    from assistant.corpus.search import search

    project = _project(folder)
    searches = []  # (started, ended, index of the word looked for, found)
    deadline = time.time() + timeout
    i = 0
    while i < updates and time.time() < deadline:
        t0 = time.time()
        hits = search(project, TOKEN.format(i), k=3, mode="bm25", exclude_interviewer=False)
        t1 = time.time()
        found = any(TOKEN.format(i) in h.text for h in hits)
        searches.append((t0, t1, i, found))
        if found:
            i += 1
    out.write_text(json.dumps({"searches": searches}))
    project.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))], 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=30)
    ap.add_argument("--interval", type=float, default=0.3)
    ap.add_argument("--database", default=None, help="an EMPTY postgresql:// database (default: a throwaway cluster)")
    ap.add_argument("--role", choices=["writer", "reader"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.role == "writer":
        return writer(Path(args.folder), args.updates, args.interval, Path(args.out))
    if args.role == "reader":
        return reader(Path(args.folder), args.updates, 60 + args.updates * (args.interval + 1), Path(args.out))

    sys.path.insert(0, str(ROOT / "tests"))
    from assistant.corpus.search import index_is_current, sync_index
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    cluster = None
    url = args.database
    if url is None:
        from pg_cluster import Cluster, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            sys.exit("no PostgreSQL binaries: run scripts/postgres.sh, or give --database")
        log("starting a throwaway PostgreSQL cluster")
        cluster = Cluster(bin_dir).start()
        url = cluster.create_database("staleness")
    tmp = Path(tempfile.mkdtemp(prefix="thematic-staleness-"))
    try:
        a = Project.init(tmp / "server-a", database=url)
        a.set_embedder(HashingEmbedder(256))
        from assistant.models import Excerpt, Source

        for n in range(5):  # a small seed corpus, so the indexes are real
            text = SEED_TEXT.format(n=n)
            src = a.store.add_source(Source(name=f"seed-{n}.txt", kind="interview", text=text, content_hash=f"s{n}"))
            exs, pos = [], 0
            for ordinal, line in enumerate(text.splitlines(keepends=True)):
                label, said = line.split(": ", 1)
                said = said.rstrip("\n")
                start = pos + len(label) + 2
                exs.append(Excerpt(source_id=src.id, ordinal=ordinal, start=start, end=start + len(said), text=said,
                                   speaker=label, is_interviewer=label == "Interviewer"))
                pos += len(line)
            a.store.add_excerpts(exs)
        sync_index(a)
        a.close()
        b = Project.init(tmp / "server-b", database=url)  # joins the same database
        b.set_embedder(HashingEmbedder(256))
        sync_index(b)
        checks = []
        for _ in range(200):
            t0 = time.perf_counter()
            assert index_is_current(b)
            checks.append((time.perf_counter() - t0) * 1000)
        b.close()

        outs = {r: tmp / f"{r}.json" for r in ("writer", "reader")}
        procs = {
            r: subprocess.Popen([sys.executable, __file__, "--role", r, "--folder", str(tmp / f"server-{s}"),
                                 "--updates", str(args.updates), "--interval", str(args.interval),
                                 "--out", str(outs[r])])
            for r, s in (("reader", "b"), ("writer", "a"))
        }
        for r, p in procs.items():
            if p.wait(timeout=600) != 0:
                sys.exit(f"the {r} process failed")
        commits = json.loads(outs["writer"].read_text())["commits"]
        searches = json.loads(outs["reader"].read_text())["searches"]
        stale, visible, per_search = 0, [], []
        for i, committed in enumerate(commits):
            mine = [s for s in searches if s[2] == i]
            stale += sum(1 for t0, _t1, _i, found in mine if t0 > committed and not found)
            hit = next((t1 for _t0, t1, _i, found in mine if found), None)
            if hit is not None:
                visible.append((hit - committed) * 1000)
        per_search = [(t1 - t0) * 1000 for t0, t1, _i, _f in searches]
        emit({
            "benchmark": "index_staleness",
            "engine": "postgresql",
            "updates": len(commits),
            "found": len(visible),
            "searches": len(searches),
            "stale_searches_started_after_commit": stale,
            "visible_after_ms": {"p50": _pct(visible, 0.5), "p95": _pct(visible, 0.95), "max": _pct(visible, 1.0)},
            "search_ms": {"p50": _pct(per_search, 0.5), "p95": _pct(per_search, 0.95),
                          "mean": round(statistics.fmean(per_search), 2) if per_search else None},
            "check_ms": {"p50": _pct(checks, 0.5), "p95": _pct(checks, 0.95)},
            "note": "two processes, one PostgreSQL 15 on the same machine (shared with other work), hashing embedder",
        })
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
