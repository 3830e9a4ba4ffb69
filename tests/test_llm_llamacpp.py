"""A real local model through llama-cpp-python with schema-constrained JSON. Proves the path
(valid JSON parsed, evidence verified or dropped), not coding quality (SmolLM2-135M)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_coding_project as make_project
from builders import excerpt_with
from builders import smollm2_or_skip

from assistant.coding.suggest import SuggestContext

pytestmark = pytest.mark.llamacpp


def test_smollm2_schema_constrained() -> None:
    gguf = smollm2_or_skip()
    import tempfile

    from assistant.coding.suggest.llm import LLMEngine
    from assistant.llm.providers import LlamaCppChat

    project = make_project(Path(tempfile.mkdtemp()))
    model = LlamaCppChat(model_path=str(gguf), n_threads=1, n_ctx=4096, max_tokens=768)
    eng = LLMEngine(model, project.settings, project.store, max_codes=2)
    ctx = SuggestContext.for_project(project)
    codes = project.store.list_codes()
    eng.prepare(codes, ctx)
    ex = excerpt_with(project, "damp")
    res = eng.suggest_one(ex, codes, ctx)
    assert res.error is None, res.error  # grammar-constrained output always parses
    src = project.store.get_source(ex.source_id)
    ids = {c.id for c in codes}
    for p in res.proposals:
        assert p.code_id in ids or p.proposed_name
        if p.evidence_start is not None:
            assert src.text[p.evidence_start:p.evidence_end] == p.evidence_text


def test_parameter_count_reads_the_file_without_loading_the_weights(tmp_path: Path) -> None:
    """"auto" asks the model its size before any call: a dry run or a cached rerun must not pay
    for loading the weights to learn it, and a file that is no model answers None."""
    gguf = smollm2_or_skip()
    from assistant.llm.providers import LlamaCppChat

    model = LlamaCppChat(model_path=str(gguf), n_threads=1)
    assert model.parameter_count() == 134_515_008  # SmolLM2-135M
    assert model._llm is None  # no weights loaded
    (tmp_path / "not-a-model.gguf").write_text("hello")
    assert LlamaCppChat(model_path=str(tmp_path / "not-a-model.gguf")).parameter_count() is None


def test_a_cli_command_with_the_real_model_exits_without_a_traceback(tmp_path: Path) -> None:
    """`thematic suggest --engine llm` loads the model in-process; left to llama.cpp's own
    destructor at interpreter shutdown it printed a traceback after the result."""
    gguf = smollm2_or_skip()
    import os
    import subprocess
    import sys

    project = make_project(tmp_path)
    project.settings.llm.provider = "llamacpp"
    project.settings.llm.model_path = str(gguf)
    project.save_settings()
    ex = excerpt_with(project, "damp")
    folder = project.folder
    project.close()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", "from assistant.cli import main; main()", "suggest", str(ex.id),
                           "--engine", "llm", "--project", str(folder)], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-2000:]
