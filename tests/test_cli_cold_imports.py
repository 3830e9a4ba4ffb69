"""Cold start of the CLI: what a fresh `thematic` process imports (issue 16: every call loaded the
embedding model and LangChain, 9 s per `search --mode bm25`). Each check runs in a new Python
process, since this test process has long since imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from index.corpus_index import CorpusIndex, IndexRecord
from index.embeddings import HashingEmbedder
from index.errors import IndexStateError

# Seconds each to import; none is needed to show help or to build the command tree.
NOT_AT_START = ("torch", "sentence_transformers", "transformers", "faiss", "langchain", "langchain_core",
                "numba", "bm25s", "scipy", "sklearn", "llama_cpp", "streamlit")
# A BM25 search needs bm25s (and numpy, SQL), never the model, FAISS, LangChain, the JIT or scipy.
NOT_FOR_BM25 = ("torch", "sentence_transformers", "transformers", "faiss", "langchain", "langchain_core",
                "numba", "scipy", "llama_cpp")


def _run(code: str, cwd: Path | None = None) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object last."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cli_and_its_command_tree_import_nothing_heavy() -> None:
    out = _run(f"""
        import json, sys
        import typer
        from assistant.cli import app
        group = typer.main.get_command(app)     # what `thematic --help` builds
        search = group.commands["search"]
        ctx = search.make_context("search", ["--help"], resilient_parsing=True)
        search.get_help(ctx)                   # what `thematic search --help` prints
        print(json.dumps({{"loaded": [m for m in {NOT_AT_START!r} if m in sys.modules],
                          "params": [p.name for p in search.params]}}))
    """)
    assert out["loaded"] == []
    assert {"query", "mode", "k"} <= set(out["params"])  # the real search command was built


def test_llm_package_names_load_on_first_use() -> None:
    out = _run("""
        import json, sys
        import assistant.llm as llm
        before = "langchain_core" in sys.modules
        fn = llm.chat_model_for
        from assistant.llm import call_structured, looks_like_instruction
        print(json.dumps({"before": before, "after": "langchain_core" in sys.modules,
                          "names": [fn.__name__, call_structured.__name__, looks_like_instruction.__name__]}))
    """)
    assert out == {"before": False, "after": True,
                   "names": ["chat_model_for", "call_structured", "looks_like_instruction"]}


def test_unknown_llm_name_is_still_an_attribute_error() -> None:
    from assistant import llm

    with pytest.raises(AttributeError):
        llm.no_such_thing  # noqa: B018


RECORDS = [
    IndexRecord(1, "Damp flats send people to A&E every winter.", {"source_id": "P1"}),
    IndexRecord(2, "Loneliness: people come in for company.", {"source_id": "P1"}),
    IndexRecord(3, "The damp and the mould made her asthma worse, the damp most of all.", {"source_id": "P2"}),
    IndexRecord(4, "Funding for community nurses was cut.", {"source_id": "P3"}),
]


def _built(folder: Path) -> CorpusIndex:
    idx = CorpusIndex(folder, embedder=HashingEmbedder(32))
    idx.sync(RECORDS)
    return idx


def test_bm25_search_in_a_fresh_process_loads_no_faiss_no_jit_and_scores_the_same(tmp_path) -> None:
    folder = tmp_path / "idx"
    here = [(h.id, round(h.score, 6)) for h in _built(folder).search("damp housing", k=4, mode="bm25")]
    assert here and here[0][0] == 3
    out = _run(f"""
        import json, sys
        from index.corpus_index import CorpusIndex
        idx = CorpusIndex({str(folder)!r})
        hits = [(h.id, round(h.score, 6)) for h in idx.search("damp housing", k=4, mode="bm25")]
        print(json.dumps({{"hits": hits, "loaded": [m for m in {NOT_FOR_BM25!r} if m in sys.modules]}}))
    """)
    assert out["loaded"] == []
    assert [tuple(h) for h in out["hits"]] == here  # the numpy scoring path = the numba one


def test_bm25_cli_search_in_a_fresh_process_loads_no_model(tmp_path, monkeypatch) -> None:
    """The whole `thematic search --mode bm25` path: project, store, index check, hits."""
    from assistant.cli import app
    from index import embeddings

    fake = "embeddings.SentenceTransformerEmbedder.from_settings = classmethod(lambda cls, s: embeddings.HashingEmbedder(64))"
    monkeypatch.setattr(embeddings.SentenceTransformerEmbedder, "from_settings",
                        classmethod(lambda cls, s: embeddings.HashingEmbedder(64)))
    runner = CliRunner()
    folder = tmp_path / "study"
    assert runner.invoke(app, ["init", str(folder), "--analyst", "alice"]).exit_code == 0
    doc = tmp_path / "P1.txt"
    doc.write_text("Interviewer: What gets people to A&E?\nP1: Damp flats, mostly. The damp gets in.\n"
                   "Interviewer: Anything else?\nP1: Loneliness. People come in for company.\n")
    assert runner.invoke(app, ["ingest", str(doc), "-p", str(folder)]).exit_code == 0
    out = _run(f"""
        import io, json, sys, contextlib
        from index import embeddings
        {fake}
        from assistant.cli import app
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                app(["search", "damp", "--mode", "bm25", "--json", "-p", {str(folder)!r}], standalone_mode=False)
            except SystemExit:
                pass
        print(json.dumps({{"hits": json.loads(buf.getvalue()),
                          "loaded": [m for m in {NOT_FOR_BM25!r} if m in sys.modules]}}))
    """)
    assert out["loaded"] == []
    assert out["hits"] and "damp" in out["hits"][0]["text"].lower()


def test_a_damaged_dense_index_is_still_found(tmp_path) -> None:
    """The dense index loads on first dense use; its damage is still reported, not hidden."""
    folder = tmp_path / "idx"
    _built(folder)
    gen = folder / json.loads((folder / "manifest.json").read_text())["generation"]
    (gen / "dense" / "vectors.npy").write_bytes(b"not a numpy file")
    idx = CorpusIndex(folder, embedder=HashingEmbedder(32))
    assert [h.id for h in idx.search("damp", k=2, mode="bm25")][:1] == [3]  # BM25 needs no vectors
    with pytest.raises(IndexStateError, match="unreadable"):
        idx.search("damp", k=2, mode="hybrid")
    assert CorpusIndex(folder, embedder=HashingEmbedder(32)).verify(RECORDS).unreadable
    (gen / "dense" / "vectors.npy").unlink()  # missing files are found at load, as before
    gone = CorpusIndex(folder, embedder=HashingEmbedder(32))
    assert gone.load_error is not None and len(gone) == 0


def test_bm25_with_diversify_still_uses_the_vectors(tmp_path) -> None:
    idx = _built(tmp_path / "idx")
    plain = [h.id for h in idx.search("damp", k=3, mode="bm25")]
    spread = idx.search("damp", k=3, mode="bm25", diversify=0.5)
    assert sorted(h.id for h in spread) == sorted(plain) and np.isfinite([h.score for h in spread]).all()
