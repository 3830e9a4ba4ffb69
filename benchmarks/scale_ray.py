"""Survey scale on one machine and on Ray: ingest, embed, pre-code, kill and resume, projection.

    python benchmarks/scale_ray.py --answers 100000 --embed-sample 2000 --precode-answers 20000

1. ingest: `--answers` synthetic survey answers (CSV: id, answer, region) streamed with
   `--rows-as excerpts` (measured at full size) and `--rows-as sources` (measured on
   `--sources-sample` rows; per-row cost projected): rows/s, store bytes per answer, child peak RSS,
   each projected to 1M rows from the measured per-row cost (the figures behind DEFAULT_ROWS_AS).
2. embed: the real all-MiniLM-L6-v2 on `--embed-sample` excerpts, in-process (`embed_corpus`,
   executor local, all cores) vs Ray-local (one actor with all cores), cold cache each time:
   texts/s and the overhead ratio, with and without the cluster's start-up.
3. pre-code: the offline engine on `--precode-answers` answers (hashing embedder, so the figure is
   the scoring, not the model, which step 2 measures), in-process and on Ray-local; the driver's
   peak RSS (the Ray driver runs in a child process of its own).
4. kill and resume: a Ray pre-coding run in a child process is killed (SIGKILL) after it has
   committed `--kill-after` blocks, then resumed; every answer must be coded exactly once.
5. projection: wall time for 1M answers on N = 1, 2, 4, 8, 16 workers from the measured
   per-block costs (embedding + scoring inside a worker, in parallel) and the driver's serial
   per-block write: T(N) = start-up + max(blocks * t_block / N, blocks * t_write).

`--shared-machine TEXT` records what else ran on the cores (then every rate is a lower bound and
the Ray overhead is inflated by contention); the load average is recorded at start and end. One JSON object is printed last.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit, log

WORDS = ["appointment", "waiting", "nurse", "doctor", "ward", "parking", "food", "cold", "damp", "kind", "rude", "staff", "letter", "phone", "booking", "pharmacy", "discharge", "pain", "clean", "dirty", "noisy", "quiet", "explained", "listened", "ignored", "delay", "cancelled", "referral", "receptionist", "transport", "visit", "family", "carer", "language", "interpreter", "results", "scan", "test", "bed", "night", "weekend"]
OPENERS = ["The", "My", "Our", "Every", "Last", "This"]
CODES = [("Waiting times", "Delays, waiting lists, cancelled or late appointments."),
         ("Staff attitude", "Kind, rude, caring or dismissive staff; being listened to."),
         ("Environment", "Cleanliness, noise, temperature, damp or comfort of the ward."),
         ("Communication", "Letters, phone calls, explanations, results and interpreters."),
         ("Access and transport", "Parking, transport, getting to appointments, booking.")]


def write_answers(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "answer", "region"])
        for i in range(n):
            sents = []
            for _ in range(rng.randint(1, 3)):
                words = [rng.choice(WORDS) for _ in range(rng.randint(5, 14))]
                sents.append(f"{rng.choice(OPENERS)} {' '.join(words)}.")
            w.writerow([f"R{i:07d}", " ".join(sents), rng.choice(["North", "South", "East", "West"])])


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child(args: list[str], timeout: float = 3600) -> dict:
    p = subprocess.run([sys.executable, __file__, *args], check=False, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"child {args[:2]} failed: {p.stderr.strip().splitlines()[-3:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# --- children ----------------------------------------------------------------------------------------

def _project(folder: Path, hashing: bool = True):
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    p = Project.open(folder) if (folder / "thematic.db").exists() else Project.init(folder)
    p.settings.analyst = "bench"
    if hashing:
        p.set_embedder(HashingEmbedder(384))
    return p


def do_ingest(csv_path: str, folder: str, rows_as: str) -> dict:
    from assistant.corpus.survey import ingest_survey
    from index.readers import ReadOptions

    p = _project(Path(folder))
    opts = ReadOptions(text_column="answer", id_column="id", attr_columns=["region"] if rows_as == "sources" else [])
    t0 = time.perf_counter()
    r = ingest_survey(p, csv_path, rows_as=rows_as, read_options=opts)
    seconds = time.perf_counter() - t0
    n = len(p.store.excerpt_ids())
    t1 = time.perf_counter()
    hits = p.store.excerpt_texts(p.store.excerpt_ids()[:: max(1, n // 200)])  # a listing query, cold
    list_s = time.perf_counter() - t1
    p.close()
    db = Path(folder) / "thematic.db"
    size = sum(f.stat().st_size for f in Path(folder).glob("thematic.db*"))
    return {"rows_as": rows_as, "status": r.status, "error": r.error, "answers": n, "seconds": round(seconds, 2),
            "rows_per_s": round(n / seconds, 1), "store_bytes_per_answer": round(size / max(1, n)),
            "store_mb": round(size / 2**20, 1), "peak_rss_mb": rss_mb(), "db": str(db),
            "sample_read_ms": round(list_s * 1000, 1), "sampled": len(hits)}


def do_embed(folder: str, executor: str, actors: int, cpus: float) -> dict:
    from assistant.batch.cluster import ActorOptions, connect
    from assistant.batch.embed import embed_corpus

    p = _project(Path(folder), hashing=False)
    start_s = 0.0
    if executor == "ray":
        t = time.perf_counter()
        connect(None, num_cpus=os.cpu_count())
        start_s = time.perf_counter() - t
    t0 = time.perf_counter()
    rep = embed_corpus(p, executor, options=ActorOptions(block_size=500, batch_size=64, actors=actors,
                                                          cpus_per_actor=cpus), index=False)
    seconds = time.perf_counter() - t0
    p.close()
    return {"executor": executor, "embedded": rep.embedded, "seconds": round(seconds, 2), "start_s": round(start_s, 2),
            "texts_per_s": round(rep.embedded / seconds, 1), "block_seconds": rep.block_seconds,
            "peak_rss_mb": rss_mb()}


def do_precode(folder: str, executor: str, block: int, actors: int, kill_after: int = 0) -> dict:
    from assistant.batch.cluster import ActorOptions, connect
    from assistant.batch.precode import precode_blocks

    p = _project(Path(folder))
    if executor == "ray":
        connect(None, num_cpus=os.cpu_count())
    t0 = time.perf_counter()
    writes: list[float] = []
    last = [time.perf_counter()]

    def after(n: int) -> None:
        writes.append(time.perf_counter() - last[0])
        last[0] = time.perf_counter()
        if kill_after and n >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a real kill: no clean-up, no finally

    rep = precode_blocks(p, executor, options=ActorOptions(block_size=block, actors=actors, cpus_per_actor=1),
                         after_block=after)
    seconds = time.perf_counter() - t0
    blocks = p.store.list_blocks(rep.run_id)
    p.close()
    return {"executor": executor, "run_id": rep.run_id, "status": rep.status, "resumed": rep.resumed,
            "done": rep.done, "skipped_finished": rep.skipped_finished, "suggestions": rep.suggestions,
            "seconds": round(seconds, 2), "excerpts_per_s": round(rep.done / seconds, 1) if seconds else 0,
            "worker_block_seconds": [b["seconds"] for b in blocks][-50:], "block_items": block,
            "peak_rss_mb_driver": rss_mb(), "notes": rep.notes}


# --- the driver --------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=100_000)
    ap.add_argument("--sources-sample", type=int, default=10_000)
    ap.add_argument("--embed-sample", type=int, default=2000)
    ap.add_argument("--precode-answers", type=int, default=20_000)
    ap.add_argument("--block", type=int, default=1000)
    ap.add_argument("--kill-after", type=int, default=3)
    ap.add_argument("--child", nargs="*")
    ap.add_argument("--shared-machine", default="",
                    help="say what else ran on the cores (rates are then lower bounds, Ray's overhead inflated)")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"ingest": do_ingest, "embed": do_embed, "precode": do_precode}[kind]
        conv = [int(x) if x.isdigit() else (float(x) if x.replace(".", "", 1).isdigit() else x) for x in rest]
        print(json.dumps(fn(*conv)))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="scale-ray-"))
    out: dict = {"benchmark": "scale_ray", "answers": args.answers,
                 "shared_machine": (args.shared_machine or None),
                 "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}
    try:
        # 1. ingest ------------------------------------------------------------------------------
        big, small = tmp / "answers.csv", tmp / "sample.csv"
        write_answers(big, args.answers)
        write_answers(small, args.sources_sample, seed=2)
        log(f"ingest {args.answers} rows as excerpts ...")
        ex = child(["--child", "ingest", str(big), str(tmp / "p-excerpts"), "excerpts"])
        log(json.dumps(ex))
        log(f"ingest {args.sources_sample} rows as sources ...")
        so = child(["--child", "ingest", str(small), str(tmp / "p-sources"), "sources"])
        log(json.dumps(so))
        for r, n in ((ex, args.answers), (so, args.sources_sample)):
            r["measured_rows"] = n
            r["projected_1m_s"] = round(1_000_000 / r["rows_per_s"], 0)
            r["projected_1m_store_gb"] = round(r["store_bytes_per_answer"] * 1e6 / 2**30, 2)
        out["ingest"] = {"excerpts": ex, "sources": so,
                         "ingest_rate_rows_per_s": ex["rows_per_s"],
                         "choice": "excerpts" if ex["rows_per_s"] >= so["rows_per_s"] else "sources"}
        # 2. embed in-process vs Ray-local --------------------------------------------------------
        emb_csv = tmp / "embed.csv"
        write_answers(emb_csv, args.embed_sample, seed=3)
        base = tmp / "p-embed"
        child(["--child", "ingest", str(emb_csv), str(base), "excerpts"])
        for name in ("local", "ray"):
            shutil.copytree(base, tmp / f"p-embed-{name}")
        log("embed in-process ...")
        e_local = child(["--child", "embed", str(tmp / "p-embed-local"), "local", "1", str(os.cpu_count())])
        log(json.dumps({k: v for k, v in e_local.items() if k != "block_seconds"}))
        log("embed on Ray-local ...")
        e_ray = child(["--child", "embed", str(tmp / "p-embed-ray"), "ray", "1", str(os.cpu_count())])
        log(json.dumps({k: v for k, v in e_ray.items() if k != "block_seconds"}))
        ray_work = sum(e_ray["block_seconds"])
        out["embed"] = {"texts": args.embed_sample, "in_process": e_local, "ray_local": e_ray,
                        "overhead_ratio": round(e_ray["seconds"] / e_local["seconds"], 3),
                        "overhead_pct": round(100 * (e_ray["seconds"] / e_local["seconds"] - 1), 1),
                        "overhead_ratio_with_cluster_start": round((e_ray["seconds"] + e_ray["start_s"]) / e_local["seconds"], 3),
                        "in_worker_vs_in_process": round(ray_work / e_local["seconds"], 3),
                        "goal": "Ray-local within 15% of in-process"}
        # 3. pre-code -----------------------------------------------------------------------------
        pc_csv = tmp / "precode.csv"
        write_answers(pc_csv, args.precode_answers, seed=4)
        pbase = tmp / "p-precode"
        child(["--child", "ingest", str(pc_csv), str(pbase), "excerpts"])
        _codebook(pbase)
        for name in ("local", "ray", "kill"):
            shutil.copytree(pbase, tmp / f"p-precode-{name}")
        log("precode in-process ...")
        pl = child(["--child", "precode", str(tmp / "p-precode-local"), "local", str(args.block), "1"])
        log(json.dumps({k: v for k, v in pl.items() if k != "worker_block_seconds"}))
        log("precode on Ray-local ...")
        pr = child(["--child", "precode", str(tmp / "p-precode-ray"), "ray", str(args.block), "2"])
        log(json.dumps({k: v for k, v in pr.items() if k != "worker_block_seconds"}))
        out["precode"] = {"answers": args.precode_answers, "in_process": pl, "ray_local": pr,
                          "same_suggestions": _same(tmp / "p-precode-local", tmp / "p-precode-ray"),
                          "driver_peak_rss_mb": pr["peak_rss_mb_driver"]}
        # 4. kill and resume ------------------------------------------------------------------------
        log(f"precode on Ray, killed after {args.kill_after} blocks ...")
        killed = subprocess.run([sys.executable, __file__, "--child", "precode", str(tmp / "p-precode-kill"), "ray",
                                 str(args.block), "2", str(args.kill_after)], check=False, capture_output=True, text=True)
        mid = _coded(tmp / "p-precode-kill")
        resumed = child(["--child", "precode", str(tmp / "p-precode-kill"), "ray", str(args.block), "2"])
        end = _coded(tmp / "p-precode-kill")
        out["kill_resume"] = {"killed_returncode": killed.returncode, "after_kill": mid,
                              "resumed": {k: v for k, v in resumed.items() if k != "worker_block_seconds"},
                              "after_resume": end,
                              "every_answer_coded_exactly_once": end["done"] == end["items"] == pl["done"]
                              and end["duplicate_suggestions"] == 0 and end["duplicate_blocks"] == 0,
                              "same_suggestions_as_in_process": _same(tmp / "p-precode-local", tmp / "p-precode-kill")}
        # 5. projection ------------------------------------------------------------------------------
        out["projection_1m"] = _projection(e_ray, pr, pl, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    emit(out)


def _codebook(folder: Path) -> None:
    from assistant.coding.codebook import CodeSpec, import_specs

    p = _project(folder)
    import_specs(p, [CodeSpec(name=n, definition=d) for n, d in CODES])
    p.close()


def _signature(folder: Path) -> list:
    p = _project(folder)
    sig = sorted((s.excerpt_id, s.code_id, s.score, s.evidence_start, s.evidence_end)
                 for s in p.store.list_suggestions(status=None) if s.status != "superseded")
    p.close()
    return sig


def _same(a: Path, b: Path) -> bool:
    return _signature(a) == _signature(b)


def _coded(folder: Path) -> dict:
    from assistant.batch.precode import excerpts_coded_once

    p = _project(folder)
    runs = p.store.list_runs("precode")
    out = excerpts_coded_once(p, runs[-1]["id"]) if runs else {}
    out["run_status"] = runs[-1]["status"] if runs else None
    p.close()
    return out


def _projection(e_ray: dict, pr: dict, pl: dict, args: argparse.Namespace) -> dict:
    """1M answers, blocks of `args.block`: per-block worker cost = embedding (real model, from the
    Ray embed run's in-worker block times, scaled to the block) + scoring (Ray pre-code blocks);
    the driver writes blocks one after another (in-process pre-code's write share)."""
    n, block = 1_000_000, args.block
    blocks = -(-n // block)
    emb_per_text = sum(e_ray["block_seconds"]) / max(1, e_ray["embedded"])
    score_per_item = (sum(pr["worker_block_seconds"]) / max(1, len(pr["worker_block_seconds"]))) / block
    t_block = (emb_per_text + score_per_item) * block
    # the driver's serial part: writing a block's suggestions and audit rows, measured as in-process
    # pre-coding time minus its scoring time
    t_write = max(0.0, pl["seconds"] / max(1, pl["done"]) - score_per_item) * block
    startup = 30.0
    proj = {}
    for w in (1, 2, 4, 8, 16):
        proj[str(w)] = round(startup + max(blocks * t_block / w, blocks * t_write), 0)
    return {"answers": n, "block": block, "blocks": blocks, "embed_s_per_text_in_worker": round(emb_per_text, 5),
            "score_s_per_item_in_worker": round(score_per_item, 5), "driver_write_s_per_block": round(t_write, 3),
            "wall_s_by_workers": proj, "assumes": "one actor per worker with this machine's per-block cost; "
            "store writes stay on the driver (serial); 30 s cluster start-up"}


if __name__ == "__main__":
    main()
