"""The searchable index of a corpus: excerpts in, ranked and explained hits out.

`CorpusIndex` keeps a dense (FAISS) and a lexical (bm25s) index over the same rows, plus the
records themselves, in one folder. `sync` makes it match a given list of records exactly and only
embeds text the embedding cache has not seen. Every sync writes a new generation folder and then
switches `manifest.json` to it with one atomic rename, so a crash at any point leaves the previous
index loadable, and a reader never sees half an update.

Writers take `folder/.lock` (an OS file lock, released by the kernel even when a process is
killed) and a second writer waits for the first, saying so, for `SearchSettings.lock_timeout`
seconds; it never fails half-way. A sync may carry a `tag` (the store's fingerprint of what it
indexed) that is kept in the manifest, so "does the index hold what the store holds?" costs one
comparison per search instead of a record-by-record check.

Layout: folder/manifest.json, folder/gen-NNNNNN/{dense/, bm25/, records.jsonl},
folder/embeddings.sqlite (the cache; its path is configurable), folder/.lock.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from filelock import FileLock, Timeout

from index.config import SearchSettings
from index.dense import DenseIndex
from index.embeddings import (
    CacheStats,
    Embedder,
    EmbeddingCache,
    Progress,
    embed_with_cache,
    embed_with_sentences_cache,
)
from index.errors import IndexStateError
from index.lexical import Bm25Index
from index.records import IndexRecord, MetaFilter
from index.search_logic import Candidate, rank_candidates
from index.storage import fsync_tree, load_dir_path, write_json_atomic

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WAIT_MESSAGE = "waiting for another thematic process to finish updating the index..."

Notify = Callable[[str], None]  # one line for the analyst (the CLI prints it, the UI shows it)

__all__ = ["CorpusIndex", "Hit", "IndexRecord", "Notify", "SyncReport", "VerifyReport"]


@dataclass
class Hit:
    """A search result with the evidence for it, so the UI can say why it was found."""

    id: int
    text: str
    meta: dict[str, Any]
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    rerank_score: float | None = None


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    changed: int = 0
    embedded: int = 0
    from_cache: int = 0
    total: int = 0
    rebuilt: bool = False  # settings or model changed, so every row was rebuilt
    waited: float = 0.0  # seconds spent waiting for another process to finish its update

    @property
    def changed_index(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.rebuilt)


@dataclass
class VerifyReport:
    missing: list[int] = field(default_factory=list)  # given but not indexed
    stale: list[int] = field(default_factory=list)  # indexed with other text or meta
    extra: list[int] = field(default_factory=list)  # indexed but no longer given
    settings_changed: bool = False
    unreadable: str | None = None  # the stored index is damaged (why); it is rebuilt on sync

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.extra or self.settings_changed
                    or self.unreadable)


def _check_dense_files(folder: Path) -> None:
    """What loading the dense index would find missing or unreadable, found without FAISS (the
    index itself is loaded on first dense use): its description and its data file."""
    folder = load_dir_path(folder)
    meta = json.loads((folder / "dense.json").read_text())
    names = {"flat": ["vectors.npy"], "ivfpq": ["index.faiss", "vectors.npy"]}.get(meta["kind"], ["index.faiss"])
    if not all((folder / n).is_file() for n in [*names, "ids.npy"]):
        raise FileNotFoundError(f"{folder}: dense index files are missing")


class _State:
    """One loaded generation: records in row order plus both indexes over them."""

    def __init__(self, records: list[IndexRecord], digests: list[str],
                 dense: DenseIndex | Callable[[], DenseIndex], bm25: Bm25Index,
                 manifest: dict[str, Any]):
        self.records = records
        self.digests = digests
        # the dense index may be given as its loader: a BM25 search never needs it (nor FAISS)
        self._dense = dense if isinstance(dense, DenseIndex) else None
        self._load_dense = None if isinstance(dense, DenseIndex) else dense
        self.bm25 = bm25
        self.manifest = manifest
        self.pos = {r.id: p for p, r in enumerate(records)}
        self.filter = MetaFilter([r.meta for r in records])

    @property
    def dense(self) -> DenseIndex:
        if self._dense is None:
            assert self._load_dense is not None
            self._dense = self._load_dense()
        return self._dense


class CorpusIndex:
    """Hybrid search over one corpus, stored in `folder`. Knows nothing of codes, LLMs or UI."""

    def __init__(
        self,
        folder: str | Path,
        settings: SearchSettings | None = None,
        embedder: Embedder | None = None,
        cache_path: str | Path | None = None,
        reranker: Any | None = None,
        lock_timeout: float | None = None,
        use_cache: bool = True,
    ):
        self.folder = Path(folder)
        self.settings = settings or SearchSettings()
        self._embedder = embedder
        self.cache_path = Path(cache_path) if cache_path else self.folder / "embeddings.sqlite"
        self._reranker = reranker
        # how long a writer waits for another one; None = the settings' value
        self.lock_timeout = self.settings.lock_timeout if lock_timeout is None else lock_timeout
        self.use_cache = use_cache  # off for throwaway indexes (e.g. synthetic benchmarks)
        self._state: _State | None = None
        self._seen: tuple[int, int, int] | None = None  # stat of the manifest we loaded
        self._file_lock: FileLock | None = None
        self.load_error: IndexStateError | None = None  # why a stored index could not be loaded
        if self.exists(self.folder):
            self._load_or_forget()

    # ---- basics ------------------------------------------------------------------------------
    @staticmethod
    def exists(folder: str | Path) -> bool:
        return (Path(folder) / MANIFEST).is_file()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:  # loaded lazily: BM25-only use should not pay for torch
            from index.embeddings import SentenceTransformerEmbedder

            self._embedder = SentenceTransformerEmbedder.from_settings(self.settings.embedding)
        return self._embedder

    def __len__(self) -> int:
        return len(self._state.records) if self._state else 0

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._state.manifest) if self._state else {}

    @property
    def tag(self) -> str | None:
        """The tag of the last sync that published (or confirmed) the stored index, read fresh
        from disk: another process may have synced since this one loaded."""
        self.refresh()
        return self._state.manifest.get("tag") if self._state else None

    # ---- the writers' lock -------------------------------------------------------------------
    def _lock(self) -> FileLock:
        """One lock object per index object: re-entrant in its thread, so a caller can hold it
        around reading its records and the `sync` inside takes it again without waiting."""
        if self._file_lock is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._file_lock = FileLock(str(self.folder / ".lock"))
        return self._file_lock

    @contextmanager
    def updating(self, notify: Notify | None = None) -> Iterator[float]:
        """Hold the writers' lock. If another process holds it, say so once through `notify` and
        wait up to `lock_timeout` seconds; then give up with one IndexStateError line (nothing has
        been changed, so nothing is lost). Yields the seconds spent waiting."""
        lock = self._lock()
        waited = 0.0
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if notify is not None:
                notify(WAIT_MESSAGE)
            started = time.monotonic()
            try:
                if self.lock_timeout <= 0:
                    raise
                lock.acquire(timeout=self.lock_timeout)
            except Timeout:
                raise IndexStateError(
                    f"{self.folder}: another thematic process is still updating the index after "
                    f"{time.monotonic() - started:.0f} s of waiting; nothing was lost: run "
                    "`thematic reindex` once it has finished (search.lock_timeout sets the wait)"
                ) from None
            waited = time.monotonic() - started
        try:
            yield waited
        finally:
            lock.release()

    def _read_manifest(self) -> dict[str, Any]:
        """The manifest, checked enough to be used; IndexStateError (naming the folder and the
        problem) when it is damaged or of another format."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexStateError(f"{self.folder}: index manifest is unreadable ({exc});"
                                  " rebuild it with `thematic reindex`") from exc
        if not isinstance(manifest, dict):
            raise IndexStateError(f"{self.folder}: index manifest is not a JSON object;"
                                  " rebuild it with `thematic reindex`")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexStateError(f"{self.folder}: index format {manifest.get('format_version')}"
                                  f" is not {FORMAT_VERSION}; rebuild it")
        return manifest

    def _load(self) -> _State:
        manifest = self._read_manifest()
        try:
            gen = self.folder / manifest["generation"]
            records, digests = [], []
            with open(gen / "records.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    records.append(IndexRecord(row["id"], row["text"], row["meta"]))
                    digests.append(row["digest"])
            _check_dense_files(gen / "dense")
            bm25 = Bm25Index.load(gen / "bm25")
        except IndexStateError:
            raise
        except Exception as exc:  # missing generation, truncated records, damaged index files
            raise self._unreadable(manifest, exc) from exc

        def load_dense() -> DenseIndex:  # on first dense use (FAISS costs seconds to import)
            try:
                return DenseIndex.load(gen / "dense", self.settings.dense)
            except Exception as exc:
                raise self._unreadable(manifest, exc) from exc

        return _State(records, digests, load_dense, bm25, manifest)

    def _unreadable(self, manifest: dict[str, Any], exc: Exception) -> IndexStateError:
        return IndexStateError(f"{self.folder}: index generation "
                               f"{manifest.get('generation')!r} is unreadable "
                               f"({type(exc).__name__}: {exc}); rebuild it with "
                               "`thematic reindex`")

    def _manifest_stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.folder / MANIFEST)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load_or_forget(self) -> None:
        """Load the stored index; a damaged one is treated as absent (and the reason kept in
        `load_error`), so the next sync rebuilds it from scratch instead of failing forever."""
        self._seen = self._manifest_stat()
        try:
            self._state = self._load()
            self.load_error = None
        except IndexStateError as exc:
            self._state = None
            self.load_error = exc

    def refresh(self) -> None:
        """Reload if another process has published since this one loaded (one stat call, so a
        long-running UI searches what the last ingest indexed, not what it saw at start-up)."""
        seen = self._manifest_stat()
        if seen != self._seen:
            if seen is None:
                self._state, self._seen = None, None
            else:
                self._load_or_forget()

    # ---- sync --------------------------------------------------------------------------------
    def sync(self, records: Iterable[IndexRecord], progress: Progress | None = None,
             notify: Notify | None = None, tag: str | None = None) -> SyncReport:
        """Make the stored index hold exactly `records`; embed only cache misses (committing the
        cache in batches as it goes, so a kill keeps the work done); publish atomically; record
        `tag` in the manifest. Waits for another writer (see `updating`).

        Records are best read while holding `updating()`, so that a writer that had to wait does
        not then publish a snapshot older than the one it waited for."""
        with self.updating(notify) as waited:
            report = self._sync_locked(list(records), progress, tag)
        report.waited = waited
        return report

    def _sync_locked(self, records: list[IndexRecord], progress: Progress | None,
                     tag: str | None) -> SyncReport:
        if self.exists(self.folder):  # another process may have published since we loaded
            self._load_or_forget()
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate record ids given to sync")
        digests = [r.digest() for r in records]
        old = self._state
        rebuilt = old is None or self._settings_changed(old.manifest)
        old_digest = {} if old is None else dict(zip((r.id for r in old.records), old.digests))
        report = SyncReport(total=len(records), rebuilt=rebuilt and old is not None)
        new_ids = set(ids)
        report.removed = sum(1 for i in old_digest if i not in new_ids)
        report.added = sum(1 for i in ids if i not in old_digest)
        report.changed = sum(1 for i, d in zip(ids, digests) if i in old_digest and old_digest[i] != d)
        if not rebuilt and not (report.added or report.removed or report.changed):
            if old is not None and old.manifest.get("tag") != tag:
                self._retag(old, tag)
            return report
        vectors = self._vectors_for(records, None if rebuilt else old, report, progress)
        dense = DenseIndex(vectors.shape[1], self.settings.dense)
        dense.build(np.array(ids, dtype=np.int64), vectors)
        bm25 = Bm25Index(self.settings.bm25)
        bm25.build(np.array(ids, dtype=np.int64), [r.text for r in records])
        manifest = self._publish(records, digests, dense, bm25, tag)
        self._state = _State(records, digests, dense, bm25, manifest)
        self._seen = self._manifest_stat()
        return report

    def _retag(self, state: _State, tag: str | None) -> None:
        """Content already matches: only the manifest's tag changes (same generation)."""
        manifest = {**state.manifest, "tag": tag}
        write_json_atomic(self.folder / MANIFEST, manifest)
        state.manifest = manifest
        self._seen = self._manifest_stat()

    def _settings_changed(self, manifest: dict[str, Any]) -> bool:
        return (manifest.get("settings_hash") != self.settings.index_hash()
                or manifest.get("model_id") != self.embedder.model_id)

    def _vectors_for(self, records: list[IndexRecord], old: _State | None, report: SyncReport,
                     progress: Progress | None) -> np.ndarray:
        """Reuse vectors of rows whose text is unchanged; embed the rest through the cache."""
        dim = self.embedder.dim
        vectors = np.zeros((len(records), dim), dtype=np.float32)
        todo: list[int] = []
        reuse_rows, reuse_pos = [], []
        for row, rec in enumerate(records):
            p = old.pos.get(rec.id) if old is not None else None
            if p is not None and old.records[p].text == rec.text:
                reuse_rows.append(row)
                reuse_pos.append(p)
            else:
                todo.append(row)
        if reuse_rows:
            vectors[reuse_rows] = old.dense.vectors(np.array(reuse_pos, dtype=np.int64))
        if todo:
            cache = EmbeddingCache(self.cache_path) if self.use_cache else None
            try:
                stats = CacheStats()
                texts = [records[r].text for r in todo]
                if cache is not None and getattr(self.embedder, "pools_sentences", False):
                    # the same forward pass caches each excerpt's sentence vectors, so the code
                    # suggestion engine never embeds the corpus a second time
                    vectors[todo] = embed_with_sentences_cache(self.embedder, texts, cache, progress, stats)[0]
                else:
                    vectors[todo] = embed_with_cache(self.embedder, texts, cache, progress, stats)
            finally:
                if cache is not None:
                    cache.close()
            report.embedded, report.from_cache = stats.embedded, stats.from_cache
        return vectors

    def _publish(self, records: list[IndexRecord], digests: list[str], dense: DenseIndex,
                 bm25: Bm25Index, tag: str | None = None) -> dict[str, Any]:
        """Write a new generation, fsync it, then atomically point the manifest at it."""
        previous = self._state.manifest.get("generation") if self._state else None
        number = int(previous.split("-")[1]) + 1 if previous else 1
        name = f"gen-{number:06d}"
        for stale in self.folder.glob("gen-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.folder / f"{name}.tmp"
        tmp.mkdir(parents=True)
        with open(tmp / "records.jsonl", "w", encoding="utf-8") as fh:
            for rec, digest in zip(records, digests):
                row = {"id": rec.id, "text": rec.text, "meta": rec.meta, "digest": digest}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        dense.write_into(tmp / "dense")
        bm25.write_into(tmp / "bm25")
        fsync_tree(tmp)
        final = self.folder / name
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        manifest = self._manifest(name, records, digests, dense, tag)
        write_json_atomic(self.folder / MANIFEST, manifest)
        for gen in self.folder.glob("gen-*"):  # keep the previous one for readers mid-load
            if gen.name not in (name, previous) and gen.is_dir():
                shutil.rmtree(gen, ignore_errors=True)
        return manifest

    def _manifest(self, generation: str, records: list[IndexRecord], digests: list[str],
                  dense: DenseIndex, tag: str | None = None) -> dict[str, Any]:
        import bm25s
        import faiss

        return {
            "format_version": FORMAT_VERSION,
            "generation": generation,
            "settings_hash": self.settings.index_hash(),
            "settings": self.settings.model_dump(mode="json"),
            "model_id": self.embedder.model_id,
            "dim": dense.dim,
            "dense_kind": dense.kind,
            "count": len(records),
            "ids": [r.id for r in records],
            "digests": digests,
            "tag": tag,
            "versions": {"faiss": faiss.__version__, "bm25s": bm25s.__version__},
        }

    # ---- verify ------------------------------------------------------------------------------
    def verify(self, records: Iterable[IndexRecord]) -> VerifyReport:
        """Compare the stored index with `records` without changing anything."""
        self.refresh()
        if not self.exists(self.folder):
            given = [r.id for r in records]
            return VerifyReport(missing=given, settings_changed=False)
        try:
            manifest = self._read_manifest()
            if not (self.folder / str(manifest["generation"])).is_dir():
                raise IndexStateError(f"{self.folder}: index generation "
                                      f"{manifest['generation']!r} is missing; rebuild it with "
                                      "`thematic reindex`")
            stored = dict(zip(manifest["ids"], manifest["digests"], strict=True))
            if self._state is None and self.load_error is not None:
                self._load_or_forget()  # it failed to load before: is it still damaged?
                if self.load_error is not None:
                    raise self.load_error
            if self._state is not None:
                self._state.dense  # noqa: B018 -- loads the deferred dense index: damaged files count
        except (IndexStateError, KeyError, TypeError, ValueError) as exc:
            # damaged: everything needs indexing again, and `ok` is False so sync rebuilds it
            problem = str(exc) if isinstance(exc, IndexStateError) else \
                f"{self.folder}: index manifest is damaged ({type(exc).__name__}: {exc})"
            return VerifyReport(missing=[r.id for r in records], settings_changed=True,
                                unreadable=problem)
        report = VerifyReport(settings_changed=self._settings_changed(manifest))
        seen = set()
        for rec in records:
            seen.add(rec.id)
            if rec.id not in stored:
                report.missing.append(rec.id)
            elif stored[rec.id] != rec.digest():
                report.stale.append(rec.id)
        report.extra = [i for i in stored if i not in seen]
        return report

    # ---- search ------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
        filters: dict[str, str | list[str]] | None = None,
        exclude_interviewer: bool = True,
        diversify: float | None = None,
        diversify_by: str = "source_id",
        rerank: bool = False,
    ) -> list[Hit]:
        """Best `k` excerpts for `query`. Filters match meta keys (equality, list = any of,
        case-insensitive); interviewer turns are left out unless asked for. `diversify` is the
        MMR lambda (1 = relevance only; 0.5 spreads across sources); `rerank` applies the
        configured cross-encoder to the top `rerank.top_n`."""
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"unknown search mode {mode!r}")
        self.refresh()
        state = self._state
        if state is None or not state.records or not query.strip():
            return []
        if mode != "bm25" and state.manifest.get("model_id") != self.embedder.model_id:
            raise IndexStateError(f"{self.folder}: index was built with "
                                  f"{state.manifest.get('model_id')}, not {self.embedder.model_id};"
                                  " sync it again")
        mask = state.filter.mask(filters, exclude_interviewer)
        if mask is not None and not mask.any():
            return []
        # BM25 alone touches the dense index only to diversify (MMR needs the vectors)
        dense = state.dense if mode != "bm25" or diversify is not None else None
        cands = rank_candidates(
            query, k, mode, mask, dense, state.bm25, self.settings,  # type: ignore[arg-type]
            self.embedder if mode != "bm25" else None,
            reranker=self._get_reranker() if rerank else None,
            texts=lambda pos: [state.records[p].text for p in pos],
            diversify=diversify,
            groups=(lambda pos: [state.records[p].meta.get(diversify_by) for p in pos]),
        )
        return [self._hit(state, c) for c in cands]

    def _get_reranker(self) -> Any:
        if self._reranker is None:
            if not self.settings.rerank.model:
                raise IndexStateError("reranking asked for, but no rerank model is configured")
            from index.rerank import load_cross_encoder

            self._reranker = load_cross_encoder(self.settings.rerank.model)
        return self._reranker

    @staticmethod
    def _hit(state: _State, c: Candidate) -> Hit:
        rec = state.records[c.pos]
        return Hit(rec.id, rec.text, dict(rec.meta), c.score, c.dense_rank, c.bm25_rank,
                   c.dense_score, c.bm25_score, c.rerank_score)
