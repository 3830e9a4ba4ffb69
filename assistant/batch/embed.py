"""Embedding a whole corpus in blocks, on this machine or on Ray, into the project's embedding
cache, from which the search index (`index.corpus_index`, a new generation folder) and the code
suggestion engine then read every vector without running the model again.

On Ray, Ray Data reads the blocks from the store (each worker opens the project), embeds them in an
actor pool (one model per actor: `ActorOptions`), and streams each block's vectors back; the driver
commits them to the cache and records the block (`batch_blocks`) with an audit row, so a killed
run resumes with the blocks it had not finished. Text and sentence vectors come from the same
call (`Embedder.embed_batch_with_sentences`) under the same keys as an in-process embedding, so
the two are interchangeable. On a cluster of several machines every node must see the project
folder (a shared filesystem), or the store is PostgreSQL and the folder is shared for the cache."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.batch.blocks import (
    Block,
    BlockTimes,
    new_run_id,
    plan_blocks,
    run_key,
    todo_blocks,
)
from assistant.batch.cluster import ActorOptions, check_executor, connect, worker_name
from assistant.project import Project
from index.embeddings import (
    Embedder,
    EmbeddingCache,
    SentenceTransformerEmbedder,
    embed_with_sentences_cache,
    excerpt_sentence_spans,
    sentence_key,
    text_key,
)

Progress = Callable[[int, int], None]


@dataclass
class EmbedReport:
    run_id: str
    executor: str
    model: str
    status: str = "running"
    resumed: bool = False
    blocks: int = 0
    blocks_skipped: int = 0
    excerpts: int = 0
    embedded: int = 0
    from_cache: int = 0
    seconds: float = 0.0
    rate_per_s: float = 0.0
    block_seconds: list[float] = field(default_factory=list)
    index: dict[str, int] | None = None


# --- the model on a worker --------------------------------------------------------------------------

def embedder_spec(project: Project, options: ActorOptions) -> tuple[str, Any]:
    """What a worker needs to build the project's embedder: the settings of the real model (each
    actor loads its own, with `cpus_per_actor` threads), or a picklable stand-in (tests)."""
    emb = project.embedder
    if isinstance(emb, SentenceTransformerEmbedder):
        s = project.settings.search.embedding
        device = "cuda" if options.gpus_per_actor > 0 else "cpu"
        return "sentence-transformers", {"model": s.model, "batch_size": options.batch_size,
                                         "batch_threads": max(1, int(options.cpus_per_actor)),
                                         "query_threads": 1, "device": device}
    return "object", emb


def build_embedder(spec: tuple[str, Any]) -> Embedder:
    kind, value = spec
    if kind == "sentence-transformers":
        return SentenceTransformerEmbedder(**value)
    return value


def embed_texts(embedder: Embedder, texts: list[str], batch_size: int) -> tuple[list[bytes], np.ndarray, list[bytes], list[np.ndarray]]:
    """(text keys, text vectors, sentence keys, sentence blocks) for distinct texts, longest first
    per batch as `embed_with_sentences_cache` does, so the vectors are the ones it would cache."""
    order = sorted(dict.fromkeys(texts), key=lambda t: -len(t))
    spans = [excerpt_sentence_spans(t) for t in order]
    xs: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    for i in range(0, len(order), batch_size):
        X, S = embedder.embed_batch_with_sentences(order[i : i + batch_size], spans[i : i + batch_size])
        xs.append(np.asarray(X, np.float32))
        blocks += [np.asarray(b, np.float32) for b in S]
    X = np.concatenate(xs) if xs else np.zeros((0, embedder.dim), np.float32)
    return [text_key(t) for t in order], X, [sentence_key(t, sp) for t, sp in zip(order, spans)], blocks


def missing_texts(cache: EmbeddingCache | None, model_id: str, dim: int, texts: list[str]) -> list[str]:
    """Texts lacking their vector or their sentence vectors in the cache."""
    distinct = list(dict.fromkeys(texts))
    if cache is None or not distinct:
        return distinct
    tk = {t: text_key(t) for t in distinct}
    sk = {t: sentence_key(t, excerpt_sentence_spans(t)) for t in distinct}
    got_v = cache.get_many(model_id, list(tk.values()), dim=dim)
    got_s = cache.get_sentences_many(model_id, list(sk.values()), dim)
    return [t for t in distinct if tk[t] not in got_v or sk[t] not in got_s]


class EmbedBlocks:
    """A Ray Data actor: opens the project (store and cache) and loads one model; each call reads a
    block's excerpt texts from the store and embeds those the cache lacks."""

    def __init__(self, folder: str, spec: tuple[str, Any], batch_size: int):
        self.project = Project.open(folder)
        self.embedder = build_embedder(spec)
        self.batch_size = batch_size
        self.cache = EmbeddingCache(self.project.index_dir / "embeddings.sqlite")
        self.worker = worker_name()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"block": [], "items": [], "embedded": [], "seconds": [], "worker": [],
                                     "payload": []}
        for number, ids in zip(batch["block"], batch["ids"]):
            t0 = time.perf_counter()
            texts = list(self.project.store.excerpt_texts([int(i) for i in ids]).values())
            todo = missing_texts(self.cache, self.embedder.model_id, self.embedder.dim, texts)
            payload = embed_texts(self.embedder, todo, self.batch_size)
            out["block"].append(int(number))
            out["items"].append(len(ids))
            out["embedded"].append(len(todo))
            out["seconds"].append(time.perf_counter() - t0)
            out["worker"].append(self.worker)
            out["payload"].append(pickle.dumps(payload, protocol=5))
        return out


def ray_block_stream(ray: Any, blocks: list[Block], actor_cls: type, ctor: dict[str, Any],
                     options: ActorOptions) -> Any:
    """Ray Data over the blocks: one row per block, mapped by an actor pool; iterated by the driver
    as results arrive (streaming, bounded by Ray Data's backpressure, not the corpus size)."""
    items = [{"block": b.number, "ids": b.ids} for b in blocks]
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 1000)))
    pool = ray.data.ActorPoolStrategy(size=max(1, options.actors))
    ds = ds.map_batches(actor_cls, fn_constructor_kwargs=ctor, batch_size=1, batch_format="numpy",
                        compute=pool, num_cpus=options.cpus_per_actor,
                        num_gpus=options.gpus_per_actor or None)
    return ds.iter_rows()


# --- the driver ---------------------------------------------------------------------------------------

def embed_corpus(
    project: Project, executor: str = "local", *, address: str | None = None,
    options: ActorOptions | None = None, run_id: str | None = None, index: bool = True,
    progress: Progress | None = None, num_cpus: int | None = None,
) -> EmbedReport:
    """Embed every excerpt not yet in the cache, block by block; then (with `index`) bring the
    search index up to date from the cache (a new generation folder; nothing is embedded again)."""
    check_executor(executor)
    options = options or ActorOptions()
    t0 = time.perf_counter()
    store = project.store
    model = project.embedder.model_id
    blocks = plan_blocks(store.excerpt_ids(), options.block_size)
    key = run_key({"kind": "embed", "model": model, "block_size": options.block_size,
                   "corpus": store.corpus_fingerprint()})
    rid, resumed = _find_run(project, "embed", key, run_id)
    todo, skipped = todo_blocks(blocks, store.list_blocks(rid) if resumed else [])
    rep = EmbedReport(run_id=rid, executor=executor, model=model, resumed=resumed, blocks=len(blocks),
                      blocks_skipped=skipped, excerpts=sum(len(b.ids) for b in blocks))
    store.start_run(rid, "embed", executor, {"key": key, "model": model, "block_size": options.block_size,
                                             "actors": options.actors, "batch_size": options.batch_size})
    store.audit(project.analyst, "embed.resume" if resumed else "embed.start", "run", None, run_id=rid,
                executor=executor, blocks=len(todo), model=model)
    cache = EmbeddingCache(project.index_dir / "embeddings.sqlite")
    times = BlockTimes()
    done_items = sum(len(b.ids) for b in blocks) - sum(len(b.ids) for b in todo)
    by_number = {b.number: b for b in todo}
    try:
        if progress:
            progress(done_items, rep.excerpts)
        if executor == "ray" and todo:
            ray = connect(address, num_cpus)
            ctor = {"folder": str(project.folder), "spec": embedder_spec(project, options),
                    "batch_size": options.batch_size}
            for row in ray_block_stream(ray, todo, EmbedBlocks, ctor, options):
                tkeys, X, skeys, sblocks = pickle.loads(row["payload"])
                if len(tkeys):
                    cache.put_many(model, tkeys, X)
                    cache.put_sentences_many(model, skeys, sblocks)
                block = by_number[int(row["block"])]
                _finish_block(project, rid, block, row["worker"], float(row["seconds"]), int(row["embedded"]))
                rep.embedded += int(row["embedded"])
                rep.from_cache += len(block.ids) - int(row["embedded"])
                times.add(float(row["seconds"]), len(block.ids))
                done_items += len(block.ids)
                if progress:
                    progress(done_items, rep.excerpts)
        else:
            embedder = project.embedder
            for block in todo:
                tb = time.perf_counter()
                texts = list(store.excerpt_texts(block.ids).values())
                n_missing = len(missing_texts(cache, model, embedder.dim, texts))
                embed_with_sentences_cache(embedder, texts, cache)
                seconds = time.perf_counter() - tb
                _finish_block(project, rid, block, "local", seconds, n_missing)
                rep.embedded += n_missing
                rep.from_cache += len(block.ids) - n_missing
                times.add(seconds, len(block.ids))
                done_items += len(block.ids)
                if progress:
                    progress(done_items, rep.excerpts)
    except BaseException:
        rep.status = "interrupted"
        _close(project, rep, t0, times)
        cache.close()
        raise
    cache.close()
    rep.status = "done"
    if index:
        from assistant.corpus.search import sync_index

        sync = sync_index(project)
        rep.index = {"added": sync.added, "removed": sync.removed, "changed": sync.changed, "embedded": sync.embedded}
    return _close(project, rep, t0, times)


def _finish_block(project: Project, rid: str, block: Block, worker: str, seconds: float, embedded: int) -> None:
    with project.store.transaction():
        project.store.mark_block_done(rid, block.number, block.first_id, block.last_id, len(block.ids), worker,
                                      round(seconds, 4))
        project.store.audit(project.analyst, "batch.block", "run", None, run_id=rid, block=block.number,
                            items=len(block.ids), embedded=embedded, worker=worker)


def _close(project: Project, rep: EmbedReport, t0: float, times: BlockTimes) -> EmbedReport:
    rep.seconds = round(time.perf_counter() - t0, 3)
    rep.block_seconds = [round(s, 4) for s in times.seconds]
    done = sum(times.items)
    rep.rate_per_s = round(done / rep.seconds, 1) if rep.seconds else 0.0
    stats = {k: v for k, v in vars(rep).items() if k != "block_seconds"}
    project.store.finish_run(rep.run_id, rep.status, stats)
    project.store.audit(project.analyst, "embed.finish", "run", None, run_id=rep.run_id, status=rep.status,
                        embedded=rep.embedded, from_cache=rep.from_cache, seconds=rep.seconds)
    return rep


def _find_run(project: Project, kind: str, key: str, run_id: str | None) -> tuple[str, bool]:
    if run_id:
        return run_id, project.store.get_run(run_id) is not None
    for r in reversed(project.store.list_runs(kind)):
        if r["params"].get("key") == key and r["status"] != "done":
            return r["id"], True
    return new_run_id(kind, key), False


def project_folder(project: Project) -> Path:
    return Path(project.folder)
