"""The MCP server's cost per call, measured the way a client sees it: `thematic mcp` started over
stdio by the official SDK client on the bundled demo project (13 sources), then each read tool
called repeatedly. Reports the cold start (spawn to initialised), and per tool the round trip
p50/p95 and the server's own time from the audit log (the library call, the verbatim checks and
the audit row), so the protocol's share is the difference.

The project is indexed with the hashing embedder (THEMATIC_FAKE_EMBEDDER=64) so the figures are
the server's, not the embedding model's; search runs in bm25 mode. Prints one JSON object last.

    python benchmarks/mcp_calls.py [--calls 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, log

CALLS = {
    "search": {"query": "damp housing and emergency admissions", "k": 10, "mode": "bm25"},
    "find": {"query": "hous*", "limit": 25},
    "show": {"source": "1", "start": 0, "end": 2000},
    "list_codes": {},
    "code_segments": {"code": "__first__"},
    "suggest_codes": {"excerpt_id": 5},
}


def build(folder: Path) -> None:
    from assistant.coding import decisions
    from assistant.coding.precode import precode
    from assistant.coding.suggest import list_suggestions
    from assistant.corpus.ingest import ingest_paths
    from assistant.corpus.search import sync_index
    from assistant.demo import corpus_dir, demo_dir
    from assistant.exchange.codebook_files import import_codebook
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    p = Project.init(folder)
    p.set_embedder(HashingEmbedder(64))
    ingest_paths(p, [corpus_dir()], meta=demo_dir() / "metadata.csv")
    import_codebook(p, str(demo_dir() / "codebook.yaml"))
    sync_index(p)
    precode(p)
    for v in list_suggestions(p)[:40]:  # some accepted codings, so segments and quotes have data
        decisions.accept(p, v.suggestion.id)
    p.settings.privacy.pseudonymise_remote = False
    p.save_settings()
    p.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args()
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
    from mcp_types import Implementation

    from assistant.project import Project

    tmp = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    folder = tmp / "demo"
    t0 = time.perf_counter()
    build(folder)
    log(f"built the demo project in {time.perf_counter() - t0:.1f} s")
    with Project.open(folder) as p:
        first_code = next(c.name for c in p.store.list_codes() if p.store.code_counts().get(c.id))
    CALLS["code_segments"]["code"] = first_code
    server = StdioServerParameters(
        command=sys.executable, args=["-c", "from assistant.cli import main; main()", "mcp", "--project", str(folder),
                                      "--allow-data-to-leave"],
        env={"THEMATIC_FAKE_EMBEDDER": "64", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    timings: dict[str, list[float]] = {k: [] for k in CALLS}

    async def run() -> float:
        t = time.perf_counter()
        async with Client(server, client_info=Implementation(name="benchmark", version="1"),
                          read_timeout_seconds=300) as c:
            cold = time.perf_counter() - t
            for name, arguments in CALLS.items():
                for _ in range(args.calls):
                    s = time.perf_counter()
                    r = await c.call_tool(name, arguments)
                    timings[name].append(time.perf_counter() - s)
                    if r.is_error:
                        raise SystemExit(f"{name} failed: {r.content[0].text}")
        return cold

    cold = anyio.run(run)
    with Project.open(folder) as p:
        rows = [a for a in p.store.list_audit(entity_type="mcp") if a.action == "mcp.call"]
    server_s: dict[str, list[float]] = {k: [] for k in CALLS}
    for r in rows:
        server_s[r.details["tool"]].append(float(r.details["seconds"]))

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1)

    per_tool = {k: {"round_trip_ms_p50": pct(v, 0.5), "round_trip_ms_p95": pct(v, 0.95),
                    "server_ms_p50": pct(server_s[k][1:] or server_s[k], 0.5),
                    "first_call_ms": round(1000 * v[0], 1)} for k, v in timings.items()}
    emit({"benchmark": "mcp_calls", "calls_per_tool": args.calls, "cold_start_s": round(cold, 2),
          "audited_calls": len(rows), "per_tool": per_tool,
          "note": "demo project (13 sources), hashing embedder, bm25 search; machine shared with other jobs",
          "median_all_ms": round(1000 * statistics.median([x for v in timings.values() for x in v]), 1)})


if __name__ == "__main__":
    main()
