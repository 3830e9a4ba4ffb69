"""The cold first page (issue 11: under 5 s from a cold start, with the model loading in the
background). What the first page imports is what it waits for, so it imports none of the
seconds-long stacks (the model, FAISS, BM25, pandas/Arrow, charts); the server imports the rest
before anyone connects (`app_pages.serve`), and the model's load begins only once the first page
is drawn (`app_pages.warmup`). Import checks run in a fresh interpreter: this test process has long
since imported everything."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PAGE = ROOT / "app_pages" / "corpus.py"  # the workspace's default page
# seconds each on two cores; the first page shows none of what they are for
HEAVY = ("torch", "sentence_transformers", "transformers", "faiss", "bm25s", "numba", "scipy", "sklearn",
         "pandas", "pyarrow", "altair", "langchain_core", "llama_cpp", "ray")


def _top_level_imports(path: Path) -> list[str]:
    """The modules a page script imports at its top level (what every visit of it runs)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module != "__future__":
            names.append(node.module)
    return names


def _run(code: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_first_page_and_the_preload_import_nothing_heavy() -> None:
    """The workspace frame, the Corpus page's own imports and the server's preload: no model,
    no FAISS or BM25, no pandas (the attribute editor imports it when it is opened), no charts;
    and the preload covers every module the first page imports, so none is left for the page."""
    page_imports = _top_level_imports(FIRST_PAGE)
    assert "streamlit" in page_imports and "app_pages.panels" in page_imports  # read the real page
    out = _run(f"""
        import json, sys
        from app_pages.serve import FIRST_PAGE_MODULES, preload
        failed = preload(wait_for_server=False)
        missing = [m for m in {page_imports!r} if m not in sys.modules]
        print(json.dumps({{"failed": failed, "missing": missing, "modules": list(FIRST_PAGE_MODULES),
                          "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """)
    assert out["failed"] == [] and "app_pages.workspace" in out["modules"]
    assert out["missing"] == [], f"add these to app_pages.serve.FIRST_PAGE_MODULES: {out['missing']}"
    assert out["heavy"] == [], f"the first page should not wait for {out['heavy']}"


def test_the_first_page_run_shows_the_corpus_without_anything_heavy(ui_project: Path) -> None:
    """The whole first script run (frame, sidebar, Corpus page with a source open), in a fresh
    interpreter: the page draws, and still nothing heavy has been imported."""
    env = {**os.environ, "THEMATIC_PROJECT": str(ui_project), "THEMATIC_FAKE_EMBEDDER": "1",
           "THEMATIC_ANALYST": "tester", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    code = f"""
        import json, sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "streamlit_app.py")!r}, default_timeout=120)
        at.run()
        print(json.dumps({{"errors": [str(e.value) for e in at.error] + [e.message for e in at.exception],
                          "headers": [h.value for h in at.header], "expanders": [e.label for e in at.expander],
                          "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == [] and "Corpus" in out["headers"]
    assert "Edit attributes and kind" in out["expanders"]  # offered; its table is built when opened
    assert out["heavy"] == [], f"the first page run imported {out['heavy']}"


def test_thematic_app_starts_the_server_through_the_preloading_launcher(tmp_path: Path) -> None:
    from assistant.cli.workspace import streamlit_command

    cmd = streamlit_command(tmp_path, port=9999)
    assert cmd[1:4] == ["-m", "app_pages.serve", "run"]
    out = _run("""
        import json, sys
        import app_pages.serve
        print(json.dumps({"ok": callable(app_pages.serve.main),
                          "loaded": [m for m in ("app_pages.workspace", "sqlalchemy") if m in sys.modules]}))
    """)
    assert out == {"ok": True, "loaded": []}  # importing the launcher itself does nothing heavy


class _SlowModel:
    """Stands in for SentenceTransformerEmbedder: `model` is a property that takes a while."""

    def __init__(self) -> None:
        self.loaded_in: str | None = None
        self.loaded_at: float | None = None

    @property
    def model(self) -> object:
        time.sleep(0.05)
        self.loaded_in = threading.current_thread().name
        self.loaded_at = time.monotonic()
        return object()


def test_the_model_load_is_registered_at_open_and_begins_after_the_page(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """Opening the project registers the load (the sidebar line shows from the first page on), but
    nothing loads until the page's script run is over; then exactly one background load runs,
    however many sessions end their first run."""
    from app_pages import warmup

    monkeypatch.setattr(warmup, "_WARMUP", {})
    monkeypatch.setattr(warmup, "AFTER_FIRST_PAGE_S", 0.0)
    embedder = _SlowModel()
    project = SimpleNamespace(folder=tmp_path, embedder=embedder)
    warmup.start_model_warmup(project)  # type: ignore[arg-type]
    warmup.start_model_warmup(project)  # type: ignore[arg-type]  # a second session: same load
    state = warmup._WARMUP[str(tmp_path)]
    time.sleep(0.1)
    assert embedder.loaded_in is None and state["thread"] is None and state["seconds"] is None  # still waiting
    page_done = time.monotonic()
    assert warmup.begin_model_warmups() == 1
    assert warmup.begin_model_warmups() == 0  # begun once only
    state["thread"].join(5)
    assert embedder.loaded_in == "thematic-model-warmup" and embedder.loaded_at >= page_done  # type: ignore[operator]
    assert state["seconds"] is not None and state["error"] is None


def test_a_fake_embedder_has_nothing_to_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from app_pages import warmup
    from index.embeddings import HashingEmbedder

    monkeypatch.setattr(warmup, "_WARMUP", {})
    warmup.start_model_warmup(SimpleNamespace(folder=tmp_path, embedder=HashingEmbedder(8)))  # type: ignore[arg-type]
    assert warmup._WARMUP[str(tmp_path)]["seconds"] == 0.0 and warmup.begin_model_warmups() == 0
