"""The query path of a fresh process (issue 16: `thematic search` cold start). A BM25 search imports
no model stack at all; a hybrid query is embedded by the ONNX export of the same model
(`index.query_encoder`), which must give sentence-transformers' vector, and falls back to
sentence-transformers, with one log line and no traceback, whenever it cannot serve."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from index import query_encoder
from index.corpus_index import CorpusIndex, IndexRecord
from index.embeddings import (
    DEFAULT_MODEL_ID,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    resolve_model,
)

MODEL_STACK = ("torch", "sentence_transformers", "transformers", "faiss", "onnxruntime", "tokenizers")

# Twenty texts a query box can receive: short, long (past the 256-token limit), cased, accented,
# other scripts, emoji, markup-like, numbers, whitespace-only and empty.
VARIED = [
    "damp housing and emergency admissions",
    "",
    "   ",
    "a",
    "?",
    "Why did she stop going to the GP?",
    "LONELINESS IN OLDER MEN",
    "Interviewer: And then? P3: [laughs] Well, you know.",
    "Café naïve résumé — “curly quotes” and ‘apostrophes’…",
    "日本語の質問：病院に行かない理由",
    "为什么他们不去医院？",
    "Почему люди не обращаются к врачу?",
    "ما هي أسباب عدم الذهاب إلى الطبيب",
    "emoji 🏠🏥😷 in a query",
    "1234567890 3.14 2026-12-02",
    "https://example.org/path?q=damp&x=1",
    "don't won't can't shan't y'all",
    "Straße, Ölpreis, ÆØÅ, İstanbul",
    "The damp got into everything, the walls, the clothes, the children's lungs. " * 40,
    "word " * 600,
]


def _real_model_path() -> str:
    return resolve_model("default")[0]


def _runtime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _run(code: str, env: dict[str, str], cwd: Path | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=cwd, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


RECORDS = [
    IndexRecord(1, "Damp flats send people to A&E every winter.", {"source_id": "P1"}),
    IndexRecord(2, "Loneliness: people come in for company.", {"source_id": "P1"}),
    IndexRecord(3, "The damp and the mould made her asthma worse, the damp most of all.", {"source_id": "P2"}),
    IndexRecord(4, "Funding for community nurses was cut.", {"source_id": "P3"}),
]


class _LooksLikeTheRealModel(HashingEmbedder):
    """Hashed vectors under the real model's id and size: an index a real embedder accepts."""

    def __init__(self) -> None:
        super().__init__(dim=384)
        self.model_id = DEFAULT_MODEL_ID


def _index(folder: Path) -> Path:
    CorpusIndex(folder, embedder=_LooksLikeTheRealModel()).sync(RECORDS)
    return folder


# -- BM25: nothing of the model, in a fresh process -----------------------------------------------


def test_bm25_search_with_the_real_embedder_configured_imports_no_model_stack(tmp_path) -> None:
    folder = _index(tmp_path / "idx")
    out = _run(f"""
        import json, sys
        from index.corpus_index import CorpusIndex
        from index.embeddings import SentenceTransformerEmbedder
        idx = CorpusIndex({str(folder)!r}, embedder=SentenceTransformerEmbedder("default"))
        hits = [h.id for h in idx.search("damp housing", k=3, mode="bm25")]
        print(json.dumps({{"hits": hits, "loaded": [m for m in {MODEL_STACK!r} if m in sys.modules]}}))
    """, {"THEMATIC_MODEL_CACHE": str(tmp_path / "enc")})
    assert out["loaded"] == []
    assert out["hits"][0] == 3
    assert not (tmp_path / "enc").exists()  # nothing exported or even looked up for BM25


# -- fallbacks: no real model needed (sentence-transformers' encode is replaced) ---------------------


class _Spy:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str], threads: int) -> np.ndarray:
        self.calls.append(list(texts))
        v = np.zeros((len(texts), 384), np.float32)
        v[:, 0] = 1.0
        return v


def _slow_only(monkeypatch, tmp_path) -> tuple[SentenceTransformerEmbedder, _Spy]:
    monkeypatch.setenv("THEMATIC_MODEL_CACHE", str(tmp_path / "enc"))
    emb = SentenceTransformerEmbedder("default")
    spy = _Spy()
    monkeypatch.setattr(emb, "_encode", spy)
    return emb, spy


def _fake_export(spec: query_encoder.EncoderSpec, meta: dict, files: dict[str, bytes]) -> None:
    spec.cache_dir.mkdir(parents=True)
    for name, data in files.items():
        (spec.cache_dir / name).write_bytes(data)
    (spec.cache_dir / query_encoder.META_FILE).write_text(json.dumps(meta))


def test_without_onnxruntime_the_query_is_embedded_by_sentence_transformers(monkeypatch, tmp_path, caplog) -> None:
    emb, spy = _slow_only(monkeypatch, tmp_path)
    monkeypatch.setattr(query_encoder, "available", lambda: False)
    with caplog.at_level(logging.INFO):
        vec = emb.query("damp")
    assert spy.calls == [["damp"]] and vec[0] == 1.0
    assert emb.query_path == "sentence-transformers"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # nothing to warn about
    assert not (tmp_path / "enc").exists()


def test_a_damaged_export_falls_back_with_one_line_and_no_traceback(monkeypatch, tmp_path, caplog) -> None:
    emb, spy = _slow_only(monkeypatch, tmp_path)
    spec = query_encoder.spec_for(_real_model_path(), _runtime_version())
    assert spec is not None
    meta = {"usable": True, "inputs": ["input_ids", "attention_mask"], "max_seq_length": 256, "dim": 384}
    _fake_export(spec, meta, {query_encoder.MODEL_FILE: b"not an onnx graph"})
    with caplog.at_level(logging.INFO):
        first = emb.query("damp")
        emb.query("mould")
    assert spy.calls == [["damp"], ["mould"]]  # both answered, the broken export tried once only
    assert first[0] == 1.0 and emb.query_path == "sentence-transformers"
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and warned[0].exc_info is None
    assert "unreadable" in warned[0].getMessage() and "\n" not in warned[0].getMessage()


def test_an_encoder_that_fails_mid_query_falls_back_for_good(monkeypatch, tmp_path, caplog) -> None:
    emb, spy = _slow_only(monkeypatch, tmp_path)

    class Broken:
        runs = 0

        def encode(self, text: str) -> np.ndarray:
            Broken.runs += 1
            raise RuntimeError("onnxruntime: bad allocation")

    monkeypatch.setattr(query_encoder.OnnxQueryEncoder, "open", classmethod(lambda cls, path, threads=1: Broken()))
    monkeypatch.setattr(emb, "prepare_fast_queries", lambda: False)
    with caplog.at_level(logging.WARNING):
        emb.query("one")
        emb.query("two")
    assert Broken.runs == 1 and spy.calls == [["one"], ["two"]]
    assert len(caplog.records) == 1 and "bad allocation" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is None


def test_an_export_refused_at_export_time_is_not_an_error_and_not_retried(monkeypatch, tmp_path, caplog) -> None:
    emb, spy = _slow_only(monkeypatch, tmp_path)
    spec = query_encoder.spec_for(_real_model_path(), _runtime_version())
    _fake_export(spec, {"usable": False, "reason": "probe cosine 0.9 < 0.9999"}, {})
    exported: list[object] = []
    monkeypatch.setattr(query_encoder, "export", lambda *a, **k: exported.append(a))
    with caplog.at_level(logging.INFO):
        emb.query("damp")
    assert spy.calls == [["damp"]] and exported == []  # the verdict stands: no export on each query
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_embedding_excerpts_prepares_the_fast_path_once_and_only_when_the_model_ran(tmp_path) -> None:
    from index.embeddings import (
        EmbeddingCache,
        embed_with_cache,
        embed_with_sentences_cache,
    )

    class Counting(HashingEmbedder):
        prepared = 0

        def prepare_fast_queries(self) -> bool:
            Counting.prepared += 1
            return True

    emb, cache = Counting(16), EmbeddingCache(tmp_path / "c.sqlite")
    first = embed_with_sentences_cache(emb, ["Damp flats.", "Mould. Asthma."], cache)
    assert Counting.prepared == 1
    again = embed_with_sentences_cache(emb, ["Damp flats.", "Mould. Asthma."], cache)  # all cached
    assert Counting.prepared == 1
    np.testing.assert_array_equal(first[0], again[0])  # the vectors are the model's, untouched
    embed_with_cache(emb, ["something new"], None)
    assert Counting.prepared == 2


def _fake_model_folder(tmp_path: Path, pooling: dict | None = None) -> Path:
    """The real model's small files, and a stand-in weights file."""
    real = Path(_real_model_path())
    folder = tmp_path / "model"
    for name in ("modules.json", "tokenizer.json", "sentence_bert_config.json", "config.json", "1_Pooling/config.json"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / name, folder / name)
    (folder / "model.safetensors").write_bytes(b"weights v1")
    if pooling is not None:
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return folder


def test_the_fingerprint_follows_the_weights(tmp_path) -> None:
    folder = _fake_model_folder(tmp_path)
    before = query_encoder.spec_for(folder, "1.0")
    assert before is not None
    assert query_encoder.spec_for(folder, "1.0") == before  # stable
    assert query_encoder.spec_for(folder, "2.0").fingerprint != before.fingerprint  # another runtime
    (folder / "model.safetensors").write_bytes(b"weights v2, retrained")
    assert query_encoder.spec_for(folder, "1.0").fingerprint != before.fingerprint


def test_only_mean_pooled_models_qualify(tmp_path) -> None:
    cls = {"word_embedding_dimension": 384, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    assert query_encoder.spec_for(_fake_model_folder(tmp_path / "a", cls), "1.0") is None
    no_tokenizer = _fake_model_folder(tmp_path / "b")
    (no_tokenizer / "tokenizer.json").unlink()
    assert query_encoder.spec_for(no_tokenizer, "1.0") is None
    assert query_encoder.spec_for(tmp_path / "nowhere", "1.0") is None


# -- the real model: export once, then compare and search without torch ----------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """One export of the packaged model into a private cache (loads torch: tens of seconds)."""
    cache = tmp_path_factory.mktemp("query-encoders")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THEMATIC_MODEL_CACHE", str(cache))
        emb = SentenceTransformerEmbedder("default")
        assert emb.prepare_fast_queries()  # exports, checks, and opens it
    return cache


@pytest.mark.slow
def test_the_fast_query_vector_is_sentence_transformers_vector(exported, monkeypatch) -> None:
    monkeypatch.setenv("THEMATIC_MODEL_CACHE", str(exported))
    fast = query_encoder.OnnxQueryEncoder.open(_real_model_path())
    assert fast is not None
    mine = np.stack([fast.encode(t) for t in VARIED])
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(_real_model_path(), device="cpu")
    theirs = np.stack([model.encode([t], normalize_embeddings=True, convert_to_numpy=True)[0] for t in VARIED])
    cosines = (mine * theirs).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(VARIED, cosines.round(6)))
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1.0, rtol=1e-5)
    assert mine.dtype == np.float32 and mine.shape == (len(VARIED), 384)
    meta = json.loads(next(exported.glob(f"*/{query_encoder.META_FILE}")).read_text())
    assert meta["usable"] and meta["min_probe_cosine"] >= 0.9999


@pytest.mark.slow
def test_a_hybrid_search_in_a_fresh_process_imports_no_torch(exported, tmp_path) -> None:
    folder = _index(tmp_path / "idx")
    out = _run(f"""
        import json, sys
        from index.corpus_index import CorpusIndex
        from index.embeddings import SentenceTransformerEmbedder
        emb = SentenceTransformerEmbedder("default")
        idx = CorpusIndex({str(folder)!r}, embedder=emb)
        hits = [h.id for h in idx.search("damp flats", k=3, mode="hybrid")]
        print(json.dumps({{"hits": hits, "path": emb.query_path,
                          "loaded": [m for m in ("torch", "sentence_transformers", "transformers")
                                     if m in sys.modules]}}))
    """, {"THEMATIC_MODEL_CACHE": str(exported)})
    assert out["path"] == "onnxruntime" and out["loaded"] == []
    assert len(out["hits"]) == 3
