"""Dense index at survey scale, measured through the product's own `index.dense.DenseIndex`.

What the product does with N excerpt vectors, step by step, is what this script times:
`CorpusIndex` holds the float32 vectors in memory, builds `DenseIndex(dim, DenseSettings())`
(kind "auto": HNSW from 200k vectors, IVF-PQ from 1M), writes it with `write_into` into a
`gen-NNNNNN.tmp/dense` folder, fsyncs the tree and renames it into place; a later process loads it
with `DenseIndex.load(gen/dense, settings)` (IVF-PQ: codes in RAM, exact vectors memory-mapped)
and searches one query at a time. Each phase runs in a child process of its own:

- build child: generates the vectors (not timed), computes the exact top-10 of the queries in
  chunks (not timed), then times `build` and the generation-folder write. Its peak RSS (VmHWM) and
  its peak anonymous RSS (sampled by the parent from /proc; file-backed pages of the memory-mapped
  vectors count in RSS but are page cache the kernel can drop) are the build's memory cost.
- query child: loads the folder and reports RSS after the load (what serving costs), recall@10
  against exact search and single-query latency (p50/p95; the first query separately, "cold").

Vectors: synthetic, shaped like sentence embeddings of survey answers on many topics: 2,000 random
unit "topic" centres in 384 dimensions (all-MiniLM-L6-v2's), each vector a centre plus Gaussian
noise (sigma 0.08 per dimension, so a vector's cosine to its own centre is about 0.54 and to a
neighbour in the same topic about 0.3), normalised to unit length. Queries come from the same
generator (fresh draws, not stored vectors).

5M is projected, not built: memory from the per-vector cost fitted to the measured sizes (linear),
build time by a power law fitted to them; recall at 5M by extending the log-linear trend of the
measured/recorded sizes. HNSW at 1M is not rebuilt (431 s, 7.6 GB peak): its figures are reused
as "recorded", with their source, and checked against a 200k HNSW build measured here. The machine
is shared (2 cores, other benchmarks running), so times are upper bounds.

    nice -n 10 python benchmarks/dense_scale.py --runs ivfpq:1000000,hnsw:200000 2> run1.log
    nice -n 10 python benchmarks/dense_scale.py --runs ivfpq:500000 --include run1.log

(`--include` merges runs measured by an earlier invocation, read from its stderr, so a long
session can be split; `--runs ""` only recomputes the projection and the choice.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 384  # the product's embedding model (all-MiniLM-L6-v2)
CENTRES = 2000
NOISE = 0.08
NQ = 200
CHUNK = 100_000
MIN_RECALL = 0.95
PROJECT_TO = 5_000_000
# Peak RSS allowed to a child; past it the child is stopped (the machine has other jobs).
RSS_LIMIT_MB = 10_000

# Figures of earlier runs, reused rather than rebuilt (HNSW at 1M takes 7 minutes and 7.6 GB).
RECORDED = [
    {"kind": "hnsw", "n": 1_000_000, "source": "recorded",
     "from": "index/config.py DenseSettings comments and README 'Measured' table (benchmarks/search_speed.py "
             "and the earlier dense_scale.py run, raw FAISS IndexHNSWFlat M=16 efC=100, same generator; "
             "commit 483a251)",
     "build_s": 431.0, "peak_rss_mb": 7.6 * 1024, "index_mb": 1.6 * 1024, "recall@10": 0.964,
     "ms_per_query": 1.5},
    {"kind": "hnsw", "n": 100_000, "source": "recorded", "from": "README 'Measured' table (search_speed.py)",
     "recall@10": 0.9995},
]


# ---- data ------------------------------------------------------------------------------------
def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return x / n


class Clustered:
    """Unit vectors around `centres` random topic centres (see the module docstring)."""

    def __init__(self, dim: int = DIM, seed: int = 0, centres: int = CENTRES, noise: float = NOISE):
        rng = np.random.default_rng(seed)
        self.dim, self.noise = dim, noise
        self.centres = _normalise(rng.standard_normal((centres, dim)))

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        c = self.centres[rng.integers(0, len(self.centres), n)]
        return _normalise(c + self.noise * rng.standard_normal((n, self.dim)).astype(np.float32))

    def collection(self, n: int) -> np.ndarray:
        """n vectors in one float32 array, filled chunk by chunk (as the product's `_vectors_for`
        fills its array); a chunk's draw does not depend on n, so collections nest."""
        out = np.empty((n, self.dim), dtype=np.float32)
        for k, start in enumerate(range(0, n, CHUNK)):
            out[start:start + CHUNK] = self.sample(min(CHUNK, n - start), seed=1000 + k)
        return out


def exact_top10(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Positions of each query's exact top-10 by inner product, a running merge over chunks."""
    nq = len(queries)
    best_s = np.full((nq, 10), -np.inf, np.float32)
    best_i = np.zeros((nq, 10), np.int64)
    for start in range(0, len(vectors), CHUNK):
        s = queries @ vectors[start:start + CHUNK].T
        k = min(10, s.shape[1])
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
        ci = np.concatenate([best_i, part + start], 1)
        o = np.argsort(-cs, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    return best_i


def ids_for(n: int) -> np.ndarray:
    """Excerpt ids are not positions in the product: odd numbers here, so a mix-up would show."""
    return np.arange(n, dtype=np.int64) * 2 + 1


# ---- memory --------------------------------------------------------------------------------
def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS / VmHWM / RssAnon / RssFile of a process, in MB (Linux)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = round(int(rest.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return out


def _du_mb(folder: Path) -> dict[str, float]:
    return {p.name: round(p.stat().st_size / 2**20, 1) for p in sorted(folder.iterdir()) if p.is_file()}


# ---- children --------------------------------------------------------------------------------
def _settings(overrides: dict):
    from index.config import DenseSettings

    return DenseSettings(**overrides)


def build_child(n: int, work: Path, dim: int, overrides: dict) -> dict:
    """Build and publish a generation folder the way `CorpusIndex._sync_locked/_publish` does."""
    from index.dense import DenseIndex
    from index.storage import fsync_tree

    gen = Clustered(dim)
    t0 = time.perf_counter()
    vectors = gen.collection(n)
    queries = gen.sample(NQ, seed=7)
    gen_s = time.perf_counter() - t0
    np.save(work / "queries.npy", queries)
    np.save(work / "truth.npy", ids_for(n)[exact_top10(vectors, queries)])
    before = proc_status()
    settings = _settings(overrides)
    dense = DenseIndex(dim, settings)
    t0 = time.perf_counter()
    cpu0 = _cpu()
    dense.build(ids_for(n), vectors)
    build_s = time.perf_counter() - t0
    after_build = proc_status()
    tmp = work / "gen-000001.tmp"
    t0 = time.perf_counter()
    dense.write_into(tmp / "dense")
    fsync_tree(tmp)
    tmp.rename(work / "gen-000001")
    save_s = time.perf_counter() - t0
    cpu_s = _cpu() - cpu0  # build + save, all threads: less sensitive to other jobs than wall time
    return {"kind": dense.kind, "n": n, "dim": dim, "settings": settings.model_dump(),
            "generate_s": round(gen_s, 1), "build_s": round(build_s, 1), "save_s": round(save_s, 1),
            "build_and_save_s": round(build_s + save_s, 1),
            "rss_before_build_mb": before.get("VmRSS"), "rss_after_build_mb": after_build.get("VmRSS"),
            "rss_at_end": proc_status(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpu_s": round(cpu_s, 1), "loadavg_1min": round(os.getloadavg()[0], 1),
            "input_vectors_mb": round(vectors.nbytes / 2**20, 1),
            "files_mb": _du_mb(work / "gen-000001" / "dense")}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(xs), q)), 2)


def _recall(got: list[np.ndarray], truth: np.ndarray) -> float:
    return round(float(np.mean([len(set(g[:10].tolist()) & set(t.tolist())) / 10
                                for g, t in zip(got, truth)])), 4)


def query_child(work: Path, overrides: dict, sweep: list[int]) -> dict:
    """Load the published folder in a fresh process and search one query at a time."""
    import faiss  # noqa: F401 - imported first so RSS after load counts only the index

    from index.dense import DenseIndex

    queries = np.load(work / "queries.npy")
    truth = np.load(work / "truth.npy")
    base = proc_status()
    settings = _settings(overrides)
    t0 = time.perf_counter()
    dense = DenseIndex.load(work / "gen-000001" / "dense", settings)
    load_s = time.perf_counter() - t0
    loaded = proc_status()
    out: dict = {"kind": dense.kind, "n": len(dense), "load_s": round(load_s, 2),
                 "rss_before_load_mb": base.get("VmRSS"), "rss_after_load_mb": loaded.get("VmRSS"),
                 "index_rss_mb": round(loaded.get("VmRSS", 0) - base.get("VmRSS", 0), 1),
                 "index_anon_mb": round(loaded.get("RssAnon", 0) - base.get("RssAnon", 0), 1)}

    def run(dense_: DenseIndex) -> dict:
        times, got = [], []
        for q in queries:
            ts = time.perf_counter()
            ids, _ = dense_.search(q, 10)
            times.append((time.perf_counter() - ts) * 1000)
            got.append(ids)
        return {"recall@10": _recall(got, truth), "ms_p50": _pct(times, 50), "ms_p95": _pct(times, 95),
                "ms_first_query": round(times[0], 2)}

    out.update(run(dense))
    st = proc_status()
    # RSS grows by file-backed pages of the mapped vectors (page cache the kernel may drop);
    # the process's own memory is the anonymous part
    out["rss_after_queries_mb"], out["anon_after_queries_mb"] = st.get("VmRSS"), st.get("RssAnon")
    knob = "nprobe" if dense.kind == "ivfpq" else "ef_search"
    out["query_knob"] = {knob: getattr(settings, knob)}
    out["sweep"] = []
    for value in sweep:  # query-time settings only: the same folder, no rebuild
        dense.settings = settings.model_copy(update={knob: value})
        if dense.kind == "hnsw":
            dense._index.hnsw.efSearch = value
        out["sweep"].append({knob: value, **run(dense)})
    dense.settings = settings
    return out


# ---- parent: run children, sample their memory ---------------------------------------------
def run_child(args: list[str], timeout: float, limit_mb: float) -> dict:
    """Run this script as a child; sample its RSS (total and anonymous) every 0.2 s, stop it past
    the time or memory bound. Returns its JSON plus the sampled peaks."""
    cmd = [sys.executable, __file__, *args]
    peak = {"VmRSS": 0.0, "RssAnon": 0.0}
    with tempfile.TemporaryFile("w+") as err, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, text=True) as p:
        t0 = time.monotonic()
        while p.poll() is None:
            st = proc_status(p.pid)
            peak = {key: max(value, st.get(key, 0.0)) for key, value in peak.items()}
            if peak["VmRSS"] > limit_mb or time.monotonic() - t0 > timeout:
                p.kill()
                p.wait()
                why = "memory" if peak["VmRSS"] > limit_mb else "time"
                return {"error": f"stopped at the {why} bound ({limit_mb:.0f} MB / {timeout:.0f} s)",
                        "sampled_peak_rss_mb": peak["VmRSS"], "sampled_peak_anon_mb": peak["RssAnon"]}
            time.sleep(0.2)
        stdout = p.stdout.read() if p.stdout else ""
        if p.returncode != 0:
            err.seek(0)
            return {"error": (err.read().strip().splitlines() or ["no output"])[-1]}
    out = json.loads(stdout.strip().splitlines()[-1])
    out["sampled_peak_rss_mb"], out["sampled_peak_anon_mb"] = peak["VmRSS"], peak["RssAnon"]
    return out


def measure(kind: str, n: int, dim: int, overrides: dict, sweep: list[int], timeout: float,
            limit_mb: float, keep: Path | None = None) -> dict:
    """Build + query one (kind, n) through DenseIndex; `kind` is forced only if the product's
    automatic choice at this size would pick another kind."""
    from index.config import DenseSettings
    from index.dense import DenseIndex

    if DenseIndex(dim, DenseSettings(**overrides)).choose_kind(n) != kind:
        overrides = {**overrides, "kind": kind}
    work = Path(tempfile.mkdtemp(prefix=f"dense-scale-{kind}-{n}-", dir=keep))
    try:
        common = ["--dim", str(dim), "--settings", json.dumps(overrides), "--work", str(work)]
        build = run_child(["--child", "build", "--n", str(n), *common], timeout, limit_mb)
        if "error" in build:
            return {"kind": kind, "n": n, "source": "measured", **build}
        query = run_child(["--child", "query", "--sweep", ",".join(map(str, sweep)), *common],
                          timeout, limit_mb)
        return {"kind": build["kind"], "n": n, "source": "measured",
                "auto_choice": "kind" not in overrides, "build": build, "query": query}
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


# ---- projection and the choice -------------------------------------------------------------
def fit_linear(points: list[tuple[float, float]]) -> tuple[float, float]:
    """y = a + b*n by least squares; one point gives a line through the origin."""
    if len(points) == 1:
        n, y = points[0]
        return 0.0, y / n
    ns, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    b, a = np.polyfit(ns, ys, 1)
    return float(a), float(b)


def fit_power(points: list[tuple[float, float]], one_point_exponent: float = 1.0) -> tuple[float, float]:
    """y = c * n^p fitted in log space (one point: the given exponent)."""
    if len(points) == 1:
        n, y = points[0]
        return y / n ** one_point_exponent, one_point_exponent
    ln, ly = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    p, logc = np.polyfit(ln, ly, 1)
    return float(math.exp(logc)), float(p)


def trend_recall(points: list[tuple[float, float]], n: float) -> float:
    """Recall at n from a straight line in log10(n) through the given (n, recall) points (the
    observed shape for both kinds: a fixed search budget loses a little per decade); capped at
    the best measured value, never extrapolated upwards."""
    if len(points) == 1:
        return points[0][1]
    b, a = np.polyfit(np.log10([p[0] for p in points]), [p[1] for p in points], 1)
    return round(min(float(a + b * math.log10(n)), max(p[1] for p in points)), 4)


def choose(candidates: list[dict], min_recall: float = MIN_RECALL) -> dict:
    """The rule of the issue: among kinds with recall@10 >= min_recall, the least serving
    memory (RSS of a loaded index); if none reaches the bar, the best recall."""
    ok = [c for c in candidates if c["recall@10"] is not None and c["recall@10"] >= min_recall]
    if ok:
        best = min(ok, key=lambda c: c["serving_mb"])
        why = f"recall@10 >= {min_recall}, then least serving memory"
    else:
        best = max(candidates, key=lambda c: c["recall@10"] or 0)
        why = f"no kind reaches recall@10 {min_recall}: best recall"
    return {"kind": best["kind"], "rule": why,
            "eligible": [c["kind"] for c in ok], "candidates": candidates}


def _points(measured: list[dict], kind: str) -> dict[str, list[tuple[float, float]]]:
    """(n, value) per figure for one kind: the measured runs, then recorded sizes not measured."""
    runs = sorted((m for m in measured if m["kind"] == kind and "build" in m and "error" not in m["query"]),
                  key=lambda m: m["n"])
    done = {m["n"] for m in runs}
    pts: dict[str, list[tuple[float, float]]] = {
        "serving_mb": [(m["n"], m["query"]["index_rss_mb"]) for m in runs],
        "peak_rss_mb": [(m["n"], m["build"]["peak_rss_mb"]) for m in runs],
        "peak_anon_mb": [(m["n"], m["build"]["sampled_peak_anon_mb"]) for m in runs],
        "build_s": [(m["n"], m["build"]["build_and_save_s"]) for m in runs],
        "recall@10": [(m["n"], m["query"]["recall@10"]) for m in runs]}
    # Recorded sizes join the serving-memory, recall and build-time figures. Not the build peaks:
    # the recorded 7.6 GB came from a harness that also held a serialised copy of the index.
    for r in RECORDED:
        if r["kind"] == kind and r["n"] not in done:
            for key, rkey in (("serving_mb", "index_mb"), ("build_s", "build_s"), ("recall@10", "recall@10")):
                if rkey in r:
                    pts[key].append((r["n"], r[rkey]))
    return {k: sorted(v) for k, v in pts.items()}


# Build time grows at least linearly; the exponent used when one size is known or when wall
# times taken under different loads of the shared machine fit to something outside [1, 1.6]:
# HNSW inserts walk a graph (about n log n), IVF-PQ adds are n * nlist with nlist ~ sqrt(n).
TIME_EXPONENT = {"hnsw": 1.15, "ivfpq": 1.25}


def project_time(points: list[tuple[float, float]], kind: str, to: int) -> tuple[float, float, str]:
    """Build seconds at `to`: the power law through the points if plausible, else the largest
    point scaled by the kind's usual exponent."""
    c, p = fit_power(points, TIME_EXPONENT[kind])
    if len(points) > 1 and 1.0 <= p <= 1.6:
        return c * to ** p, p, "power law fitted to the sizes"
    n, y = max(points)
    p = TIME_EXPONENT[kind]
    return y * (to / n) ** p, p, f"largest size ({int(n)}) scaled by n^{p} (fit was {round(fit_power(points)[1], 2)})"


def project(measured: list[dict], to: int) -> dict:
    """Per kind: memory (linear per-vector fit) and build time at `to` vectors, fitted to the
    measured runs plus, where noted in `_points`, the recorded sizes (listed in `from`)."""
    out: dict = {}
    for kind in sorted({m["kind"] for m in measured if "build" in m}):
        pts = _points(measured, kind)
        if not pts["build_s"]:
            continue
        row: dict = {"source": "projected", "from": pts}
        for key in ("serving_mb", "peak_rss_mb", "peak_anon_mb"):
            if pts[key]:
                a, b = fit_linear(pts[key])
                row[key] = round(a + b * to)
                row[f"{key}_per_million"] = round(b * 1e6, 1)
        secs, p, how = project_time(pts["build_s"], kind, to)
        row["build_s"], row["build_time_exponent"], row["build_time_from"] = round(secs), round(p, 2), how
        row["recall@10"] = trend_recall(pts["recall@10"], to)
        out[kind] = row
    return out


def candidates_at(measured: list[dict], n: int) -> list[dict]:
    """Each kind's figures at exactly n vectors: measured if built here, else recorded."""
    out = []
    for m in measured:
        if m["n"] == n and "build" in m and "error" not in m["query"]:
            out.append({"kind": m["kind"], "n": n, "recall@10": m["query"]["recall@10"],
                        "serving_mb": m["query"]["index_rss_mb"], "build_peak_rss_mb": m["build"]["peak_rss_mb"],
                        "build_s": m["build"]["build_and_save_s"], "source": "measured"})
    for r in RECORDED:
        if r["n"] == n and "index_mb" in r and r["kind"] not in {c["kind"] for c in out}:
            out.append({"kind": r["kind"], "n": n, "recall@10": r["recall@10"], "serving_mb": r["index_mb"],
                        "build_peak_rss_mb": r["peak_rss_mb"], "build_s": r["build_s"], "source": "recorded"})
    return out


def _sizes(spec: str) -> list[tuple[str, int]]:
    return [(k, int(n)) for k, n in (item.split(":") for item in spec.split(",") if item)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="ivfpq:1000000,hnsw:200000",
                    help="kind:n pairs to build and query through DenseIndex")
    ap.add_argument("--dim", type=int, default=DIM)
    ap.add_argument("--settings", default="{}", help="DenseSettings overrides as JSON (default: the product's)")
    ap.add_argument("--sweep-ivfpq", default="64", help="extra nprobe values queried on the same folder")
    ap.add_argument("--sweep-hnsw", default="256", help="extra efSearch values queried on the same folder")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--rss-limit-mb", type=float, default=RSS_LIMIT_MB)
    ap.add_argument("--project-to", type=int, default=PROJECT_TO)
    ap.add_argument("--include", default="",
                    help="file of JSON lines of earlier measured runs (this script's stderr) to merge in")
    ap.add_argument("--child", choices=["build", "query"])
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--work", default="")
    ap.add_argument("--sweep", default="")
    args = ap.parse_args()
    overrides = json.loads(args.settings)
    if args.child == "build":
        print(json.dumps(build_child(args.n, Path(args.work), args.dim, overrides)))
        return
    if args.child == "query":
        sweep = [int(x) for x in args.sweep.split(",") if x]
        print(json.dumps(query_child(Path(args.work), overrides, sweep)))
        return
    from benchmarks._common import emit, log

    measured = []
    if args.include:
        for line in Path(args.include).read_text().splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                if "build" in r and "error" not in r["query"]:
                    measured.append({**r, "run": f"earlier invocation ({Path(args.include).name})"})
    for kind, n in _sizes(args.runs):
        sweep = [int(x) for x in (args.sweep_ivfpq if kind == "ivfpq" else args.sweep_hnsw).split(",") if x]
        log(f"[{kind} {n:,}] building and querying through DenseIndex ...")
        r = measure(kind, n, args.dim, overrides, sweep, args.timeout, args.rss_limit_mb)
        log(json.dumps(r))
        measured.append(r)
    projected = project(measured, args.project_to)
    at_target = [{"kind": k, "n": args.project_to, "recall@10": p["recall@10"], "serving_mb": p["serving_mb"],
                  "build_peak_rss_mb": p.get("peak_rss_mb"), "build_s": p["build_s"], "source": "projected"}
                 for k, p in projected.items()]
    choices = {str(args.project_to): choose(at_target)} if at_target else {}
    at_1m = candidates_at(measured, 1_000_000)
    if len(at_1m) > 1:
        choices = {"1000000": choose(at_1m), **choices}
    emit({"benchmark": "dense_scale", "through": "index.dense.DenseIndex (product settings, generation folder)",
          "dim": args.dim, "queries": NQ, "settings_overrides": overrides,
          "vectors": f"synthetic: {CENTRES} random unit topic centres in {args.dim} dims + N(0, {NOISE}^2) "
                     "noise per dimension, normalised (cosine to own centre ~0.54); queries are fresh draws",
          "machine_shared": True,
          "note": "2 cores shared with two running LLM benchmarks: times are upper bounds; RSS includes "
                  "file-backed pages of memory-mapped vectors (page cache), anon = process-private memory",
          "measured": measured, "recorded": RECORDED, "projected": {str(args.project_to): projected},
          "choice": choices})


if __name__ == "__main__":
    main()
