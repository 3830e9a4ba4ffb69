"""The validation gate: before the AI codes a whole corpus, measure how well it agrees with the
analyst on this corpus, per code, and keep the codes it cannot yet be trusted with out of the batch.

The flow (the CLI `thematic validate` and the workspace page are faces over these functions):
1. `draw_sample` picks a seeded sample of codable excerpts stratified across sources and
   participants (default 40) and starts blind periods (`coding.blind`) for the analyst on their
   sources, so the AI's suggestions are hidden while they code them.
2. The analyst codes the sample (hand coding, anywhere) and marks the excerpts where no code
   applies (`mark_no_code`); an excerpt neither coded nor marked is "not yet coded" and left out.
3. `run_validation` has the engine (offline or LLM, whichever is configured) code the same sample
   *without* learning from those codings (they are its `SuggestContext.holdout`), and compares,
   per code: Cohen's kappa, Gwet's AC1, prevalence, precision and recall (engine against the
   analyst), each with a seeded percentile bootstrap interval over the sampled excerpts. Codes
   whose figure is under the analyst's bar are marked `below_bar`; codes nobody applied in the
   sample are `unassessed` (the sample says nothing about them). The blind periods end. An LLM
   report also scores the offline engine on the same sample (`baseline`) and warns when that
   agreed more with the analyst: the LLM engine must earn its place on this corpus.
4. `accept_validation` makes a report the one a batch run is gated by: `gate_engine` wraps the
   engine so codes below the bar are left out of the run (action "exclude") or proposed with a
   `below_validation_bar` flag (action "flag"); unassessed codes carry `not_validated`. Every
   suggestion of the run names the report in its params (and so in its audit row).

Point estimates use `coding.agreement`'s functions; the bootstrap uses the same closed forms over
2x2 counts, vectorised (tests check they agree), so 2,000 resamples of 50 codes take milliseconds."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from assistant.coding.agreement import cohen_kappa, gwet_ac1, prf
from assistant.coding.suggest import (
    EngineResult,
    SuggestContext,
    SuggestionEngine,
    make_engine,
)
from assistant.errors import ThematicError
from assistant.models import StoredCode, StoredExcerpt, is_ai_coder
from assistant.project import Project

METRICS = ("kappa", "ac1", "precision", "recall")
FLAG_BELOW_BAR = "below_validation_bar"
FLAG_NOT_VALIDATED = "not_validated"
DEFAULT_SIZE = 40
BOOTSTRAP = 2000


@dataclass
class Bar:
    """What a code must reach to be trusted in a batch run: `metric` ("kappa", "ac1",
    "precision", "recall") at `bound` ("low" = the interval's lower end, the cautious default, or
    "point") at least `minimum`; `action` for a code below it: "exclude" it from the run or "flag"
    its suggestions in the queue."""

    metric: str = "kappa"
    bound: Literal["low", "point"] = "low"
    minimum: float = 0.4
    action: Literal["exclude", "flag"] = "flag"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ThematicError(f"the bar's metric must be one of {', '.join(METRICS)} (got {self.metric!r})")
        if self.bound not in ("low", "point"):
            raise ThematicError(f"the bar's bound must be low or point (got {self.bound!r})")
        if self.action not in ("exclude", "flag"):
            raise ThematicError(f"the bar's action must be exclude or flag (got {self.action!r})")

    def words(self) -> str:
        which = "lower end of the 95% interval of" if self.bound == "low" else ""
        return f"{which} {self.metric} >= {self.minimum:g}; below it: {self.action}".strip()


# --- sampling ------------------------------------------------------------------------------------


def stratum_of(e: StoredExcerpt, source_name: str) -> str:
    """Sources and participants: an excerpt's stratum is its source and speaker."""
    return f"{source_name} / {e.speaker}" if e.speaker else source_name


def stratified_sample(strata: dict[str, list[int]], size: int, seed: int) -> list[int]:
    """`size` ids spread over the strata: every stratum gets one before any gets two (when there
    are more strata than the size, a seeded choice of strata), the rest in proportion to the
    strata's sizes (largest remainder). Deterministic for a seed; ids within a stratum are a
    seeded shuffle. Pure, so tests can check the spread."""
    rng = random.Random(seed)
    pools = {k: rng.sample(v, len(v)) for k, v in sorted(strata.items()) if v}
    total = sum(len(v) for v in pools.values())
    size = min(size, total)
    keys = list(pools)
    rng.shuffle(keys)
    if size <= len(keys):
        return sorted(pools[k][0] for k in keys[:size])
    take = {k: 1 for k in keys}
    rest = size - len(keys)
    spare = {k: len(pools[k]) - 1 for k in keys}
    spare_total = sum(spare.values())
    quota = {k: rest * spare[k] / spare_total if spare_total else 0 for k in keys}
    for k in keys:
        take[k] += int(quota[k])
    left = size - sum(take.values())
    for k in sorted(keys, key=lambda k: -(quota[k] - int(quota[k]))):
        if left <= 0:
            break
        if take[k] < len(pools[k]):
            take[k] += 1
            left -= 1
    for k in keys:  # anything still left (a stratum ran out): wherever there is room
        while left > 0 and take[k] < len(pools[k]):
            take[k] += 1
            left -= 1
    return sorted(i for k in keys for i in pools[k][: take[k]])


def draw_sample(project: Project, size: int = DEFAULT_SIZE, seed: int = 0, coder: str | None = None,
                filters: dict[str, Any] | None = None) -> int:
    """Draw and store a validation sample; start blind coding of its sources for `coder` (the
    analyst by default). Returns the validation's id."""
    from assistant.coding.blind import set_blind
    from assistant.coding.selection import select_excerpts

    if size < 2:
        raise ThematicError("a validation sample needs at least 2 excerpts (40 is a sound default)")
    coder = coder or project.analyst
    if is_ai_coder(coder):
        raise ThematicError(f"{coder} is the AI: the analyst codes the validation sample")
    excerpts, _ = select_excerpts(project, filters)
    if not excerpts:
        raise ThematicError("no excerpts to sample: ingest sources first")
    names = {s.id: s.name for s in project.store.list_sources()}
    by_id = {e.id: e for e in excerpts}
    strata: dict[str, list[int]] = {}
    for e in excerpts:
        strata.setdefault(stratum_of(e, names.get(e.source_id, "?")), []).append(e.id)
    chosen = stratified_sample(strata, size, seed)
    items = [(i, by_id[i].source_id, stratum_of(by_id[i], names.get(by_id[i].source_id, "?"))) for i in chosen]
    store = project.store
    with store.transaction():
        vid = store.add_validation_row(coder, len(chosen), seed, project.analyst, items)
        set_blind(project, coder, sorted({s for _, s, _ in items}))
        store.audit(project.analyst, "validation.sample", "validation", vid, coder=coder, size=len(chosen),
                    asked=size, seed=seed, strata=len({st for _, _, st in items}), filters=filters or {})
    return vid


def mark_no_code(project: Project, validation_id: int, excerpt_ids: Sequence[int], no_code: bool = True) -> int:
    """The analyst says no code applies to these sample excerpts (or takes that back)."""
    store = project.store
    with store.transaction():
        v = store.get_validation(validation_id)
        changed = [int(i) for i in excerpt_ids if store.set_validation_no_code(v["id"], int(i), no_code)]
        missing = sorted(set(map(int, excerpt_ids)) - set(changed))
        if missing:
            raise ThematicError(f"excerpt(s) {', '.join(map(str, missing))} are not in validation {v['id']}'s sample")
        store.audit(project.analyst, "validation.no_code", "validation", v["id"], excerpt_ids=changed,
                    no_code=bool(no_code))
    return len(changed)


def sample_excerpts(project: Project, validation_id: int) -> list[StoredExcerpt]:
    items = project.store.validation_items(validation_id)
    exs = {e.id: e for e in project.store.list_excerpts(ids=[i["excerpt_id"] for i in items])}
    return [exs[i["excerpt_id"]] for i in items if i["excerpt_id"] in exs]


def analyst_labels(project: Project, validation_id: int, overlap: float = 0.5
                   ) -> tuple[dict[int, set[int]], list[int]]:
    """(per sample excerpt the analyst decided on: the code ids they applied, the ids not yet
    coded). "Decided" = coded with at least one code, or marked no-code."""
    from assistant.coding.agreement import _labels, coder_codings

    v = project.store.get_validation(validation_id)
    items = project.store.validation_items(validation_id)
    exs = sample_excerpts(project, validation_id)
    coded, applied = _labels(coder_codings(project, v["coder"]), exs, overlap)
    none = {i["excerpt_id"] for i in items if i["no_code"]}
    out: dict[int, set[int]] = {}
    todo: list[int] = []
    for e in exs:
        if e.id in applied:
            out[e.id] = set(applied[e.id])
        elif e.id in none or e.id in coded:
            out[e.id] = set()
        else:
            todo.append(e.id)
    return out, todo


# --- statistics ----------------------------------------------------------------------------------


def _binary_stats(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> dict[str, np.ndarray]:
    """Kappa, AC1, precision, recall, prevalence from 2x2 counts (arrays: one per resample);
    NaN where a figure is undefined, as the point functions return None."""
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        po = (tp + tn) / n
        ph, pa = (tp + fn) / n, (tp + fp) / n
        pe = ph * pa + (1 - ph) * (1 - pa)
        kappa = np.where(np.isclose(pe, 1.0), np.nan, (po - pe) / (1 - pe))
        pi = (ph + pa) / 2
        pe1 = 2 * pi * (1 - pi)  # q = 2 categories
        ac1 = np.where(np.isclose(pe1, 1.0), np.nan, (po - pe1) / (1 - pe1))
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
    return {"kappa": kappa, "ac1": ac1, "precision": precision, "recall": recall, "prevalence": ph}


def bootstrap_intervals(human: np.ndarray, engine: np.ndarray, n_boot: int = BOOTSTRAP, seed: int = 0,
                        level: float = 0.95) -> dict[str, tuple[float | None, float | None]]:
    """Percentile bootstrap intervals (resampling the sampled excerpts) for each code column of
    the (units x codes) boolean arrays, per metric: {metric: (low array, high array)}. A figure
    undefined in more than half the resamples gets no interval (None)."""
    rng = np.random.default_rng(seed)
    n = human.shape[0]
    idx = rng.integers(0, n, size=(n_boot, n))
    h, a = human[idx], engine[idx]  # (B, n, C)
    tp = (h & a).sum(1).astype(float)
    fp = (~h & a).sum(1).astype(float)
    fn = (h & ~a).sum(1).astype(float)
    tn = (~h & ~a).sum(1).astype(float)
    stats = _binary_stats(tp, fp, fn, tn)
    alpha = (1 - level) / 2
    out: dict[str, Any] = {}
    for m in (*METRICS, "prevalence"):
        vals = stats[m]  # (B, C)
        defined = np.isfinite(vals)
        lo = np.full(vals.shape[1], np.nan)
        hi = np.full(vals.shape[1], np.nan)
        for j in range(vals.shape[1]):
            if defined[:, j].mean() > 0.5:
                col = vals[defined[:, j], j]
                lo[j], hi[j] = np.quantile(col, alpha), np.quantile(col, 1 - alpha)
        out[m] = (lo, hi)
    return out


def _r(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def code_rows(codes: Sequence[StoredCode], human: np.ndarray, engine: np.ndarray, bar: Bar,
              seed: int = 0, n_boot: int = BOOTSTRAP) -> list[dict[str, Any]]:
    """Per code: the point figures (agreement.py's functions), their intervals and the verdict."""
    cis = bootstrap_intervals(human, engine, n_boot, seed) if len(human) else {}
    rows = []
    for j, c in enumerate(codes):
        h, a = [bool(x) for x in human[:, j]], [bool(x) for x in engine[:, j]]
        p, r, _ = prf(h, a)
        point = {"kappa": cohen_kappa(h, a), "ac1": gwet_ac1(h, a, [False, True]), "precision": p, "recall": r}
        row: dict[str, Any] = {"code_id": c.id, "code": c.name, "units": len(h), "analyst_yes": sum(h),
                               "engine_yes": sum(a), "both_yes": sum(x and y for x, y in zip(h, a)),
                               "prevalence": _r(sum(h) / len(h)) if h else None}
        for m in METRICS:
            lo, hi = cis[m] if cis else ((np.array([np.nan] * len(codes)),) * 2)
            row[m] = _r(point[m])
            row[f"{m}_low"], row[f"{m}_high"] = _r(lo[j]), _r(hi[j])
        if not any(h) and not any(a):
            row["status"], row["why"] = "unassessed", "neither the analyst nor the engine applied it in the sample"
        else:
            value = row[f"{bar.metric}_low"] if bar.bound == "low" else row[bar.metric]
            if value is None or value < bar.minimum:
                shown = "undefined" if value is None else f"{value:.2f}"
                row["status"], row["why"] = "below_bar", f"{bar.metric} {'lower bound ' if bar.bound == 'low' else ''}{shown} < {bar.minimum:g}"
            else:
                row["status"], row["why"] = "passes", f"{bar.metric} {'lower bound ' if bar.bound == 'low' else ''}{value:.2f} >= {bar.minimum:g}"
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assessed = [r for r in rows if r["status"] != "unassessed"]

    def mean(key: str) -> float | None:
        vals = [r[key] for r in assessed if r[key] is not None]
        return round(float(np.mean(vals)), 4) if vals else None

    return {"codes": len(rows), "assessed": len(assessed), "passes": sum(r["status"] == "passes" for r in rows),
            "below_bar": sum(r["status"] == "below_bar" for r in rows),
            "unassessed": sum(r["status"] == "unassessed" for r in rows),
            **{f"mean_{m}": mean(m) for m in (*METRICS, "prevalence")}}


# --- running the engine on the sample ------------------------------------------------------------


def default_engine(project: Project) -> str:
    """The engine batch runs would use: the LLM engine when a model is configured, else offline."""
    return "llm" if project.settings.llm.provider != "none" else "offline"


def run_validation(project: Project, validation_id: int | None = None, bar: Bar | None = None,
                   engine: str | SuggestionEngine | None = None, chat_model: Any = None,
                   n_boot: int = BOOTSTRAP, end_blind: bool = True) -> dict[str, Any]:
    """Code the sample with the engine (never learning from the sample's codings), compare with
    the analyst, save the report (status "run") and end the blind periods. Returns the report."""
    from assistant.coding.blind import set_blind
    from assistant.coding.codebook import resolve_codes

    store = project.store
    vid = validation_id if validation_id is not None else latest_validation(project, ("sampled", "run"))
    v = store.get_validation(vid)
    bar = bar or Bar(**v["bar"]) if (bar or v["bar"]) else Bar()
    decided, todo = analyst_labels(project, vid)
    if len(decided) < 2:
        raise ThematicError(f"validation {vid}: code the sample first ({len(todo)} of its excerpts are not yet coded;"
                            f" mark those where no code applies with `thematic validate none`)")
    codes = resolve_codes(project, None)
    if not codes:
        raise ThematicError("the codebook is empty: import one first (`thematic codebook import FILE`)")
    excerpts = [e for e in sample_excerpts(project, vid) if e.id in decided]
    holdout = frozenset(e.id for e in sample_excerpts(project, vid))
    eng = make_engine(project, engine or default_engine(project), chat_model) if not isinstance(engine, SuggestionEngine) else engine
    ctx = SuggestContext.for_project(project, None, holdout)
    eng.prepare(codes, ctx)
    results = _suggest_all(eng, excerpts, codes, ctx)
    col = {c.id: j for j, c in enumerate(codes)}
    human = np.zeros((len(excerpts), len(codes)), bool)
    for i, e in enumerate(excerpts):
        for cid in decided[e.id]:
            if cid in col:
                human[i, col[cid]] = True
    machine, predictions, errors = _engine_matrix(excerpts, results, col)
    rows = code_rows(codes, human, machine, bar, seed=int(v["seed"]), n_boot=n_boot)
    report = {"validation_id": vid, "coder": v["coder"], "engine": eng.name, "model": eng.model,
              "prompt_version": eng.prompt_version, "bar": vars(bar), "bar_words": bar.words(),
              "units": len(excerpts), "sample_size": v["size"], "not_yet_coded": todo, "engine_errors": errors,
              "bootstrap": {"resamples": n_boot, "seed": int(v["seed"]), "level": 0.95, "method": "percentile"},
              "summary": _summary(rows), "codes": rows, "analyst": {str(e.id): sorted(decided[e.id]) for e in excerpts},
              "engine_codes": predictions, "holdout_excerpts": sorted(holdout)}
    if eng.name != "offline":
        report["baseline"] = _offline_baseline(project, codes, excerpts, ctx, human, col, bar, int(v["seed"]), rows)
    with store.transaction():
        store.save_validation_report(vid, eng.name, eng.model, vars(bar), report)
        store.audit(project.analyst, "validation.run", "validation", vid, engine=eng.name, model=eng.model,
                    bar=vars(bar), units=len(excerpts), summary=report["summary"],
                    **({"offline_summary": report["baseline"]["summary"],
                        "engine_below_offline": report["baseline"]["engine_below_offline"]}
                       if "baseline" in report else {}))
        if end_blind:
            set_blind(project, v["coder"], sorted({e.source_id for e in sample_excerpts(project, vid)}), on=False)
    return report


def _engine_matrix(excerpts: Sequence[StoredExcerpt], results: Sequence[EngineResult], col: dict[int, int]
                   ) -> tuple[np.ndarray, dict[str, list[dict[str, Any]]], int]:
    """Excerpts x codes: which codes the engine proposed; its proposals by excerpt; its errors."""
    machine = np.zeros((len(excerpts), len(col)), bool)
    predictions: dict[str, list[dict[str, Any]]] = {}
    for i, (e, res) in enumerate(zip(excerpts, results)):
        preds = []
        for p in res.proposals:
            if p.code_id in col:
                machine[i, col[p.code_id]] = True
                preds.append({"code_id": p.code_id, "score": round(float(p.score), 4)})
        predictions[str(e.id)] = preds
    return machine, predictions, sum(res.error is not None for res in results)


def _offline_baseline(project: Project, codes: list[StoredCode], excerpts: list[StoredExcerpt], ctx: SuggestContext,
                      human: np.ndarray, col: dict[int, int], bar: Bar, seed: int,
                      rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The offline engine on the same sample, under the same holdout. A small model can agree with
    the analyst less than the offline engine it builds on (measured: SmolLM2-135M on PDPilot), and
    this sample is the only evidence of that on this corpus, so every LLM report carries the
    comparison and says, per code and overall, which engine agreed more. It costs no model call."""
    off = make_engine(project, "offline")
    off.prepare(codes, ctx)
    machine, _, _ = _engine_matrix(excerpts, off.suggest(excerpts, codes, ctx), col)
    off_rows = code_rows(codes, human, machine, bar, seed=seed, n_boot=200)  # its point figures are what is used
    summary = _summary(off_rows)
    for r, o in zip(rows, off_rows):
        r["offline_kappa"] = o["kappa"]
    ours, theirs = _summary(rows)["mean_kappa"], summary["mean_kappa"]
    behind = ours is not None and theirs is not None and ours < theirs
    return {"engine": "offline", "model": off.model, "summary": summary, "engine_below_offline": behind,
            "advice": (f"the offline engine agreed more with the analyst on this sample (mean kappa {theirs:.2f}"
                       f" against {ours:.2f}): batch-code with it (`precode --engine offline`) unless the codes"
                       " you need pass the bar") if behind else ""}


def _suggest_all(eng: SuggestionEngine, excerpts: list[StoredExcerpt], codes: list[StoredCode],
                 ctx: SuggestContext) -> list[EngineResult]:
    one = getattr(eng, "suggest_one", None)
    if eng.name == "llm" and callable(one):
        return [one(e, codes, ctx) for e in excerpts]
    return eng.suggest(excerpts, codes, ctx)


def accept_validation(project: Project, validation_id: int) -> None:
    """Make this report the one batch runs are gated by (the latest accepted one is used)."""
    store = project.store
    with store.transaction():
        v = store.get_validation(validation_id)
        if v["status"] not in ("run", "accepted"):
            raise ThematicError(f"validation {validation_id} has no report yet: `thematic validate run` first")
        store.set_validation_status(v["id"], "accepted")
        store.audit(project.analyst, "validation.accept", "validation", v["id"], bar=v["bar"],
                    summary=v["report"].get("summary"))


def latest_validation(project: Project, statuses: Sequence[str] = ("accepted",)) -> int:
    rows = [v for v in project.store.list_validations() if v["status"] in statuses]
    if not rows:
        want = " or ".join(statuses)
        raise ThematicError(f"no validation {want} yet (start one with `thematic validate sample`)")
    key = "accepted_at" if statuses == ("accepted",) else "id"
    return int(max(rows, key=lambda v: (v.get(key) or "", v["id"]))["id"])


# --- gating a batch run --------------------------------------------------------------------------


@dataclass
class Gate:
    validation_id: int
    bar: dict[str, Any]
    excluded: set[int] = field(default_factory=set)
    flagged: set[int] = field(default_factory=set)
    unvalidated: set[int] = field(default_factory=set)

    def audit(self) -> dict[str, Any]:
        return {"validation_report": self.validation_id, "validation_bar": self.bar,
                "validation_excluded": sorted(self.excluded), "validation_flagged": sorted(self.flagged)}


def gate_for(project: Project, validation_id: int | None = None) -> Gate:
    """The gate of a report (the latest accepted one by default)."""
    vid = validation_id if validation_id is not None else latest_validation(project)
    v = project.store.get_validation(vid)
    if v["status"] not in ("run", "accepted"):
        raise ThematicError(f"validation {vid} has no report yet: `thematic validate run` first")
    bar = Bar(**v["bar"])
    g = Gate(validation_id=vid, bar=vars(bar))
    for row in v["report"].get("codes", []):
        if row["status"] == "below_bar":
            (g.excluded if bar.action == "exclude" else g.flagged).add(int(row["code_id"]))
        elif row["status"] == "unassessed":
            g.unvalidated.add(int(row["code_id"]))
    return g


class GatedEngine(SuggestionEngine):
    """An engine whose run is gated by a validation report: excluded codes are never proposed,
    flagged and unvalidated ones carry a flag, and every suggestion's params name the report."""

    def __init__(self, inner: SuggestionEngine, gate: Gate):
        self.inner, self.gate = inner, gate
        self.name, self.model, self.prompt_version = inner.name, inner.model, inner.prompt_version

    def __getattr__(self, attr: str) -> Any:  # suggest_one, parallel_calls, pseudonymiser, ...
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    @property
    def params(self) -> dict[str, Any]:
        return {**self.inner.params, **self.gate.audit()}

    def prepare(self, codes: list[StoredCode], context: SuggestContext) -> None:
        self.inner.prepare(self.codes(codes), context)

    def codes(self, codes: list[StoredCode]) -> list[StoredCode]:
        return [c for c in codes if c.id not in self.gate.excluded]

    def _mark(self, res: EngineResult) -> EngineResult:
        kept = []
        for p in res.proposals:
            if p.code_id in self.gate.excluded:
                continue
            if p.code_id in self.gate.flagged and FLAG_BELOW_BAR not in p.flags:
                p.flags.append(FLAG_BELOW_BAR)
            if p.code_id in self.gate.unvalidated and FLAG_NOT_VALIDATED not in p.flags:
                p.flags.append(FLAG_NOT_VALIDATED)
            kept.append(p)
        res.proposals = kept
        return res

    def suggest(self, excerpts: list[StoredExcerpt], codes: list[StoredCode], context: SuggestContext) -> list[EngineResult]:
        return [self._mark(r) for r in self.inner.suggest(excerpts, self.codes(codes), context)]

    def suggest_one(self, excerpt: StoredExcerpt, codes: list[StoredCode], context: SuggestContext) -> EngineResult:
        return self._mark(self.inner.suggest_one(excerpt, self.codes(codes), context))  # type: ignore[attr-defined]


# --- export --------------------------------------------------------------------------------------

_COLUMNS = ["code", "status", "units", "prevalence", "analyst_yes", "engine_yes", "both_yes",
            *[f"{m}{s}" for m in METRICS for s in ("", "_low", "_high")], "offline_kappa", "why"]


def report_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in report.get("codes", []):
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in _COLUMNS})
    return buf.getvalue()


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _md(text: str) -> str:
    """Code names are data: escape what Markdown would read as table syntax or markup."""
    return "".join("\\" + ch if ch in "\\|*_`[]<>#" else ch for ch in str(text)).replace("\n", " ")


def report_markdown(report: dict[str, Any]) -> str:
    s = report.get("summary", {})
    lines = [f"# Validation {report.get('validation_id')}: {report.get('engine')} engine against {_md(report.get('coder', ''))}",
             "", f"- Model: {_md(report.get('model') or 'none')}",
             (f"- Sample: {report.get('units')} excerpts coded by the analyst (of {report.get('sample_size')} drawn);"
              f" {len(report.get('not_yet_coded', []))} not yet coded were left out"),
             f"- Bar: {_md(report.get('bar_words', ''))}",
             (f"- Codes: {s.get('passes', 0)} pass, {s.get('below_bar', 0)} below the bar, {s.get('unassessed', 0)}"
              f" not assessed (nobody applied them in the sample)"),
             (f"- Mean over assessed codes: kappa {_f(s.get('mean_kappa'))}, AC1 {_f(s.get('mean_ac1'))},"
              f" precision {_f(s.get('mean_precision'))}, recall {_f(s.get('mean_recall'))}"),
             ("- Intervals: 95% percentile bootstrap over the sampled excerpts"
              f" ({report.get('bootstrap', {}).get('resamples')} resamples, seed {report.get('bootstrap', {}).get('seed')})"),
             *([baseline_words(report)] if report.get("baseline") else []),
             "", "| Code | Verdict | Prevalence | Kappa [95% CI] | AC1 [95% CI] | Precision [95% CI] | Recall [95% CI] |",
             "|---|---|---|---|---|---|---|"]
    for r in report.get("codes", []):
        cells = [f"{_f(r.get(m))} [{_f(r.get(m + '_low'))}, {_f(r.get(m + '_high'))}]" for m in METRICS]
        lines.append(f"| {_md(r['code'])} | {r['status'].replace('_', ' ')} | {_f(r.get('prevalence'))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def baseline_words(report: dict[str, Any]) -> str:
    """One line for any face: how the offline engine did on the same sample, and the advice when
    it agreed more with the analyst than the engine validated ("" for an offline report)."""
    b = report.get("baseline")
    if not b:
        return ""
    s = b["summary"]
    line = (f"- The offline engine on the same sample: mean kappa {_f(s.get('mean_kappa'))}, AC1 {_f(s.get('mean_ac1'))}"
            f"; codes passing the bar: {s.get('passes', 0)}")
    return line + (f". Warning: {b['advice']}" if b.get("engine_below_offline") else "")


def export_report(project: Project, validation_id: int, fmt: str, path: Any = None) -> Any:
    """Write the report as CSV or Markdown (atomically); returns the path."""
    from pathlib import Path

    from index.storage import write_text_atomic

    v = project.store.get_validation(validation_id)
    if not v["report"]:
        raise ThematicError(f"validation {validation_id} has no report yet: `thematic validate run` first")
    if fmt not in ("csv", "md"):
        raise ThematicError(f"export as csv or md (got {fmt!r})")
    text = report_csv(v["report"]) if fmt == "csv" else report_markdown(v["report"])
    target = Path(path) if path else project.exports_dir / f"validation-{validation_id}.{fmt}"
    write_text_atomic(target, text)
    project.store.audit(project.analyst, "validation.export", "validation", validation_id, format=fmt, path=str(target))
    return target
