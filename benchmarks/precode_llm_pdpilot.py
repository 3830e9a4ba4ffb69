"""The LLM engine (assisted mode, coding/suggest/assisted.py) on PDPilot against the authors' codes,
for any GGUF model run in-process by llama-cpp-python.

Protocol as benchmarks/precode_pdpilot.py: the 214 distinct coded excerpts, gold = their codes,
candidate and evaluated codes = those with >= 2 uses (names and the authors' definitions only).
Unseeded: codebook only. Seeded: 20% of the excerpts (split seed --seed, as the offline benchmark)
are "reviewed", their gold codes accepted; the offline engine learns from them and the LLM sees
them as few-shot examples in its fixed prefix; evaluation is on the other 80%. Offline figures use
the offline benchmark's setting (top-1, no threshold).

The LLM is slow on a laptop, so it codes a sample (--limit) of the 80% test excerpts (seeded by
--sample-seed). The sample is split in two halves: the combination rule (how the model's yes/no
votes combine with the offline scores) is CHOSEN on the tuning half and REPORTED on the held-out
half, beside the offline engine on the same excerpts. Per excerpt the model is asked:
  U_A  codebook only, candidates in offline rank order;  U_B  the same, reversed (position bias,
  two-run agreement);  S_A  seeded (examples in the prefix, candidates from the learned ranker);
  with --full also S_B (seeded, reversed), S_X (seeded candidates, no examples: the examples'
  own effect) and U_L (label before rationale).
Speed: first a probe on --prefix-probe excerpts, uncached, timing each of reply numbered (prompt
v3) / named (v2) x prefix reused / cleared before each call (the naive cost); then seconds per
model call in the coding runs with the fixed prefix reused (llama.cpp's prefix cache); projections for
the demo project (291 excerpts) and a 20,000-excerpt study. Then a theme draft and an Ask with the
same model on the small writing project of the tests, counting sentences kept, dropped as uncited,
and quotes invented and caught. Records the model file's sha256. Last stdout line: one JSON object."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CachedEmbedder, emit, log, peak_rss_mb

from assistant.coding.suggest.assisted import CandidateJudge, Judgement, agree, combine
from assistant.coding.suggest.learn import ACCEPTED, SEEN
from assistant.coding.suggest.offline import CodeSpecVec, OfflineScorer, ScorerParams
from assistant.models import StoredCode

DEMO_EXCERPTS = 291
STUDY_EXCERPTS = 20_000


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class JsonlCache:
    """A response cache for reruns of the analysis (timings count uncached calls only)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, str] = {}
        if path.exists():
            for line in path.open(encoding="utf-8"):
                d = json.loads(line)
                self.rows[d["k"]] = d["r"]

    def cache_get(self, key: str) -> str | None:
        return self.rows.get(key)

    def cache_put(self, key: str, model: str, prompt_version: str, response: str) -> None:
        self.rows[key] = response
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"k": key, "r": response}) + "\n")


def evaluate(gold: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    from precode_pdpilot import evaluate as ev

    return ev(gold, pred, names)


def picks_matrix(rows: list[list[tuple[int, float]]], n_codes: int) -> np.ndarray:
    pred = np.zeros((len(rows), n_codes), dtype=int)
    for i, picks in enumerate(rows):
        for j, _ in picks:
            pred[i, j] = 1
    return pred


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "pdpilot")
    ap.add_argument("--limit", type=int, default=40, help="excerpts sampled from the 80%% test set")
    ap.add_argument("--seed", type=int, default=0, help="the 20%% reviewed split (as precode_pdpilot.py)")
    ap.add_argument("--sample-seed", type=int, default=7)
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--max-tokens", type=int, default=400)
    ap.add_argument("--prefix-probe", type=int, default=3,
                    help="excerpts timed in each of: reply numbered/named x prefix cache reused/cleared")
    ap.add_argument("--reply", choices=["numbered", "named"], default="numbered",
                    help="how replies name candidates in the coding runs (numbered = prompt v3, the default)")
    ap.add_argument("--full", action="store_true", help="also S_B, S_X and U_L (three more calls per excerpt)")
    ap.add_argument("--plan", default="", help="comma-separated subset of U_A,U_B,S_A,S_B,S_X,U_L to run")
    ap.add_argument("--no-writing", action="store_true", help="skip the theme draft and Ask")
    ap.add_argument("--cache", type=Path, default=None, help="JSONL response cache (reruns skip the model)")
    ap.add_argument("--shared-machine", action="store_true", help="say in the output that the cores were shared")
    args = ap.parse_args()

    from precode_pdpilot import load

    from assistant.llm.providers import LlamaCppChat
    from index.embeddings import SentenceTransformerEmbedder

    t_start = time.perf_counter()
    model_sha = sha256_file(args.gguf)
    log(f"model {args.gguf.name} sha256 {model_sha}")
    rows, defs = load(args.data)
    uses = Counter(c for r in rows for c in r["codes"])
    paths = sorted(c for c, n in uses.items() if n >= 2)
    idx = {p: j for j, p in enumerate(paths)}
    names = paths
    gold = np.array([[int(p in r["codes"]) for p in paths] for r in rows])
    texts, ids = [r["text"] for r in rows], [r["excerpt_id"] for r in rows]
    codes = [StoredCode(id=j, name=p.split(" > ")[-1], definition=defs.get(p, "") or "",
                        parent_id=idx.get(" > ".join(p.split(" > ")[:-1]))) for j, p in enumerate(paths)]

    # -- offline engine, unseeded and seeded (as precode_pdpilot.py) ---------------------------
    cache = Path.home() / ".cache" / "thematic-bench" / "pdpilot-emb.sqlite"
    cache.parent.mkdir(parents=True, exist_ok=True)
    embedder = CachedEmbedder(SentenceTransformerEmbedder("default"), cache)
    memo: dict[str, np.ndarray] = {}

    def embed(ts):
        miss = [t for t in dict.fromkeys(ts) if t not in memo]
        if miss:
            memo.update(zip(miss, embedder.embed(miss)))
        return np.stack([memo[t] for t in ts]) if len(ts) else np.zeros((0, embedder.dim), np.float32)

    def specs() -> list[CodeSpecVec]:
        return [CodeSpecVec(key=j, name=c.name, definition=c.definition, parent=c.parent_id) for j, c in enumerate(codes)]

    s1 = OfflineScorer(embed, ScorerParams(top_k=1, threshold=-1e9))
    s1.fit(specs(), texts, ids)
    sc1, _, _ = s1.score(texts, ids)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(rows))
    n_seed = round(0.2 * len(rows))
    seed_i, test_i = np.sort(order[:n_seed]), np.sort(order[n_seed:])
    s2 = OfflineScorer(embed, ScorerParams(top_k=1, threshold=-1e9))
    s2.fit(specs(), texts, ids)
    s2.learn([texts[i] for i in seed_i], [ids[i] for i in seed_i],
             np.where(gold[seed_i] == 1, ACCEPTED, SEEN).astype(np.int8))
    sc2 = np.full_like(sc1, -np.inf)
    sc2[test_i], _, _ = s2.score([texts[i] for i in test_i], [ids[i] for i in test_i])
    examples: dict[int, list[str]] = {}
    for i in seed_i:
        for j in np.flatnonzero(gold[i]):
            examples.setdefault(int(j), []).append(texts[i])

    srng = np.random.default_rng(args.sample_seed)
    sample = np.sort(srng.choice(test_i, size=min(args.limit, len(test_i)), replace=False))
    perm = srng.permutation(len(sample))
    tune_pos, held_pos = np.sort(perm[: len(sample) // 2]), np.sort(perm[len(sample) // 2:])
    log(f"{len(rows)} excerpts, {len(paths)} codes; LLM sample {len(sample)} of the 80% test set "
        f"(tuning {len(tune_pos)}, held-out {len(held_pos)})")

    # -- the model ------------------------------------------------------------------------------
    chat = LlamaCppChat(model_path=str(args.gguf), n_ctx=args.n_ctx, n_threads=args.threads,
                        max_tokens=args.max_tokens, reuse_prefix=True)
    t0 = time.perf_counter()
    chat._client()
    load_s = time.perf_counter() - t0
    store = JsonlCache(args.cache) if args.cache else None
    judges = {
        "U": CandidateJudge(chat, codes, {}, cache_store=store, reply=args.reply),
        "S": CandidateJudge(chat, codes, examples, cache_store=store, reply=args.reply),
        "L": CandidateJudge(chat, codes, {}, rationale_first=False, cache_store=store, reply=args.reply),
    }
    prefix_chars = {k: len(j.prefix["codebook"]) + len(j.prefix["examples"]) for k, j in judges.items()}
    tokens = {k: len(chat._client().tokenize(j.messages("", "", [])[0].content.encode("utf-8"))) for k, j in judges.items()}
    plan = [("U_A", "U", sc1, "rank"), ("U_B", "U", sc1, "reversed"), ("S_A", "S", sc2, "rank")]
    if args.full:
        plan += [("S_B", "S", sc2, "reversed"), ("S_X", "U", sc2, "rank"), ("U_L", "L", sc1, "rank")]
    if args.plan:
        keep = set(args.plan.split(","))
        plan = [p for p in plan if p[0] in keep]
    # speed probe: the same excerpts, uncached, in each of reply numbered/named x prefix reused or
    # cleared before every call (the naive cost). With the prefix reused, one warm-up call on
    # another excerpt first evaluates the prefix, as in a run; it is not counted.
    probe: dict[str, dict[str, Any]] = {}
    if args.prefix_probe:
        pick = [int(i) for i in sample[: args.prefix_probe + 1]]
        for reply in ("numbered", "named"):
            pj = CandidateJudge(chat, codes, {}, cache_store=None, reply=reply)
            for reuse in (True, False):
                chat.reuse_prefix = reuse
                secs, toks_out, toks_in = [], [], []
                for n, i in enumerate(pick if reuse else pick[1:]):
                    cands = [int(j) for j in np.argsort(-sc1[i])[: args.candidates]]
                    jd = pj.judge(texts[i], "", cands, "rank", f"probe-{reply}-{reuse}-{ids[i]}")
                    if jd.record is None or (reuse and n == 0):
                        continue
                    secs.append(jd.record.seconds)
                    toks_out.append(jd.record.output_tokens)
                    toks_in.append(jd.record.input_tokens)
                    log(f"probe {reply} prefix {'on' if reuse else 'off'}: {jd.record.seconds:.1f}s "
                        f"out={jd.record.output_tokens} err={jd.error}")
                probe[f"{reply}_prefix_{'on' if reuse else 'off'}"] = {
                    "calls": len(secs), "s_median": round(float(np.median(secs)), 2) if secs else None,
                    "s_each": [round(x, 2) for x in secs], "output_tokens_mean":
                    round(float(np.mean(toks_out)), 1) if toks_out else None,
                    "input_tokens_mean": round(float(np.mean(toks_in)), 1) if toks_in else None}
        chat.reuse_prefix = True
    naive = probe.get(f"{args.reply}_prefix_off", {}).get("s_each", [])

    got: dict[str, list[Judgement]] = {name: [] for name, *_ in plan}
    timing: dict[str, list[float]] = {name: [] for name, *_ in plan}
    first_call: dict[str, float] = {}
    out_tokens: list[int] = []
    # one configuration at a time over the sample, so consecutive prompts share their prefix as in
    # a real run (a run uses one configuration)
    for name, jk, sc, order_ in plan:
        for n, i in enumerate(sample):
            cands = [int(j) for j in np.argsort(-sc[i])[: args.candidates]]
            jd = judges[jk].judge(texts[i], "", cands, order_, str(ids[i]))
            got[name].append(jd)
            rec = jd.record
            if rec is not None and not rec.cached:
                if n == 0:
                    first_call[name] = rec.seconds  # includes evaluating the prefix once
                else:
                    timing[name].append(rec.seconds)
                out_tokens.append(rec.output_tokens)
            if n % 5 == 0:
                log(f"{name} {n + 1}/{len(sample)} {rec.seconds if rec else 0:.1f}s "
                    f"yes={sum(jd.votes.values())} err={jd.error}")
    # -- figures ---------------------------------------------------------------------------------
    C = len(paths)
    thr = np.full(C, -np.inf)

    def preds(sc: np.ndarray, runs: list[list[Judgement]], mode: str, top_k: int = 1, w: float = 1.0) -> np.ndarray:
        out = []
        for n, i in enumerate(sample):
            cands = [int(j) for j in np.argsort(-sc[i])[: args.candidates]]
            js = [r[n] for r in runs]
            votes = None if any(j.error for j in js) else agree(js)
            out.append(combine(sc[i], thr, cands, votes, mode, top_k, w))
        return picks_matrix(out, C)

    def fig(pred: np.ndarray, pos: np.ndarray) -> dict[str, Any]:
        r = evaluate(gold[sample][pos], pred[pos], names)
        return {k: r[k] for k in ("mean_kappa", "micro_f1", "macro_f1")}

    def combos(cond: str) -> dict[str, np.ndarray]:
        sc = sc1 if cond == "U" else sc2
        A, B = got.get(f"{cond}_A"), got.get(f"{cond}_B")
        out = {"offline": picks_matrix([combine(sc[i], thr, [], None, "offline", 1) for i in sample], C)}
        for tag, runs in (("A", [A]), ("B", [B]), ("A&B", [A, B])):
            if any(r is None for r in runs):
                continue
            out[f"confirm[{tag}]"] = preds(sc, runs, "confirm")
            out[f"llm_top1[{tag}]"] = preds(sc, runs, "llm", 1)
            out[f"llm_top2[{tag}]"] = preds(sc, runs, "llm", 2)
            for w in (0.25, 0.5, 1.0, 2.0):
                out[f"rerank_w{w}[{tag}]"] = preds(sc, runs, "rerank", 1, w)
        return out

    results: dict[str, Any] = {}
    table = {}
    for cond in ("U", "S"):
        cs = combos(cond)
        table[cond] = {k: {"tuning": fig(p, tune_pos), "held_out": fig(p, held_pos)} for k, p in cs.items()}
    # one rule for both conditions: the best mean tuning kappa over unseeded and seeded
    common = [k for k in table["U"] if k in table["S"]]
    score = {k: np.mean([table[c][k]["tuning"]["mean_kappa"] for c in ("U", "S")]) for k in common}
    chosen = max(common, key=lambda k: (round(score[k], 4), k == "offline"))
    for cond, label in (("U", "unseeded"), ("S", "seeded_20pct")):
        t = table[cond]
        results[label] = {"offline_held_out": t["offline"]["held_out"], "chosen_held_out": t[chosen]["held_out"],
                          "delta_kappa": round(t[chosen]["held_out"]["mean_kappa"] - t["offline"]["held_out"]["mean_kappa"], 4),
                          "delta_micro_f1": round(t[chosen]["held_out"]["micro_f1"] - t["offline"]["held_out"]["micro_f1"], 4),
                          "all_rules": t}
    # per-code kappa table for the chosen rule on the whole sample (unseeded), beside offline
    cs_u = combos("U")
    r_llm = evaluate(gold[sample], cs_u[chosen], names)
    r_off = evaluate(gold[sample], cs_u["offline"], names)
    per_code = {}
    for n_, k_ in zip(r_off["codes"], r_off["kappa_per_code"]):
        per_code[n_] = {"offline": k_}
    for n_, k_ in zip(r_llm["codes"], r_llm["kappa_per_code"]):
        per_code.setdefault(n_, {})["chosen"] = k_

    # techniques, on the held-out half (unseeded unless said)
    def held(cond: str, key: str) -> dict[str, Any]:
        return table[cond].get(key, {}).get("held_out", {})

    def delta(a: dict, b: dict) -> dict[str, float]:
        return {m: round(a[m] - b[m], 4) for m in ("mean_kappa", "micro_f1")} if a and b else {}

    techniques: dict[str, Any] = {
        "prerank_llm_decides_vs_offline": delta(held("U", "llm_top1[A]"), held("U", "offline")),
        "llm_veto_of_offline_pick": delta(held("U", "confirm[A]"), held("U", "offline")),
        "two_run_agreement_vs_one_run_llm_top1": delta(held("U", "llm_top1[A&B]"), held("U", "llm_top1[A]")),
        "two_run_agreement_vs_one_run_confirm": delta(held("U", "confirm[A&B]"), held("U", "confirm[A]")),
        "reversed_vs_rank_order_llm_top1": delta(held("U", "llm_top1[B]"), held("U", "llm_top1[A]")),
        "seeded_examples_and_learning_llm_top1": delta(held("S", "llm_top1[A]"), held("U", "llm_top1[A]")),
    }
    # position bias: yes-rate per listed position, rank order vs reversed
    def yes_by_pos(js: list[Judgement]) -> list[float] | None:
        if not js:
            return None  # that configuration was not run (--plan)
        pos = np.zeros(args.candidates)
        cnt = np.zeros(args.candidates)
        for j in js:
            for p, k in enumerate(j.order):
                cnt[p] += 1
                pos[p] += bool(j.votes.get(k))
        return [round(float(x), 3) for x in pos / np.maximum(cnt, 1)]

    flips = [(a.votes.get(k), b.votes.get(k)) for a, b in zip(got.get("U_A", []), got.get("U_B", [])) for k in a.votes]
    techniques["position_bias"] = {
        "yes_rate_by_position_rank_order": yes_by_pos(got.get("U_A", [])),
        "yes_rate_by_position_reversed": yes_by_pos(got.get("U_B", [])),
        "same_verdict_both_orders": round(float(np.mean([a == b for a, b in flips])), 3) if flips else None,
        "yes_rate_overall": round(float(np.mean([bool(a) for a, _ in flips])), 3) if flips else None,
    }
    if args.full:
        def llm_sub(cond_sc, runs, mode="llm"):
            return preds(cond_sc, runs, mode, 1)
        p_l, p_a = llm_sub(sc1, [got["U_L"]]), llm_sub(sc1, [got["U_A"]])
        techniques["rationale_first_vs_label_first_llm_top1"] = delta(fig(p_a, held_pos), fig(p_l, held_pos))
        p_x, p_s = llm_sub(sc2, [got["S_X"]]), llm_sub(sc2, [got["S_A"]])
        techniques["examples_in_prefix_vs_none_seeded_llm_top1"] = delta(fig(p_s, held_pos), fig(p_x, held_pos))
        techniques["yes_rate_label_first"] = round(float(np.mean([v for j in got["U_L"] for v in j.votes.values()])), 3)
    errors = {k: sum(bool(j.error) for j in v) for k, v in got.items()}

    on = [t for v in timing.values() for t in v]
    s_on = float(np.median(on)) if on else None
    s_off = float(np.median(naive)) if naive else None
    speed = {
        "model_load_s": round(load_s, 2),
        "prefix_tokens": tokens, "prefix_chars": prefix_chars,
        "first_call_s_incl_prefix": {k: round(v, 2) for k, v in first_call.items()},
        "s_per_excerpt_prefix_on_median": round(s_on, 2) if s_on else None,
        "s_per_excerpt_prefix_off_median": round(s_off, 2) if s_off else None,
        "prefix_off_calls": len(naive),
        "speedup_prefix": round(s_off / s_on, 2) if s_on and s_off else None,
        "probe": probe,
        "probe_speedups": _speedups(probe),
        "excerpts_per_s_prefix_on": round(1 / s_on, 4) if s_on else None,
        "excerpts_per_s_prefix_off": round(1 / s_off, 4) if s_off else None,
        "output_tokens_mean": round(float(np.mean(out_tokens)), 1) if out_tokens else None,
        "projection_hours_one_run": {
            f"demo_{DEMO_EXCERPTS}": round(DEMO_EXCERPTS * s_on / 3600, 2) if s_on else None,
            f"study_{STUDY_EXCERPTS}": round(STUDY_EXCERPTS * s_on / 3600, 1) if s_on else None,
            f"demo_{DEMO_EXCERPTS}_prefix_off": round(DEMO_EXCERPTS * s_off / 3600, 2) if s_off else None,
            f"study_{STUDY_EXCERPTS}_prefix_off": round(STUDY_EXCERPTS * s_off / 3600, 1) if s_off else None,
        },
        "threads": args.threads, "n_ctx": args.n_ctx,
    }
    log(f"speed: prefix on {s_on}s, off {s_off}s per excerpt")
    writing = None if args.no_writing else writing_check(chat)
    emit({"benchmark": "precode_llm_pdpilot", "model_file": args.gguf.name, "model_sha256": model_sha,
          "engine": "llm (assisted: offline candidates, model yes/no, combined)",
          "prompt": f"{judges['U'].template.id} sha256 {judges['U'].template.sha256}",
          "codes_evaluated": C, "candidates": args.candidates, "reported_split_seed": args.seed,
          "sample": {"n": len(sample), "tuning": len(tune_pos), "held_out": len(held_pos),
                     "from": "80% test excerpts of the seeded split", "sample_seed": args.sample_seed},
          "chosen_rule": chosen, "chosen_on": "tuning half, mean of unseeded and seeded mean kappa",
          "results": results, "techniques_held_out": techniques, "kappa_per_code_sample_unseeded": per_code,
          "model_errors": errors, "speed": speed, "writing": writing,
          "machine_shared": bool(args.shared_machine), "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
          "plan": [p[0] for p in plan], "wall_s": round(time.perf_counter() - t_start, 1),
          "peak_rss_mb": peak_rss_mb()})


def _speedups(probe: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Per-excerpt speed-ups in the probe, against the naive call (the v2 named reply with the
    prefix evaluated every time)."""
    def med(k: str) -> float | None:
        return probe.get(k, {}).get("s_median")

    def ratio(a: str, b: str) -> float | None:
        x, y = med(a), med(b)
        return round(x / y, 2) if x and y else None

    return {"prefix_reuse_numbered": ratio("numbered_prefix_off", "numbered_prefix_on"),
            "prefix_reuse_named": ratio("named_prefix_off", "named_prefix_on"),
            "numbered_vs_named_prefix_on": ratio("named_prefix_on", "numbered_prefix_on"),
            "both_vs_naive": ratio("named_prefix_off", "numbered_prefix_on")}


def writing_check(chat: Any) -> dict[str, Any]:
    """A theme draft and an Ask with the real model on the tests' writing project (hashing
    embedder): how many sentences were kept, dropped as uncited, and quotes invented and caught."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from builders import build_writing_project

    from assistant.writing.ask import ask
    from assistant.writing.themes import draft_themes_report

    out: dict[str, Any] = {}
    saved = chat.max_tokens
    chat.max_tokens = 300
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = build_writing_project(Path(tmp) / "w")
            t0 = time.perf_counter()
            rep = draft_themes_report(project, n_themes=1, llm=chat, cache=False)
            r = next(iter(rep.reports.values()))
            out["theme_draft"] = {"sentences": r.get("sentences"), "kept": r.get("supported_sentences"),
                                  "dropped_uncited": r.get("dropped_uncited"), "removed": r.get("removed_sentences"),
                                  "fabricated_quotes_caught": r.get("fabricated_quotes"),
                                  "fallback": r.get("fallback"), "seconds": round(time.perf_counter() - t0, 1)}
            t0 = time.perf_counter()
            a = ask(project, "What gets in the way of data sharing?", llm=chat, cache=False)
            rp = a.report
            out["ask"] = {"sentences": rp.get("sentences"), "kept": rp.get("supported_sentences"),
                          "dropped_uncited": rp.get("dropped_uncited"), "dropped_sentences": a.dropped_sentences,
                          "removed_citations": a.removed_citations,
                          "fabricated_quotes_caught": rp.get("fabricated_quotes"),
                          "citations_kept": len(a.citations), "answer_shown": a.text is not None,
                          "seconds": round(time.perf_counter() - t0, 1)}
            project.close() if hasattr(project, "close") else None
    except Exception as exc:  # noqa: BLE001 - the coding figures above still stand
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        chat.max_tokens = saved
    return out


if __name__ == "__main__":
    main()
