"""Code suggestion at survey scale: 7,400 NHS Friends and Family Test answers labelled by the
trusts' analysts with the 50 categories of the Patient Experience QDC framework (43 with
definitions). Data: ../shared/data/nhs_patient_feedback_qdc/ (read its README and SOURCE.txt).

Protocol (the same as benchmarks/precode_pdpilot.py, so the two can be tuned together):
- unit = one answer, gold = its list of categories (multi-label). "Labelling not possible"
  (1,189 answers such as "Did not answer") is not a category a coder applies: those answers are
  LEFT OUT by default (`--keep-unlabellable` keeps them as answers with no code, which the engine
  must then leave uncoded; with top-1 forced it cannot, so expect lower figures);
- the offline engine codes every answer from the codebook alone (run 1), then learns from a
  seeded share of the answers "reviewed" by the analyst (10%, 20%, 50%: their gold codes ACCEPTED,
  the wrong run-1 top suggestions on them REJECTED) and is evaluated on the rest, beside run 1 on
  the same rest;
- per code: Cohen's kappa with Gwet's AC1 and prevalence beside it (most categories are rare,
  where kappa swings on a handful of answers and AC1 does not), mean over codes; micro F1;
- `--engine llm --gguf PATH --sample 300`: the configured LLM engine (`settings.suggest.llm_mode`)
  on a sample stratified by first category, through a throwaway project, beside the offline
  engine on the same sample.

Last stdout line: one JSON object."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CachedEmbedder, emit, log

from assistant.coding.agreement import gwet_ac1
from assistant.coding.suggest.learn import ACCEPTED, REJECTED, SEEN
from assistant.coding.suggest.offline import CodeSpecVec, OfflineScorer, ScorerParams

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhs_patient_feedback_qdc"
UNLABELLABLE = "Labelling not possible"


def load(data: Path, keep_unlabellable: bool) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in (data / "units.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if r["text"].strip()]
    if not keep_unlabellable:
        rows = [r for r in rows if set(r["codes"]) != {UNLABELLABLE}]
    book = [r for r in csv.DictReader((data / "codebook.csv").open(encoding="utf-8")) if r["name"] != UNLABELLABLE]
    return rows, book


def evaluate(gold: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, object]:
    """Per code used by gold or prediction: kappa (0 where gold never uses it), AC1, prevalence."""
    from sklearn.metrics import cohen_kappa_score, f1_score

    per: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        g, p = gold[:, j], pred[:, j]
        if not (g.any() or p.any()):
            continue
        k = float(cohen_kappa_score(g, p)) if g.any() and len(set(g) | set(p)) > 1 else 0.0
        ac1 = gwet_ac1([bool(x) for x in g], [bool(x) for x in p], [False, True])
        per[name] = {"kappa": round(k, 3), "ac1": round(float(ac1), 3) if ac1 is not None else None,
                     "prevalence": round(float(g.mean()), 4), "n_gold": int(g.sum()), "n_pred": int(p.sum())}
    ks = [v["kappa"] for v in per.values()]
    acs = [v["ac1"] for v in per.values() if v["ac1"] is not None]
    return {"mean_kappa": round(float(np.mean(ks)), 4) if ks else None,
            "mean_ac1": round(float(np.mean(acs)), 4) if acs else None,
            "mean_prevalence": round(float(np.mean([v["prevalence"] for v in per.values()])), 4) if per else None,
            "micro_f1": round(float(f1_score(gold, pred, average="micro", zero_division=0)), 4),
            "codes_scored": len(per), "per_code": per}


def predict(scorer: OfflineScorer, scores: np.ndarray, top_k: int) -> np.ndarray:
    pred = np.zeros(scores.shape, dtype=int)
    for i, picks in enumerate(scorer.select(scores, top_k)):
        for j, _ in picks:
            pred[i, j] = 1
    return pred


def make_embedders():
    from index.embeddings import SentenceTransformerEmbedder, embed_with_sentences_cache

    cache = Path.home() / ".cache" / "thematic-bench" / "nhs-emb.sqlite"
    cache.parent.mkdir(parents=True, exist_ok=True)
    embedder = CachedEmbedder(SentenceTransformerEmbedder("default"), cache)
    memo: dict[str, np.ndarray] = {}
    sent_memo: dict[str, np.ndarray] = {}

    def embed(texts):
        miss = [t for t in dict.fromkeys(texts) if t not in memo]
        if miss:
            memo.update(zip(miss, embedder.embed(miss)))
        return np.stack([memo[t] for t in texts]) if len(texts) else np.zeros((0, embedder.dim), np.float32)

    def embed_sentences(texts):
        miss = [t for t in dict.fromkeys(texts) if t not in sent_memo]
        if miss:
            X, blocks = embed_with_sentences_cache(embedder.inner, miss, embedder.cache)
            sent_memo.update(zip(miss, blocks))
            memo.update((t, x) for t, x in zip(miss, X) if t not in memo)
        return [sent_memo[t] for t in texts]

    return embedder, embed, embed_sentences


def specs_for(book: list[dict], names: list[str], definitions: bool = True) -> list[CodeSpecVec]:
    return [CodeSpecVec(key=j, name=n, definition=(next(b["definition"] for b in book if b["name"] == n) or "")
                        if definitions else "") for j, n in enumerate(names)]


def run_offline(rows: list[dict], book: list[dict], top_k: int, fractions: list[float], seed: int,
                params_override: dict | None = None) -> dict[str, object]:
    names = [b["name"] for b in book]
    texts = [r["text"] for r in rows]
    ids = [r["id"] for r in rows]
    gold = np.array([[int(n in r["codes"]) for n in names] for r in rows])
    embedder, embed, embed_sentences = make_embedders()

    def params() -> ScorerParams:
        p = ScorerParams(top_k=top_k, threshold=-1e9)
        for k, v in (params_override or {}).items():
            setattr(p.learn if hasattr(p.learn, k) and not hasattr(p, k) else p, k, v)
        return p

    t0 = time.perf_counter()
    embed_sentences(texts)  # one forward pass per answer: the text and sentence vectors, cached
    embed_s = time.perf_counter() - t0
    log(f"{len(rows)} answers, {len(names)} codes; embedded in {embed_s:.1f}s")
    s1 = OfflineScorer(embed, params(), embed_sentences)
    t0 = time.perf_counter()
    s1.fit(specs_for(book, names), texts, ids)
    sc1, _, _ = s1.score(texts, ids)
    rate1 = len(texts) / (time.perf_counter() - t0)
    p1 = predict(s1, sc1, top_k)
    r1 = evaluate(gold, p1, names)
    log(f"run 1 (codebook only): mean kappa {r1['mean_kappa']}, AC1 {r1['mean_ac1']}, micro F1 {r1['micro_f1']}")
    seeded = {}
    for frac in fractions:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(rows))
        n_seed = round(frac * len(rows))
        seed_i, test_i = np.sort(order[:n_seed]), np.sort(order[n_seed:])
        labels = np.where(gold[seed_i] == 1, ACCEPTED, SEEN).astype(np.int8)
        labels[(p1[seed_i] == 1) & (gold[seed_i] == 0)] = REJECTED
        s2 = OfflineScorer(embed, params(), embed_sentences)
        s2.fit(specs_for(book, names), texts, ids)
        s2.learn([texts[i] for i in seed_i], [ids[i] for i in seed_i], labels)
        sc2, _, _ = s2.score([texts[i] for i in test_i], [ids[i] for i in test_i])
        r2 = evaluate(gold[test_i], predict(s2, sc2, top_k), names)
        r1s = evaluate(gold[test_i], p1[test_i], names)
        seeded[f"{int(frac * 100)}pct"] = {"run1_same_rest": {k: v for k, v in r1s.items() if k != "per_code"},
                                           "seeded": {k: v for k, v in r2.items() if k != "per_code"},
                                           "per_code_seeded": r2["per_code"]}
        log(f"seeded {frac:.0%}: run 1 on the rest {r1s['mean_kappa']} -> {r2['mean_kappa']} mean kappa "
            f"(AC1 {r1s['mean_ac1']} -> {r2['mean_ac1']})")
    return {"engine": "offline", "embedder": embedder.model_id, "answers": len(rows), "codes": len(names),
            "top_k": top_k, "embed_s": round(embed_s, 1), "excerpts_per_s_run1_warm": round(rate1, 1),
            "run1_codebook_only": {k: v for k, v in r1.items() if k != "per_code"}, "per_code_run1": r1["per_code"],
            "seeded": seeded, "split_seed": seed}


def run_llm(rows: list[dict], book: list[dict], gguf: Path, sample: int, seed: int, top_k: int,
            keep: Path | None = None, reply: str = "auto") -> dict[str, object]:
    """The configured LLM engine on a stratified sample, through a throwaway project, or through
    the project at `keep` (made on the first run): its response cache holds every model reply, so
    an interrupted run resumes where it stopped and a rerun costs no model time."""
    from assistant.coding.codebook import CodeSpec, import_specs
    from assistant.coding.suggest import SuggestContext, make_engine
    from assistant.coding.validation import stratified_sample
    from assistant.models import Excerpt, Source
    from assistant.project import Project

    names = [b["name"] for b in book]
    strata: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        strata.setdefault(r["codes"][0], []).append(i)
    chosen = stratified_sample(strata, sample, seed)
    sub = [rows[i] for i in chosen]
    gold = np.array([[int(n in r["codes"]) for n in names] for r in sub])
    digest = hashlib.sha256()
    with gguf.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    with tempfile.TemporaryDirectory() as tmp:
        from index.embeddings import SentenceTransformerEmbedder

        folder = keep or Path(tmp) / "p"
        fresh = not (folder.is_dir() and any(folder.iterdir()))
        project = Project.init(folder) if fresh else Project.open(folder)
        project.settings.analyst = "benchmark"
        project.set_embedder(SentenceTransformerEmbedder("default"))
        project.settings.llm.provider = "llamacpp"
        project.settings.llm.model_path = str(gguf)
        project.settings.llm.model = gguf.stem
        project.settings.suggest.top_k = top_k
        project.settings.suggest.llm_reply = reply  # type: ignore[assignment]
        if fresh:
            import_specs(project, [CodeSpec(name=b["name"], definition=b["definition"] or "") for b in book])
            for r in sub:
                src = project.store.add_source(Source(name=r["id"], kind="survey", text=r["text"],
                                                      attributes={"question": r["question"]}, content_hash=r["id"]))
                project.store.add_excerpts([Excerpt(source_id=src.id, ordinal=0, start=0, end=len(r["text"]),
                                                    text=r["text"], speaker=r["respondent_id"])])
        elif [s_.name for s_ in project.store.list_sources()] != [r["id"] for r in sub]:
            sys.exit(f"{folder} holds another sample; give a new --keep folder for this --sample/--seed")
        codes = project.store.list_codes()
        col = {c.id: names.index(c.name) for c in codes}
        excerpts = project.store.list_excerpts()
        out = {}
        for name in ("offline", "llm"):
            eng = make_engine(project, name)
            ctx = SuggestContext.for_project(project)
            eng.prepare(codes, ctx)
            pred = np.zeros_like(gold)
            t0 = time.perf_counter()
            if name == "llm":
                results, uncached, model_s = [], 0, 0.0
                for n, e in enumerate(excerpts):
                    res = eng.suggest_one(e, codes, ctx)
                    results.append(res)
                    if res.call and not res.call.get("cached"):
                        uncached += 1
                        model_s += float(res.call.get("seconds") or 0)
                    if n % 10 == 0:
                        log(f"llm {n + 1}/{len(excerpts)}: {uncached} model calls, "
                            f"{model_s / max(uncached, 1):.1f}s each")
            else:
                results = eng.suggest(excerpts, codes, ctx)
            secs = time.perf_counter() - t0
            for i, res in enumerate(results):
                for p in sorted(res.proposals, key=lambda p: -p.score)[:top_k]:
                    if p.code_id in col:
                        pred[i, col[p.code_id]] = 1
            r = evaluate(gold, pred, names)
            out[name] = {"model": eng.model, "seconds_per_excerpt": round(secs / len(excerpts), 3),
                         **({"model_calls_this_run": uncached,
                             "model_s_per_call": round(model_s / uncached, 2) if uncached else None,
                             "params": eng.params} if name == "llm" else {}),
                         **{k: v for k, v in r.items() if k != "per_code"}, "per_code": r["per_code"],
                         "errors": sum(res.error is not None for res in results)}
            log(f"{name} on the {len(sub)}-answer sample: mean kappa {r['mean_kappa']}, AC1 {r['mean_ac1']}, "
                f"micro F1 {r['micro_f1']}, {secs / len(excerpts):.2f}s per answer")
        project.close()
    return {"engine": "llm", "gguf": str(gguf), "gguf_sha256": digest.hexdigest(), "sample": len(sub),
            "sample_stratified_by": "first category", "llm_mode": "settings.suggest defaults", **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--engine", choices=["offline", "llm"], default="offline")
    ap.add_argument("--gguf", type=Path, help="GGUF model file (with --engine llm)")
    ap.add_argument("--sample", type=int, default=300, help="stratified sample size (with --engine llm)")
    ap.add_argument("--top-k", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fractions", type=float, nargs="*", default=[0.1, 0.2, 0.5])
    ap.add_argument("--keep-unlabellable", action="store_true",
                    help="keep the 'Labelling not possible' answers as answers with no code")
    ap.add_argument("--limit", type=int, help="only the first N answers (a quick look; not the benchmark)")
    ap.add_argument("--keep", type=Path, help="with --engine llm: the sample's project folder, kept so a rerun "
                    "resumes from its response cache")
    ap.add_argument("--reply", choices=["auto", "numbered", "named"], default="auto",
                    help="with --engine llm: settings.suggest.llm_reply (default: the product's, auto)")
    ap.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                    help="override a ScorerParams/LearnParams field (tune on PDPilot AND here, never one alone)")
    args = ap.parse_args()
    rows, book = load(args.data, args.keep_unlabellable)
    if args.limit:
        rows = rows[: args.limit]
    head = {"benchmark": "precode_nhs_feedback", "unit": "one FFT answer (gold multi-label)",
            "unlabellable": "kept as no-code answers" if args.keep_unlabellable else "left out",
            "code_uses": dict(Counter(c for r in rows for c in r["codes"]).most_common())}
    if args.engine == "llm":
        if not args.gguf or not args.gguf.is_file():
            sys.exit("--engine llm needs --gguf PATH to a GGUF file")
        emit({**head, **run_llm(rows, book, args.gguf, args.sample, args.seed, args.top_k, args.keep, args.reply)})
        return
    override = {k: float(v) for k, v in (a.split("=", 1) for a in args.set)}
    emit({**head, **run_offline(rows, book, args.top_k, args.fractions, args.seed, override),
          "params_override": override, "note": "2-core machine shared with other jobs while measured"})


if __name__ == "__main__":
    main()
