"""Pre-coding a large corpus in blocks, on this machine or on Ray, with the offline engine's own
scoring code, so the suggestions are the ones an in-process `coding.precode.precode` run makes.

The run is today's precode run (same run key and run id, same `runs` / `run_items` rows, same
`record_results`), cut into blocks of excerpt ids (`batch.blocks`):
1. every excerpt's text and sentence vectors are put in the embedding cache (`batch.embed`,
   on the same executor), so the engine's fit and every worker read vectors, not run a model;
2. the driver fits the engine once (`OfflineEngine.prepare`: the background statistics, the
   analyst's decisions) and puts the fitted engine in the object store;
3. Ray Data maps blocks through an actor pool; each actor gets the fitted engine, reads its
   block's excerpts from the store and calls `OfflineEngine.suggest` (the exact in-process code,
   row by row independent of the batch it is in);
4. the driver writes each block's results (suggestions, their audit rows, the run items and the
   `batch_blocks` row) in ONE transaction. A block already recorded is never written again: it is
   skipped on resume, and a second insert of it would fail on the primary key and roll back.

A killed run is resumed by running the same command again (or with `--run-id`): finished blocks
are skipped, and so are finished excerpts of a block an in-process run had started."""

from __future__ import annotations

import pickle
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.batch.blocks import Block, BlockTimes, plan_blocks, todo_blocks
from assistant.batch.cluster import ActorOptions, check_executor, connect, worker_name
from assistant.batch.embed import (
    build_embedder,
    embed_corpus,
    embedder_spec,
    ray_block_stream,
)
from assistant.coding.precode import (
    PrecodeReport,
    _find_run,
    _finish,
    _run_key,
    apply_gate,
    select_excerpts,
    tally_results,
)
from assistant.coding.suggest import (
    EngineResult,
    SuggestContext,
    make_engine,
    record_results,
)
from assistant.errors import ThematicError
from assistant.models import StoredCode
from assistant.project import Project

Progress = Callable[[int, int], None]


class ScoreBlocks:
    """A Ray Data actor: holds one fitted engine whose embedding functions read the project's cache
    (with the actor's own model for anything missing, as in-process); scores a block per call."""

    def __init__(self, folder: str, spec: tuple[str, Any], engine_ref: list[Any], codes: list[StoredCode],
                 sources_ref: list[Any], run_id: str):
        import ray

        from assistant.coding.suggest.offline import project_embedders

        self.project = Project.open(folder)
        self.project.set_embedder(build_embedder(spec))
        self.engine = ray.get(engine_ref[0])
        embed, embed_sentences = project_embedders(self.project)
        self.engine.scorer.embed, self.engine.scorer.embed_sentences = embed, embed_sentences
        self.codes = codes
        self.ctx = SuggestContext(project=None, sources=ray.get(sources_ref[0]), run_id=run_id)  # type: ignore[arg-type]
        self.worker = worker_name()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"block": [], "seconds": [], "worker": [], "payload": []}
        for number, ids in zip(batch["block"], batch["ids"]):
            t0 = time.perf_counter()
            excerpts = self.project.store.list_excerpts(ids=[int(i) for i in ids])
            results = self.engine.suggest(excerpts, self.codes, self.ctx)
            out["block"].append(int(number))
            out["seconds"].append(time.perf_counter() - t0)
            out["worker"].append(self.worker)
            out["payload"].append(pickle.dumps(results, protocol=5))
        return out


def precode_blocks(
    project: Project, executor: str = "local", *, address: str | None = None, options: ActorOptions | None = None,
    codes: list[str] | None = None, filters: dict[str, Any] | None = None, run_id: str | None = None,
    include_interviewer: bool = False, progress: Progress | None = None, num_cpus: int | None = None,
    embed_first: bool = True, after_block: Callable[[int], None] | None = None,
    validation: int | str | None = "latest",
) -> PrecodeReport:
    """Offline pre-coding in blocks (see the module docstring). `after_block(n)` is called after
    the n-th block of this call is committed (progress hooks; tests use it to stop a run)."""
    from assistant.coding.codebook import resolve_codes

    check_executor(executor)
    options = options or ActorOptions()
    t0 = time.perf_counter()
    code_list = resolve_codes(project, codes)
    if not code_list:
        raise ThematicError("the codebook is empty: import one first (`thematic codebook import FILE`)")
    if embed_first:  # stage 1: vectors into the cache (resumable by itself)
        embed_corpus(project, executor, address=address, options=options, index=False, num_cpus=num_cpus)
    eng: Any = make_engine(project, "offline")
    eng, code_list, gate_notes = apply_gate(project, eng, code_list, validation)
    excerpts, skipped_int = select_excerpts(project, filters, include_interviewer)
    key, params = _run_key(eng, code_list, filters, include_interviewer)
    rid, resumed = _find_run(project, key, run_id, eng.name)
    store = project.store
    finished = {k for k, v in store.run_items(rid).items() if v == "done"} if resumed else set()
    blocks = plan_blocks([int(e.id) for e in excerpts], options.block_size)  # type: ignore[misc]
    todo, skipped_blocks = todo_blocks(blocks, store.list_blocks(rid) if resumed else [])
    todo = [Block(b.number, [i for i in b.ids if i not in finished]) for b in todo]
    todo_n = sum(len(b.ids) for b in todo)
    rep = PrecodeReport(run_id=rid, engine=eng.name, model=eng.model, resumed=resumed, total=len(excerpts),
                        skipped_finished=len(excerpts) - todo_n, skipped_interviewer=skipped_int,
                        notes=list(gate_notes))
    store.start_run(rid, "precode", eng.name, params)
    store.audit(project.analyst, "precode.resume" if resumed else "precode.start", "run", None, run_id=rid,
                todo=todo_n, executor=executor, blocks=len(todo), **eng.audit_info())
    ctx = SuggestContext.for_project(project, rid)
    names = {c.id: c.name for c in code_list}
    counter: Counter = Counter()
    per_code: Counter = Counter()
    times = BlockTimes()
    by_number = {b.number: b for b in todo}
    written = 0

    def absorb(block: Block, results: list[EngineResult], worker: str, seconds: float) -> None:
        nonlocal written
        if block.number in store.finished_blocks(rid):
            return  # never twice (a duplicate delivery would also fail on the primary key)
        batch = {int(e.id): e for e in store.list_excerpts(ids=block.ids)}  # type: ignore[misc]
        with store.transaction():  # one transaction: the block's results, run items and its record
            saved = record_results(project, eng, batch, results, rid)
            store.mark_block_done(rid, block.number, block.first_id, block.last_id, len(block.ids), worker,
                                  round(seconds, 4))
            store.audit(project.analyst, "batch.block", "run", None, run_id=rid, block=block.number,
                        items=len(block.ids), suggestions=len(saved), worker=worker)
        tally_results(rep, results, saved, counter, per_code, names)
        times.add(seconds, len(block.ids))
        written += 1
        if progress:
            progress(rep.skipped_finished + rep.done + rep.failed, rep.total)
        if after_block:
            after_block(written)

    try:
        eng.prepare(code_list, ctx)  # stage 2: fitted once, on the driver
        todo = [b for b in todo if b.ids]
        if executor == "ray" and todo:
            ray = connect(address, num_cpus)
            scorer = eng.scorer
            embed, embed_sentences = scorer.embed, scorer.embed_sentences
            scorer.embed = scorer.embed_sentences = None  # closures over this process's cache: not shipped
            try:
                engine_ref = ray.put(eng)
            finally:
                scorer.embed, scorer.embed_sentences = embed, embed_sentences
            scoped = any(c.scope for c in code_list)  # sources are only read for scoped codes
            sources_ref = ray.put(ctx.sources if scoped else {})
            ctor = {"folder": str(project.folder), "spec": embedder_spec(project, options),
                    "engine_ref": [engine_ref], "codes": code_list, "sources_ref": [sources_ref], "run_id": rid}
            for row in ray_block_stream(ray, todo, ScoreBlocks, ctor, options):
                absorb(by_number[int(row["block"])], pickle.loads(row["payload"]), str(row["worker"]),
                       float(row["seconds"]))
        else:
            for block in todo:
                tb = time.perf_counter()
                batch = store.list_excerpts(ids=block.ids)
                absorb(block, eng.suggest(batch, code_list, ctx), "local", time.perf_counter() - tb)
    except BaseException:
        rep.status = "interrupted"
        _finish(project, rep, counter, per_code, t0)
        raise
    rep.status = "done"
    rep.notes.append(f"{executor}: {len(todo)} blocks of up to {options.block_size} excerpts written, "
                     f"{skipped_blocks} skipped as already finished; {times.per_item * 1000:.2f} ms per excerpt "
                     "inside the workers")
    return _finish(project, rep, counter, per_code, t0)


def excerpts_coded_once(project: Project, run_id: str) -> dict[str, int]:
    """A check for a finished run: how many excerpts it coded, and how many it wrote twice (an
    excerpt with more than one live batch of suggestions from the run, or a block recorded twice)."""
    store = project.store
    items = store.run_items(run_id)
    per_excerpt: Counter = Counter()
    for s in store.list_suggestions(status=None):
        if s.run_id == run_id:
            per_excerpt[(s.excerpt_id, s.code_id, s.proposed_name)] += 1
    blocks = store.list_blocks(run_id)
    return {"items": len(items), "done": sum(1 for v in items.values() if v == "done"),
            "duplicate_suggestions": sum(1 for n in per_excerpt.values() if n > 1),
            "blocks": len(blocks), "duplicate_blocks": len(blocks) - len({b["block"] for b in blocks})}


__all__ = ["ScoreBlocks", "excerpts_coded_once", "precode_blocks"]
