"""Batch pre-coding: run a suggestion engine over many excerpts, resumably.

- Progress goes to a `progress(done, total)` callback (the CLI draws a bar with rate and ETA).
- Each excerpt's suggestions and its run item are written in one transaction, so after Ctrl-C or a
  crash a rerun with the same engine and parameters resumes the unfinished run and skips finished
  excerpts (failed ones are retried).
- LLM calls run with bounded concurrency (settings.llm.concurrency), except that a model which is
  not thread-safe (an in-process GGUF model) gets one call at a time however concurrency is set:
  the provider declares it (`llm.providers.parallel_calls`) and the report says so in `notes`.
  Back-off on rate limits is in `llm.structured`; the run stops before its estimated spend would
  exceed `budget_usd`.
- `dry_run` renders exactly what would be sent (pseudonymised for remote models) with a token and
  cost estimate, and calls no model."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from assistant.coding.selection import select_excerpts
from assistant.coding.suggest import (
    EngineResult,
    SuggestContext,
    SuggestionEngine,
    make_engine,
    record_results,
)
from assistant.errors import ThematicError
from assistant.models import StoredCode, StoredExcerpt
from assistant.project import Project

Progress = Callable[[int, int], None]
OUTPUT_TOKENS_PER_EXCERPT = 150  # assumption for estimates: a typical reply with 1-3 codes


@dataclass
class PrecodeReport:
    run_id: str
    engine: str
    model: str
    status: str = "running"  # done | interrupted | budget | running
    resumed: bool = False
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped_finished: int = 0
    skipped_interviewer: int = 0
    not_started: int = 0
    suggestions: int = 0
    per_code: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    cached_calls: int = 0
    model_calls: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    rate_per_s: float = 0.0
    concurrency: int = 1  # calls actually in flight at once
    notes: list[str] = field(default_factory=list)  # what the summary must tell the analyst
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DryRunReport:
    engine: str
    model: str
    remote: bool
    remote_allowed: bool
    pseudonymised: bool
    excerpts: int
    prompts: list[dict[str, Any]]
    input_tokens: int
    output_tokens: int
    token_method: str
    cost_usd: float
    note: str = ""


def _run_key(engine: SuggestionEngine, codes: list[StoredCode], filters: Any, include_interviewer: bool) -> tuple[str, dict]:
    params = {"engine": engine.name, "model": engine.model, "prompt_version": engine.prompt_version,
              "engine_params": engine.params, "codes": sorted(c.id for c in codes),
              "filters": filters or {}, "include_interviewer": include_interviewer}
    key = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return key, {**params, "key": key}


def _find_run(project: Project, key: str, run_id: str | None, engine: str) -> tuple[str, bool]:
    if run_id:
        return run_id, project.store.get_run(run_id) is not None
    for r in reversed(project.store.list_runs("precode")):
        if r["params"].get("key") == key and r["status"] != "done":
            return r["id"], True
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"precode-{engine}-{key[:8]}-{stamp}", False


def precode(
    project: Project, engine: str | SuggestionEngine = "offline", codes: list[str] | None = None,
    filters: dict[str, Any] | None = None, concurrency: int | None = None, budget_usd: float | None = None,
    run_id: str | None = None, include_interviewer: bool = False, chat_model: Any = None,
    progress: Progress | None = None, batch_size: int = 64, validation: int | str | None = "latest",
) -> PrecodeReport:
    """`validation`: the validation report that gates the run (`coding.validation`): "latest" =
    the latest accepted one if there is any, an id = that report, None = no gate."""
    from assistant.coding.codebook import resolve_codes

    t0 = time.perf_counter()
    code_list = resolve_codes(project, codes)
    if not code_list:
        raise ThematicError("the codebook is empty: import one first (`thematic codebook import FILE`)")
    eng = make_engine(project, engine, chat_model) if isinstance(engine, str) else engine
    eng, code_list, gate_notes = apply_gate(project, eng, code_list, validation)
    excerpts, skipped_int = select_excerpts(project, filters, include_interviewer)
    key, params = _run_key(eng, code_list, filters, include_interviewer)
    rid, resumed = _find_run(project, key, run_id, eng.name)
    store = project.store
    finished = {k for k, v in store.run_items(rid).items() if v == "done"} if resumed else set()
    todo = [e for e in excerpts if e.id not in finished]
    rep = PrecodeReport(run_id=rid, engine=eng.name, model=eng.model, resumed=resumed, total=len(excerpts),
                        skipped_finished=len(excerpts) - len(todo), skipped_interviewer=skipped_int,
                        notes=list(gate_notes))
    store.start_run(rid, "precode", eng.name, params)
    store.audit(project.analyst, "precode.start" if not resumed else "precode.resume", "run", None, run_id=rid,
                todo=len(todo), **eng.audit_info())
    ctx = SuggestContext.for_project(project, rid)
    names = {c.id: c.name for c in code_list}
    counter: Counter = Counter()
    per_code: Counter = Counter()

    def absorb(batch: list[StoredExcerpt], results: list[EngineResult]) -> None:
        saved = record_results(project, eng, {e.id: e for e in batch}, results, rid)
        for r in results:
            rep.cost_usd += r.cost_usd
            if r.call:
                rep.cached_calls += int(bool(r.call.get("cached")))
                rep.model_calls += int(r.call.get("model_calls") or 0)
        tally_results(rep, results, saved, counter, per_code, names)
        if progress:
            progress(rep.skipped_finished + rep.done + rep.failed, rep.total)

    status = "done"
    try:
        eng.prepare(code_list, ctx)
        if progress:
            progress(rep.skipped_finished, rep.total)
        if eng.name == "llm":
            status = _run_llm(project, eng, todo, code_list, ctx, absorb, rep, concurrency, budget_usd)
        else:
            for i in range(0, len(todo), batch_size):
                batch = todo[i : i + batch_size]
                absorb(batch, eng.suggest(batch, code_list, ctx))
    except BaseException:
        rep.status = "interrupted"
        _finish(project, rep, counter, per_code, t0)
        raise
    rep.status = status
    return _finish(project, rep, counter, per_code, t0)


def apply_gate(project: Project, eng: Any, code_list: list[StoredCode], validation: int | str | None
               ) -> tuple[Any, list[StoredCode], list[str]]:
    """The validation gate (`coding.validation`) as every pre-coding run applies it, on either
    executor: "latest" = the latest accepted report if there is any, an id = that report, None =
    no gate. Returns the (possibly gated) engine, the codes left to run and a note saying why."""
    if validation is None:
        return eng, code_list, []
    from assistant.coding.validation import GatedEngine, gate_for

    gate = None
    if validation == "latest":
        if any(v["status"] == "accepted" for v in project.store.list_validations()):
            gate = gate_for(project)
    else:
        gate = gate_for(project, int(validation))
    if gate is None:
        return eng, code_list, []
    names = {c.id: c.name for c in code_list}
    left = [names[i] for i in sorted(gate.excluded) if i in names]
    code_list = [c for c in code_list if c.id not in gate.excluded]
    note = (f"gated by validation {gate.validation_id}: "
            + (f"left out {len(left)} code(s) below the bar ({', '.join(left)})" if left
               else f"{len(gate.flagged)} code(s) below the bar flagged in the queue"))
    if not code_list:
        raise ThematicError(f"validation {gate.validation_id} left no code above its bar: nothing to run")
    return GatedEngine(eng, gate), code_list, [note]


def tally_results(rep: PrecodeReport, results: list[EngineResult], saved: list, counter: Counter,
                  per_code: Counter, names: dict[int, str]) -> None:
    """Count one batch of engine results into the run's report: done or failed (the first 20
    errors kept), the engines' counters, and the suggestions written per code."""
    for r in results:
        counter.update(r.counts)
        if r.error:
            rep.failed += 1
            if len(rep.errors) < 20:
                rep.errors.append({"excerpt_id": r.excerpt_id, "error": r.error})
        else:
            rep.done += 1
    for s in saved:
        per_code[names.get(s.code_id, s.proposed_name or "?") if s.code_id else f"(new) {s.proposed_name}"] += 1
    rep.suggestions += len(saved)


def _run_llm(project: Project, eng: Any, todo: list[StoredExcerpt], codes: list[StoredCode], ctx: SuggestContext,
             absorb: Callable, rep: PrecodeReport, concurrency: int | None, budget: float | None) -> str:
    requested = max(1, concurrency or project.settings.llm.concurrency)
    limit = getattr(eng, "parallel_calls", None)
    workers = limit(requested) if callable(limit) else requested
    rep.concurrency = workers
    if workers < requested:
        rep.notes.append(f"{eng.model} runs inside this process and is not thread-safe, so it ran one call at a "
                         f"time (concurrency {requested} was asked for)")
    per_excerpt = _estimate_cost(project, eng, todo[:3], codes, ctx) if budget is not None else 0.0
    pending: dict[Future, StoredExcerpt] = {}
    queue = list(todo)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            while queue or pending:
                while queue and len(pending) < workers:
                    if budget is not None and rep.cost_usd + per_excerpt * (len(pending) + 1) > budget:
                        queue_left = len(queue)
                        queue.clear()
                        rep.not_started = queue_left
                        break
                    e = queue.pop(0)
                    pending[pool.submit(eng.suggest_one, e, codes, ctx)] = e
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for f in done:
                    e = pending.pop(f)
                    absorb([e], [f.result()])
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    return "budget" if rep.not_started else "done"


def _estimate_cost(project: Project, eng: Any, sample: list[StoredExcerpt], codes: list[StoredCode], ctx: SuggestContext) -> float:
    from assistant.coding.suggest.schema import SuggestOutput
    from assistant.llm.structured import estimate_tokens, render_messages

    if not sample:
        return 0.0
    llm = project.settings.llm
    toks = []
    for e in sample:  # a session per prompt, as a real call does, so estimates never renumber tokens
        session = eng.pseudonymiser.session() if eng.pseudonymiser else None
        _, msgs = render_messages(eng.template, eng.prompt_for(e, codes, ctx)[1], session, SuggestOutput)
        toks.append(estimate_tokens("\n".join(str(m.content) for m in msgs))[0])
    n_in = sum(toks) / len(toks)
    return n_in / 1000 * llm.usd_per_1k_input + OUTPUT_TOKENS_PER_EXCERPT / 1000 * llm.usd_per_1k_output


def _finish(project: Project, rep: PrecodeReport, counter: Counter, per_code: Counter, t0: float) -> PrecodeReport:
    rep.counts = dict(counter)
    rep.per_code = dict(per_code.most_common())
    rep.seconds = round(time.perf_counter() - t0, 3)
    rep.rate_per_s = round((rep.done + rep.failed) / rep.seconds, 2) if rep.seconds else 0.0
    rep.cost_usd = round(rep.cost_usd, 6)
    stats = {k: v for k, v in vars(rep).items() if k not in ("errors",)}
    project.store.finish_run(rep.run_id, rep.status, stats)
    project.store.audit(project.analyst, "precode.finish", "run", None, run_id=rep.run_id, status=rep.status,
                        done=rep.done, failed=rep.failed, suggestions=rep.suggestions, counts=rep.counts,
                        cost_usd=rep.cost_usd, concurrency=rep.concurrency, notes=rep.notes)
    return rep


def dry_run(project: Project, codes: list[str] | None = None, filters: dict[str, Any] | None = None, n: int = 2,
            include_interviewer: bool = False) -> DryRunReport:
    """What an LLM pre-coding run would send, and roughly what it would cost. Calls no model."""
    from assistant.coding.codebook import resolve_codes
    from assistant.coding.suggest.assisted import llm_engine_for
    from assistant.coding.suggest.schema import SuggestOutput
    from assistant.llm.structured import estimate_tokens, render_messages

    llm = project.settings.llm
    code_list = resolve_codes(project, codes)
    excerpts, _ = select_excerpts(project, filters, include_interviewer)
    eng: Any = llm_engine_for(project, dry_run=True)
    pseud = eng.pseudonymiser
    ctx = SuggestContext.for_project(project)
    eng.prepare(code_list, ctx)
    prompts, total, method = [], 0, "chars/4"
    for i, e in enumerate(excerpts):
        _, msgs = render_messages(eng.template, eng.prompt_for(e, code_list, ctx)[1],
                                  pseud.session() if pseud else None, SuggestOutput)
        text = "\n".join(str(m.content) for m in msgs)
        t, method = estimate_tokens(text)
        total += t
        if i < n:
            prompts.append({"excerpt_id": e.id, "tokens": t, "system": str(msgs[0].content), "user": str(msgs[1].content)})
    out_toks = OUTPUT_TOKENS_PER_EXCERPT * len(excerpts)
    cost = total / 1000 * llm.usd_per_1k_input + out_toks / 1000 * llm.usd_per_1k_output
    return DryRunReport(engine="llm", model=eng.model, remote=llm.is_remote, remote_allowed=llm.allow_remote,
                        pseudonymised=pseud is not None, excerpts=len(excerpts), prompts=prompts, input_tokens=total,
                        output_tokens=out_toks, token_method=method, cost_usd=round(cost, 4),
                        note=f"output tokens assume {OUTPUT_TOKENS_PER_EXCERPT} per excerpt; cached replies cost nothing")
