"""Cold start of `thematic search`: each call a fresh process, as an analyst's shell runs it.

Goals (issue 16): under 2 s for `--mode bm25` (no model may load: no torch, no
sentence-transformers) and under 4 s for `--mode hybrid` (the query vector comes from the model's
cached ONNX export through onnxruntime, else from sentence-transformers; each run says which).
Also reports which heavy modules each mode imported and the slowest imports of the CLI itself
(`python -X importtime`), so a regression names its cause.

    python benchmarks/cli_cold_start.py --project demo-project [--runs 3]
    python benchmarks/cli_cold_start.py            # builds the demo project in a temp folder first
    python benchmarks/cli_cold_start.py --cold-encoder-cache   # first hybrid call pays the export

Also times `thematic --help`, and records the load average (1, 5, 15 min) before and after.

Last stdout line: one JSON object."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log

HEAVY = ("torch", "sentence_transformers", "transformers", "faiss", "numba", "bm25s", "sklearn", "scipy",
         "langchain_core", "sqlalchemy", "streamlit", "llama_cpp", "onnxruntime", "tokenizers")
# Runs the console script's own entry point (`thematic = assistant.cli:main`), so whatever `main`
# does around the command (e.g. at exit) is measured too.
PROBE = """
import sys, time, json
t0 = time.perf_counter()
from assistant.cli import main
t1 = time.perf_counter()
sys.argv = ["thematic", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    if exc.code not in (None, 0):
        raise
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "command_s": t2 - t1,
                  "loaded": [m for m in HEAVY if m in sys.modules]}), file=sys.stderr)
""".replace("HEAVY", repr(HEAVY))


def encoder_path(loaded: list[str]) -> str:
    """Which encoder embedded the query, told by what the process imported."""
    if "sentence_transformers" in loaded:
        return "sentence-transformers"
    return "onnxruntime" if "onnxruntime" in loaded else "none"


ENCODER_CACHE: str | None = None  # set by --cold-encoder-cache: a fresh per-run cache folder


def _env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if ENCODER_CACHE:
        env["THEMATIC_MODEL_CACHE"] = ENCODER_CACHE
    return env


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one(project: Path, mode: str, query: str) -> dict[str, object]:
    """Wall time of a whole `thematic search` process, its CPU time (user + system: far less
    sensitive than wall time to other jobs on a shared machine), and what it imported."""
    args = [sys.executable, "-c", PROBE, "search", query, "--mode", mode, "-k", "5", "--json"]
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(args, cwd=project, env=_env(), capture_output=True, text=True, timeout=600, check=False)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"search failed ({proc.returncode}): {proc.stderr[-500:]}")
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    hits = json.loads(proc.stdout)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "import_s": round(probe["import_s"], 3),
            "command_s": round(probe["command_s"], 3), "loaded": probe["loaded"],
            "query_encoder": encoder_path(probe["loaded"]) if mode != "bm25" else "none",
            "hits": len(hits) if isinstance(hits, list) else len(hits.get("hits", []))}


def one_help() -> dict[str, object]:
    """Wall time of `thematic --help` in a fresh process (no project needed)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, "--help"], env=_env(), capture_output=True, text=True,
                          timeout=600, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or "search" not in proc.stdout:
        raise SystemExit(f"--help failed ({proc.returncode}): {proc.stderr[-500:]}")
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    return {"wall_s": round(wall, 3), "import_s": round(probe["import_s"], 3), "loaded": probe["loaded"]}


def slowest_imports(n: int = 12) -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import assistant.cli"], env=_env(),
                          capture_output=True, text=True, timeout=600, check=False)
    rows = []
    for line in proc.stderr.splitlines():  # "import time: self | cumulative | [indent]module"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line.split("|")
        cum, mod = int(parts[1].strip()), parts[2].rstrip()
        depth = (len(mod) - len(mod.lstrip())) // 2
        rows.append({"module": mod.strip(), "cumulative_s": round(cum / 1e6, 3), "depth": depth})
    top = [r for r in rows if r["depth"] <= 2]
    return sorted(top, key=lambda r: -r["cumulative_s"])[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", type=Path, help="an existing project (default: build the demo in a temp folder)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--query", default="damp housing and emergency admissions")
    ap.add_argument("--cold-encoder-cache", action="store_true",
                    help="start from an empty query-encoder cache: the first hybrid call then pays the "
                         "one-time ONNX export (reported as first_run)")
    args = ap.parse_args()
    global ENCODER_CACHE
    encoder_tmp = tempfile.TemporaryDirectory() if args.cold_encoder_cache else None
    ENCODER_CACHE = encoder_tmp.name if encoder_tmp else None
    tmp = None
    project = args.project
    if project is None:
        from assistant.demo import build_demo

        tmp = tempfile.TemporaryDirectory()
        project = Path(tmp.name) / "demo"
        log("building the demo project (embeds its excerpts once) ...")
        build_demo(project, precode=False).close()
    out: dict[str, object] = {"benchmark": "cli_cold_start", "project": str(project), "runs": args.runs,
                              "goals_s": {"bm25": 2.0, "hybrid": 4.0}}
    out["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    one_help()
    helps = [one_help() for _ in range(args.runs)]
    med = statistics.median(r["wall_s"] for r in helps)
    out["help"] = {"median_wall_s": round(med, 3), "runs": helps}
    log(f"--help: median {med:.2f}s ({', '.join(str(r['wall_s']) for r in helps)}); loaded {helps[0]['loaded']}")
    for mode in ("bm25", "hybrid"):
        # the OS file cache warm, as on a machine in use; for hybrid this first call also builds
        # the query encoder's export if the cache has none (once per machine and model)
        first = one(project, mode, args.query)
        runs = [one(project, mode, args.query) for _ in range(args.runs)]
        med = statistics.median(r["wall_s"] for r in runs)
        out[mode] = {"median_wall_s": round(med, 3), "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
                     "runs": runs, "goal_met": med <= out["goals_s"][mode], "first_run": first}
        if mode != "bm25":
            out[mode]["query_encoder"] = sorted({str(r["query_encoder"]) for r in runs})
        log(f"{mode}: median {med:.2f}s ({', '.join(str(r['wall_s']) for r in runs)}); first {first['wall_s']}s; "
            f"loaded {runs[0]['loaded']}" + (f"; query encoder {runs[0]['query_encoder']}" if mode != "bm25" else ""))
    out["model_loaded_for_bm25"] = any(m in out["bm25"]["runs"][0]["loaded"]  # type: ignore[index]
                                       for m in ("torch", "sentence_transformers"))
    out["slowest_imports_of_the_cli"] = slowest_imports()
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out["note"] = "2-core machine shared with other jobs while measured: times vary with the load"
    emit(out)
    if tmp is not None:
        tmp.cleanup()
    if encoder_tmp is not None:
        encoder_tmp.cleanup()


if __name__ == "__main__":
    main()
