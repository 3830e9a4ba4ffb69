"""The store's own speed on one engine: what a single analyst's SQLite project pays for the store
(SQLite or PostgreSQL through the same adapter).

- `codings_10k_s`: 10,000 hand codings, each as a library write makes it (one transaction: the
  coding and its audit row);
- `codings_10k_one_tx_s`: the same 10,000 in one transaction (a batch import);
- `excerpts_100k_s`: 100,000 excerpts stored in blocks of 1,000 (a large survey's ingest, no index);
- `reads_10k_s`: 10,000 single-row reads (`get_coding`);
- `ingest_demo_s`: the demo corpus (scripts/demo_sources) ingested without the search index, best of 3.

    python benchmarks/store_speed.py [--database postgresql://...]

Default: a SQLite project in a temporary folder. Warm: each figure is the best of `--repeat` runs
on a fresh store. Prints one JSON object as the last stdout line."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log

ROOT = Path(__file__).resolve().parents[1]


def _store(tmp: Path, database: str | None, n: int):
    from assistant.store import ProjectStore

    if database:
        sys.path.insert(0, str(ROOT / "tests"))
        return ProjectStore.open(database)
    return ProjectStore.open(tmp / f"s{n}.db")


class _Clock:
    """Wall and CPU seconds of a step (on a shared machine, CPU time is the steadier figure)."""

    def __init__(self, out: dict[str, float], name: str):
        self.out, self.name = out, name

    def __enter__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        self.out[self.name] = time.perf_counter() - self.t0
        self.out[self.name.replace("_s", "_cpu_s")] = time.process_time() - self.c0


def run(tmp: Path, database: str | None, n: int) -> dict[str, float]:
    from assistant.models import Code, Coding, Excerpt, Source

    store = _store(tmp, database, n)
    text = "word " * 20_000
    src = store.add_source(Source(name=f"a{n}.txt", text=text, kind="interview"))
    code = store.add_code(Code(name=f"C{n}"))
    out: dict[str, float] = {}
    ids = []
    with _Clock(out, "codings_10k_s"):
        for i in range(10_000):
            with store.transaction():
                c = store.add_coding(Coding(source_id=src.id, code_id=code.id, start=i, end=i + 4,
                                            text=text[i:i + 4], coder="alice"))
                store.audit("alice", "decision.add", "coding", c.id)
            ids.append(c.id)
    with _Clock(out, "codings_10k_one_tx_s"), store.transaction():
        for i in range(10_000):
            store.add_coding(Coding(source_id=src.id, code_id=code.id, start=i, end=i + 4, text=text[i:i + 4],
                                    coder="bob"))
    with _Clock(out, "reads_10k_s"):
        for i in ids:
            store.get_coding(i)
    with _Clock(out, "excerpts_100k_s"):
        for block in range(100):
            store.add_excerpts([Excerpt(source_id=src.id, ordinal=block * 1000 + j, start=j * 5, end=j * 5 + 4,
                                        text="word") for j in range(1000)])
    store.close()
    return out


def ingest_demo(tmp: Path, database: str | None, n: int) -> float:
    from assistant.corpus.ingest import ingest_paths
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    kwargs = {"database": database} if database else {}
    project = Project.init(tmp / f"demo{n}", **kwargs)
    project.set_embedder(HashingEmbedder(64))
    t0 = time.perf_counter()
    ingest_paths(project, [ROOT / "scripts" / "demo_sources"], index=False)
    seconds = time.perf_counter() - t0
    project.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", default=None, help="postgresql:// URL of an empty database for each run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="thematic-store-speed-"))
    best: dict[str, float] = {}
    for n in range(args.repeat):
        log(f"run {n + 1}/{args.repeat}")
        for k, v in run(tmp, args.database, n).items():
            best[k] = min(best.get(k, v), v)
        if not args.database:
            best["ingest_demo_s"] = min(best.get("ingest_demo_s", 1e9), ingest_demo(tmp, None, n))
    emit({"benchmark": "store_speed", "engine": "postgresql" if args.database else "sqlite",
          **{k: round(v, 3) for k, v in best.items()},
          "note": "best of runs; 2-core machine shared with other work"})


if __name__ == "__main__":
    main()
