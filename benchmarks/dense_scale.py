"""Dense index at survey scale: HNSW (what `index/dense.py` builds today) against IVF-PQ, on
synthetic clustered 384-dim unit vectors (the generator of `search_speed.py`: 2,000 centres plus
noise), scored by recall@10 against exact search and by peak memory and build time.

Each configuration runs in a child process of its own, so its peak RSS (`ru_maxrss`) is its own.
Vectors are generated and added in chunks of 100k, and the exact top-10 of the queries is kept as
a running merge over the chunks, so the float vectors of a 5M collection (7.7 GB) are never held
at once unless the index itself holds them (HNSW-Flat does).

IVF-PQ variants: `ivfpq` (codes only), `ivfpq+sq8` (IndexRefine: the IVF-PQ shortlist re-scored
with 8-bit scalar-quantised vectors held in memory) and `ivfpq+exact` (the shortlist re-scored
with the exact float vectors, kept on disk as a memory-mapped .npy, as `index/dense.py` does for
its `ivfpq` kind). The machine is shared (2 cores, 8 workers): build times are upper bounds.

    python benchmarks/dense_scale.py --sizes 1000000 --variants ivfpq+sq8,ivfpq+exact
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 384
CHUNK = 100_000
NQ = 200


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return x / n


class Clustered:
    def __init__(self, seed: int = 0, centres: int = 2000):
        rng = np.random.default_rng(seed)
        self.centres = _normalise(rng.standard_normal((centres, DIM)))

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        c = self.centres[rng.integers(0, len(self.centres), n)]
        return _normalise(c + 0.08 * rng.standard_normal((n, DIM)).astype(np.float32))


def chunks(gen: Clustered, n: int):
    for k, start in enumerate(range(0, n, CHUNK)):
        yield start, gen.sample(min(CHUNK, n - start), seed=1000 + k)


def run_one(variant: str, n: int, args: argparse.Namespace) -> dict:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    gen = Clustered()
    queries = gen.sample(NQ, seed=7)
    best_s = np.full((NQ, 10), -np.inf, np.float32)
    best_i = np.zeros((NQ, 10), np.int64)
    tmp = None
    t0 = time.perf_counter()
    if variant == "hnsw":
        index = faiss.IndexHNSWFlat(DIM, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.ef_construction
        train_s = 0.0
    else:
        nlist = args.nlist or int(min(16384, max(1024, 4 * np.sqrt(n))))
        quant = faiss.IndexFlatIP(DIM)
        ivf = faiss.IndexIVFPQ(quant, DIM, nlist, args.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = 10
        train = gen.sample(min(n, max(40 * nlist, 100_000)), seed=99)
        ivf.train(train)
        index = ivf
        if variant == "ivfpq+sq8":
            refine = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            refine.train(train)
            index = faiss.IndexRefine(ivf, refine)
        del train
        train_s = time.perf_counter() - t0
        if variant == "ivfpq+exact":
            tmp = tempfile.mkdtemp(prefix="dense-scale-")
            mm = np.lib.format.open_memmap(os.path.join(tmp, "vectors.npy"), mode="w+", dtype=np.float32,
                                           shape=(n, DIM))
    add_s = 0.0
    for start, x in chunks(gen, n):
        ta = time.perf_counter()
        index.add(x)
        if tmp:
            mm[start:start + len(x)] = x
        add_s += time.perf_counter() - ta
        s = queries @ x.T  # running exact top-10 (ground truth), outside the build timer
        part = np.argpartition(-s, 9, axis=1)[:, :10]
        cs = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
        ci = np.concatenate([best_i, part + start], 1)
        o = np.argsort(-cs, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
        del x, s
    if tmp:
        mm.flush()
        del mm
        mm = np.load(os.path.join(tmp, "vectors.npy"), mmap_mode="r")
    build_s = train_s + add_s
    out = {"variant": variant, "n": n, "build_s": round(build_s, 1), "train_s": round(train_s, 1),
           "index_bytes_per_vector": None, "sweep": []}
    try:
        out["index_mb"] = round(len(faiss.serialize_index(index)) / 2**20, 1) if n <= 2_000_000 else None
    except Exception:  # noqa: BLE001 - serialising is only for the size figure
        out["index_mb"] = None
    if tmp:
        out["on_disk_vectors_mb"] = round(n * DIM * 4 / 2**20, 1)
    faiss.omp_set_num_threads(1)
    truth = [set(r.tolist()) for r in best_i]

    def recall(labels: np.ndarray) -> float:
        return float(np.mean([len(truth[q] & set(labels[q][:10].tolist())) / 10 for q in range(NQ)]))

    if variant == "hnsw":
        for ef in (128, 256, 512):
            ps = faiss.SearchParametersHNSW()
            ps.efSearch = ef
            ts = time.perf_counter()
            _, lab = index.search(queries, 10, params=ps)
            out["sweep"].append({"ef_search": ef, "recall@10": round(recall(lab), 4),
                                 "ms_per_query": round((time.perf_counter() - ts) / NQ * 1000, 2)})
    else:
        ivf_index = ivf
        for nprobe in args.nprobes:
            for k_factor in ((1,) if variant == "ivfpq" else args.k_factors):
                ivf_index.nprobe = nprobe
                ts = time.perf_counter()
                if variant == "ivfpq":
                    _, lab = ivf_index.search(queries, 10)
                elif variant == "ivfpq+sq8":
                    ps = faiss.IVFPQSearchParameters()
                    ps.nprobe = nprobe
                    rp = faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=ps)
                    _, lab = index.search(queries, 10, params=rp)
                else:
                    _, cand = ivf_index.search(queries, 10 * k_factor)
                    lab = np.zeros((NQ, 10), np.int64)
                    for q in range(NQ):
                        c = cand[q][cand[q] >= 0]
                        sc = np.einsum("ij,j->i", mm[np.sort(c)], queries[q])
                        lab[q] = np.sort(c)[np.argsort(-sc)[:10]]
                out["sweep"].append({"nprobe": nprobe, "k_factor": k_factor, "recall@10": round(recall(lab), 4),
                                     "ms_per_query": round((time.perf_counter() - ts) / NQ * 1000, 2)})
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if tmp:
        import shutil

        del mm
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--variants", default="ivfpq,ivfpq+sq8,ivfpq+exact")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--hnsw-m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--pq-m", type=int, default=48)
    ap.add_argument("--nlist", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--nprobe", default="16,32,64,128", help="nprobe values to measure")
    ap.add_argument("--k-factor", default="4,10", help="refine shortlist factors (shortlist = k * factor)")
    args = ap.parse_args()
    args.nprobes = [int(x) for x in args.nprobe.split(",")]
    args.k_factors = [int(x) for x in args.k_factor.split(",")]
    if args.child:
        print(json.dumps(run_one(args.variants, int(args.sizes), args)))
        return
    from benchmarks._common import emit, log

    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for v in args.variants.split(","):
            cmd = [sys.executable, __file__, "--child", "--sizes", str(n), "--variants", v,
                   "--hnsw-m", str(args.hnsw_m), "--ef-construction", str(args.ef_construction),
                   "--pq-m", str(args.pq_m), "--nlist", str(args.nlist), "--nprobe", args.nprobe,
                   "--k-factor", args.k_factor]
            log(f"[{n}] {v} ...")
            try:
                p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=args.timeout)
                r = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {
                    "variant": v, "n": n, "error": p.stderr.strip().splitlines()[-1:]}
            except subprocess.TimeoutExpired:
                r = {"variant": v, "n": n, "error": f"stopped after {args.timeout:.0f} s (time bound)"}
            log(json.dumps(r))
            results.append(r)
    emit({"benchmark": "dense_scale", "dim": DIM, "queries": NQ, "vectors": "synthetic clustered (2000 centres + noise)",
          "note": "machine shared by 8 workers on 2 cores: build times are upper bounds", "results": results})


if __name__ == "__main__":
    main()
