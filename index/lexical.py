"""BM25 keyword search through bm25s (3-6 ms a query at 1M chunks, where rank-bm25 took 3.5 s and
5.8 GB). The tokeniser (lower-casing, stopwords, PyStemmer stemming) and the BM25 variant are
settings, so what suits interview language can be measured rather than guessed.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from index.config import Bm25Settings
from index.dense import top_k
from index.storage import load_dir_path, save_dir_atomic

_WORD = re.compile(r"\w+", re.UNICODE)


if TYPE_CHECKING:
    import bm25s


def _bm25s(jit: bool = True) -> ModuleType:
    """bm25s, imported on first use. It imports numba (and llvmlite) at import time when they are
    installed: about a second, paid by every `thematic search` although scoring a query never
    needs the JIT (the numpy path sums the same float32 scores in the same order). So a process
    that first needs bm25s only to query (`jit=False`) imports it with numba hidden; one that
    builds indexes gets the JIT, which speeds up building large ones. Whichever comes first
    decides for the process (bm25s reads numba once); both give the same scores. scipy (another
    half second) is hidden the same way: bm25s uses it only for its optional "scipy" CSC builder,
    which these indexes never select."""
    module = sys.modules.get("bm25s")
    if module is not None:
        return module
    if jit:
        return importlib.import_module("bm25s")
    hidden = [name for name in ("numba", "scipy") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        return importlib.import_module("bm25s")
    finally:
        for name in hidden:
            del sys.modules[name]


def _numba_available() -> bool:
    """Whether the imported bm25s has its numba backend (see `_bm25s`)."""
    return bool(getattr(_bm25s(), "NUMBA_AVAILABLE", False))


class Tokenizer:
    """Lower-case words, minus stopwords, stemmed. Identical for documents and queries."""

    def __init__(self, settings: Bm25Settings, jit: bool = True):
        if settings.stopwords == "en":
            self.stopwords = frozenset(_bm25s(jit).stopwords.STOPWORDS_EN)
        else:
            self.stopwords = frozenset(w.lower() for w in (settings.stopwords or []))
        self._stem = None
        if settings.stemmer:
            import Stemmer

            self._stem = Stemmer.Stemmer(settings.stemmer).stemWords

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in self.stopwords]
        return self._stem(words) if self._stem else words

    def many(self, texts: Sequence[str]) -> list[list[str]]:
        return [self(t) for t in texts]


class Bm25Index:
    """A bm25s index plus the excerpt ids of its rows. bm25s cannot add documents, so `build`
    re-indexes everything (about 1 s per 10k excerpts here); corpora of interviews are small."""

    def __init__(self, settings: Bm25Settings | None = None, jit: bool = True):
        """`jit=False` when the index is only loaded to be queried (see `_bm25s`)."""
        self.settings = settings or Bm25Settings()
        self.tokenizer = Tokenizer(self.settings, jit)
        self.ids = np.zeros(0, dtype=np.int64)
        self._bm25: bm25s.BM25 | None = None
        self._pos: dict[int, int] = {}

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def _new_bm25(self) -> bm25s.BM25:
        s = self.settings
        backend = "numba" if _numba_available() else "numpy"
        return _bm25s().BM25(method=s.method, k1=s.k1, b=s.b, backend=backend)

    def build(self, ids: np.ndarray, texts: Sequence[str]) -> None:
        self.build_tokens(ids, self.tokenizer.many(texts))

    def build_tokens(self, ids: np.ndarray, tokens: list[list[str]]) -> None:
        """Index pre-tokenised texts (lets benchmarks reuse one tokenisation across BM25 params)."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(tokens):
            raise ValueError("ids and texts differ in length")
        self.ids = ids.copy()
        self._pos = {int(i): p for p, i in enumerate(self.ids)}
        self._bm25 = None
        if len(ids):
            self._bm25 = self._new_bm25()
            self._bm25.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (position order); zeros where no query word occurs."""
        tokens = self.tokenizer(query)
        if self._bm25 is None or not tokens:
            return np.zeros(len(self), dtype=np.float32)
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        nonocc = getattr(self._bm25, "nonoccurrence_array", None)
        if nonocc is not None:
            # BM25L / BM25+ give every row a floor score per query word; subtract it so rows
            # without any query word score 0 and drop out, as with the other variants.
            vocab = self._bm25.vocab_dict
            scores -= float(sum(nonocc[vocab[t]] for t in tokens if t in vocab))
            np.maximum(scores, 0.0, out=scores)
        return scores

    def search_positions(
        self, query: str, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k (positions, scores) with a score > 0, plus the full score array (hybrid search
        reuses it to score dense candidates without a second pass)."""
        scores = self.scores(query)
        ranked = scores if mask is None else np.where(mask, scores, 0.0)
        pos = top_k(ranked, k)
        pos = pos[ranked[pos] > 0]
        return pos, scores[pos], scores

    def search(
        self, query: str, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, scores), best first; only excerpts sharing a word with the query."""
        mask = None
        if allowed_ids is not None:
            mask = np.zeros(len(self), dtype=bool)
            known = [self._pos[int(i)] for i in allowed_ids if int(i) in self._pos]
            mask[np.array(known, dtype=np.int64)] = True
        pos, scores, _ = self.search_positions(query, k, mask)
        return self.ids[pos], scores

    # ---- persistence -------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write atomically (see `storage.save_dir_atomic`)."""
        save_dir_atomic(folder, self.write_into)

    def write_into(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ids.npy", self.ids)
        (folder / "settings.json").write_text(self.settings.model_dump_json())
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = False) -> Bm25Index:
        folder = load_dir_path(Path(folder))
        settings = Bm25Settings(**json.loads((folder / "settings.json").read_text()))
        self = cls(settings, jit=False)
        self.ids = np.load(folder / "ids.npy")
        self._pos = {int(i): p for p, i in enumerate(self.ids)}
        if len(self.ids):
            logging.getLogger("bm25s").setLevel(logging.WARNING)
            lib = _bm25s(jit=False)
            if _numba_available():
                self._bm25 = lib.BM25.load(str(folder), mmap=mmap, show_progress=False)
                self._bm25.backend = "numba"
            else:  # saved with backend "numba", which bm25s refuses without numba
                self._bm25 = lib.BM25.load(str(folder), mmap=mmap, show_progress=False,
                                             backend="numpy")
        return self
